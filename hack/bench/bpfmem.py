#!/usr/bin/env python3
"""bpfmem.py: BPF map memory on this host, each map counted once (hack/bench/density.sh).

    bpfmem.py [--pin-prefix /sys/fs/bpf/cgfw] [--ours-pid PID ...] [--ours-pin DIR ...]

Finds maps three ways and counts every map id once:
  fd      maps some process holds an fd of (/proc/*/fdinfo/*: map_id, memlock)
  pinned  maps pinned under /sys/fs/bpf/cgfw* (every entry whose top-level name starts with
          the prefix's last component), opened with BPF_OBJ_GET, that no process holds
  prog    maps that only a program uses: programs held by an fd (prog or link fdinfo
          prog_id) or behind a pinned link, opened by id (BPF_PROG_GET_FD_BY_ID), their map ids
          from BPF_OBJ_GET_INFO_BY_FD, each map opened by id (BPF_MAP_GET_FD_BY_ID)
"ours": the maps reachable from the given pids' fds and the given pin dirs (directly or
through their programs). Also sums the programs' run_time_ns and run_cnt (fdinfo; counted only
while BPF statistics are enabled: hack/bench/bpfstats.py), ours and all, each program once.
Prints one JSON object. Every fd it opens is closed at once (200
containers pin thousands of objects; the soft nofile limit may be 1024). Root only.
"""
import argparse
import ctypes
import errno
import json
import os
import struct
import sys

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
BPF_OBJ_GET = 7
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(SYS_BPF, cmd, buf, ctypes.c_uint(128))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def obj_get(path):
    p = ctypes.create_string_buffer(os.fsencode(path))
    # pathname, bpf_fd, file_flags (0: read-write; a pinned link opens only so)
    return bpf(BPF_OBJ_GET, struct.pack("=QII", ctypes.addressof(p), 0, 0)), p


def get_fd_by_id(cmd, oid):
    return bpf(cmd, struct.pack("=III", oid, 0, 0))


def prog_map_ids(fd):
    """Map ids a program uses (bpf_prog_info.nr_map_ids at 52, map_ids at 56)."""
    ids = (ctypes.c_uint32 * 256)()
    info = bytearray(80)
    struct.pack_into("=IQ", info, 52, len(ids), ctypes.addressof(ids))
    ibuf = ctypes.create_string_buffer(bytes(info), len(info))
    bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("=IIQ", fd, len(info), ctypes.addressof(ibuf)))
    n = struct.unpack_from("=I", ibuf.raw, 52)[0]
    return [ids[i] for i in range(min(n, len(ids)))]


def map_name(fd):
    """bpf_map_info.name (offset 24, 16 bytes)."""
    ibuf = ctypes.create_string_buffer(40)
    try:
        bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("=IIQ", fd, 40, ctypes.addressof(ibuf)))
    except OSError:
        return "?"
    return ibuf.raw[24:40].split(b"\0", 1)[0].decode(errors="replace") or "?"


def fdinfo(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pin-prefix", default="/sys/fs/bpf/cgfw")
    ap.add_argument("--ours-pid", type=int, action="append", default=[])
    ap.add_argument("--ours-pin", action="append", default=[])
    a = ap.parse_args()

    maps = {}  # id -> {"memlock": int, "name": str, "how": set()}
    errors = []
    ours_maps, ours_progs = set(), set()
    fd_progs = set()
    ours_pids = set(a.ours_pid)
    ours_pins = [os.path.abspath(p) for p in a.ours_pin]

    def add_map(mid, memlock, how, ours):
        m = maps.setdefault(mid, {"memlock": memlock, "name": None, "how": set()})
        m["how"].add(how)
        if ours:
            ours_maps.add(mid)

    # 1. fds of every process.
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        d = f"/proc/{pid}/fdinfo"
        try:
            fds = os.listdir(d)
        except OSError:
            continue
        ours = int(pid) in ours_pids
        for fd in fds:
            info = fdinfo(f"{d}/{fd}")
            if "map_id" in info and "memlock" in info:
                add_map(int(info["map_id"]), int(info["memlock"]), "fd", ours)
            elif "prog_id" in info:
                fd_progs.add(int(info["prog_id"]))
                if ours:
                    ours_progs.add(int(info["prog_id"]))

    # 2. pins under the prefix: maps directly, links -> their programs.
    pin_progs = set()
    base, stem = os.path.split(a.pin_prefix.rstrip("/"))
    roots = []
    try:
        roots = [os.path.join(base, e) for e in sorted(os.listdir(base)) if e.startswith(stem)]
    except OSError as e:
        errors.append(f"{base}: {e.strerror}")
    pins = 0
    for root in roots:
        if os.path.isdir(root):
            paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
        else:
            paths = [root]
        for path in paths:
            pins += 1
            ours = any(path == p or path.startswith(p + "/") for p in ours_pins)
            try:
                fd, _keep = obj_get(path)
            except OSError as e:
                errors.append(f"{path}: {e.strerror}")
                continue
            try:
                info = fdinfo(f"/proc/self/fdinfo/{fd}")
                if "map_id" in info:
                    mid = int(info["map_id"])
                    add_map(mid, int(info["memlock"]), "pinned", ours)
                    if maps[mid]["name"] is None:
                        maps[mid]["name"] = map_name(fd)
                elif "prog_id" in info:
                    pin_progs.add(int(info["prog_id"]))
                    if ours:
                        ours_progs.add(int(info["prog_id"]))
            finally:
                os.close(fd)

    # 3. programs (held or pinned) -> their maps and run statistics.
    prog_errors = 0
    pstats = {}  # prog id -> (run_time_ns, run_cnt)
    for pid_ in sorted(fd_progs | pin_progs):
        try:
            fd = get_fd_by_id(BPF_PROG_GET_FD_BY_ID, pid_)
        except OSError as e:
            prog_errors += 1
            if prog_errors <= 3:
                errors.append(f"prog {pid_}: {e.strerror}")
            continue
        try:
            pi = fdinfo(f"/proc/self/fdinfo/{fd}")
            pstats[pid_] = (int(pi.get("run_time_ns", 0)), int(pi.get("run_cnt", 0)))
            mids = prog_map_ids(fd)
        except OSError as e:
            errors.append(f"prog {pid_} info: {e.strerror}")
            mids = []
        finally:
            os.close(fd)
        for mid in mids:
            if mid in maps:
                maps[mid]["how"].add("prog")
                if pid_ in ours_progs:
                    ours_maps.add(mid)
                continue
            try:
                mfd = get_fd_by_id(BPF_MAP_GET_FD_BY_ID, mid)
            except OSError as e:
                errors.append(f"map {mid} (of prog {pid_}): {e.strerror}")
                continue
            try:
                info = fdinfo(f"/proc/self/fdinfo/{mfd}")
                add_map(mid, int(info.get("memlock", 0)), "prog", pid_ in ours_progs)
                maps[mid]["name"] = map_name(mfd)
            finally:
                os.close(mfd)

    # Names of maps seen only through other processes' fds: open by id (best effort).
    for mid, m in maps.items():
        if m["name"] is None:
            try:
                mfd = get_fd_by_id(BPF_MAP_GET_FD_BY_ID, mid)
            except OSError:
                m["name"] = "?"
                continue
            try:
                m["name"] = map_name(mfd)
            finally:
                os.close(mfd)

    def summ(ids):
        return {"maps": len(ids), "bytes": sum(maps[i]["memlock"] for i in ids)}

    allids = set(maps)
    by_name = {}
    for i in ours_maps:
        b = by_name.setdefault(maps[i]["name"], {"maps": 0, "bytes": 0})
        b["maps"] += 1
        b["bytes"] += maps[i]["memlock"]
    def prog_summ(ids):
        ids = [i for i in ids if i in pstats]
        return {"progs": len(ids), "run_time_ns": sum(pstats[i][0] for i in ids),
                "run_cnt": sum(pstats[i][1] for i in ids)}

    out = {
        "total": summ(allids),
        "fd": summ({i for i in allids if "fd" in maps[i]["how"]}),
        "pinned_only": summ({i for i in allids if maps[i]["how"] == {"pinned"}}),
        "prog_only": summ({i for i in allids if maps[i]["how"] == {"prog"}}),
        "ours": summ(ours_maps),
        "ours_by_name": dict(sorted(by_name.items(), key=lambda kv: -kv[1]["bytes"])),
        "progs": {"held": len(fd_progs), "pinned": len(pin_progs), "open_errors": prog_errors},
        "prog_stats": {"ours": prog_summ(ours_progs), "total": prog_summ(set(pstats))},
        "pins_walked": pins,
        "errors": errors[:10],
        "errors_count": len(errors),
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
