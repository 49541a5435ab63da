/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgroup sock_addr hooks: connect4/6, sendmsg4/6 (policy + DNS redirect + attribution),
 * recvmsg4/6 and getpeername4/6 (reverse translation of the DNS redirect).
 *
 * Kernel contract (kernel/bpf/cgroup.c, net/ipv4/af_inet.c, net/ipv4/udp.c):
 *  - connect hooks run for TCP, UDP and ICMP ping sockets before the address is used;
 *    returning 0 fails the syscall with EPERM. user_ip4/user_ip6/user_port may be rewritten.
 *  - sendmsg hooks run for UDP sendmsg with a destination address (unconnected send); the
 *    same rules apply. They do not run for send() on a connected socket: connect covered it.
 *  - recvmsg hooks run for UDP recvmsg and may rewrite the source address the application
 *    sees; getpeername hooks do the same for getpeername(). Both must return 1.
 *  - An AF_INET6 socket may talk IPv4 through v4-mapped addresses (::ffff:a.b.c.d); the v6
 *    hooks then see the mapped address. Addresses are kept in mapped form throughout so both
 *    paths share the same maps and decisions.
 */
#include "cgfw.h"

static __always_inline void cgfw_ctx_dst(struct bpf_sock_addr *ctx, int v6, __u8 out[16], __u16 *port)
{
	if (!v6) {
		cgfw_map_v4(out, ctx->user_ip4);
	} else {
		__u32 w[4];
		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
		__builtin_memcpy(out, w, 16);
	}
	*port = bpf_ntohs((__u16)ctx->user_port);
}

static __always_inline void cgfw_ctx_set(struct bpf_sock_addr *ctx, int v6, const __u8 addr[16], __u16 port)
{
	if (!v6) {
		__u32 ip4;
		__builtin_memcpy(&ip4, addr + 12, 4);
		ctx->user_ip4 = ip4;
	} else {
		__u32 w[4];
		__builtin_memcpy(w, addr, 16);
		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
	}
	ctx->user_port = (__u32)bpf_htons(port);
}

/*
 * Where a DNS packet to addr must go: the v4 proxy for AF_INET sockets and mapped
 * destinations, the v6 proxy for real IPv6 destinations. Returns 0 if no proxy is configured
 * for that family (then the normal IP policy applies).
 */
static __always_inline int cgfw_proxy_for(struct cgfw_config *cfg, int v6, const __u8 addr[16],
					  __u8 proxy[16], __u16 *proxy_port)
{
	if (!v6 || cgfw_is_mapped(addr)) {
		__u32 p4;
		if (!cfg->has_proxy4)
			return 0;
		__builtin_memcpy(&p4, cfg->proxy4_addr, 4);
		cgfw_map_v4(proxy, p4);
		*proxy_port = cfg->proxy4_port;
		return 1;
	}
	if (!cfg->has_proxy6)
		return 0;
	__builtin_memcpy(proxy, cfg->proxy6_addr, 16);
	*proxy_port = cfg->proxy6_port;
	return 1;
}

static __always_inline int cgfw_sock_addr(struct bpf_sock_addr *ctx, int v6, __u8 kind)
{
	struct cgfw_ctr ctr;
	struct cgfw_config *cfg;
	struct cgfw_event e = {};
	struct cgfw_owner owner = {};
	struct cgfw_sock *s;
	__u8 addr[16], proxy[16];
	__u16 port, proxy_port;
	__u64 cookie, pid_tgid;
	__u32 proto;
	int allowed;
	__u8 reason;

	if (!cgfw_ctr_attached(&ctr))
		return 0; /* being set up or torn down: fail closed */
	cfg = &ctr.c->cfg;

	cgfw_ctx_dst(ctx, v6, addr, &port);
	cookie = bpf_get_socket_cookie(ctx);
	proto = ctx->protocol;

	/* Attribution: the last task that connected / sent on this socket owns it. */
	pid_tgid = bpf_get_current_pid_tgid();
	owner.pid = (__u32)pid_tgid;
	owner.tgid = pid_tgid >> 32;
	bpf_get_current_comm(owner.comm, sizeof(owner.comm));
	s = bpf_sk_storage_get(&cgfw_sock, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s) {
		s->owner = owner;
		s->has_owner = 1;
	}

	e.cgroup_id = bpf_get_current_cgroup_id();
	e.cookie = cookie;
	e.pid = owner.pid;
	e.tgid = owner.tgid;
	__builtin_memcpy(e.comm, owner.comm, sizeof(e.comm));
	__builtin_memcpy(e.daddr, addr, 16);
	e.dport = port;
	e.proto = proto;
	e.family = v6 ? AF_INET6 : AF_INET;

	if (port == CGFW_DNS_PORT && (proto == IPPROTO_UDP || proto == IPPROTO_TCP) &&
	    cgfw_proxy_for(cfg, v6, addr, proxy, &proxy_port)) {
		if (s)
			s->has_peer = 0; /* the proxy is on loopback: nothing to remember */
		if (!(port == proxy_port && cgfw_addr_eq(addr, proxy))) {
			/* Without somewhere to keep the original server, the reply could not be shown
			 * as coming from it: refuse rather than confuse the resolver. */
			if (!s)
				return 0;
			__builtin_memcpy(s->orig.addr, addr, 16);
			s->orig.port = port;
			s->orig.family = e.family;
			s->has_orig = 1;
			cgfw_ctx_set(ctx, v6, proxy, proxy_port);
		}
		if (cfg->report_allowed) {
			e.kind = CGFW_KIND_DNS_REDIRECT;
			e.verdict = CGFW_VERDICT_ALLOWED;
			e.reason = CGFW_REASON_DNS_PROXY;
			cgfw_emit(&ctr, &e);
		}
		return 1;
	}

	reason = cgfw_decide(addr, &ctr, &allowed);
	/* A connect the policy allowed binds the socket to that peer (packet.h,
	 * cgfw_pkt_on_connection): the connection outlives the allow entry's expiry. Any other
	 * connect clears the binding, so a socket re-connected elsewhere loses it. */
	if (s && kind == CGFW_KIND_CONNECT) {
		s->has_peer = allowed && reason != CGFW_REASON_LOOPBACK &&
			      (proto == IPPROTO_TCP || proto == IPPROTO_UDP);
		if (s->has_peer) {
			__builtin_memcpy(s->peer.addr, addr, 16);
			s->peer.port = port;
			s->peer.proto = proto;
		}
	}
	/* A send naming the peer the socket is bound to: the same connection. (A v6 socket
	 * connected to a v4-mapped peer sends through udp_sendmsg with the v4 address filled in,
	 * which runs sendmsg4 on every send, connected or not.) */
	if (s && kind == CGFW_KIND_SENDMSG && !allowed && s->has_peer &&
	    (reason == CGFW_REASON_EXPIRED || reason == CGFW_REASON_DEFAULT_DENY) &&
	    s->peer.proto == proto && s->peer.port == port && cgfw_addr_eq(s->peer.addr, addr))
		return 1;
	if (reason != CGFW_REASON_LOOPBACK && (!allowed || cfg->report_allowed)) {
		e.kind = kind;
		e.verdict = cgfw_verdict(&ctr, allowed);
		e.reason = reason;
		cgfw_emit(&ctr, &e);
	}
	if (!allowed && cfg->mode != CGFW_MODE_AUDIT)
		return 0;
	return 1;
}

/* Reverse translation: a reply from the proxy is shown as coming from the server the
 * application asked. Only addresses equal to the proxy's are rewritten. Always returns 1. */
static __always_inline int cgfw_restore(struct bpf_sock_addr *ctx, int v6)
{
	struct cgfw_ctr ctr;
	struct cgfw_sock *s;
	__u8 addr[16], proxy[16];
	__u16 port, proxy_port;

	if (!cgfw_ctr_attached(&ctr))
		return 1;
	s = bpf_sk_storage_get(&cgfw_sock, ctx->sk, 0, 0);
	if (!s || !s->has_orig)
		return 1;
	cgfw_ctx_dst(ctx, v6, addr, &port);
	if (!cgfw_proxy_for(&ctr.c->cfg, v6, addr, proxy, &proxy_port))
		return 1;
	if (port != proxy_port || !cgfw_addr_eq(addr, proxy))
		return 1;
	cgfw_ctx_set(ctx, v6, s->orig.addr, s->orig.port);
	return 1;
}

SEC("cgroup/connect4")
int cgfw_connect4(struct bpf_sock_addr *ctx)
{
	return cgfw_sock_addr(ctx, 0, CGFW_KIND_CONNECT);
}

SEC("cgroup/connect6")
int cgfw_connect6(struct bpf_sock_addr *ctx)
{
	return cgfw_sock_addr(ctx, 1, CGFW_KIND_CONNECT);
}

SEC("cgroup/sendmsg4")
int cgfw_sendmsg4(struct bpf_sock_addr *ctx)
{
	return cgfw_sock_addr(ctx, 0, CGFW_KIND_SENDMSG);
}

SEC("cgroup/sendmsg6")
int cgfw_sendmsg6(struct bpf_sock_addr *ctx)
{
	return cgfw_sock_addr(ctx, 1, CGFW_KIND_SENDMSG);
}

SEC("cgroup/recvmsg4")
int cgfw_recvmsg4(struct bpf_sock_addr *ctx)
{
	return cgfw_restore(ctx, 0);
}

SEC("cgroup/recvmsg6")
int cgfw_recvmsg6(struct bpf_sock_addr *ctx)
{
	return cgfw_restore(ctx, 1);
}

SEC("cgroup/getpeername4")
int cgfw_getpeername4(struct bpf_sock_addr *ctx)
{
	return cgfw_restore(ctx, 0);
}

SEC("cgroup/getpeername6")
int cgfw_getpeername6(struct bpf_sock_addr *ctx)
{
	return cgfw_restore(ctx, 1);
}
