#!/usr/bin/env python3
"""recv-console.py SOCKET DIR: the receiving end of an OCI runtime's --console-socket.

Listens on the Unix socket SOCKET; for each connection, receives the terminal master the
runtime sends (SCM_RIGHTS) and, for the N-th one (from 1), writes DIR/N.info (the message's
name, the terminal's size "rows cols") and copies everything the terminal outputs to DIR/N.out
until no process holds the terminal any more. Runs until killed. Loopback only: nothing leaves
this machine.
"""
import array
import fcntl
import os
import socket
import struct
import sys
import termios
import threading


def copy_out(master, path):
    with open(path, "ab", buffering=0) as out:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the terminal has no holder any more
                break
            if not data:
                break
            out.write(data)
    os.close(master)


def main():
    sock_path, out_dir = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(8)
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        conn.close()
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        if not fds:
            continue
        master = fds[0]
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))
        with open(os.path.join(out_dir, f"{n}.info.tmp"), "w") as f:
            f.write(f"name {msg.decode(errors='replace')}\nsize {rows} {cols}\n")
        os.rename(os.path.join(out_dir, f"{n}.info.tmp"), os.path.join(out_dir, f"{n}.info"))
        threading.Thread(target=copy_out, args=(master, os.path.join(out_dir, f"{n}.out")), daemon=True).start()


if __name__ == "__main__":
    main()
