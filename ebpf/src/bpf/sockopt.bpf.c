/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgroup/setsockopt: multicast group joins and source filters need the policy's consent.
 *
 * Why: joining a group (or changing a source filter) makes the kernel send IGMPv3/MLDv2
 * membership reports from its own sockets, which no cgroup hook sees, and those reports carry
 * the group and source addresses the process chose onto the link: 4 to 32 bytes of any data
 * per call, with no capability needed. So a join or a source filter is refused (EPERM) unless
 * the policy allows the group (an allow CIDR covering it; a block-only policy allows what it
 * does not block), and for source-specific calls every source too.
 *
 * Kernel contract: runs for setsockopt(2) by tasks of the cgroup before the kernel handles
 * the option. ctx->optval .. optval_end holds the caller's buffer (at most one page of it).
 * Return 1 lets the kernel handle the call unchanged, 0 fails it with EPERM. Leaving a group
 * (IP_DROP_MEMBERSHIP, IPV6_DROP_MEMBERSHIP, MCAST_LEAVE_*) is always allowed: it can only
 * undo a join that was allowed. A buffer too short to hold the structure is refused (the
 * kernel would refuse it with EINVAL anyway). MCAST_* structures are read in the 64-bit
 * layout (group_req: sockaddr_storage at offset 8); a 32-bit caller's compat layout does not
 * parse as an AF_INET/AF_INET6 address there and is refused: fail closed.
 */
#include "cgfw.h"

#define CGFW_SOL_IP 0
#define CGFW_SOL_IPV6 41

/* <linux/in.h> */
#define CGFW_IP_UNBLOCK_SOURCE 37
#define CGFW_IP_BLOCK_SOURCE 38
#define CGFW_IP_ADD_MEMBERSHIP 35
#define CGFW_IP_ADD_SOURCE_MEMBERSHIP 39
#define CGFW_IP_DROP_SOURCE_MEMBERSHIP 40
#define CGFW_IP_MSFILTER 41
#define CGFW_MCAST_JOIN_GROUP 42
#define CGFW_MCAST_BLOCK_SOURCE 43
#define CGFW_MCAST_UNBLOCK_SOURCE 44
#define CGFW_MCAST_JOIN_SOURCE_GROUP 46
#define CGFW_MCAST_MSFILTER 48
/* <linux/in6.h> */
#define CGFW_IPV6_ADD_MEMBERSHIP 20
#define CGFW_IPV6_JOIN_ANYCAST 27

#define CGFW_SS_OFF 8      /* struct group_req / group_source_req: sockaddr_storage gr_group */
#define CGFW_SS_SIZE 128   /* sizeof(struct sockaddr_storage) */

/* Copies 4 (v4) or 16 (v6) address bytes at off into out (mapped). 0 on success. */
static __always_inline int cgfw_opt_addr(struct bpf_sockopt *ctx, __u32 off, int v6, __u8 out[16])
{
	__u8 *start = ctx->optval, *end = ctx->optval_end;
	if (v6) {
		if (start + off + 16 > end)
			return -1;
		__builtin_memcpy(out, start + off, 16);
	} else {
		__u32 a;
		if (start + off + 4 > end)
			return -1;
		__builtin_memcpy(&a, start + off, 4);
		cgfw_map_v4(out, a);
	}
	return 0;
}

/* A sockaddr_in/_in6 at off: its address (mapped). 0 on success. */
static __always_inline int cgfw_opt_sockaddr(struct bpf_sockopt *ctx, __u32 off, __u8 out[16])
{
	__u8 *start = ctx->optval, *end = ctx->optval_end;
	__u16 family;
	if (start + off + 2 > end)
		return -1;
	__builtin_memcpy(&family, start + off, 2);
	if (family == AF_INET)
		return cgfw_opt_addr(ctx, off + 4, 0, out);   /* sin_addr */
	if (family == AF_INET6)
		return cgfw_opt_addr(ctx, off + 8, 1, out);   /* sin6_addr */
	return -1;
}

static __always_inline int cgfw_addr_allowed(const struct cgfw_ctr *ctr, const __u8 a[16], __u8 *reason)
{
	int allowed;
	*reason = cgfw_decide(a, ctr, &allowed);
	return allowed;
}

SEC("cgroup/setsockopt")
int cgfw_setsockopt(struct bpf_sockopt *ctx)
{
	struct cgfw_ctr ctr;
	struct cgfw_event e = {};
	__u8 group[16] = {}, source[16] = {};
	int level = ctx->level, name = ctx->optname;
	int has_source = 0, parse_error = 0, v6 = level == CGFW_SOL_IPV6;
	__u8 reason = CGFW_REASON_DEFAULT_DENY;
	__u64 pid_tgid;

	if (level != CGFW_SOL_IP && level != CGFW_SOL_IPV6)
		return 1;
	switch (name) {
	case CGFW_IP_ADD_MEMBERSHIP:
		if (v6)
			return 1;
		parse_error = cgfw_opt_addr(ctx, 0, 0, group); /* ip_mreq(n).imr_multiaddr */
		break;
	case CGFW_IP_BLOCK_SOURCE:
	case CGFW_IP_UNBLOCK_SOURCE:
	case CGFW_IP_ADD_SOURCE_MEMBERSHIP:
	case CGFW_IP_DROP_SOURCE_MEMBERSHIP:
		if (v6)
			return 1;
		/* ip_mreq_source: multiaddr, interface, sourceaddr */
		parse_error = cgfw_opt_addr(ctx, 0, 0, group) || cgfw_opt_addr(ctx, 8, 0, source);
		has_source = 1;
		break;
	case CGFW_IP_MSFILTER:
		if (v6)
			return 1;
		/* ip_msfilter: multiaddr, interface, fmode, numsrc, slist[]. Sources are refused
		 * outright: a list of any length would need a loop per entry; a filter with
		 * numsrc == 0 (exclude nothing / include nothing) on an allowed group is fine. */
		parse_error = cgfw_opt_addr(ctx, 0, 0, group);
		if (!parse_error) {
			__u32 numsrc;
			__u8 *start = ctx->optval, *end = ctx->optval_end;
			if (start + 16 > end)
				parse_error = 1;
			else {
				__builtin_memcpy(&numsrc, start + 12, 4);
				parse_error = numsrc != 0;
			}
		}
		break;
	case CGFW_IPV6_ADD_MEMBERSHIP:
	case CGFW_IPV6_JOIN_ANYCAST:
		if (!v6)
			return 1; /* 20 and 27 in SOL_IP are IP_... options unrelated to groups */
		parse_error = cgfw_opt_addr(ctx, 0, 1, group); /* ipv6_mreq.ipv6mr_multiaddr */
		break;
	case CGFW_MCAST_JOIN_GROUP:
		parse_error = cgfw_opt_sockaddr(ctx, CGFW_SS_OFF, group);
		break;
	case CGFW_MCAST_BLOCK_SOURCE:
	case CGFW_MCAST_UNBLOCK_SOURCE:
	case CGFW_MCAST_JOIN_SOURCE_GROUP:
		parse_error = cgfw_opt_sockaddr(ctx, CGFW_SS_OFF, group) ||
			      cgfw_opt_sockaddr(ctx, CGFW_SS_OFF + CGFW_SS_SIZE, source);
		has_source = 1;
		break;
	case CGFW_MCAST_MSFILTER: {
		/* group_filter: interface, group (sockaddr_storage), fmode, numsrc, slist[] */
		__u32 numsrc;
		__u8 *start = ctx->optval, *end = ctx->optval_end;
		parse_error = cgfw_opt_sockaddr(ctx, CGFW_SS_OFF, group);
		if (!parse_error) {
			if (start + CGFW_SS_OFF + CGFW_SS_SIZE + 8 > end)
				parse_error = 1;
			else {
				__builtin_memcpy(&numsrc, start + CGFW_SS_OFF + CGFW_SS_SIZE + 4, 4);
				parse_error = numsrc != 0;
			}
		}
		break;
	}
	default:
		return 1; /* not a join or a filter: leaving, TTL, loop, interface, ... */
	}
	if (!cgfw_ctr_attached(&ctr))
		return 0;
	if (!parse_error) {
		int ok = cgfw_addr_allowed(&ctr, group, &reason);
		if (ok && has_source)
			ok = cgfw_addr_allowed(&ctr, source, &reason);
		if (ok)
			return 1;
		if (reason == CGFW_REASON_LOOPBACK)
			reason = CGFW_REASON_DEFAULT_DENY; /* "::" or 0.0.0.0 is no consent */
	}

	pid_tgid = bpf_get_current_pid_tgid();
	e.cgroup_id = bpf_get_current_cgroup_id();
	e.pid = (__u32)pid_tgid;
	e.tgid = pid_tgid >> 32;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	__builtin_memcpy(e.daddr, group, 16); /* the group (unspecified if unreadable) */
	e.dport = (__u16)name;   /* the option (IP_ADD_MEMBERSHIP, ...), for the log */
	e.kind = CGFW_KIND_MULTICAST;
	e.verdict = cgfw_verdict(&ctr, 0);
	e.reason = reason;
	e.proto = (__u8)level;
	e.family = v6 ? AF_INET6 : AF_INET;
	cgfw_emit(&ctr, &e);
	return cgfw_audit(&ctr);
}
