/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgfw: reading an IP packet's addresses, transport ports and ICMP type, for the cgroup_skb
 * and tc programs alike.
 *
 * Kernel contract: bpf_skb_load_bytes_relative(..., BPF_HDR_START_NET) reads from the network
 * header wherever the program's view starts (cgroup_skb: at the network header; tc: at the
 * link-layer header, of whatever length the device has), so the same parser serves both.
 *
 * What an attacker controls: every byte. The parser never trusts a length it did not bound:
 * IPv6 extension headers are walked at most CGFW_IPV6_EXT_MAX deep, and a packet whose
 * transport header is not found (too many extension headers, a non-first fragment, a
 * truncated header) is reported without ports or ICMP type, so that every exemption that
 * needs them (ND, DNS attribution, upstream DNS) does not apply: it is decided by address.
 */
#ifndef CGFW_PACKET_H
#define CGFW_PACKET_H

#include "cgfw.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#define CGFW_IPV6_EXT_MAX 6

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#ifndef IPPROTO_HOPOPTS
#define IPPROTO_HOPOPTS 0
#endif
#ifndef IPPROTO_ROUTING
#define IPPROTO_ROUTING 43
#endif
#ifndef IPPROTO_FRAGMENT
#define IPPROTO_FRAGMENT 44
#endif
#ifndef IPPROTO_DSTOPTS
#define IPPROTO_DSTOPTS 60
#endif

struct cgfw_pkt {
	__u8 saddr[16];        /* mapped */
	__u8 daddr[16];        /* mapped */
	__u16 sport;           /* host order; valid if has_ports */
	__u16 dport;
	__u8 proto;            /* transport protocol (after IPv6 extension headers, if found) */
	__u8 family;           /* AF_INET / AF_INET6 */
	__u8 has_ports;        /* TCP/UDP header read */
	__u8 has_icmp;         /* ICMP/ICMPv6 type read */
	__u8 icmp_type;
	__u8 later_fragment;   /* a fragment other than the first: no transport header */
	__u16 l4_off;          /* offset of the transport header from the network header, if
				* it was found (has_ports, has_icmp, or the IGMP/MLD readers) */
	__u8 l4_found;
};

/* Returns 1 for an IP packet (p filled), 0 for a non-IP packet, -1 for a truncated header. */
static __always_inline int cgfw_parse(struct __sk_buff *skb, struct cgfw_pkt *p)
{
	__u32 l4 = 0;
	int l4_known = 0;

	__builtin_memset(p, 0, sizeof(*p));
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;
		if (bpf_skb_load_bytes_relative(skb, 0, &iph, sizeof(iph), BPF_HDR_START_NET))
			return -1;
		cgfw_map_v4(p->daddr, iph.daddr);
		cgfw_map_v4(p->saddr, iph.saddr);
		p->proto = iph.protocol;
		p->family = AF_INET;
		if (!(iph.frag_off & bpf_htons(0x1fff))) {
			l4 = (__u32)iph.ihl * 4;
			l4_known = 1;
		} else {
			p->later_fragment = 1;
		}
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		__u8 next;
		__u32 off = sizeof(ip6);
		int i;

		if (bpf_skb_load_bytes_relative(skb, 0, &ip6, sizeof(ip6), BPF_HDR_START_NET))
			return -1;
		__builtin_memcpy(p->daddr, &ip6.daddr, 16);
		__builtin_memcpy(p->saddr, &ip6.saddr, 16);
		p->family = AF_INET6;
		next = ip6.nexthdr;
#pragma unroll
		for (i = 0; i < CGFW_IPV6_EXT_MAX; i++) {
			__u8 ext[2];
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_FRAGMENT)
				break;
			if (bpf_skb_load_bytes_relative(skb, off, ext, sizeof(ext), BPF_HDR_START_NET))
				return -1;
			if (next == IPPROTO_FRAGMENT) {
				__be16 frag_off;
				if (bpf_skb_load_bytes_relative(skb, off + 2, &frag_off, 2, BPF_HDR_START_NET))
					return -1;
				if (frag_off & bpf_htons(0xfff8)) {
					/* Not the first fragment: no transport header here. */
					p->proto = ext[0];
					p->later_fragment = 1;
					return 1;
				}
				off += 8;
			} else {
				off += ((__u32)ext[1] + 1) * 8;
			}
			next = ext[0];
		}
		p->proto = next;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT) {
			l4 = off;
			l4_known = 1;
		}
	} else {
		return 0;
	}
	if (!l4_known)
		return 1;
	p->l4_off = (__u16)l4;
	p->l4_found = 1;
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		__u16 ports[2];
		if (!bpf_skb_load_bytes_relative(skb, l4, ports, sizeof(ports), BPF_HDR_START_NET)) {
			p->sport = bpf_ntohs(ports[0]);
			p->dport = bpf_ntohs(ports[1]);
			p->has_ports = 1;
		}
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		if (!bpf_skb_load_bytes_relative(skb, l4, &p->icmp_type, 1, BPF_HDR_START_NET))
			p->has_icmp = 1;
	}
	return 1;
}

/* ICMPv6 messages of the link itself: MLD (130 query, 131 report, 132 done, 143 v2 report)
 * and neighbour discovery (133 router solicitation .. 137 redirect). */
static __always_inline int cgfw_is_link_icmp6(const struct cgfw_pkt *p)
{
	__u8 t = p->icmp_type;
	return p->family == AF_INET6 && p->proto == IPPROTO_ICMPV6 && p->has_icmp &&
	       ((t >= 130 && t <= 137) || t == 143);
}

/* ICMP error messages, to which no host ever replies (RFC 1122 3.2.2, RFC 4443 2.4(e)):
 * v4 destination unreachable (3), time exceeded (11), parameter problem (12); v6 types 1-4. */
static __always_inline int cgfw_is_icmp_error(const struct cgfw_pkt *p)
{
	__u8 t = p->icmp_type;
	if (!p->has_icmp)
		return 0;
	if (p->family == AF_INET && p->proto == IPPROTO_ICMP)
		return t == 3 || t == 11 || t == 12;
	if (p->family == AF_INET6 && p->proto == IPPROTO_ICMPV6)
		return t >= 1 && t <= 4;
	return 0;
}

/* Fills the address part of an event from a parsed packet. */
static __always_inline void cgfw_event_from_pkt(struct cgfw_event *e, const struct cgfw_pkt *p, const __u8 addr[16],
						__u16 port)
{
	__builtin_memcpy(e->daddr, addr, 16);
	e->dport = p->has_ports ? port : 0;
	e->proto = p->proto;
	e->family = p->family;
}

/*
 * Whether a TCP/UDP packet belongs to the connection its socket's connect() was allowed to
 * make: the socket's recorded peer is the packet's remote end (destination when outbound,
 * source when inbound) with the same transport protocol. An established connection keeps
 * working after the DNS answer that allowed its address expires; expiry only stops new
 * connects and unconnected sends (the policy decides those afresh). Only sock_addr.bpf.c's
 * connect hook writes the peer, after the policy allowed it, and it clears it on any refused
 * or redirected connect, so a socket cannot carry a binding to somewhere it was never allowed.
 */
static __always_inline int cgfw_pkt_on_connection(const struct cgfw_sock *s, const struct cgfw_pkt *p, int outbound)
{
	if (!s || !s->has_peer || !p->has_ports || p->proto != s->peer.proto)
		return 0;
	if (outbound)
		return p->dport == s->peer.port && cgfw_addr_eq(p->daddr, s->peer.addr);
	return p->sport == s->peer.port && cgfw_addr_eq(p->saddr, s->peer.addr);
}

#endif /* CGFW_PACKET_H */
