"""Fixtures shared by the integration tests: where the built hull binaries are."""
import os
import pathlib

import pytest

DEFAULT_BUILD_DIR = "/work/main/build"


@pytest.fixture(scope="session")
def build_dir():
    """The meson build directory under test: $HULL_BUILD_DIR, or the default build tree."""
    return pathlib.Path(os.environ.get("HULL_BUILD_DIR", DEFAULT_BUILD_DIR)).resolve()


@pytest.fixture(scope="session")
def hull_bin(build_dir):
    """Path of the `hull` executable in the build directory."""
    path = build_dir / "src" / "cli" / "hull"
    if not path.is_file():
        pytest.fail(f"hull is not built: {path} is missing (set HULL_BUILD_DIR)")
    return str(path)


@pytest.fixture(scope="session")
def source_dir():
    """The repository root (tests/integration/../..)."""
    return pathlib.Path(__file__).resolve().parent.parent.parent
