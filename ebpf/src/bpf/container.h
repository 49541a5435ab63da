/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Finding the container a program runs for, and what every hook asks of it: is an address
 * allowed, is it one of the namespace's own, report an event.
 *
 * A program finds its container once per run (struct cgfw_ctr) and passes it down; every
 * per-container map is reached through the container's id. A missing piece of state (the
 * container being set up or torn down) decides like the strictest policy: fail closed.
 */
#ifndef CGFW_CONTAINER_H
#define CGFW_CONTAINER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"

struct cgfw_ctr {
	__u64 id;
	struct cgfw_container *c;
};

/* For a cgroup program: the container it was attached for. 0 if not (yet) set up. */
static __always_inline int cgfw_ctr_attached(struct cgfw_ctr *ctr)
{
	__u64 *id = bpf_get_local_storage(&cgfw_attached, 0);
	if (!*id)
		return 0;
	ctr->id = *id;
	ctr->c = bpf_map_lookup_elem(&cgfw_containers, id);
	return ctr->c != 0;
}

/* By id (boundary programs). */
static __always_inline int cgfw_ctr_by_id(struct cgfw_ctr *ctr, __u64 id)
{
	ctr->id = id;
	ctr->c = bpf_map_lookup_elem(&cgfw_containers, &id);
	return ctr->c != 0;
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

/* The kind (CGFW_LOCAL_*) of a in the namespace's address set, 0 if absent. */
static __always_inline __u8 cgfw_local_kind(const struct cgfw_ctr *ctr, const __u8 a[16])
{
	void *local = bpf_map_lookup_elem(&cgfw_local_addr, &ctr->id);
	__u8 *kind;
	if (!local)
		return 0;
	kind = bpf_map_lookup_elem(local, a);
	return kind ? *kind : 0;
}

/* One of the network namespace's own addresses (loopback included). */
static __always_inline int cgfw_is_own(const struct cgfw_ctr *ctr, const __u8 a[16])
{
	return cgfw_is_loopback_src(a) || cgfw_local_kind(ctr, a) == CGFW_LOCAL_UNICAST;
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

/* Whether a CIDR map of the container (cgfw_allow_cidr / cgfw_block_cidr) covers addr.
 * -1: the container has no such map (being set up or torn down). */
static __always_inline int cgfw_in_cidrs(void *outer, const struct cgfw_ctr *ctr, const __u8 addr[16])
{
	struct cgfw_lpm_key k = {.prefixlen = 128};
	void *cidrs = bpf_map_lookup_elem(outer, &ctr->id);
	if (!cidrs)
		return -1;
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(cidrs, &k) != 0;
}

/*
 * The policy decision for one destination. Returns CGFW_REASON_*; *allowed is set to 1 when
 * the destination may be reached. Order: loopback, block CIDR (wins), allow CIDR, resolved IP
 * with expiry, default. A container whose maps are missing allows nothing but loopback.
 */
static __always_inline __u8 cgfw_decide(const __u8 addr[16], const struct cgfw_ctr *ctr, int *allowed)
{
	struct cgfw_config *cfg = &ctr->c->cfg;
	struct cgfw_allow_ip *ip;
	void *ips;
	int hit;

	*allowed = 0;
	if (cgfw_is_loopback(addr)) {
		*allowed = 1;
		return CGFW_REASON_LOOPBACK;
	}
	hit = cgfw_in_cidrs(&cgfw_block_cidr, ctr, addr);
	if (hit)
		return hit > 0 ? CGFW_REASON_BLOCK_CIDR : CGFW_REASON_DEFAULT_DENY;
	hit = cgfw_in_cidrs(&cgfw_allow_cidr, ctr, addr);
	if (hit < 0)
		return CGFW_REASON_DEFAULT_DENY;
	if (hit) {
		*allowed = 1;
		return CGFW_REASON_ALLOW_CIDR;
	}
	ips = bpf_map_lookup_elem(&cgfw_allow_ip, &ctr->id);
	if (!ips)
		return CGFW_REASON_DEFAULT_DENY;
	ip = bpf_map_lookup_elem(ips, addr);
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
static __always_inline int cgfw_ratelimit_take(struct cgfw_container *c)
{
	struct cgfw_ratelimit *rl = &c->rl;
	__u64 now, elapsed, add;
	__u32 rate = c->cfg.events_per_sec;

	if (rate == 0) {
		__sync_fetch_and_add(&rl->suppressed, 1);
		return 0;
	}
	now = bpf_ktime_get_ns();
	elapsed = now - rl->last_ns;
	if (elapsed >= 1000000000ULL) {
		rl->tokens = c->cfg.events_burst;
		rl->last_ns = now;
	} else {
		add = elapsed * rate / 1000000000ULL;
		if (add > 0) {
			__s64 t = rl->tokens + (__s64)add;
			if (t > (__s64)c->cfg.events_burst)
				t = c->cfg.events_burst;
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

/* Reports e to the container's sidecar (its ring buffer), within its event budget. */
static __always_inline void cgfw_emit(const struct cgfw_ctr *ctr, struct cgfw_event *e)
{
	void *ring;
	if (!cgfw_ratelimit_take(ctr->c))
		return;
	e->ts_ns = bpf_ktime_get_ns();
	ring = bpf_map_lookup_elem(&cgfw_events, &ctr->id);
	if (!ring || bpf_ringbuf_output(ring, e, sizeof(*e), 0))
		__sync_fetch_and_add(&ctr->c->rl.suppressed, 1);
}

static __always_inline __u8 cgfw_verdict(const struct cgfw_ctr *ctr, int allowed)
{
	if (allowed)
		return CGFW_VERDICT_ALLOWED;
	return ctr->c->cfg.mode == CGFW_MODE_AUDIT ? CGFW_VERDICT_WOULD_BLOCK : CGFW_VERDICT_BLOCKED;
}

static __always_inline int cgfw_audit(const struct cgfw_ctr *ctr)
{
	return ctr->c->cfg.mode == CGFW_MODE_AUDIT;
}

#endif /* CGFW_CONTAINER_H */
