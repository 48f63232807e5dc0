"""The networking calls in a real guest: QEMU TCG (microvm) with a virtio-net device on QEMU's user-mode network
(slirp: the guest's gateway 10.0.2.2 is the host's loopback), hull-agent as PID 1 driven through `hull agent-ctl`.
ListInterfaces finds the NIC by its MAC, UpdateInterface gives it an address, a name and an MTU, UpdateRoutes a
default route, ListInterfaces/ListRoutes read them back, and a container (sharing the sandbox's network) reaches
a TCP server on the host through them."""
import socket
import threading

import pytest

import agentctl

SHARED = "/run/hull/shared"
MAC = "52:54:00:12:34:56"


@pytest.fixture(scope="module")
def guest(build_dir, hull_bin, tmp_path_factory):
    net = ["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0,mac=%s" % MAC]
    vm = agentctl.busybox_guest(build_dir, tmp_path_factory.mktemp("guestnet"), extra_args=net)
    try:
        vm.wait_for(r"hull-agent\[1\] info: ready: ")
        vm.ctl = agentctl.AgentCtl(hull_bin, "unix://" + vm.channel_path, timeout=300)
        vm.ctl.ok("CreateSandbox", {"sandbox_id": "net1", "storages": [
            {"driver": "virtio-fs", "source": "hullfs", "fstype": "virtiofs", "mount_point": SHARED}]})
        vm.rootfs = SHARED + "/rootfs"
        yield vm
    finally:
        if getattr(vm, "ctl", None):
            vm.ctl.close()
        vm.stop()


def interfaces(ctl):
    return {i.get("name", ""): i for i in ctl.ok("ListInterfaces", {}).get("Interfaces", [])}


def addresses(iface):
    return {(a["address"], a["mask"]) for a in iface.get("IPAddresses", [])}


def test_list_interfaces_shows_the_nic_and_lo(guest):
    ifs = interfaces(guest.ctl)
    # the agent brought lo up at boot: the kernel gave it localhost
    assert int(ifs["lo"]["raw_flags"]) & 1 and ("127.0.0.1", "8") in addresses(ifs["lo"]), ifs["lo"]
    nic = [i for i in ifs.values() if i.get("hwAddr") == MAC]
    assert len(nic) == 1, ifs
    assert nic[0]["name"] == nic[0]["device"]
    assert int(nic[0]["mtu"]) == 1500


def test_update_interface_by_mac_sets_address_name_and_mtu(guest):
    ctl = guest.ctl
    got = ctl.ok("UpdateInterface", {"interface": {
        "hwAddr": MAC, "name": "hull0", "mtu": 1400,
        "IPAddresses": [{"family": "v4", "address": "10.0.2.15", "mask": "24"}]}})
    assert got["name"] == "hull0" and int(got["mtu"]) == 1400
    assert ("10.0.2.15", "24") in addresses(got)
    assert int(got["raw_flags"]) & 1  # IFF_UP
    ifs = interfaces(ctl)
    assert "hull0" in ifs and ifs["hull0"]["hwAddr"] == MAC
    assert ("10.0.2.15", "24") in addresses(ifs["hull0"])
    # a second update replaces the addresses
    got = ctl.ok("UpdateInterface", {"interface": {
        "hwAddr": MAC, "name": "hull0", "IPAddresses": [{"address": "10.0.2.16", "mask": "24"},
                                                         {"address": "10.0.2.15", "mask": "24"}]}})
    assert {("10.0.2.16", "24"), ("10.0.2.15", "24")} <= addresses(got)
    # errors name the call and leave the agent serving
    err = ctl.call("UpdateInterface", {"interface": {"hwAddr": "02:00:00:00:00:01"}})
    assert err.get("code") == "NotFound" and "UpdateInterface" in err["error"], err
    err = ctl.call("UpdateInterface", {"interface": {"hwAddr": MAC, "IPAddresses": [{"address": "10.0.2", "mask": "24"}]}})
    assert err.get("code") == "InvalidArgument", err
    assert ctl.ok("Check") == {"status": "SERVING"}


def test_update_routes_then_list_them(guest):
    ctl = guest.ctl
    ctl.ok("UpdateInterface", {"interface": {
        "hwAddr": MAC, "name": "hull0", "IPAddresses": [{"address": "10.0.2.15", "mask": "24"}]}})
    want = [{"dest": "", "gateway": "10.0.2.2", "device": "hull0"},
            {"dest": "10.0.2.0/24", "device": "hull0", "scope": 253},
            {"dest": "192.168.77.0/24", "gateway": "10.0.2.3", "device": "hull0"}]
    got = ctl.ok("UpdateRoutes", {"routes": {"Routes": want}}).get("Routes", [])
    listed = ctl.ok("ListRoutes", {}).get("Routes", [])
    for routes in (got, listed):
        by_dest = {r.get("dest", ""): r for r in routes if r.get("family", "v4") in ("v4", 0)}
        assert by_dest[""]["gateway"] == "10.0.2.2" and by_dest[""]["device"] == "hull0", routes
        assert by_dest["192.168.77.0/24"]["gateway"] == "10.0.2.3", routes
        assert by_dest["10.0.2.0/24"]["device"] == "hull0", routes
    # UpdateRoutes replaces: the 192.168.77.0/24 route goes
    ctl.ok("UpdateRoutes", {"routes": {"Routes": want[:2]}})
    dests = {r.get("dest", "") for r in ctl.ok("ListRoutes", {}).get("Routes", [])}
    assert "192.168.77.0/24" not in dests and "" in dests
    err = ctl.call("UpdateRoutes", {"routes": {"Routes": [{"dest": "10.1.0.0/16", "device": "nosuch0"}]}})
    assert err.get("code") == "NotFound", err


def test_a_container_reaches_the_host_through_the_configured_network(guest):
    ctl = guest.ctl
    ctl.ok("UpdateInterface", {"interface": {
        "hwAddr": MAC, "name": "hull0", "IPAddresses": [{"address": "10.0.2.15", "mask": "24"}]}})
    ctl.ok("UpdateRoutes", {"routes": {"Routes": [{"dest": "", "gateway": "10.0.2.2", "device": "hull0"}]}})
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(120)
    port = srv.getsockname()[1]

    def serve():
        try:
            conn, _ = srv.accept()
            conn.sendall(b"hello-from-the-host\n")
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        s = agentctl.spec(guest.rootfs, ["sh", "-c", "nc 10.0.2.2 %d </dev/null" % port])
        ctl.ok("CreateContainer", {"container_id": "n1", "OCI": s})
        ctl.ok("StartContainer", {"container_id": "n1"})
        out = ctl.read_all("n1")
        status = ctl.ok("WaitProcess", {"container_id": "n1"}).get("status", 0)
        assert out == b"hello-from-the-host\n", (out, ctl.read_all("n1", stream="ReadStderr"), status)
        ctl.ok("RemoveContainer", {"container_id": "n1"})
    finally:
        srv.close()
        t.join(5)
