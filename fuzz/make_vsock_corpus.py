#!/usr/bin/env python3
"""Writes fuzz/corpus/vsock/*.bin: scripts for fuzz/fuzz_vsock.c (its header comment has the format) that take a
hybrid-vsock connection through the CONNECT handshake and then send each kind of packet: RW both ways, SHUTDOWN,
CREDIT_REQUEST/CREDIT_UPDATE, RST, a guest-initiated REQUEST (refused), and a driver that comes up late."""
import os
import struct

OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7
BUF_ALLOC = 256 * 1024


def connect():
    return b"\x00"


def send_connect(k, port, lower=False):
    return b"\x01" + bytes([k, 4 if lower else 0]) + struct.pack("<H", port)


def send_raw(k, data):
    return b"\x01" + bytes([k, 1, len(data)]) + data


def send_bulk(k, kib):
    return b"\x01" + bytes([k, 2, kib - 1])


def shut(k, how):
    return b"\x02" + bytes([k, how])


def recv(k):
    return b"\x03" + bytes([k])


def rx(n=8, split=False):
    return b"\x05" + bytes([n - 1]) + bytes([2 if split else 0] * n)


def pump(wait=False):
    return b"\x07" + (b"\x80" if wait else b"\x00")


def reply(op, seen=0, flags=0, payload=b"", cut=None, fwd_cnt=0):
    """A packet back to the connection of the device's seen[seen] header, ports swapped."""
    pkt = b"\x04" + bytes([1, seen, op, flags]) + struct.pack("<IIH", BUF_ALLOC, fwd_cnt, len(payload)) + payload
    if cut is None:
        return pkt + b"\x00"
    return pkt + bytes([len(cut)]) + b"".join(struct.pack("<H", c) for c in cut)


def raw(op, src_port, dst_port, flags=0, payload=b""):
    """A packet with the guest's CID to the host's, ports as given."""
    return (b"\x04\x00" + struct.pack("<II", src_port, dst_port) + bytes([op, flags]) +
            struct.pack("<IIH", BUF_ALLOC, 0, len(payload)) + payload + b"\x00")


def handshake(port=1024):
    # The device's REQUEST is the first header the guest sees (seen[0]).
    return connect() + send_connect(0, port) + rx() + reply(OP_RESPONSE) + recv(0)


SEEDS = {
    "handshake": b"\x00" + handshake(),
    "handshake-lower": b"\x00" + connect() + send_connect(0, 52, lower=True) + rx(split=True) +
    reply(OP_RESPONSE) + recv(0),
    "rw": b"\x00" + handshake() + reply(OP_RW, payload=b"hello", cut=[20]) + recv(0) +
    send_raw(0, b"world") + rx() + pump() + recv(0),
    "shutdown": b"\x00" + handshake() + reply(OP_RW, payload=b"bye") + reply(OP_SHUTDOWN, flags=2) + recv(0) +
    reply(OP_SHUTDOWN, flags=3) + recv(0),
    "credit": b"\x00" + handshake() + reply(OP_CREDIT_REQUEST) + send_bulk(0, 64) + rx() + rx() +
    reply(OP_CREDIT_UPDATE, fwd_cnt=65536) + rx() + pump(),
    "rst": b"\x00" + handshake() + reply(OP_RST) + recv(0) + raw(OP_REQUEST, 5000, 1234) + rx(),
    "host-close": b"\x00" + handshake() + send_raw(0, b"x") + shut(0, 1) + rx() + pump(),
    "late-driver": b"\x01" + connect() + send_connect(0, 1024) + b"\x06\x01" + pump(wait=True) + rx() +
    reply(OP_RESPONSE) + recv(0),
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "vsock")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
