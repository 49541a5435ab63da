/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one compilation unit: every hook family must share one set of maps, and a BPF object
 * is the unit of map sharing for the loader. Each family lives in its own file.
 */
#include "cgfw.h"
#include "sock_addr.bpf.c"
#include "skb.bpf.c"
#include "exec.bpf.c"
#include "lsm.bpf.c"
#include "sock_create.bpf.c"
#include "sockopt.bpf.c"
#include "tc.bpf.c"

char LICENSE[] SEC("license") = "GPL";
