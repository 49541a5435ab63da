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
 * Egress: a packet a socket of a member's cgroup (or below) sent was decided by
 * cgroup_skb/egress already: next. A socket of another non-root cgroup (a process an
 * administrator started in the namespace; the DNS sidecar) is not ours to decide: next. Everything else (no socket, or the kernel's per-CPU control sockets in
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
 * host that forges the resolver's address reach any port), and packets from the peer of a
 * TCP/UDP connection the member's connect was allowed to make, whose allow entry has expired
 * since (the same lookup: the exact 4-tuple finds the connected socket, whose cgfw_sock
 * names its peer; a listener or an unconnected socket has none).
 *
 * One pair serves a whole namespace: the first firewalled container's sidecar attaches it to
 * each interface, the last one to leave detaches it. The programs find the namespace's
 * firewalled containers in cgfw_netns (by the namespace's cookie) and decide for each of them
 * (a bpf_loop over the members): what the kernel sends or receives for no socket in particular
 * must pass every member's policy (pod annotations give every container the same one); a
 * packet for a socket a member created is decided by that member's policy only. The first
 * member that refuses a packet gets the event. A namespace without members (its last
 * container is being deleted) is not filtered.
 */
#include "cgfw.h"
#include "packet.h"

/*
 * The network namespace of the packet's device. bpf_get_netns_cookie(skb) cannot say it: for
 * a tc program it answers with the namespace of skb->sk, and the initial namespace's cookie
 * when the packet has no socket, as arriving packets and the kernel's replies have none
 * (checked on 6.18: a SYN to a closed port was let through). So the cookie is read from
 * skb->dev->nd_net.net->net_cookie: a tc program's context is the kernel's struct sk_buff
 * (struct __sk_buff is only its rewritten view), read with bpf_probe_read_kernel (needs
 * CAP_PERFMON to load: the runtime runs as root) at offsets CO-RE relocates against the
 * kernel's BTF (aya at load; the minimal local definitions below). 0 if unreadable.
 */
struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct net_device {
	struct {
		struct net *net;
	} nd_net; /* possible_net_t */
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
} __attribute__((preserve_access_index));

static __always_inline __u64 cgfw_device_netns_cookie(struct __sk_buff *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx;
	struct net_device *dev = 0;
	struct net *net = 0;
	__u64 cookie = 0;

	if (bpf_probe_read_kernel(&dev, sizeof(dev), &skb->dev) || !dev)
		return 0;
	if (bpf_probe_read_kernel(&net, sizeof(net), &dev->nd_net.net) || !net)
		return 0;
	if (bpf_probe_read_kernel(&cookie, sizeof(cookie), &net->net_cookie))
		return 0;
	return cookie;
}

#define CGFW_TCX_NEXT -1
#define CGFW_TCX_DROP 2
#define CGFW_ROOT_CGROUP_ID 1 /* the cgroup2 root's kernfs id */
#define CGFW_IPPROTO_IGMP 2

/* A packet at the boundary and what the member loop found. */
struct cgfw_boundary {
	struct __sk_buff *skb;
	struct cgfw_netns *ns;
	struct cgfw_pkt p;
	int parsed;
	__u8 report;           /* egress: an IGMP/MLD membership report (any sender) */
	__u8 kernel;           /* egress: sent by no socket of a non-root cgroup */
	__u8 drop;
	__u8 sock_looked;      /* ingress: the socket lookup was done ... */
	__u8 sock_found;       /* ... and found the packet's socket, */
	__u64 sock_container;  /* created by this container (0: by none) */
	__u8 sock_connected;   /* the packet is from the peer the socket's connect was allowed */
};

/* Reports the refusal to ctr; returns 1 if the packet must be dropped (not in audit mode). */
static __always_inline int cgfw_tc_refuse(const struct cgfw_ctr *ctr, const struct cgfw_pkt *p, __u8 kind,
					  __u8 reason, int inbound)
{
	struct cgfw_event e = {};
	e.cgroup_id = ctr->c->cfg.cgroup_id;
	if (inbound)
		cgfw_event_from_pkt(&e, p, p->saddr, p->sport);
	else
		cgfw_event_from_pkt(&e, p, p->daddr, p->dport);
	e.kind = kind;
	e.verdict = cgfw_verdict(ctr, 0);
	e.reason = reason;
	cgfw_emit(ctr, &e);
	return !cgfw_audit(ctr);
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
 * CGFW_REPORT_RECORDS: a report with more is refused.
 */
#define CGFW_REPORT_RECORDS 64

/* A multicast group is allowed by a CIDR rule (DNS answers never allow one: the proxy drops
 * multicast addresses from answers) or by a block-only policy; the solicited-node groups of the
 * namespace's own addresses always. Kept short: it runs once per report record and member. */
static __always_inline int cgfw_group_allowed(const struct cgfw_ctr *ctr, const __u8 g[16], __u8 *reason)
{
	int hit;

	if (cgfw_local_kind(ctr, g) == CGFW_LOCAL_GROUP)
		return 1;
	hit = cgfw_in_cidrs(&cgfw_block_cidr, ctr, g);
	if (hit) {
		*reason = hit > 0 ? CGFW_REASON_BLOCK_CIDR : CGFW_REASON_DEFAULT_DENY;
		return 0;
	}
	if (cgfw_in_cidrs(&cgfw_allow_cidr, ctr, g) > 0 || ctr->c->cfg.default_allow)
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
	const struct cgfw_ctr *ctr;
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
	if (nsrc || !cgfw_group_allowed(w->ctr, g, &w->reason)) {
		__builtin_memcpy(w->bad, g, 16);
		w->ok = 0;
		return 1;
	}
	/* no sources: the record is its header, the group and its aux words */
	w->off += 4 + (w->v6 ? 16 : 4) + (__u32)rec[1] * 4;
	return 0;
}

/* Returns 1 if the report may pass for ctr, else 0 with the offending group in bad. */
static __always_inline int cgfw_report_allowed(struct __sk_buff *skb, const struct cgfw_ctr *ctr,
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
		if (cgfw_group_allowed(ctr, g, reason))
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
	/* bpf_loop (5.17+): the verifier checks the record callback once, not once per record. */
	w.skb = skb;
	w.ctr = ctr;
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

/* A DNS query to one of the member's proxy's upstream resolvers. */
static __always_inline int cgfw_to_upstream_dns(const struct cgfw_ctr *ctr, const struct cgfw_pkt *p)
{
	void *upstreams;
	if (!(p->has_ports && p->dport == CGFW_DNS_PORT && (p->proto == IPPROTO_UDP || p->proto == IPPROTO_TCP)))
		return 0;
	upstreams = bpf_map_lookup_elem(&cgfw_upstream, &ctr->id);
	return upstreams && bpf_map_lookup_elem(upstreams, p->daddr) != 0;
}

/* The member at index i of the namespace (bpf_loop callback helper). 0 if none. */
static __always_inline int cgfw_member(struct cgfw_boundary *b, __u64 i, struct cgfw_ctr *ctr)
{
	if (i >= CGFW_NETNS_MEMBERS || i >= b->ns->n)
		return 0;
	return cgfw_ctr_by_id(ctr, b->ns->ids[i]);
}

/* Egress, for one member: 1 if it refuses the packet. */
static __always_inline int cgfw_egress_refused(struct cgfw_boundary *b, const struct cgfw_ctr *ctr)
{
	struct cgfw_pkt *p = &b->p;
	int allowed;
	__u8 reason;

	if (b->report) {
		__u8 bad[16];
		if (!cgfw_report_allowed(b->skb, ctr, p, bad, &reason)) {
			struct cgfw_pkt named = *p;
			__builtin_memcpy(named.daddr, bad, 16); /* the event names the group */
			named.has_ports = 0;
			return cgfw_tc_refuse(ctr, &named, CGFW_KIND_MULTICAST, reason, 0);
		}
	}
	if (!b->kernel)
		return 0;
	if (b->parsed < 0)
		return cgfw_tc_refuse(ctr, p, CGFW_KIND_BOUNDARY, CGFW_REASON_DEFAULT_DENY, 0);
	if (cgfw_is_link_icmp6(p) && (cgfw_is_own(ctr, p->saddr) || cgfw_is_unspecified(p->saddr)))
		return 0;
	if (p->family == AF_INET && p->proto == CGFW_IPPROTO_IGMP && cgfw_is_own(ctr, p->saddr))
		return 0;
	if (cgfw_to_upstream_dns(ctr, p))
		return 0;
	if (cgfw_is_loopback(p->daddr))
		return cgfw_tc_refuse(ctr, p, CGFW_KIND_BOUNDARY, CGFW_REASON_LOOPBACK_OFF_LO, 0);
	if (!cgfw_is_own(ctr, p->saddr))
		return cgfw_tc_refuse(ctr, p, CGFW_KIND_BOUNDARY, CGFW_REASON_SPOOFED_SOURCE, 0);
	reason = cgfw_decide(p->daddr, ctr, &allowed);
	if (allowed)
		return 0;
	return cgfw_tc_refuse(ctr, p, CGFW_KIND_BOUNDARY, reason, 0);
}

static long cgfw_egress_member(__u64 i, void *data)
{
	struct cgfw_boundary *b = data;
	struct cgfw_ctr ctr;

	if (i >= CGFW_NETNS_MEMBERS || i >= b->ns->n)
		return 1;
	if (!cgfw_member(b, i, &ctr))
		return 0; /* a member being torn down imposes nothing */
	if (cgfw_egress_refused(b, &ctr)) {
		b->drop = 1;
		return 1;
	}
	return 0;
}

/* Starts a boundary decision: the namespace's members and the parsed packet. 0: nothing to
 * decide (no firewalled container in the namespace, or not IP: ARP and other link protocols). */
static __always_inline int cgfw_boundary_start(struct __sk_buff *skb, struct cgfw_boundary *b)
{
	__u64 cookie = cgfw_device_netns_cookie(skb);

	b->ns = bpf_map_lookup_elem(&cgfw_netns, &cookie);
	if (!b->ns)
		return 0;
	b->skb = skb;
	b->parsed = cgfw_parse(skb, &b->p);
	return b->parsed != 0;
}

SEC("classifier")
int cgfw_tc_egress(struct __sk_buff *skb)
{
	struct cgfw_boundary b = {};
	struct cgfw_pkt *p = &b.p;
	__u64 sock_cgroup;

	if (!cgfw_boundary_start(skb, &b))
		return CGFW_TCX_NEXT;
	/* Membership reports, whoever's socket sent them (the namespace's MLD socket belongs to
	 * the cgroup of whoever created the namespace): the groups must be allowed. */
	b.report = p->l4_found && ((p->family == AF_INET && p->proto == CGFW_IPPROTO_IGMP) ||
				   (p->family == AF_INET6 && p->proto == IPPROTO_ICMPV6 && p->has_icmp &&
				    (p->icmp_type == 131 || p->icmp_type == 132 || p->icmp_type == 143)));
	sock_cgroup = bpf_skb_cgroup_id(skb);
	b.kernel = !(sock_cgroup && sock_cgroup != CGFW_ROOT_CGROUP_ID);
	if (!b.report && !b.kernel)
		return CGFW_TCX_NEXT; /* a member's (decided by cgroup_skb/egress) or another cgroup's */
	bpf_loop(CGFW_NETNS_MEMBERS, cgfw_egress_member, &b, 0);
	return b.drop ? CGFW_TCX_DROP : CGFW_TCX_NEXT;
}

/* Finds the socket a TCP/UDP packet is for and which container created it (the creator mark
 * of sock_create.bpf.c; the kernel's and unfirewalled processes' sockets carry none).
 * (bpf_sk_cgroup_id() is not available to tc programs; the mark is, and says the same.) */
static __always_inline void cgfw_lookup_socket(struct cgfw_boundary *b)
{
	struct cgfw_pkt *p = &b->p;
	struct bpf_sock_tuple t = {};
	struct cgfw_sock *s;
	struct bpf_sock *sk;
	__u32 size;

	b->sock_looked = 1;
	if (!p->has_ports)
		return;
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
		sk = bpf_sk_lookup_tcp(b->skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	else if (p->proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(b->skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	else
		return;
	if (!sk)
		return;
	b->sock_found = 1;
	s = bpf_sk_storage_get(&cgfw_sock, sk, 0, 0);
	b->sock_container = s ? s->container : 0;
	b->sock_connected = cgfw_pkt_on_connection(s, p, 0);
	bpf_sk_release(sk);
}

static long cgfw_ingress_member(__u64 i, void *data)
{
	struct cgfw_boundary *b = data;
	struct cgfw_ctr ctr;
	int allowed;
	__u8 reason;

	if (i >= CGFW_NETNS_MEMBERS || i >= b->ns->n)
		return 1;
	if (!cgfw_member(b, i, &ctr))
		return 0;
	if (b->parsed < 0) {
		reason = CGFW_REASON_DEFAULT_DENY;
	} else if (cgfw_is_loopback(b->p.saddr)) {
		reason = CGFW_REASON_LOOPBACK_OFF_LO;
	} else {
		reason = cgfw_decide(b->p.saddr, &ctr, &allowed);
		if (allowed)
			return 0;
		/* A packet for a socket this member did not create is not its to refuse. */
		if (!b->sock_looked)
			cgfw_lookup_socket(b);
		if (b->sock_found && b->sock_container != ctr.id)
			return 0;
		/* The peer of a connection its connect was allowed to make, after the allow
		 * entry expired: the connection lives on (a block CIDR still cuts it). */
		if (b->sock_found && b->sock_connected &&
		    (reason == CGFW_REASON_EXPIRED || reason == CGFW_REASON_DEFAULT_DENY))
			return 0;
	}
	if (cgfw_tc_refuse(&ctr, &b->p, CGFW_KIND_INBOUND, reason, 1)) {
		b->drop = 1;
		return 1;
	}
	return 0;
}

SEC("classifier")
int cgfw_tc_ingress(struct __sk_buff *skb)
{
	struct cgfw_boundary b = {};
	struct cgfw_pkt *p = &b.p;

	if (!cgfw_boundary_start(skb, &b))
		return CGFW_TCX_NEXT;
	if (b.parsed > 0) {
		if (cgfw_is_link_icmp6(p))
			return CGFW_TCX_NEXT;
		if (p->family == AF_INET && p->proto == CGFW_IPPROTO_IGMP)
			return CGFW_TCX_NEXT;
		if (cgfw_is_icmp_error(p))
			return CGFW_TCX_NEXT;
		if (p->later_fragment)
			return CGFW_TCX_NEXT;
	}
	bpf_loop(CGFW_NETNS_MEMBERS, cgfw_ingress_member, &b, 0);
	return b.drop ? CGFW_TCX_DROP : CGFW_TCX_NEXT;
}
