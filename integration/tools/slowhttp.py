#!/usr/bin/env python3
"""slowhttp.py: an HTTP/1.1 server for the long-transfer tests, run in the test world.

    slowhttp.py --bind ADDR [--bind ADDR6] --port P --root DIR --seconds S

GET /stream/N        N KiB of data, one KiB at a time spread evenly over S seconds
GET /<file>          the file under DIR; a file whose name ends in .pack (a git pack) is
                     spread over S seconds the same way, others are sent at once
Keep-alive as HTTP/1.1 clients expect (git and curl reuse the connection). Every transfer ends
within S seconds plus the client's own pace; the server exits after --lifetime seconds (default
S * 3 + 60) so that a forgotten server cannot outlive its test.
"""
import argparse
import http.server
import os
import socket
import socketserver
import sys
import threading
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seconds = 1.0

    def log_message(self, fmt, *args):
        sys.stderr.write("slowhttp: %s %s\n" % (self.client_address[0], fmt % args))

    def send_slowly(self, body_chunks, total):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        chunks = list(body_chunks)
        pause = self.seconds / max(len(chunks), 1)
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
            time.sleep(pause)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/stream/"):
            try:
                kib = int(path[len("/stream/"):])
            except ValueError:
                self.send_error(400, "bad size")
                return
            if not 0 < kib <= 65536:
                self.send_error(400, "size out of range")
                return
            chunk = b"x" * 1023 + b"\n"
            self.send_slowly((chunk for _ in range(kib)), kib * 1024)
            return
        if path.endswith(".pack"):
            local = self.translate_path(path)
            try:
                with open(local, "rb") as f:
                    data = f.read()
            except OSError:
                self.send_error(404)
                return
            step = max(len(data) // 100, 1)
            self.send_slowly((data[i:i + step] for i in range(0, len(data), step)), len(data))
            return
        super().do_GET()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", action="append", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--lifetime", type=float)
    args = ap.parse_args()
    Handler.seconds = args.seconds
    os.chdir(args.root)
    servers = []
    for addr in args.bind:
        cls = Server6 if ":" in addr else Server
        srv = cls((addr, args.port), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    print("ready", flush=True)
    time.sleep(args.lifetime or args.seconds * 3 + 60)


if __name__ == "__main__":
    main()
