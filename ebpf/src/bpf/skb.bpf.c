/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgroup_skb/egress: the packet-level backstop, and DNS client attribution for the proxy.
 *
 * Kernel contract: runs for every IPv4/IPv6 packet a socket of the cgroup sends (after
 * routing, skb->dev set; data starts at the network header). Return 1 passes, 0 drops (the
 * sender sees EPERM for most socket types). Read-only here apart from the verdict.
 *
 * Backstop: everything the sock_addr hooks cannot see (raw sockets, ICMP, IP_HDRINCL, sockets
 * connected before an allowed IP expired or before attach) is checked against the same
 * policy by destination address. Loopback (lo, 127/8, ::1) passes, and so do IPv6 neighbour
 * discovery messages (ICMPv6 types 133..137) sent to a link-local (fe80::/10) or multicast
 * (ff00::/8) destination: without them nothing on the link resolves. ND messages to any other
 * destination (a global unicast address: RFC 4861 neighbour unreachability detection probes
 * and solicited advertisements may use the neighbour's global address) get no exemption and
 * are decided like every packet, so they pass only to destinations the policy allows anyway.
 * A blanket exemption would be a one-way exfiltration channel for a process with
 * CAP_NET_RAW (a raw ICMPv6 socket can put any type and payload in the message). Hop limit
 * 255 or "on-link" cannot be used instead: the sender picks the hop limit, and on-link is a
 * routing property this hook does not see. Cost: NUD to a non-allowed global neighbour (in
 * practice the gateway when it is addressed by a global address) fails, and the kernel falls
 * back to multicast solicitation, which is exempt.
 *
 * DNS attribution: a packet to the DNS proxy (loopback, proxy port) carries the client's
 * source address and port, which the proxy will see as the peer of the datagram or of the
 * accepted TCP connection. The owner of the sending socket is known from the cookie -> owner
 * map written at connect/sendmsg time. This hook runs in the sender's context before the
 * packet is queued to the proxy's socket, so the (proto, source address, source port) ->
 * owner entry is always written before the proxy can read the packet. A source tuple is
 * unique among live sockets; an entry is only replaced when a new socket reuses the same
 * source port and sends to the proxy, at which point it is again that socket's packet that
 * is next in the proxy's queue for that tuple.
 */
#include "cgfw.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#define CGFW_LOOPBACK_IFINDEX 1 /* LOOPBACK_IFINDEX: lo has ifindex 1 in every netns */

static __always_inline void cgfw_record_dns_client(struct __sk_buff *skb, const __u8 saddr[16],
						  __u16 sport, __u8 proto)
{
	struct cgfw_dns_client_key key = {};
	struct cgfw_dns_client val = {};
	struct cgfw_owner *owner;
	__u64 cookie = bpf_get_socket_cookie(skb);

	__builtin_memcpy(key.addr, saddr, 16);
	key.port = sport;
	key.proto = proto;
	val.cookie = cookie;
	owner = bpf_map_lookup_elem(&cgfw_owner, &cookie);
	if (owner)
		val.owner = *owner;
	bpf_map_update_elem(&cgfw_dns_client, &key, &val, BPF_ANY);
}

SEC("cgroup_skb/egress")
int cgfw_egress(struct __sk_buff *skb)
{
	struct cgfw_config *cfg = cgfw_cfg();
	__u8 daddr[16], saddr[16];
	__u16 ports[2] = {};
	__u8 proto, family;
	int has_ports = 0, allowed;
	__u8 reason;

	if (!cfg)
		return 0;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;
		if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)))
			goto malformed;
		cgfw_map_v4(daddr, iph.daddr);
		cgfw_map_v4(saddr, iph.saddr);
		proto = iph.protocol;
		family = AF_INET;
		if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
		    !(iph.frag_off & bpf_htons(0x1fff)) &&
		    !bpf_skb_load_bytes(skb, (__u32)iph.ihl * 4, ports, sizeof(ports)))
			has_ports = 1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			goto malformed;
		__builtin_memcpy(daddr, &ip6.daddr, 16);
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		proto = ip6.nexthdr;
		family = AF_INET6;
		if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
			if (!bpf_skb_load_bytes(skb, sizeof(ip6), ports, sizeof(ports)))
				has_ports = 1;
		} else if (proto == IPPROTO_ICMPV6) {
			__u8 type;
			/* 133..137: router/neighbour solicitation/advertisement, redirect. Exempt only
			 * to link-local (fe80::/10) or multicast (ff00::/8) destinations; to any other
			 * destination they are decided like every packet (see the file comment). */
			if (!bpf_skb_load_bytes(skb, sizeof(ip6), &type, 1) && type >= 133 && type <= 137 &&
			    (daddr[0] == 0xff || (daddr[0] == 0xfe && (daddr[1] & 0xc0) == 0x80)))
				return 1;
		}
	} else {
		return 1; /* not IP: nothing to filter by address */
	}

	if (skb->ifindex == CGFW_LOOPBACK_IFINDEX || cgfw_is_loopback(daddr)) {
		if (has_ports) {
			__u8 proxy[16];
			__u16 dport = bpf_ntohs(ports[1]);
			__u32 p4;
			int to_proxy = 0;
			if (family == AF_INET) {
				__builtin_memcpy(&p4, cfg->proxy4_addr, 4);
				cgfw_map_v4(proxy, p4);
				to_proxy = cfg->has_proxy4 && dport == cfg->proxy4_port && cgfw_addr_eq(daddr, proxy);
			} else {
				to_proxy = cfg->has_proxy6 && dport == cfg->proxy6_port &&
					   cgfw_addr_eq(daddr, cfg->proxy6_addr);
			}
			if (to_proxy)
				cgfw_record_dns_client(skb, saddr, bpf_ntohs(ports[0]), proto);
		}
		return 1;
	}

	reason = cgfw_decide(daddr, cfg, &allowed);
	if (allowed)
		return 1;
	{
		struct cgfw_event e = {};
		struct cgfw_owner *owner;
		__u64 cookie = bpf_get_socket_cookie(skb);
		e.cgroup_id = bpf_skb_cgroup_id(skb);
		e.cookie = cookie;
		owner = bpf_map_lookup_elem(&cgfw_owner, &cookie);
		if (owner) {
			e.pid = owner->pid;
			e.tgid = owner->tgid;
			__builtin_memcpy(e.comm, owner->comm, sizeof(e.comm));
		}
		__builtin_memcpy(e.daddr, daddr, 16);
		e.dport = has_ports ? bpf_ntohs(ports[1]) : 0;
		e.kind = CGFW_KIND_PACKET;
		e.verdict = cgfw_verdict(cfg, 0);
		e.reason = reason;
		e.proto = proto;
		e.family = family;
		cgfw_emit(cfg, &e);
	}
	return cfg->mode == CGFW_MODE_AUDIT ? 1 : 0;

malformed:
	return cfg->mode == CGFW_MODE_AUDIT ? 1 : 0;
}
