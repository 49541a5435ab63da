/* rawsend: send one packet by a route that bypasses (or tries to bypass) the socket-level
 * hooks, for the hardening tests. Static; no resolver involved.
 *
 *   rawsend udp DST PORT MSG           plain UDP sendto (v4, v6 or v4-mapped on a v6 socket)
 *   rawsend conn DST PORT MSG          UDP connect()+send (QUIC-like, mDNS, LLMNR)
 *   rawsend rawip SRC DST PORT MSG     IPv4 raw socket with IP_HDRINCL: a hand-made UDP packet
 *   rawsend icmp DST                   IPv4 raw ICMP echo request (SOCK_RAW, needs CAP_NET_RAW)
 *   rawsend ping DST                   ICMP echo on an unprivileged ping socket (SOCK_DGRAM,
 *                                      IPPROTO_ICMP / ICMPV6; net.ipv4.ping_group_range)
 *   rawsend icmp6 DST TYPE MSG         raw ICMPv6 message of TYPE (e.g. 128 echo, 135 neighbour
 *                                      solicitation) with MSG as body, hop limit 255
 *   rawsend xdp                        create an AF_XDP socket (needs CAP_NET_RAW)
 *   rawsend iouring                    create an io_uring (io_uring_setup)
 *   rawsend i386-packet                socket(AF_PACKET) as a 32-bit system call (int 0x80)
 *   rawsend i386-socketcall            socketcall(SYS_SOCKET, AF_INET UDP), 32-bit (int 0x80)
 *   rawsend packet IFACE DSTMAC SRC DST PORT MSG
 *                                      AF_PACKET: an Ethernet frame carrying an IPv4 UDP packet
 *                                      straight to the device queue
 *
 * Prints "sent N bytes" or "<step>: <strerror>". Exit 0 sent, 2 refused/failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned short csum(const void *data, int len)
{
	const unsigned char *p = data;
	unsigned long sum = 0;
	for (int i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
	if (len & 1) sum += p[len - 1] << 8;
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return htons((unsigned short)~sum);
}

#if defined(__x86_64__)
/* A 32-bit system call from this 64-bit process (ia32 emulation): seccomp sees it with
 * AUDIT_ARCH_I386 and the i386 numbers. Returns -errno on failure. */
static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}
/* socketcall's argument block must have a 32-bit address: static data of this static,
 * non-PIE binary does. */
static unsigned int socketcall_args[3] = {AF_INET, SOCK_DGRAM, 0};
#endif

static int fail(const char *step) { printf("%s: %s\n", step, strerror(errno)); return 2; }

static int addr_of(const char *txt, int port, struct sockaddr_storage *ss, socklen_t *sl, int force6)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (!force6 && inet_pton(AF_INET, txt, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET; s4->sin_port = htons(port); *sl = sizeof *s4; return 0;
	}
	if (inet_pton(AF_INET6, txt, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6; s6->sin6_port = htons(port); *sl = sizeof *s6; return 0;
	}
	return -1;
}

/* An IPv4+UDP packet with checksums into buf; returns its length. */
static int build_udp4(unsigned char *buf, const char *src, const char *dst, int port, const char *msg)
{
	int mlen = (int)strlen(msg);
	struct iphdr *ip = (struct iphdr *)buf;
	struct udphdr *udp = (struct udphdr *)(buf + sizeof *ip);
	memset(buf, 0, sizeof *ip + sizeof *udp);
	ip->version = 4; ip->ihl = 5; ip->ttl = 64; ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(sizeof *ip + sizeof *udp + mlen);
	ip->id = htons(0x4242);
	if (inet_pton(AF_INET, src, &ip->saddr) != 1 || inet_pton(AF_INET, dst, &ip->daddr) != 1) return -1;
	ip->check = csum(ip, sizeof *ip);
	udp->source = htons(40000); udp->dest = htons(port);
	udp->len = htons(sizeof *udp + mlen);
	memcpy(buf + sizeof *ip + sizeof *udp, msg, mlen);
	/* UDP checksum over the pseudo header. */
	unsigned char ph[12 + 8 + 1500];
	memcpy(ph, &ip->saddr, 4); memcpy(ph + 4, &ip->daddr, 4);
	ph[8] = 0; ph[9] = IPPROTO_UDP; memcpy(ph + 10, &udp->len, 2);
	memcpy(ph + 12, udp, sizeof *udp + mlen);
	udp->check = csum(ph, 12 + sizeof *udp + mlen);
	return (int)(sizeof *ip + sizeof *udp + mlen);
}

int main(int argc, char **argv)
{
	if (argc < 2) { fprintf(stderr, "usage: see source\n"); return 64; }
	const char *mode = argv[1];
	struct sockaddr_storage ss; socklen_t sl;
	unsigned char buf[2048];
	int fd, n;
	if ((!strcmp(mode, "udp") || !strcmp(mode, "conn")) && argc >= 5) {
		if (addr_of(argv[2], atoi(argv[3]), &ss, &sl, 0) < 0) { fprintf(stderr, "bad address\n"); return 64; }
		if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) < 0) return fail("socket");
		if (!strcmp(mode, "conn")) {
			if (connect(fd, (struct sockaddr *)&ss, sl) < 0) return fail("connect");
			n = (int)send(fd, argv[4], strlen(argv[4]), 0);
		} else {
			n = (int)sendto(fd, argv[4], strlen(argv[4]), 0, (struct sockaddr *)&ss, sl);
		}
		if (n < 0) return fail("send");
	} else if (!strcmp(mode, "rawip") && argc >= 6) {
		int len = build_udp4(buf, argv[2], argv[3], atoi(argv[4]), argv[5]);
		if (len < 0) { fprintf(stderr, "bad address\n"); return 64; }
		if ((fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW)) < 0) return fail("socket");
		addr_of(argv[3], 0, &ss, &sl, 0);
		n = (int)sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl);
		if (n < 0) return fail("sendto");
	} else if (!strcmp(mode, "icmp")) {
		if ((fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)) < 0) return fail("socket");
		struct icmphdr *ic = (struct icmphdr *)buf;
		memset(buf, 0, 64);
		ic->type = ICMP_ECHO; ic->un.echo.id = htons(0x4242); ic->un.echo.sequence = htons(1);
		memcpy(buf + sizeof *ic, "cgfw-raw-icmp", 13);
		ic->checksum = csum(buf, sizeof *ic + 13);
		addr_of(argv[2], 0, &ss, &sl, 0);
		n = (int)sendto(fd, buf, sizeof *ic + 13, 0, (struct sockaddr *)&ss, sl);
		if (n < 0) return fail("sendto");
	} else if (!strcmp(mode, "ping")) {
		if (addr_of(argv[2], 0, &ss, &sl, 0) < 0) { fprintf(stderr, "bad address\n"); return 64; }
		int v6 = ss.ss_family == AF_INET6;
		if ((fd = socket(ss.ss_family, SOCK_DGRAM, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) < 0) return fail("socket");
		memset(buf, 0, 64);
		buf[0] = v6 ? 128 : ICMP_ECHO; /* id and checksum filled in by the kernel */
		memcpy(buf + 8, "cgfw-ping-sock", 14);
		n = (int)sendto(fd, buf, 8 + 14, 0, (struct sockaddr *)&ss, sl);
		if (n < 0) return fail("sendto");
	} else if (!strcmp(mode, "icmp6") && argc >= 5) {
		if ((fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)) < 0) return fail("socket");
		int hops = 255;
		setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
		int mlen = (int)strlen(argv[4]);
		memset(buf, 0, 8 + 16 + mlen);
		buf[0] = (unsigned char)atoi(argv[3]); /* type; code 0; checksum by the kernel */
		/* bytes 4..7 reserved; for neighbour solicitation 8..23 is the target address */
		if (addr_of(argv[2], 0, &ss, &sl, 1) < 0) { fprintf(stderr, "bad address\n"); return 64; }
		memcpy(buf + 8, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		memcpy(buf + 24, argv[4], mlen);
		n = (int)sendto(fd, buf, 24 + mlen, 0, (struct sockaddr *)&ss, sl);
		if (n < 0) return fail("sendto");
	} else if (!strcmp(mode, "packet") && argc >= 8) {
		unsigned char mac[6];
		if (sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
			fprintf(stderr, "bad mac\n"); return 64;
		}
		int len = build_udp4(buf, argv[4], argv[5], atoi(argv[6]), argv[7]);
		if (len < 0) { fprintf(stderr, "bad address\n"); return 64; }
		if ((fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP))) < 0) return fail("socket");
		struct sockaddr_ll ll;
		memset(&ll, 0, sizeof ll);
		ll.sll_family = AF_PACKET; ll.sll_protocol = htons(ETH_P_IP);
		ll.sll_ifindex = (int)if_nametoindex(argv[2]);
		if (!ll.sll_ifindex) return fail("if_nametoindex");
		ll.sll_halen = 6; memcpy(ll.sll_addr, mac, 6);
		n = (int)sendto(fd, buf, len, 0, (struct sockaddr *)&ll, sizeof ll);
		if (n < 0) return fail("sendto");
	} else if (!strcmp(mode, "xdp")) {
		/* AF_XDP: creating the socket is the step the firewall must refuse. */
		if ((fd = socket(44 /* AF_XDP */, SOCK_RAW, 0)) < 0) return fail("socket");
		n = 0;
#if defined(__x86_64__)
	} else if (!strcmp(mode, "i386-packet") || !strcmp(mode, "i386-socketcall")) {
		long r = !strcmp(mode, "i386-packet")
			? int80(359 /* i386 socket */, AF_PACKET, SOCK_RAW, 0)
			: int80(102 /* i386 socketcall */, 1 /* SYS_SOCKET */, (long)(unsigned long)socketcall_args, 0);
		if (r < 0) { errno = (int)-r; return fail("int 0x80 socket"); }
		n = 0;
#endif
	} else if (!strcmp(mode, "iouring")) {
		/* io_uring can open sockets (IORING_OP_SOCKET) where no seccomp filter sees them. */
		unsigned char params[120];
		memset(params, 0, sizeof params);
		if ((fd = (int)syscall(425 /* io_uring_setup */, 4, params)) < 0) return fail("io_uring_setup");
		n = 0;
	} else {
		fprintf(stderr, "bad mode or arguments\n"); return 64;
	}
	printf("sent %d bytes\n", n);
	return 0;
}
