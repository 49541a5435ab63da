/* dnsq: one DNS query over a chosen transport, for the firewall tests.
 *
 *   dnsq MODE SERVER NAME [TYPE]
 *     MODE   udp     connect()ed UDP socket, send/recv
 *            sendto  unconnected UDP socket, sendto/recvfrom; the reply's source address must
 *                    be SERVER:53 (what resolvers check), else exit 3
 *            tcp     TCP with the 2-byte length prefix (RFC 1035 4.2.2)
 *     SERVER IPv4 or IPv6 address (port 53)
 *     TYPE   A (default) or AAAA
 *
 * Prints "rcode=N (NAME)" and one "A addr" / "AAAA addr" line per answer record.
 * Exit: 0 NOERROR with at least one address, 1 any other answer (NXDOMAIN, no data),
 *       2 socket/timeout error (errno text printed), 3 reply from the wrong source.
 * Timeout 3 s. Built static (glibc or musl) at test set-up; no resolver library involved. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int build_query(unsigned char *buf, const char *name, int qtype)
{
	unsigned char *p = buf;
	unsigned id = (unsigned)getpid() & 0xffff;
	*p++ = id >> 8; *p++ = id & 0xff;
	*p++ = 0x01; *p++ = 0x00;                 /* RD */
	*p++ = 0; *p++ = 1; *p++ = 0; *p++ = 0;   /* QD=1 AN=0 */
	*p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;   /* NS=0 AR=0 */
	const char *s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		if (len == 0 || len > 63) return -1;
		*p++ = (unsigned char)len;
		memcpy(p, s, len); p += len;
		s += len;
		if (*s == '.') s++;
	}
	*p++ = 0;
	*p++ = 0; *p++ = (unsigned char)qtype;
	*p++ = 0; *p++ = 1;
	return (int)(p - buf);
}

static int skip_name(const unsigned char *m, int n, int off)
{
	while (off < n) {
		unsigned char l = m[off];
		if (l == 0) return off + 1;
		if ((l & 0xc0) == 0xc0) return off + 2;
		off += 1 + l;
	}
	return -1;
}

static int parse_reply(const unsigned char *m, int n)
{
	static const char *rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
	if (n < 12) { printf("short reply (%d bytes)\n", n); return 2; }
	int rcode = m[3] & 0x0f, qd = m[4] << 8 | m[5], an = m[6] << 8 | m[7];
	printf("rcode=%d (%s)%s\n", rcode, rcode < 6 ? rcodes[rcode] : "?", (m[2] & 0x02) ? " TC" : "");
	int off = 12, addrs = 0;
	for (int i = 0; i < qd && off >= 0; i++) { off = skip_name(m, n, off); if (off >= 0) off += 4; }
	for (int i = 0; i < an && off >= 0 && off < n; i++) {
		off = skip_name(m, n, off);
		if (off < 0 || off + 10 > n) break;
		int type = m[off] << 8 | m[off + 1], rdlen = m[off + 8] << 8 | m[off + 9];
		off += 10;
		if (off + rdlen > n) break;
		char txt[INET6_ADDRSTRLEN];
		if (type == 1 && rdlen == 4) { inet_ntop(AF_INET, m + off, txt, sizeof txt); printf("A %s\n", txt); addrs++; }
		if (type == 28 && rdlen == 16) { inet_ntop(AF_INET6, m + off, txt, sizeof txt); printf("AAAA %s\n", txt); addrs++; }
		off += rdlen;
	}
	return rcode == 0 && addrs > 0 ? 0 : 1;
}

static int read_full(int fd, unsigned char *b, int len)
{
	int got = 0;
	while (got < len) {
		ssize_t r = read(fd, b + got, len - got);
		if (r <= 0) return -1;
		got += (int)r;
	}
	return got;
}

int main(int argc, char **argv)
{
	if (argc < 4) { fprintf(stderr, "usage: dnsq udp|sendto|tcp SERVER NAME [A|AAAA]\n"); return 64; }
	const char *mode = argv[1];
	int qtype = (argc > 4 && strcmp(argv[4], "AAAA") == 0) ? 28 : 1;
	struct sockaddr_storage ss; socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, argv[2], &s4->sin_addr) == 1) { s4->sin_family = AF_INET; s4->sin_port = htons(53); sl = sizeof *s4; }
	else if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) == 1) { s6->sin6_family = AF_INET6; s6->sin6_port = htons(53); sl = sizeof *s6; }
	else { fprintf(stderr, "bad server address %s\n", argv[2]); return 64; }

	unsigned char q[512], r[4096];
	int qlen = build_query(q, argv[3], qtype);
	if (qlen < 0) { fprintf(stderr, "bad name\n"); return 64; }
	int tcp = strcmp(mode, "tcp") == 0;
	int fd = socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0) { printf("socket: %s\n", strerror(errno)); return 2; }
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int n;
	if (strcmp(mode, "sendto") == 0) {
		if (sendto(fd, q, qlen, 0, (struct sockaddr *)&ss, sl) != qlen) { printf("sendto: %s\n", strerror(errno)); return 2; }
		struct sockaddr_storage from; socklen_t fl = sizeof from;
		n = (int)recvfrom(fd, r, sizeof r, 0, (struct sockaddr *)&from, &fl);
		if (n < 0) { printf("recvfrom: %s\n", strerror(errno)); return 2; }
		char want[INET6_ADDRSTRLEN], got[INET6_ADDRSTRLEN] = "?";
		int gotport = 0;
		strcpy(want, argv[2]);
		if (from.ss_family == AF_INET) { inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, got, sizeof got); gotport = ntohs(((struct sockaddr_in *)&from)->sin_port); }
		if (from.ss_family == AF_INET6) { inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, got, sizeof got); gotport = ntohs(((struct sockaddr_in6 *)&from)->sin6_port); }
		printf("reply from %s port %d\n", got, gotport);
		int rc = parse_reply(r, n);
		if (strcmp(got, want) != 0 || gotport != 53) { printf("source mismatch: want %s port 53\n", want); return 3; }
		return rc;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) { printf("connect: %s\n", strerror(errno)); return 2; }
	if (tcp) {
		unsigned char out[514];
		out[0] = qlen >> 8; out[1] = qlen & 0xff;
		memcpy(out + 2, q, qlen);
		if (write(fd, out, qlen + 2) != qlen + 2) { printf("write: %s\n", strerror(errno)); return 2; }
		unsigned char lp[2];
		if (read_full(fd, lp, 2) < 0) { printf("read: %s\n", errno ? strerror(errno) : "EOF"); return 2; }
		int len = lp[0] << 8 | lp[1];
		if (len > (int)sizeof r || read_full(fd, r, len) < 0) { printf("read body: %s\n", errno ? strerror(errno) : "EOF"); return 2; }
		n = len;
		printf("tcp reply %d bytes\n", n);
	} else {
		if (send(fd, q, qlen, 0) != qlen) { printf("send: %s\n", strerror(errno)); return 2; }
		n = (int)recv(fd, r, sizeof r, 0);
		if (n < 0) { printf("recv: %s\n", strerror(errno)); return 2; }
	}
	return parse_reply(r, n);
}
