/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgroup_skb/egress: the packet-level backstop, anti-spoofing, and DNS client attribution.
 *
 * Kernel contract: runs for every IPv4/IPv6 packet a socket of the cgroup sends (after
 * routing, skb->dev set; data starts at the network header). Return 1 passes, 0 drops (the
 * sender sees EPERM for most socket types). Read-only here apart from the verdict. It does
 * NOT run for what the kernel sends from its own control sockets on the namespace's behalf
 * (ICMP replies and errors, TCP resets, IGMP) unless those sockets happen to belong to this
 * cgroup: tc.bpf.c filters those at the namespace's interfaces.
 *
 * Rules, in order (the attacker is root in the container with CAP_NET_RAW: any header):
 *  1. Link messages of the kernel: ICMPv6 ND/MLD from a socket no process created (the
 *     namespace's own ndisc/MLD sockets belong to the cgroup of whoever created the
 *     namespace, which may be this one), from one of the namespace's own addresses or the
 *     unspecified one (DAD), pass to any destination: their content is the kernel's (a
 *     solicited advertisement goes to the soliciting neighbour's address, global or not).
 *     The same types from a process's raw socket get no exemption (a blanket one was a
 *     one-way channel: a raw ICMPv6 socket can put any payload in them) and are decided like
 *     any packet below, so they pass only where the policy allows the destination.
 *  2. The loopback device carries only traffic between the namespace's own addresses: a
 *     source that is not one of them is a forged packet (e.g. a DNS answer forged in the name
 *     of the upstream resolver, or a packet whose reply the kernel would send to a forbidden
 *     host) and is dropped.
 *  3. On any other device: a loopback or unspecified destination is dropped (a socket bound
 *     to the interface, IP_PKTINFO, or a raw header can send "127.0.0.1" out of the veth,
 *     where route_localnet hosts accept it), and so is a source that is not one of the
 *     namespace's own addresses (spoofing).
 *  4. The policy decides by destination (cgfw_decide); a TCP/UDP socket's packets to the peer
 *     its connect() was allowed to reach pass after the allow entry expired (a long download
 *     outlives its DNS answer's TTL; packet.h cgfw_pkt_on_connection).
 * Every drop is reported (kind PACKET, reason saying which rule).
 *
 * DNS attribution: a packet to the DNS proxy (loopback, proxy port) carries the client's
 * source address and port, which the proxy will see as the peer of the datagram or of the
 * accepted TCP connection. The owner of the sending socket is known from its cgfw_sock,
 * written at connect/sendmsg time. This hook runs in the sender's context before the
 * packet is queued to the proxy's socket, so the (proto, source address, source port) ->
 * owner entry is always written before the proxy can read the packet. A source tuple is
 * unique among live sockets; an entry is only replaced when a new socket reuses the same
 * source port and sends to the proxy, at which point it is again that socket's packet that
 * is next in the proxy's queue for that tuple.
 */
#include "cgfw.h"
#include "packet.h"

#define CGFW_LOOPBACK_IFINDEX 1 /* LOOPBACK_IFINDEX: lo has ifindex 1 in every netns */

/* The socket's cgfw_sock (NULL for a socket without one: the kernel's, or no full socket). */
static __always_inline struct cgfw_sock *cgfw_skb_sock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 0;
	return bpf_sk_storage_get(&cgfw_sock, sk, 0, 0);
}

static __always_inline void cgfw_record_dns_client(struct __sk_buff *skb, const struct cgfw_ctr *ctr,
						  const struct cgfw_sock *s, const __u8 saddr[16], __u16 sport,
						  __u8 proto)
{
	struct cgfw_dns_client_key key = {};
	struct cgfw_dns_client val = {};

	key.container = ctr->id;
	__builtin_memcpy(key.addr, saddr, 16);
	key.port = sport;
	key.proto = proto;
	val.cookie = bpf_get_socket_cookie(skb);
	if (s && s->has_owner)
		val.owner = s->owner;
	bpf_map_update_elem(&cgfw_dns_client, &key, &val, BPF_ANY);
}

static __always_inline void cgfw_report_packet(struct __sk_buff *skb, const struct cgfw_ctr *ctr,
					       const struct cgfw_sock *s, const struct cgfw_pkt *p, __u8 reason)
{
	struct cgfw_event e = {};
	e.cgroup_id = bpf_skb_cgroup_id(skb);
	e.cookie = bpf_get_socket_cookie(skb);
	if (s && s->has_owner) {
		e.pid = s->owner.pid;
		e.tgid = s->owner.tgid;
		__builtin_memcpy(e.comm, s->owner.comm, sizeof(e.comm));
	}
	cgfw_event_from_pkt(&e, p, p->daddr, p->dport);
	e.kind = CGFW_KIND_PACKET;
	e.verdict = cgfw_verdict(ctr, 0);
	e.reason = reason;
	cgfw_emit(ctr, &e);
}

SEC("cgroup_skb/egress")
int cgfw_egress(struct __sk_buff *skb)
{
	struct cgfw_ctr ctr;
	struct cgfw_config *cfg;
	struct cgfw_sock *s;
	struct cgfw_pkt p;
	int allowed, parsed;
	__u8 reason;

	if (!cgfw_ctr_attached(&ctr))
		return 0;
	cfg = &ctr.c->cfg;
	s = cgfw_skb_sock(skb);
	parsed = cgfw_parse(skb, &p);
	if (parsed == 0)
		return 1; /* not IP: nothing to filter by address */
	if (parsed < 0)
		goto malformed;

	/* 1. The kernel's own link messages (see the file comment). */
	if (cgfw_is_link_icmp6(&p) && !(s && s->container) &&
	    (cgfw_is_own(&ctr, p.saddr) || cgfw_is_unspecified(p.saddr)))
		return 1;

	if (skb->ifindex == CGFW_LOOPBACK_IFINDEX) {
		/* 2. Loopback: only between the namespace's own addresses. */
		if (!cgfw_is_own(&ctr, p.saddr) || !(cgfw_is_own(&ctr, p.daddr) || cgfw_is_loopback(p.daddr))) {
			reason = CGFW_REASON_SPOOFED_SOURCE;
			goto refuse;
		}
		if (p.has_ports) {
			__u8 proxy[16];
			__u32 p4;
			int to_proxy = 0;
			if (p.family == AF_INET) {
				__builtin_memcpy(&p4, cfg->proxy4_addr, 4);
				cgfw_map_v4(proxy, p4);
				to_proxy = cfg->has_proxy4 && p.dport == cfg->proxy4_port && cgfw_addr_eq(p.daddr, proxy);
			} else {
				to_proxy = cfg->has_proxy6 && p.dport == cfg->proxy6_port &&
					   cgfw_addr_eq(p.daddr, cfg->proxy6_addr);
			}
			if (to_proxy)
				cgfw_record_dns_client(skb, &ctr, s, p.saddr, p.sport, p.proto);
		}
		return 1;
	}

	/* 3. A real device: no loopback destination, no foreign source. */
	if (cgfw_is_loopback(p.daddr)) {
		reason = CGFW_REASON_LOOPBACK_OFF_LO;
		goto refuse;
	}
	if (!cgfw_is_own(&ctr, p.saddr)) {
		reason = CGFW_REASON_SPOOFED_SOURCE;
		goto refuse;
	}

	/* 4. The policy; an expired or pruned allow entry does not cut a connection its connect
	 *    was allowed to make (a block CIDR still does). */
	reason = cgfw_decide(p.daddr, &ctr, &allowed);
	if (allowed)
		return 1;
	if ((reason == CGFW_REASON_EXPIRED || reason == CGFW_REASON_DEFAULT_DENY) &&
	    cgfw_pkt_on_connection(s, &p, 1))
		return 1;
	if (cgfw_is_link_icmp6(&p))
		reason = CGFW_REASON_LINK_MESSAGE;
refuse:
	cgfw_report_packet(skb, &ctr, s, &p, reason);
	return cgfw_audit(&ctr);

malformed:
	return cgfw_audit(&ctr);
}
