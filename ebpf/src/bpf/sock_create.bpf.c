/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * cgroup/sock_create: mark every socket a process of the cgroup creates with the container's
 * id (cgfw_sock.container).
 *
 * Kernel contract: runs in inet_create()/inet6_create() for sockets created by socket(2)
 * (kern == 0) by a task of the cgroup or below it; never for the kernel's own sockets
 * (inet_ctl_sock_create: neighbour discovery, MLD, TCP resets, ICMP). Return 1 keeps the
 * socket, 0 fails socket(2) with EPERM: done when the mark cannot be attached (no memory), so
 * that no process holds an unmarked socket, which would pass for a kernel one. The map has
 * BPF_F_CLONE: a socket accept() returns inherits its listener's mark. bpf_sk_storage_get()
 * with F_CREATE attaches the mark to the socket itself: it lives and dies with it, costs
 * nothing to look up, and cannot be forged or cleared from userspace. The same storage keeps
 * the socket's owner and original DNS destination (sock_addr.bpf.c).
 *
 * Why: the namespace's kernel sockets belong to the cgroup of whoever created the network
 * namespace. When that is this cgroup, the egress filter sees the kernel's own neighbour
 * discovery and must let it through; a user's raw ICMPv6 socket sending the same message
 * types must not get that exemption (skb.bpf.c, rule 1). The mark tells them apart, and the
 * id in it tells the boundary which member of a shared namespace a socket belongs to
 * (tc.bpf.c, ingress).
 */
#include "cgfw.h"

SEC("cgroup/sock_create")
int cgfw_sock_create(struct bpf_sock *sk)
{
	struct cgfw_ctr ctr;
	struct cgfw_sock *s;

	if (!cgfw_ctr_attached(&ctr))
		return 0; /* fail closed */
	s = bpf_sk_storage_get(&cgfw_sock, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	/* In nested firewalled cgroups the innermost container's program runs first: keep it. */
	if (!s->container)
		s->container = ctr.id;
	return 1;
}
