/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * tc (TCX) ingress and egress on the network namespace's interfaces: the firewall at the
 * namespace's boundary.
 *
 * Why: the cgroup hooks see only what the container's own sockets send. The kernel answers on
 * the namespace's behalf from its own control sockets (ICMP echo replies and errors, TCP
 * resets, IGMP/MLD reports), and those replies carry data the container chose: a forbidden
 * host probing ports learns one bit per port (RST or not), an echo reply carries the
 * payload back. Only a filter on the interface sees them.
 *
 * Kernel contract: TCX programs (6.6+) attached with a BPF link to an interface of the
 * container's network namespace; they run for every packet the interface sends (egress, after
 * the IP stack and cgroup_skb/egress) or receives (ingress, before the IP stack: replies are
 * generated after this point). The packet starts at the link-layer header; packet.h reads from
 * the network header. Return TCX_NEXT (-1) to leave the packet to the next program (other
 * containers' filters on a shared namespace, a CNI plugin's) or to the stack, TCX_DROP (2) to
 * drop it. Nothing here rewrites packets.
 *
 * Egress: a packet a socket of this cgroup (or below) sent was decided by cgroup_skb/egress
 * already: next. A socket of another cgroup (another container of the same pod, which has its
 * own filter; a process an administrator started in the namespace; the DNS sidecar) is not
 * ours to decide: next. Everything else (no socket, or the kernel's per-CPU control sockets in
 * the root cgroup) is the kernel speaking for the namespace, and is decided like the
 * container's own packets: source must be one of the namespace's addresses, destination not
 * loopback, destination allowed by the policy. Exempt: ND/MLD from the namespace's own or the
 * unspecified address (link traffic the kernel needs for its addresses; its content is the
 * kernel's, and a solicited advertisement goes to the soliciting neighbour, global or not), IGMP (reports for groups the kernel or an allowed join
 * chose: sockopt.bpf.c refuses every other join), and the proxy's queries to its upstream
 * resolvers on port 53 (the sidecar may run in the root cgroup). Before all that, for every
 * packet whoever sent it: an IGMP/MLD membership report must name only allowed groups (see
 * cgfw_report_allowed).
 *
 * Ingress: a packet from a source the policy does not allow is dropped before the stack sees
 * it, so nothing answers it: no RST from a closed port, no SYN-ACK from an open one, no echo
 * reply, no port unreachable. Exempt: ND/MLD and IGMP (the link), ICMP errors (no host ever
 * replies to one), DNS answers from the upstream resolvers, fragments other than the first
 * (the stack cannot use them without the first, which is decided like any packet; only a
 * datagram whose first fragment arrived makes the kernel answer, RFC 792/8200 reassembly
 * timeouts), and packets for a socket that no process of this cgroup created (found with a
 * socket lookup: another container of the pod decides those; the sidecar's upstream sockets
 * get their DNS answers this way — an address-only exemption for the upstream would let any
 * host that forges the resolver's address reach any port).
 *
 * With several firewalled containers in one namespace (a pod), each attaches its own pair:
 * what the kernel sends or receives for no socket in particular must pass every container's
 * policy (pod annotations give every container the same one); each container's own traffic
 * is decided by its own policy only.
 */
#include "cgfw.h"
#include "packet.h"

#define CGFW_TCX_NEXT -1
#define CGFW_TCX_DROP 2
#define CGFW_ROOT_CGROUP_ID 1 /* the cgroup2 root's kernfs id */
#define CGFW_IPPROTO_IGMP 2

static __always_inline int cgfw_tc_verdict(struct cgfw_config *cfg, const struct cgfw_pkt *p, __u8 kind, __u8 reason,
					   int inbound)
{
	struct cgfw_event e = {};
	e.cgroup_id = cfg->cgroup_id;
	if (inbound)
		cgfw_event_from_pkt(&e, p, p->saddr, p->sport);
	else
		cgfw_event_from_pkt(&e, p, p->daddr, p->dport);
	e.kind = kind;
	e.verdict = cgfw_verdict(cfg, 0);
	e.reason = reason;
	cgfw_emit(cfg, &e);
	return cfg->mode == CGFW_MODE_AUDIT ? CGFW_TCX_NEXT : CGFW_TCX_DROP;
}

/*
 * Multicast membership reports name groups (and sources); the kernel sends them from its own
 * sockets for every group a socket of the namespace joined. cgroup/setsockopt refuses joins
 * the policy does not allow, but only for native calls: the kernel skips that hook for 32-bit
 * (compat) setsockopt, so a report may name anything. Here, at the boundary, every group a
 * report names must be allowed by the policy or be the solicited-node group of one of the
 * namespace's own IPv6 addresses (CGFW_LOCAL_GROUP), and records with sources (source-specific
 * joins and filters: sources are data too) are refused. IGMPv1/v2 reports and leaves and
 * MLDv1 reports and done messages name one group; IGMPv3 (0x22) and MLDv2 (143) reports carry
 * records {type, aux words, source count, group, sources, aux data}, read up to
 * CGFW_REPORT_RECORDS: a report with more is refused. Returns 1 if the report may pass, else
 * 0 with the offending group in bad and the reason.
 */
#define CGFW_REPORT_RECORDS 64

/* A multicast group is allowed by a CIDR rule (DNS answers never allow one: the proxy drops
 * multicast addresses from answers) or by a block-only policy; the solicited-node groups of the
 * namespace's own addresses always. Kept to three lookups: it runs once per report record. */
static __always_inline int cgfw_group_allowed(struct cgfw_config *cfg, const __u8 g[16], __u8 *reason)
{
	struct cgfw_lpm_key k = {.prefixlen = 128};
	__u8 *kind = bpf_map_lookup_elem(&cgfw_local_addr, g);

	if (kind && *kind == CGFW_LOCAL_GROUP)
		return 1;
	__builtin_memcpy(k.addr, g, 16);
	if (bpf_map_lookup_elem(&cgfw_block_cidr, &k)) {
		*reason = CGFW_REASON_BLOCK_CIDR;
		return 0;
	}
	if (bpf_map_lookup_elem(&cgfw_allow_cidr, &k) || cfg->default_allow)
		return 1;
	*reason = CGFW_REASON_DEFAULT_DENY;
	return 0;
}

/* The group address at off (16 bytes for MLD, 4 for IGMP) into g, mapped. 0 on success. */
static __always_inline int cgfw_read_group(struct __sk_buff *skb, __u32 off, int v6, __u8 g[16])
{
	__u32 a;
	if (v6)
		return bpf_skb_load_bytes_relative(skb, off, g, 16, BPF_HDR_START_NET);
	if (bpf_skb_load_bytes_relative(skb, off, &a, 4, BPF_HDR_START_NET))
		return -1;
	cgfw_map_v4(g, a);
	return 0;
}

/* State of one walk over a v3 report's records (bpf_loop callback). */
struct cgfw_report_walk {
	struct __sk_buff *skb;
	struct cgfw_config *cfg;
	__u32 off;             /* next record */
	__u16 nrec;
	__u8 v6;
	__u8 ok;               /* 1: every record so far is allowed */
	__u8 reason;
	__u8 bad[16];
};

/* One record: {type, aux words, source count, group, sources, aux data}. Returns 1 to stop. */
static long cgfw_report_record(__u64 i, void *data)
{
	struct cgfw_report_walk *w = data;
	__u8 rec[4], g[16];
	__u16 nsrc;

	if (i >= w->nrec)
		return 1;
	if (bpf_skb_load_bytes_relative(w->skb, w->off, rec, 4, BPF_HDR_START_NET) ||
	    cgfw_read_group(w->skb, w->off + 4, w->v6, g)) {
		w->ok = 0;
		return 1;
	}
	__builtin_memcpy(&nsrc, rec + 2, 2);
	if (nsrc || !cgfw_group_allowed(w->cfg, g, &w->reason)) {
		__builtin_memcpy(w->bad, g, 16);
		w->ok = 0;
		return 1;
	}
	/* no sources: the record is its header, the group and its aux words */
	w->off += 4 + (w->v6 ? 16 : 4) + (__u32)rec[1] * 4;
	return 0;
}

static __always_inline int cgfw_report_allowed(struct __sk_buff *skb, struct cgfw_config *cfg,
					       const struct cgfw_pkt *p, __u8 bad[16], __u8 *reason)
{
	struct cgfw_report_walk w = {};
	__u32 off = p->l4_off;
	__u8 type, g[16];
	int v6 = p->family == AF_INET6;
	__u16 nrec;

	*reason = CGFW_REASON_DEFAULT_DENY;
	__builtin_memset(bad, 0, 16);
	if (bpf_skb_load_bytes_relative(skb, off, &type, 1, BPF_HDR_START_NET))
		return 0;
	if ((!v6 && (type == 0x12 || type == 0x16 || type == 0x17)) || (v6 && (type == 131 || type == 132))) {
		if (cgfw_read_group(skb, off + (v6 ? 8 : 4), v6, g))
			return 0;
		if (cgfw_group_allowed(cfg, g, reason))
			return 1;
		__builtin_memcpy(bad, g, 16);
		return 0;
	}
	if (!((!v6 && type == 0x22) || (v6 && type == 143)))
		return 1; /* queries and other types name nothing the container chose */
	if (bpf_skb_load_bytes_relative(skb, off + 6, &nrec, 2, BPF_HDR_START_NET))
		return 0;
	nrec = bpf_ntohs(nrec);
	if (nrec > CGFW_REPORT_RECORDS)
		return 0;
	/* bpf_loop (5.17+): the verifier checks the record callback once, not once per record
	 * (an unrolled walk of 16 records took ~100 ms to verify). */
	w.skb = skb;
	w.cfg = cfg;
	w.off = off + 8;
	w.nrec = nrec;
	w.v6 = v6;
	w.ok = 1;
	w.reason = CGFW_REASON_DEFAULT_DENY;
	bpf_loop(CGFW_REPORT_RECORDS, cgfw_report_record, &w, 0);
	if (w.ok)
		return 1;
	*reason = w.reason;
	__builtin_memcpy(bad, w.bad, 16);
	return 0;
}

/* A DNS query to one of the proxy's upstream resolvers. */
static __always_inline int cgfw_to_upstream_dns(const struct cgfw_pkt *p)
{
	return p->has_ports && p->dport == CGFW_DNS_PORT && (p->proto == IPPROTO_UDP || p->proto == IPPROTO_TCP) &&
	       bpf_map_lookup_elem(&cgfw_upstream, p->daddr) != 0;
}

SEC("classifier")
int cgfw_tc_egress(struct __sk_buff *skb)
{
	struct cgfw_config *cfg = cgfw_cfg();
	struct cgfw_pkt p;
	__u64 sock_cgroup;
	int parsed, allowed;
	__u8 reason;

	if (!cfg)
		return CGFW_TCX_DROP;
	parsed = cgfw_parse(skb, &p);
	if (parsed == 0)
		return CGFW_TCX_NEXT; /* ARP and other link protocols */
	/* Membership reports, whoever's socket sent them (the namespace's MLD socket belongs to
	 * the cgroup of whoever created the namespace): the groups must be allowed. */
	if (p.l4_found && ((p.family == AF_INET && p.proto == CGFW_IPPROTO_IGMP) ||
			   (p.family == AF_INET6 && p.proto == IPPROTO_ICMPV6 && p.has_icmp &&
			    (p.icmp_type == 131 || p.icmp_type == 132 || p.icmp_type == 143)))) {
		__u8 bad[16];
		if (!cgfw_report_allowed(skb, cfg, &p, bad, &reason)) {
			__builtin_memcpy(p.daddr, bad, 16); /* the event names the group */
			p.has_ports = 0;
			return cgfw_tc_verdict(cfg, &p, CGFW_KIND_MULTICAST, reason, 0);
		}
	}
	sock_cgroup = bpf_skb_cgroup_id(skb);
	if (sock_cgroup && cfg->cgroup_id &&
	    (bpf_skb_ancestor_cgroup_id(skb, cfg->cgroup_level) == cfg->cgroup_id ||
	     sock_cgroup != CGFW_ROOT_CGROUP_ID))
		return CGFW_TCX_NEXT; /* ours (decided by cgroup_skb/egress) or another cgroup's */
	if (parsed < 0)
		return cgfw_tc_verdict(cfg, &p, CGFW_KIND_BOUNDARY, CGFW_REASON_DEFAULT_DENY, 0);

	if (cgfw_is_link_icmp6(&p) && (cgfw_is_own(p.saddr) || cgfw_is_unspecified(p.saddr)))
		return CGFW_TCX_NEXT;
	if (p.family == AF_INET && p.proto == CGFW_IPPROTO_IGMP && cgfw_is_own(p.saddr))
		return CGFW_TCX_NEXT;
	if (cgfw_to_upstream_dns(&p))
		return CGFW_TCX_NEXT;
	if (cgfw_is_loopback(p.daddr))
		return cgfw_tc_verdict(cfg, &p, CGFW_KIND_BOUNDARY, CGFW_REASON_LOOPBACK_OFF_LO, 0);
	if (!cgfw_is_own(p.saddr))
		return cgfw_tc_verdict(cfg, &p, CGFW_KIND_BOUNDARY, CGFW_REASON_SPOOFED_SOURCE, 0);
	reason = cgfw_decide(p.daddr, cfg, &allowed);
	if (allowed)
		return CGFW_TCX_NEXT;
	return cgfw_tc_verdict(cfg, &p, CGFW_KIND_BOUNDARY, reason, 0);
}

/* The socket a TCP/UDP packet is for, if one a process of this cgroup did not create (the
 * mark of sock_create.bpf.c; sockets of another cgroup never carry it): then it is not ours.
 * (bpf_sk_cgroup_id() is not available to tc programs; the mark is, and says the same.) */
static __always_inline int cgfw_for_other_cgroup(struct __sk_buff *skb, struct cgfw_config *cfg,
						 const struct cgfw_pkt *p)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	int other = 0;

	if (!p->has_ports)
		return 0;
	if (p->family == AF_INET) {
		__builtin_memcpy(&t.ipv4.saddr, p->saddr + 12, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->daddr + 12, 4);
		t.ipv4.sport = bpf_htons(p->sport);
		t.ipv4.dport = bpf_htons(p->dport);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, p->daddr, 16);
		t.ipv6.sport = bpf_htons(p->sport);
		t.ipv6.dport = bpf_htons(p->dport);
		size = sizeof(t.ipv6);
	}
	if (p->proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	else if (p->proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	else
		return 0;
	if (!sk)
		return 0;
	other = bpf_sk_storage_get(&cgfw_user_sock, sk, 0, 0) == 0;
	bpf_sk_release(sk);
	return other;
}

SEC("classifier")
int cgfw_tc_ingress(struct __sk_buff *skb)
{
	struct cgfw_config *cfg = cgfw_cfg();
	struct cgfw_pkt p;
	int parsed, allowed;
	__u8 reason;

	if (!cfg)
		return CGFW_TCX_DROP;
	parsed = cgfw_parse(skb, &p);
	if (parsed == 0)
		return CGFW_TCX_NEXT;
	if (parsed < 0)
		return cgfw_tc_verdict(cfg, &p, CGFW_KIND_INBOUND, CGFW_REASON_DEFAULT_DENY, 1);
	if (cgfw_is_link_icmp6(&p))
		return CGFW_TCX_NEXT;
	if (p.family == AF_INET && p.proto == CGFW_IPPROTO_IGMP)
		return CGFW_TCX_NEXT;
	if (cgfw_is_icmp_error(&p))
		return CGFW_TCX_NEXT;
	if (p.later_fragment)
		return CGFW_TCX_NEXT;
	if (cgfw_is_loopback(p.saddr))
		return cgfw_tc_verdict(cfg, &p, CGFW_KIND_INBOUND, CGFW_REASON_LOOPBACK_OFF_LO, 1);
	reason = cgfw_decide(p.saddr, cfg, &allowed);
	if (allowed)
		return CGFW_TCX_NEXT;
	if (cgfw_for_other_cgroup(skb, cfg, &p))
		return CGFW_TCX_NEXT;
	return cgfw_tc_verdict(cfg, &p, CGFW_KIND_INBOUND, reason, 1);
}
