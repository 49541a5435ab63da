/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgfw: shared structs, maps and helpers of the cgroup egress firewall.
 *
 * Every struct here is mirrored by a #[repr(C)] struct in ebpf/src/abi.rs. Sizes and
 * offsets are pinned by the _Static_asserts at the bottom of this file and by const
 * asserts on the Rust side; a test also compares the Rust layout with the BTF of the
 * compiled object.
 *
 * Addresses are always stored as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so
 * that an IPv4 destination reached through an AF_INET socket and the same destination
 * reached through a v4-mapped address on an AF_INET6 socket hit the same map entries.
 * IPv4 CIDRs are stored in the LPM tries with prefix 96 + len.
 *
 * Maps are per firewall instance (one set per container). Sizes: see ebpf/src/lib.rs.
 */
#ifndef CGFW_H
#define CGFW_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* cgfw_config.mode */
#define CGFW_MODE_ENFORCE 0
#define CGFW_MODE_AUDIT 1

/* cgfw_event.kind */
#define CGFW_KIND_CONNECT 1
#define CGFW_KIND_SENDMSG 2
#define CGFW_KIND_PACKET 3
#define CGFW_KIND_DNS_REDIRECT 4
#define CGFW_KIND_MULTICAST 5   /* a multicast group join / source filter (sockopt.bpf.c) */
#define CGFW_KIND_INBOUND 6     /* a packet arriving at the namespace's boundary (tc.bpf.c) */
#define CGFW_KIND_BOUNDARY 7    /* a packet leaving the namespace not sent by the container's
				 * own sockets: a kernel reply, IGMP/MLD, ... (tc.bpf.c) */

/* cgfw_event.verdict */
#define CGFW_VERDICT_ALLOWED 1
#define CGFW_VERDICT_BLOCKED 2
#define CGFW_VERDICT_WOULD_BLOCK 3

/* cgfw_event.reason: which rule decided */
#define CGFW_REASON_LOOPBACK 1
#define CGFW_REASON_BLOCK_CIDR 2
#define CGFW_REASON_ALLOW_CIDR 3
#define CGFW_REASON_ALLOW_IP 4
#define CGFW_REASON_EXPIRED 5
#define CGFW_REASON_DEFAULT_ALLOW 6
#define CGFW_REASON_DEFAULT_DENY 7
#define CGFW_REASON_DNS_PROXY 8
#define CGFW_REASON_PACKET_SOCKET 9 /* AF_PACKET/AF_XDP socket refused (lsm.bpf.c) */
#define CGFW_REASON_SPOOFED_SOURCE 10 /* source is not an address of the namespace */
#define CGFW_REASON_LOOPBACK_OFF_LO 11 /* loopback/unspecified destination on a real device */
#define CGFW_REASON_LINK_MESSAGE 12 /* ND/MLD-typed ICMPv6 from a process's socket */

#define CGFW_DNS_PORT 53

/* Map sizes (entries). Keep in sync with the table in ebpf/src/lib.rs. */
#define CGFW_ALLOW_IP_ENTRIES 4096
#define CGFW_CIDR_ENTRIES 1024
#define CGFW_OWNER_ENTRIES 4096
#define CGFW_DNS_ORIG_ENTRIES 2048
#define CGFW_DNS_CLIENT_ENTRIES 2048
#define CGFW_EVENTS_BYTES (128 * 1024)
#define CGFW_EXEC_ENTRIES 2048
#define CGFW_ARGS_BYTES 256    /* argv bytes kept per process (NUL-separated, truncated) */
#define CGFW_LOCAL_ADDR_ENTRIES 256
#define CGFW_UPSTREAM_ENTRIES 16

struct cgfw_config {
	__u32 events_per_sec;  /* token bucket refill rate; 0 = no events */
	__u32 events_burst;    /* bucket size */
	__u8 proxy4_addr[4];   /* network order */
	__u8 proxy6_addr[16];  /* network order */
	__u16 proxy4_port;     /* host order */
	__u16 proxy6_port;     /* host order */
	__u8 has_proxy4;
	__u8 has_proxy6;
	__u8 mode;             /* CGFW_MODE_* */
	__u8 default_allow;    /* 1: destinations matching no rule are allowed */
	__u8 report_allowed;   /* 1: also emit allowed connect/sendmsg/dns_redirect events */
	__u8 _pad[3];
	__u32 cgroup_level;    /* depth of the attached cgroup below the cgroup2 root */
	__u32 _pad2;
	__u64 cgroup_id;       /* its id (the directory's inode); 0 before attach */
};

/* allow_cidr / block_cidr LPM key. prefixlen counts bits of the 16-byte mapped address. */
struct cgfw_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* allow_ip value */
struct cgfw_allow_ip {
	__u64 expires_ns;      /* CLOCK_MONOTONIC (bpf_ktime_get_ns); allowed while now < expires */
};

/* cookie -> owner (written by connect/sendmsg, read by skb egress and userspace) */
struct cgfw_owner {
	__u32 pid;             /* kernel tid (userspace "thread id") */
	__u32 tgid;            /* userspace pid */
	char comm[16];
};

/* cookie -> original DNS destination before redirect to the proxy */
struct cgfw_orig_dst {
	__u8 addr[16];         /* as the application gave it; v4 sockets: mapped */
	__u16 port;            /* host order */
	__u8 family;           /* AF_INET / AF_INET6 of the socket */
	__u8 _pad;
};

/* (proto, client source address, source port) of a packet to the DNS proxy -> owner */
struct cgfw_dns_client_key {
	__u8 addr[16];         /* mapped */
	__u16 port;            /* host order */
	__u8 proto;            /* IPPROTO_UDP / IPPROTO_TCP */
	__u8 _pad;
};

struct cgfw_dns_client {
	__u64 cookie;
	struct cgfw_owner owner;
};

struct cgfw_ratelimit {
	__s64 tokens;
	__u64 last_ns;
	__u64 suppressed;      /* events dropped by the bucket or a full ring buffer */
};

struct cgfw_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns */
	__u64 cgroup_id;
	__u64 cookie;
	__u32 pid;
	__u32 tgid;
	char comm[16];
	__u8 daddr[16];        /* mapped */
	__u16 dport;           /* host order */
	__u8 kind;
	__u8 verdict;
	__u8 reason;
	__u8 proto;
	__u8 family;           /* AF_INET / AF_INET6 of the socket or packet */
	__u8 _pad;
};

/* tgid -> the argv it exec'd with, recorded at exec for processes in the firewall's cgroup */
struct cgfw_exec {
	__u64 start_time_ns;   /* task start_time: CLOCK_MONOTONIC at fork (tells reused pids apart) */
	__u32 len;             /* bytes in args */
	__u32 full_len;        /* arg_end - arg_start: > len when truncated */
	char args[CGFW_ARGS_BYTES]; /* argv as in /proc/PID/cmdline: each argument NUL-terminated */
};

_Static_assert(sizeof(struct cgfw_config) == 56, "cgfw_config size");
_Static_assert(__builtin_offsetof(struct cgfw_config, cgroup_id) == 48, "cgroup_id");
_Static_assert(__builtin_offsetof(struct cgfw_config, proxy4_port) == 28, "proxy4_port");
_Static_assert(__builtin_offsetof(struct cgfw_config, report_allowed) == 36, "report_allowed");
_Static_assert(sizeof(struct cgfw_lpm_key) == 20, "cgfw_lpm_key size");
_Static_assert(sizeof(struct cgfw_allow_ip) == 8, "cgfw_allow_ip size");
_Static_assert(sizeof(struct cgfw_owner) == 24, "cgfw_owner size");
_Static_assert(sizeof(struct cgfw_orig_dst) == 20, "cgfw_orig_dst size");
_Static_assert(sizeof(struct cgfw_dns_client_key) == 20, "cgfw_dns_client_key size");
_Static_assert(sizeof(struct cgfw_dns_client) == 32, "cgfw_dns_client size");
_Static_assert(sizeof(struct cgfw_ratelimit) == 24, "cgfw_ratelimit size");
_Static_assert(sizeof(struct cgfw_event) == 72, "cgfw_event size");
_Static_assert(__builtin_offsetof(struct cgfw_event, daddr) == 48, "event daddr");
_Static_assert(__builtin_offsetof(struct cgfw_event, dport) == 64, "event dport");
_Static_assert(__builtin_offsetof(struct cgfw_event, family) == 70, "event family");
_Static_assert(sizeof(struct cgfw_exec) == 272, "cgfw_exec size");
_Static_assert(__builtin_offsetof(struct cgfw_exec, args) == 16, "exec args");

/* ---- maps ---------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgfw_config);
} cgfw_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_ALLOW_IP_ENTRIES);
	__type(key, __u8[16]);
	__type(value, struct cgfw_allow_ip);
} cgfw_allow_ip SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CGFW_CIDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cgfw_lpm_key);
	__type(value, __u32);
} cgfw_allow_cidr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CGFW_CIDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cgfw_lpm_key);
	__type(value, __u32);
} cgfw_block_cidr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGFW_OWNER_ENTRIES);
	__type(key, __u64);
	__type(value, struct cgfw_owner);
} cgfw_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGFW_DNS_ORIG_ENTRIES);
	__type(key, __u64);
	__type(value, struct cgfw_orig_dst);
} cgfw_dns_orig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGFW_DNS_CLIENT_ENTRIES);
	__type(key, struct cgfw_dns_client_key);
	__type(value, struct cgfw_dns_client);
} cgfw_dns_client SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgfw_ratelimit);
} cgfw_ratelimit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CGFW_EVENTS_BYTES);
} cgfw_events SEC(".maps");

/* Written by the exec hook, read by userspace only. LRU: old processes fall out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGFW_EXEC_ENTRIES);
	__type(key, __u32);
	__type(value, struct cgfw_exec);
} cgfw_exec_args SEC(".maps");

/* Index 0: the cgroup the firewall is attached to (set by attach()). The exec tracepoint is
 * global; it records only tasks in this cgroup or below it (bpf_current_task_under_cgroup). */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgfw_cgroup SEC(".maps");

/* The network namespace's own addresses (mapped form -> CGFW_LOCAL_UNICAST), kept in sync by
 * the sidecar, which lives in the namespace and follows RTM_NEWADDR/RTM_DELADDR. A packet of
 * the container may only carry one of these (or loopback) as its source. Empty means nothing
 * but loopback passes: fail closed until the first sync. The solicited-node multicast groups of
 * its IPv6 addresses (ff02::1:ffXX:XXXX, which the kernel joins and reports by itself) are
 * there too, as CGFW_LOCAL_GROUP. */
#define CGFW_LOCAL_UNICAST 1
#define CGFW_LOCAL_GROUP 2
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_LOCAL_ADDR_ENTRIES);
	__type(key, __u8[16]);
	__type(value, __u8);
} cgfw_local_addr SEC(".maps");

/* The DNS proxy's upstream resolvers (mapped form -> 1): the proxy's own queries to them on
 * port 53 pass the namespace boundary filter whatever cgroup the sidecar runs in. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_UPSTREAM_ENTRIES);
	__type(key, __u8[16]);
	__type(value, __u8);
} cgfw_upstream SEC(".maps");

/* Sockets a process of the cgroup created (socket(2)), marked by cgroup/sock_create. The
 * kernel's own sockets (neighbour discovery, MLD) never pass that hook: a socket without the
 * mark that sends from the cgroup is one of those (or predates the attach). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE); /* an accepted socket keeps the mark */
	__type(key, int);
	__type(value, __u8);
} cgfw_user_sock SEC(".maps");

/*
 * Layout anchor: never read or written by the programs. It only exists so that
 * struct cgfw_event is described in the object's BTF, which the layout test compares with
 * the Rust mirror (the ring buffer itself carries no type). One entry, 72 bytes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgfw_event);
} cgfw_layout SEC(".maps");

/* ---- helpers --------------------------------------------------------------------------- */

static __always_inline struct cgfw_config *cgfw_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&cgfw_config, &zero);
}

static __always_inline void cgfw_map_v4(__u8 out[16], __u32 ip4_be)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &ip4_be, 4);
}

static __always_inline int cgfw_is_mapped(const __u8 a[16])
{
	__u64 hi;
	__u32 mid;
	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return hi == 0 && mid == bpf_htonl(0x0000ffff);
}


/* Loopback as a source: 127.0.0.0/8 or ::1 (never the unspecified address). */
static __always_inline int cgfw_is_loopback_src(const __u8 a[16])
{
	__u64 hi, lo;
	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&lo, a + 8, 8);
	if (hi == 0 && lo == bpf_cpu_to_be64(1))
		return 1;
	return cgfw_is_mapped(a) && a[12] == 127;
}

/* One of the network namespace's own addresses (loopback included). */
static __always_inline int cgfw_is_own(const __u8 a[16])
{
	__u8 *kind;
	if (cgfw_is_loopback_src(a))
		return 1;
	kind = bpf_map_lookup_elem(&cgfw_local_addr, a);
	return kind && *kind == CGFW_LOCAL_UNICAST;
}

static __always_inline int cgfw_is_unspecified(const __u8 a[16])
{
	__u64 hi, lo;
	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&lo, a + 8, 8);
	if (hi == 0 && lo == 0)
		return 1;
	return cgfw_is_mapped(a) && a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 0;
}

/* 127.0.0.0/8, 0.0.0.0 (means "this host"), ::1, :: */
static __always_inline int cgfw_is_loopback(const __u8 a[16])
{
	return cgfw_is_loopback_src(a) || cgfw_is_unspecified(a);
}

static __always_inline int cgfw_addr_eq(const __u8 a[16], const __u8 b[16])
{
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/*
 * The policy decision for one destination. Returns CGFW_REASON_*; *allowed is set to 1 when
 * the destination may be reached. Order: loopback, block CIDR (wins), allow CIDR, resolved IP
 * with expiry, default.
 */
static __always_inline __u8 cgfw_decide(const __u8 addr[16], struct cgfw_config *cfg, int *allowed)
{
	struct cgfw_lpm_key k;
	struct cgfw_allow_ip *ip;

	k.prefixlen = 128;

	if (cgfw_is_loopback(addr)) {
		*allowed = 1;
		return CGFW_REASON_LOOPBACK;
	}
	__builtin_memcpy(k.addr, addr, 16);
	if (bpf_map_lookup_elem(&cgfw_block_cidr, &k)) {
		*allowed = 0;
		return CGFW_REASON_BLOCK_CIDR;
	}
	if (bpf_map_lookup_elem(&cgfw_allow_cidr, &k)) {
		*allowed = 1;
		return CGFW_REASON_ALLOW_CIDR;
	}
	ip = bpf_map_lookup_elem(&cgfw_allow_ip, k.addr);
	if (ip) {
		if (bpf_ktime_get_ns() < ip->expires_ns) {
			*allowed = 1;
			return CGFW_REASON_ALLOW_IP;
		}
		*allowed = cfg->default_allow;
		return cfg->default_allow ? CGFW_REASON_DEFAULT_ALLOW : CGFW_REASON_EXPIRED;
	}
	*allowed = cfg->default_allow;
	return cfg->default_allow ? CGFW_REASON_DEFAULT_ALLOW : CGFW_REASON_DEFAULT_DENY;
}

/* Token bucket. Racy across CPUs by design (no lock in the hot path): at worst a few events
 * more than the budget pass; the ring buffer size bounds memory in any case. */
static __always_inline int cgfw_ratelimit_take(struct cgfw_config *cfg)
{
	__u32 zero = 0;
	struct cgfw_ratelimit *rl = bpf_map_lookup_elem(&cgfw_ratelimit, &zero);
	__u64 now, elapsed, add;
	__u32 rate = cfg->events_per_sec;

	if (!rl)
		return 0;
	if (rate == 0) {
		__sync_fetch_and_add(&rl->suppressed, 1);
		return 0;
	}
	now = bpf_ktime_get_ns();
	elapsed = now - rl->last_ns;
	if (elapsed >= 1000000000ULL) {
		rl->tokens = cfg->events_burst;
		rl->last_ns = now;
	} else {
		add = elapsed * rate / 1000000000ULL;
		if (add > 0) {
			__s64 t = rl->tokens + (__s64)add;
			if (t > (__s64)cfg->events_burst)
				t = cfg->events_burst;
			rl->tokens = t;
			rl->last_ns = now;
		}
	}
	if (rl->tokens <= 0) {
		__sync_fetch_and_add(&rl->suppressed, 1);
		return 0;
	}
	__sync_fetch_and_add(&rl->tokens, -1);
	return 1;
}

static __always_inline void cgfw_count_suppressed(void)
{
	__u32 zero = 0;
	struct cgfw_ratelimit *rl = bpf_map_lookup_elem(&cgfw_ratelimit, &zero);
	if (rl)
		__sync_fetch_and_add(&rl->suppressed, 1);
}

static __always_inline void cgfw_emit(struct cgfw_config *cfg, struct cgfw_event *e)
{
	if (!cgfw_ratelimit_take(cfg))
		return;
	e->ts_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&cgfw_events, e, sizeof(*e), 0))
		cgfw_count_suppressed();
}

static __always_inline __u8 cgfw_verdict(struct cgfw_config *cfg, int allowed)
{
	if (allowed)
		return CGFW_VERDICT_ALLOWED;
	return cfg->mode == CGFW_MODE_AUDIT ? CGFW_VERDICT_WOULD_BLOCK : CGFW_VERDICT_BLOCKED;
}

#endif /* CGFW_H */
