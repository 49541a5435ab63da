/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * lsm_cgroup/socket_create: no packet sockets (AF_PACKET, AF_XDP) in the firewalled cgroup.
 *
 * A packet socket (CAP_NET_RAW, which Docker and containerd CRI grant by default) hands a
 * frame to the device's transmit path directly: it never goes through IP output, so neither
 * the sock_addr hooks nor cgroup_skb/egress see it, and it can reach any address. AF_XDP
 * likewise bypasses the IP stack. Filtering the frames they send is not possible soundly
 * (the frame is in user memory, or in an mmap'ed TX ring the kernel reads later), so the
 * sockets are refused at creation.
 *
 * Kernel contract (BPF_LSM_CGROUP, 6.0+): attached to the cgroup like the other programs and
 * run for tasks in that cgroup or below it (hooks whose first argument is not a socket use
 * the current task's cgroup). Return 1 allows, 0 refuses: socket() fails with EPERM.
 * Arguments: (int family, int type, int protocol, int kern), plus the return value of the
 * previous LSM, which is not needed here.
 *
 * Sockets the kernel creates for itself (kern != 0) are not the container's: allowed. Raw IP
 * sockets (AF_INET/AF_INET6 SOCK_RAW) stay allowed: their packets go through IP output and
 * cgroup_skb/egress decides them by destination.
 *
 * Enforce mode: refused, `blocked` event. Audit mode: allowed, `would_block` event. The event
 * is kind PACKET, reason PACKET_SOCKET: family = AF_PACKET/AF_XDP, proto = the socket type
 * (SOCK_RAW, SOCK_DGRAM), dport = the protocol argument (for AF_PACKET the ethertype, in host
 * order), no address (there is none yet).
 */
#include "cgfw.h"

#ifndef AF_PACKET
#define AF_PACKET 17
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

SEC("lsm_cgroup/socket_create")
int cgfw_socket_create(unsigned long long *ctx)
{
	int family = (int)ctx[0];
	int type = (int)ctx[1];
	int protocol = (int)ctx[2];
	int kern = (int)ctx[3];
	struct cgfw_ctr ctr;
	struct cgfw_event e = {};
	__u64 pid_tgid;

	if (kern || (family != AF_PACKET && family != AF_XDP))
		return 1;
	if (!cgfw_ctr_attached(&ctr))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	e.pid = (__u32)pid_tgid;
	e.tgid = pid_tgid >> 32;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	e.cgroup_id = bpf_get_current_cgroup_id();
	e.kind = CGFW_KIND_PACKET;
	e.verdict = cgfw_verdict(&ctr, 0);
	e.reason = CGFW_REASON_PACKET_SOCKET;
	e.proto = (__u8)(type & 0xf); /* SOCK_TYPE_MASK: without SOCK_NONBLOCK/SOCK_CLOEXEC */
	e.family = (__u8)family;
	e.dport = family == AF_PACKET ? bpf_ntohs((__u16)protocol) : (__u16)protocol;
	cgfw_emit(&ctr, &e);
	return cgfw_audit(&ctr);
}
