/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The contract between the BPF programs and userspace: constants and the layout of every map
 * key, value and event. ebpf/src/abi.rs mirrors it; the build checks the #defines (build.rs
 * generates the Rust constants from this file) and tests/layout.rs compares the structs with the
 * BTF of the compiled object.
 *
 * Addresses are always stored as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so
 * that an IPv4 destination reached through an AF_INET socket and the same destination
 * reached through a v4-mapped address on an AF_INET6 socket hit the same map entries.
 * IPv4 CIDRs are stored in the LPM tries with prefix 96 + len.
 *
 * A container is identified by a random 64-bit id userspace chooses when it loads the
 * container's state; cgfw_attached (cgroup storage) and cgfw_cgroups map its cgroup to it.
 */
#ifndef CGFW_ABI_H
#define CGFW_ABI_H

#include <linux/types.h>

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

/* Map sizes (entries). Per container (inner maps) unless the name says HOST. */
#define CGFW_ALLOW_IP_ENTRIES 4096
#define CGFW_CIDR_ENTRIES 1024
#define CGFW_EVENTS_BYTES (64 * 1024)
#define CGFW_HOST_CONTAINERS 4096     /* firewalled containers per host (outer maps) */
#define CGFW_HOST_DNS_CLIENT_ENTRIES 8192
#define CGFW_HOST_EXEC_ENTRIES 4096
#define CGFW_NETNS_MEMBERS 64         /* firewalled containers sharing one network namespace */
#define CGFW_MAX_CGROUP_DEPTH 16      /* cgroup levels walked to find a process's container */
#define CGFW_ARGS_BYTES 256    /* argv bytes kept per process (NUL-separated, truncated) */
#define CGFW_LOCAL_ADDR_ENTRIES 256
#define CGFW_UPSTREAM_ENTRIES 16

/* cgfw_local_addr values */
#define CGFW_LOCAL_UNICAST 1
#define CGFW_LOCAL_GROUP 2

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

/* The task that last connected / sent on a socket (kept in the socket's cgfw_sock). */
struct cgfw_owner {
	__u32 pid;             /* kernel tid (userspace "thread id") */
	__u32 tgid;            /* userspace pid */
	char comm[16];
};

/* The DNS server a socket addressed before its redirect to the proxy. */
struct cgfw_orig_dst {
	__u8 addr[16];         /* as the application gave it; v4 sockets: mapped */
	__u16 port;            /* host order */
	__u8 family;           /* AF_INET / AF_INET6 of the socket */
	__u8 _pad;
};

/* (container, proto, client source address, source port) of a packet to the DNS proxy -> owner */
struct cgfw_dns_client_key {
	__u64 container;       /* the container's id (its cgroup id): addresses repeat across netns */
	__u8 addr[16];         /* mapped */
	__u16 port;            /* host order */
	__u8 proto;            /* IPPROTO_UDP / IPPROTO_TCP */
	__u8 _pad[5];
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

/* The peer a TCP/UDP socket's connect() was allowed to reach, as the policy stood then. */
struct cgfw_peer {
	__u8 addr[16];         /* mapped */
	__u16 port;            /* host order */
	__u8 proto;            /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 _pad[5];
};

/* Per-socket state (socket storage; freed with the socket, so no container can evict
 * another's). Created by cgroup/sock_create for every socket a process of a firewalled cgroup
 * creates: a socket without it is the kernel's (or predates the attach). */
struct cgfw_sock {
	__u64 container;       /* id of the container whose process created the socket */
	struct cgfw_owner owner;   /* valid when has_owner */
	struct cgfw_orig_dst orig; /* valid when has_orig */
	__u8 has_owner;
	__u8 has_orig;
	__u8 has_peer;         /* peer valid: the last connect() was allowed (cleared when not) */
	__u8 _pad;
	struct cgfw_peer peer;
};

/* One firewalled container: its configuration and its event budget. */
struct cgfw_container {
	struct cgfw_config cfg;
	struct cgfw_ratelimit rl;
};

/* The firewalled containers of one network namespace (by netns cookie), for the boundary
 * programs, which run per interface and not per container. */
struct cgfw_netns {
	__u32 n;               /* entries used in ids */
	__u32 _pad;
	__u64 ids[CGFW_NETNS_MEMBERS];
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
_Static_assert(sizeof(struct cgfw_sock) == 80, "cgfw_sock size");
_Static_assert(sizeof(struct cgfw_owner) == 24, "cgfw_owner size");
_Static_assert(sizeof(struct cgfw_orig_dst) == 20, "cgfw_orig_dst size");
_Static_assert(sizeof(struct cgfw_dns_client_key) == 32, "cgfw_dns_client_key size");
_Static_assert(sizeof(struct cgfw_container) == 80, "cgfw_container size");
_Static_assert(sizeof(struct cgfw_netns) == 8 + 8 * CGFW_NETNS_MEMBERS, "cgfw_netns size");
_Static_assert(sizeof(struct cgfw_dns_client) == 32, "cgfw_dns_client size");
_Static_assert(sizeof(struct cgfw_ratelimit) == 24, "cgfw_ratelimit size");
_Static_assert(sizeof(struct cgfw_event) == 72, "cgfw_event size");
_Static_assert(__builtin_offsetof(struct cgfw_event, daddr) == 48, "event daddr");
_Static_assert(__builtin_offsetof(struct cgfw_event, dport) == 64, "event dport");
_Static_assert(__builtin_offsetof(struct cgfw_event, family) == 70, "event family");
_Static_assert(sizeof(struct cgfw_exec) == 272, "cgfw_exec size");
_Static_assert(__builtin_offsetof(struct cgfw_exec, args) == 16, "exec args");

#endif /* CGFW_ABI_H */
