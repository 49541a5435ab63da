#!/usr/bin/env bash
# build.sh OUTDIR: compile the firewall test programs into OUTDIR.
#   dnsq          static (glibc)       raw DNS queries: udp / unconnected sendto / tcp
#   getconn-musl  static, musl-gcc     musl's getaddrinfo + connect + HTTP GET
#   getconn-glibc dynamic glibc        glibc's getaddrinfo (runs on the rootfs's copied glibc)
# Needs gcc and musl-gcc (apt: build-essential musl-tools). Prints nothing on success.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
command -v musl-gcc >/dev/null || { echo "build.sh: musl-gcc not found (apt-get install musl-tools)" >&2; exit 1; }
gcc -O2 -Wall -static -o "$out/dnsq" "$src/dnsq.c"
musl-gcc -O2 -Wall -static -o "$out/getconn-musl" "$src/getconn.c"
gcc -O2 -Wall -o "$out/getconn-glibc" "$src/getconn.c"
