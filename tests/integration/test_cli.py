"""The hull command line as a user runs it: global options, errors, `hull check` and `hull env`.

`hull check` answers are compared with facts gathered independently here (os.path, shutil.which),
never with hard-coded expectations about this host.
"""
import json
import os
import re
import shutil
import subprocess
import tomllib

import pytest

# A PATH the test controls, so that binary lookups can be compared with shutil.which().
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BINARIES = ["qemu-system-x86_64", "cloud-hypervisor", "firecracker", "stratovirt"]


def run(hull_bin, *args, env=None, timeout=60):
    full_env = dict(os.environ)
    full_env["PATH"] = SEARCH_PATH
    full_env.pop("HULL_CONF_FILE", None)
    if env:
        full_env.update(env)
    return subprocess.run([hull_bin, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def project_version(source_dir):
    text = (source_dir / "meson.build").read_text()
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


@pytest.fixture
def missing_config(tmp_path):
    """A --config path that does not exist: the configuration then names no binary paths."""
    return str(tmp_path / "no-such-configuration.toml")


@pytest.fixture
def qemu_config(tmp_path):
    path = tmp_path / "configuration.toml"
    path.write_text('[hypervisor.qemu]\npath = "/nonexistent/qemu-system-x86_64"\nkernel = "/x/vmlinuz"\n\n'
                    "[runtime]\nenable_debug = true\n")
    return str(path)


@pytest.fixture
def check_json(hull_bin, missing_config):
    res = run(hull_bin, "--config", missing_config, "check", "--json")
    assert res.returncode in (0, 1), res.stderr
    return res, json.loads(res.stdout)


# ---- global options and errors ----

def test_hull_version_prints_project_version(hull_bin, source_dir):
    res = run(hull_bin, "--version")
    assert res.returncode == 0
    assert res.stdout.splitlines()[0] == f"hull version {project_version(source_dir)}"
    assert re.search(r"^spec: \d+\.\d+\.\d+$", res.stdout, re.M)


def test_hull_help_lists_commands(hull_bin):
    res = run(hull_bin, "--help")
    assert res.returncode == 0
    assert re.search(r"^\s+check\s", res.stdout, re.M)
    assert re.search(r"^\s+env\s", res.stdout, re.M)
    assert "--root" in res.stdout


def test_unknown_command_fails_with_clear_message(hull_bin):
    res = run(hull_bin, "frobnicate")
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr == 'hull: unknown command "frobnicate" (see hull --help)\n'


def test_unknown_global_option_fails(hull_bin):
    res = run(hull_bin, "--frobnicate", "check")
    assert res.returncode == 1
    assert res.stderr.startswith("hull: ")
    assert "--frobnicate" in res.stderr


def test_bad_log_format_fails(hull_bin):
    res = run(hull_bin, "--log-format", "xml", "check")
    assert res.returncode == 1
    assert res.stderr == 'hull: invalid log format "xml" (text or json)\n'


def test_missing_command_fails(hull_bin):
    res = run(hull_bin, "--debug")
    assert res.returncode == 1
    assert res.stderr.endswith("hull: no command given\n")


def test_unknown_check_option_fails(hull_bin):
    res = run(hull_bin, "check", "--frobnicate")
    assert res.returncode == 1
    assert res.stderr.startswith("hull: check: unknown option")


def test_runc_global_options_are_accepted(hull_bin, tmp_path, missing_config):
    log = tmp_path / "hull.log"
    res = run(hull_bin, "--root", str(tmp_path / "state"), "--log", str(log), "--log-format", "json",
              "--systemd-cgroup", "--config", missing_config, "env")
    assert res.returncode == 0, res.stderr
    doc = tomllib.loads(res.stdout)
    assert doc["Runtime"]["Root"] == str(tmp_path / "state")
    assert doc["Runtime"]["SystemdCgroup"] is True
    assert doc["Runtime"]["LogFormat"] == "json"
    assert doc["Runtime"]["LogPath"] == str(log)
    assert log.exists()


def test_debug_logs_json_lines_to_log_file(hull_bin, tmp_path, missing_config):
    log = tmp_path / "hull.log"
    res = run(hull_bin, "--debug", "--log", str(log), "--log-format", "json", "--config", missing_config,
              "check", "--json")
    assert res.returncode in (0, 1), res.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines, "debug logging wrote nothing"
    assert all({"level", "msg", "time"} <= set(line) for line in lines)
    assert any(line["msg"] == "command check" for line in lines)


# ---- hull check ----

def test_check_json_kvm_presence_matches_dev_kvm(check_json):
    _, doc = check_json
    assert doc["kvm"]["present"] == os.path.exists("/dev/kvm")
    assert not doc["kvm"]["usable"] or doc["kvm"]["present"]
    assert doc["kvm"]["reason"]


def test_check_json_binaries_match_path_lookup(check_json):
    _, doc = check_json
    for name in BINARIES:
        expected = shutil.which(name, path=SEARCH_PATH)
        entry = doc["binaries"][name]
        assert entry["found"] == (expected is not None), (name, entry)
        if expected:
            assert entry["path"] == expected
        else:
            assert name in entry["reason"]


def test_check_json_exit_status_matches_summary(check_json):
    res, doc = check_json
    available = [hv for hv in doc["hypervisors"] if hv["available"]]
    assert doc["ok"] == bool(available)
    assert res.returncode == (0 if available else 1)
    if available:
        # The recommendation is the first available one, in the order of preference listed.
        assert doc["recommended"]["id"] == available[0]["id"]
    else:
        assert doc["recommended"] is None


def test_check_json_hypervisor_verdicts_follow_facts(check_json):
    _, doc = check_json
    qemu_found = doc["binaries"]["qemu-system-x86_64"]["found"]
    by_id = {hv["id"]: hv for hv in doc["hypervisors"]}
    assert set(by_id) == {"qemu-kvm", "qemu-tcg", "clh", "firecracker", "stratovirt", "builtin"}
    # TCG needs only the binary; everything on KVM needs a KVM that passed the probe.
    assert by_id["qemu-tcg"]["available"] == qemu_found
    assert by_id["qemu-kvm"]["available"] == (qemu_found and doc["kvm"]["usable"])
    assert by_id["builtin"]["available"] == doc["kvm"]["usable"]
    for hv_id, binary in (("clh", "cloud-hypervisor"), ("firecracker", "firecracker"), ("stratovirt", "stratovirt")):
        assert by_id[hv_id]["available"] == (doc["binaries"][binary]["found"] and doc["kvm"]["usable"])


def test_check_json_lists_every_requirement(check_json):
    _, doc = check_json
    names = {c["name"] for c in doc["checks"]}
    assert {"kvm-present", "kvm-usable", "vhost-vsock", "vhost-net", "virtiofsd", "qemu", "cgroup2", "tun"} <= names
    for c in doc["checks"]:
        assert c["status"] in ("ok", "fail", "warn")
        assert c["detail"]
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert (status["kvm-present"] == "ok") == os.path.exists("/dev/kvm")
    assert (status["kvm-usable"] == "ok") == doc["kvm"]["usable"]


def test_check_text_agrees_with_json(hull_bin, missing_config, check_json):
    res_json, doc = check_json
    res = run(hull_bin, "--config", missing_config, "check")
    assert res.returncode == res_json.returncode
    if doc["recommended"]:
        rec = doc["recommended"]
        assert f"recommended hypervisor: {rec['hypervisor']} ({rec['accel']})" in res.stdout
    else:
        assert "recommended hypervisor: none" in res.stdout
    kvm_line = next(line for line in res.stdout.splitlines() if "KVM usable" in line)
    assert kvm_line.split()[0] == ("ok" if doc["kvm"]["usable"] else "FAIL")


def test_check_uses_configured_binary_path(hull_bin, qemu_config):
    res = run(hull_bin, "--config", qemu_config, "check", "--json")
    doc = json.loads(res.stdout)
    assert doc["config"]["loaded"] is True, doc["config"]
    qemu = doc["binaries"]["qemu-system-x86_64"]
    assert qemu["found"] is False
    assert "/nonexistent/qemu-system-x86_64" in qemu["reason"]
    assert not any(hv["available"] for hv in doc["hypervisors"] if hv["hypervisor"] == "qemu")


def test_check_reports_missing_config_as_warning(check_json, missing_config):
    _, doc = check_json
    assert doc["config"]["loaded"] is False
    assert missing_config in doc["config"]["error"]
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert status["configuration"] == "warn"


# ---- hull env ----

def test_env_output_parses_as_toml(hull_bin, qemu_config, source_dir):
    res = run(hull_bin, "--config", qemu_config, "env")
    assert res.returncode == 0, res.stderr
    doc = tomllib.loads(res.stdout)
    assert doc["Meta"]["Version"]
    assert doc["Runtime"]["Version"] == project_version(source_dir)
    assert doc["Runtime"]["Config"]["Path"] == qemu_config
    assert doc["Runtime"]["Config"]["Loaded"] is True
    assert doc["Runtime"]["Config"]["Hypervisor"] == "qemu"
    assert doc["Runtime"]["Root"] == "/run/hull"
    # The effective configuration follows, with the file's values.
    assert doc["hypervisor"]["qemu"]["path"] == "/nonexistent/qemu-system-x86_64"
    assert doc["hypervisor"]["qemu"]["kernel"] == "/x/vmlinuz"
    assert doc["runtime"]["enable_debug"] is True


def test_env_host_facts_match_check(hull_bin, missing_config, check_json):
    _, check = check_json
    res = run(hull_bin, "--config", missing_config, "env")
    assert res.returncode == 0, res.stderr
    doc = tomllib.loads(res.stdout)
    host = doc["Host"]
    assert host["Kernel"] == os.uname().release
    assert host["Architecture"] == os.uname().machine
    assert host["KVM"]["Present"] == os.path.exists("/dev/kvm")
    assert host["KVM"]["Usable"] == check["kvm"]["usable"]
    assert host["VMContainerCapable"] == check["ok"]
    assert host["RecommendedHypervisor"] == (check["recommended"]["id"] if check["recommended"] else "")
    for name in BINARIES:
        assert host["Binaries"][name]["Found"] == check["binaries"][name]["found"]
    assert doc["Runtime"]["Config"]["Loaded"] is False
    assert missing_config in doc["Runtime"]["Config"]["Error"]
    assert "hypervisor" not in doc


def test_env_escapes_awkward_paths(hull_bin, tmp_path):
    odd = tmp_path / 'we"ird\\dir\tname'
    odd.mkdir()
    config = odd / "configuration.toml"
    config.write_text('[hypervisor.qemu]\npath = "/usr/bin/qemu-system-x86_64"\n')
    res = run(hull_bin, "--root", str(odd), "--config", str(config), "env")
    assert res.returncode == 0, res.stderr
    doc = tomllib.loads(res.stdout)
    assert doc["Runtime"]["Root"] == str(odd)
    assert doc["Runtime"]["Config"]["Path"] == str(config)
