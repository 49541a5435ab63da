#!/usr/bin/env python3
"""bpfstats.py READY_FILE MAX_SECONDS: enable BPF run-time statistics (BPF_ENABLE_STATS, the
kernel counts run_time_ns and run_cnt of every BPF program while some process holds the
returned fd), write "ok" (or "error: ...") to READY_FILE, then hold the fd until SIGTERM or
MAX_SECONDS, whichever comes first. Exiting closes the fd, which turns the statistics off again
(unless the kernel.bpf_stats_enabled sysctl or another holder keeps them on). Used by
hack/bench/density.sh around its spawn-rate loops: host-wide, every BPF program pays two clock
reads per run while this runs, so keep the window short. Root only.
"""
import ctypes
import os
import signal
import struct
import sys
import time

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0


def main():
    ready, max_s = sys.argv[1], float(sys.argv[2])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.create_string_buffer(struct.pack("=I", BPF_STATS_RUN_TIME), 64)
    fd = libc.syscall(SYS_BPF, BPF_ENABLE_STATS, attr, ctypes.c_uint(64))
    msg = "ok" if fd >= 0 else "error: " + os.strerror(ctypes.get_errno())
    with open(ready + ".tmp", "w") as f:
        f.write(msg + "\n")
    os.rename(ready + ".tmp", ready)
    if fd < 0:
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
