"""hull's C ttrpc against containerd's Go ttrpc (an independent implementation), in both directions.

The Go peer (tests/interop/ttrpc-peer) is built here, offline, from Debian's golang-go and
golang-github-containerd-ttrpc-dev; the C peer is build_dir/tests/interop/ttrpc-c-peer.
"""
import os
import pathlib
import select
import shutil
import subprocess
import time

import pytest

SCENARIOS = ["unary", "concurrent", "timeout", "error", "big"]
GOCODE = pathlib.Path("/usr/share/gocode/src/github.com/containerd/ttrpc")


@pytest.fixture(scope="module")
def go_peer(tmp_path_factory, source_dir):
    go = shutil.which("go")
    if not go or not GOCODE.is_dir():
        pytest.skip("needs golang-go and golang-github-containerd-ttrpc-dev (scripts/deps.txt)")
    work = tmp_path_factory.mktemp("gopeer")
    out = work / "ttrpc-peer"
    env = dict(os.environ, GO111MODULE="off", GOPATH=f"{work}/gopath:/usr/share/gocode",
               GOCACHE=str(work / "cache"), GOFLAGS="", CGO_ENABLED="0")
    proc = subprocess.run([go, "build", "-o", str(out), "./tests/interop/ttrpc-peer"], cwd=source_dir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"go build failed:\n{proc.stderr}"
    return str(out)


@pytest.fixture(scope="module")
def c_peer(build_dir):
    path = build_dir / "tests" / "interop" / "ttrpc-c-peer"
    if not path.is_file():
        pytest.fail(f"{path} is not built (ninja -C {build_dir})")
    return str(path)


class Server:
    """A peer in server mode on a unix socket; stops it on exit and checks it shut down cleanly."""

    def __init__(self, argv, sock):
        self.sock = str(sock)
        self.proc = subprocess.Popen(argv + ["server", self.sock], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "READY":
            self.proc.kill()
            raise AssertionError(f"{argv[0]} server did not start: {line!r} {self.proc.stderr.read()}")

    def stop(self):
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("server did not exit on SIGTERM")
        return self.proc.returncode, err


@pytest.fixture(scope="module")
def hull_server(c_peer, tmp_path_factory):
    srv = Server([c_peer], tmp_path_factory.mktemp("csrv") / "ttrpc.sock")
    yield srv
    rc, err = srv.stop()
    assert rc == 0, err
    # The Go client's calls, timeouts and hang-ups must not have looked like protocol violations.
    assert "closing connection" not in err, err


@pytest.fixture(scope="module")
def go_server(go_peer, tmp_path_factory):
    srv = Server([go_peer], tmp_path_factory.mktemp("gosrv") / "ttrpc.sock")
    yield srv
    srv.stop()


def run_client(argv, sock, scenario):
    start = time.monotonic()
    proc = subprocess.run(argv + ["client", sock, scenario], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{scenario} failed:\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.split() == ["ok", scenario], proc.stdout
    return time.monotonic() - start


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_go_client_calls_hull_server(go_peer, hull_server, scenario):
    run_client([go_peer], hull_server.sock, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_hull_client_calls_go_server(c_peer, go_server, scenario):
    run_client([c_peer], go_server.sock, scenario)


def test_hull_client_and_server_pass_the_same_scenarios(c_peer, tmp_path):
    """The C peers against each other: proves the harness and the scenarios themselves."""
    srv = Server([c_peer], tmp_path / "ttrpc.sock")
    try:
        proc = subprocess.run([c_peer, "client", srv.sock, "all"], capture_output=True, text=True, timeout=60)
    finally:
        rc, err = srv.stop()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", "unary", "ok", "concurrent", "ok", "timeout", "ok", "error", "ok", "big"]
    assert rc == 0, err
