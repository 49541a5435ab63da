#!/usr/bin/env python3
"""sniff.py: record every frame an interface receives, for the receiving-side checks of the
hardening tests (run in the world netns only), stdlib only.

    sniff.py IFACE SECONDS LOGFILE

Writes "ready" once the packet socket is bound, then one line per frame: the frame in hex.
Stops by itself after SECONDS. A test looks for its marker's bytes (in hex) anywhere in a
frame, so a marker hidden in an ICMP quote, a TCP ack number or a multicast group address
is found as well as one in a payload.
"""
import socket
import sys
import time

iface, seconds, log_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
ETH_P_ALL = 0x0003
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.bind((iface, 0))
s.settimeout(0.2)
end = time.monotonic() + seconds
with open(log_path, "a", buffering=1) as log:
    log.write("ready\n")
    while time.monotonic() < end:
        try:
            frame, meta = s.recvfrom(65535)
        except socket.timeout:
            continue
        # meta[2] is the packet type: 4 (PACKET_OUTGOING) is what this side sent itself.
        if meta[2] == socket.PACKET_OUTGOING:
            continue
        log.write(frame.hex() + "\n")
