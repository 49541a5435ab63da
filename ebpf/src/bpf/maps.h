/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The maps of the host's program set. One set is loaded per host and build (ebpf/src/set.rs):
 * every firewalled container shares these maps, and nothing in them lets a container see or
 * change another's state:
 *  - per-container state lives in inner maps of the *_of maps (map-of-maps keyed by the
 *    container's id), created by userspace for each container with the sizes below: a container
 *    that fills one fills its own (the kernel refuses the insert; the sidecar fails closed for
 *    that container alone) and its state goes with one delete;
 *  - state the kernel keeps per socket (owner, original DNS destination, creator mark) lives in
 *    socket storage, which dies with the socket;
 *  - what stays in shared maps is keyed by something only one container can own (a task's
 *    tgid, a container id in the key) and is only for attribution (LRU: a container that
 *    churns them can age out another's entries, never change what is enforced).
 * Userspace creates inner maps with exactly the type, sizes and flags of the templates below
 * (the kernel checks them when an inner map is inserted).
 *
 * Every hook file is compiled on its own and includes this header; the objects are linked
 * into one (bpftool gen object, build.rs). CGFW_MAP marks each definition weak so that the
 * linker merges the identical copies into one map.
 */
#ifndef CGFW_MAPS_H
#define CGFW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

#define CGFW_MAP SEC(".maps") __attribute__((weak))

/* ---- which container: per attachment and by id ---------------------------------------- */

/* The id of the container a cgroup program was attached for (chosen by userspace when it
 * loads the container's state, before the container's cgroup exists). Legacy cgroup storage, keyed by
 * the cgroup's id only (__u64 key): one value per cgroup, shared by every program of the set
 * attached to it, and the value a program sees is that of the cgroup it was attached to — also
 * when it runs for a task in a cgroup nested below (a child cgroup the container made, the
 * cgroup an `exec` joins). 0 until userspace writes it after attaching: fail closed. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, __u64);
} cgfw_attached CGFW_MAP;

/* Container id -> its configuration and event budget. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_HOST_CONTAINERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct cgfw_container);
} cgfw_containers CGFW_MAP;

/* cgroup id -> the id of the container attached to it, for the exec hook, which finds a
 * task's container by walking its cgroup ancestors. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_HOST_CONTAINERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} cgfw_cgroups CGFW_MAP;

/* Network namespace cookie -> the firewalled containers in it (boundary programs). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_HOST_CONTAINERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct cgfw_netns);
} cgfw_netns CGFW_MAP;

/* ---- per-container state: inner maps ---------------------------------------------------- */

/* Resolved addresses the proxy allowed, with their expiry. */
struct cgfw_allow_ip_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_ALLOW_IP_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u8[16]);
	__type(value, struct cgfw_allow_ip);
};

/* allow / block CIDRs (LPM key: prefixlen counts bits of the mapped address). */
struct cgfw_cidr_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CGFW_CIDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cgfw_lpm_key);
	__type(value, __u32);
};

/* The network namespace's own addresses (mapped -> CGFW_LOCAL_UNICAST) and the
 * solicited-node groups of its IPv6 ones (CGFW_LOCAL_GROUP), kept by the sidecar from
 * rtnetlink. Empty: nothing but loopback is a valid source (fail closed until the first sync). */
struct cgfw_local_addr_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_LOCAL_ADDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u8[16]);
	__type(value, __u8);
};

/* The DNS proxy's upstream resolvers (mapped -> 1): its queries to them pass the boundary. */
struct cgfw_upstream_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGFW_UPSTREAM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u8[16]);
	__type(value, __u8);
};

/* The container's events, read by its sidecar. */
struct cgfw_events_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CGFW_EVENTS_BYTES);
};

#define CGFW_OUTER(name, inner)                                                                   \
	struct {                                                                                  \
		__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);                                          \
		__uint(max_entries, CGFW_HOST_CONTAINERS);                                        \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                             \
		__type(key, __u64);                                                               \
		__array(values, struct inner);                                                    \
	} name CGFW_MAP

CGFW_OUTER(cgfw_allow_ip, cgfw_allow_ip_inner);
CGFW_OUTER(cgfw_allow_cidr, cgfw_cidr_inner);
CGFW_OUTER(cgfw_block_cidr, cgfw_cidr_inner);
CGFW_OUTER(cgfw_local_addr, cgfw_local_addr_inner);
CGFW_OUTER(cgfw_upstream, cgfw_upstream_inner);
CGFW_OUTER(cgfw_events, cgfw_events_inner);

/* ---- per socket ------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE); /* an accepted socket keeps it */
	__type(key, int);
	__type(value, struct cgfw_sock);
} cgfw_sock CGFW_MAP;

/* ---- shared, attribution only ----------------------------------------------------------- */

/* (container, proto, source address, port) of a packet to a DNS proxy -> its sender. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGFW_HOST_DNS_CLIENT_ENTRIES);
	__type(key, struct cgfw_dns_client_key);
	__type(value, struct cgfw_dns_client);
} cgfw_dns_client CGFW_MAP;

/* tgid -> the argv it exec'd with, for processes of firewalled containers. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGFW_HOST_EXEC_ENTRIES);
	__type(key, __u32);
	__type(value, struct cgfw_exec);
} cgfw_exec_args CGFW_MAP;

/* Layout anchor: never used by the programs. Its value type makes the compiler describe every
 * ABI struct completely in the object's BTF: the inner-map templates above only name their key
 * and value types through pointers (a forward declaration is not enough for the loader), the
 * ring buffers carry no type, and tests/layout.rs compares each struct with its Rust mirror. */
struct cgfw_layout {
	struct cgfw_event event;
	struct cgfw_allow_ip allow_ip;
	struct cgfw_lpm_key lpm_key;
	struct cgfw_config config;
	struct cgfw_container container;
	struct cgfw_netns netns;
	struct cgfw_sock sock;
	struct cgfw_dns_client_key dns_client_key;
	struct cgfw_dns_client dns_client;
	struct cgfw_exec exec;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgfw_layout);
} cgfw_layout CGFW_MAP;

#endif /* CGFW_MAPS_H */
