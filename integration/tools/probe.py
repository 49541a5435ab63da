#!/usr/bin/env python3
"""probe.py: a forbidden host reading data out of a container through the kernel's answers
(issue 12, class 7), for the hardening tests (run in the world netns only), stdlib only.

    probe.py tcp SRC DST PORT...    connect from SRC to each DST:PORT: "PORT open|refused|silent"
    probe.py udp SRC DST PORT...    a datagram to each port: "PORT refused" (ICMP port
                                    unreachable came back), "PORT answered" or "PORT silent"
    probe.py ping SRC DST           ICMP/ICMPv6 echo: "reply" or "silent"

Each probe waits at most 1 s. The container decides which ports are open: the pattern of
open/refused is the data. A firewall that holds leaves every probe "silent".
"""
import os
import socket
import struct
import sys
import time

mode, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET


def probe(kind, port):
    """One TCP connect or UDP datagram to DST:PORT from SRC; what came back."""
    s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(1.0)
    try:
        s.connect((dst, port))
        if kind == "tcp":
            return "open"
        s.send(b"probe")
        s.recv(100)
        return "answered"
    except ConnectionRefusedError:  # RST, or ICMP port unreachable on a connected UDP socket
        return "refused"
    except OSError:
        return "silent"
    finally:
        s.close()


def ping():
    proto = socket.IPPROTO_ICMPV6 if fam == socket.AF_INET6 else socket.IPPROTO_ICMP
    s = socket.socket(fam, socket.SOCK_RAW, proto)
    s.bind((src, 0))
    ident = os.getpid() & 0xFFFF
    kind = 128 if fam == socket.AF_INET6 else 8
    body = struct.pack("!BBHHH", kind, 0, 0, ident, 1) + b"probe"
    if fam == socket.AF_INET:
        padded = body + b"\0" * (len(body) % 2)
        total = sum(struct.unpack("!%dH" % (len(padded) // 2), padded))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        body = body[:2] + struct.pack("!H", ~total & 0xFFFF) + body[4:]
    s.sendto(body, (dst, 0))  # the kernel fills in the ICMPv6 checksum
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, peer = s.recvfrom(2000)
        except OSError:
            break
        if peer[0] != dst:
            continue
        icmp = data if fam == socket.AF_INET6 else data[(data[0] & 0x0F) * 4:]
        if icmp[0] in (0, 129):
            return "reply"
    return "silent"


if mode in ("tcp", "udp"):
    for p in sys.argv[4:]:
        print(p, probe(mode, int(p)), flush=True)
elif mode == "ping":
    print(ping(), flush=True)
else:
    sys.exit("usage: probe.py tcp|udp|ping SRC DST [PORT...]")
