#!/usr/bin/env python3
"""catch.py: record what reaches the test world (run in the world netns only), stdlib only.

    catch.py udp ADDR PORT LOGFILE      every datagram to ADDR:PORT: "udp <src> <payload>"
    catch.py tcp ADDR PORT LOGFILE      every connection: "tcp <src> <first bytes>"
    catch.py icmp6 LOGFILE              every ICMPv6 message (raw socket): "icmp6 <src> <type> <body>"
    catch.py icmp LOGFILE               every ICMP message: "icmp <src> <type> <body>"

Writes "ready" first. Payloads are printed with non-printable bytes as '.'.
"""
import socket
import sys

mode = sys.argv[1]
log_path = sys.argv[-1]


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")


def printable(b):
    return "".join(chr(c) if 32 <= c < 127 else "." for c in b)


if mode == "udp":
    fam = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3])))
    log("ready")
    while True:
        data, peer = s.recvfrom(65535)
        log(f"udp {peer[0]} {printable(data)}")
elif mode == "tcp":
    fam = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3])))
    s.listen(16)
    log("ready")
    while True:
        c, peer = s.accept()
        c.settimeout(2)
        try:
            data = c.recv(200)
        except OSError:
            data = b""
        log(f"tcp {peer[0]} {printable(data)}")
        c.close()
elif mode in ("icmp6", "icmp"):
    if mode == "icmp6":
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        hdr = 0
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        hdr = 20
    log("ready")
    while True:
        data, peer = s.recvfrom(65535)
        body = data[hdr:]
        log(f"{mode} {peer[0]} {body[0] if body else -1} {printable(body[4:])}")
else:
    sys.exit("bad mode")
