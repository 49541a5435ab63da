/* dnsx: a DNS query with a hand-made question, for the hardening tests' name tricks.
 *
 *   dnsx udp|tcp SERVER TYPE NAME
 *     TYPE  A AAAA TXT ANY SRV MX CNAME or a number
 *     NAME  labels separated by '.'; "\." is a literal dot inside a label; labels and names
 *           are NOT length-checked (over-long labels are sent as written, the length byte
 *           wraps at 255); "." alone is the root
 *
 * Prints "rcode=N (TEXT)", "answers=N", one "A x"/"AAAA x"/"TXT x"/"TYPE n" line per record.
 * Exit 0 NOERROR with >= 1 answer record, 1 any other reply, 2 socket error or timeout (3 s). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int qtype_of(const char *t)
{
	static const struct { const char *n; int v; } m[] = {{"A", 1}, {"AAAA", 28}, {"TXT", 16}, {"ANY", 255},
		{"SRV", 33}, {"MX", 15}, {"CNAME", 5}, {"NS", 2}, {"PTR", 12}};
	for (unsigned i = 0; i < sizeof m / sizeof m[0]; i++) if (!strcasecmp(t, m[i].n)) return m[i].v;
	return atoi(t);
}

static int put_name(unsigned char *p, const char *name)
{
	unsigned char *start = p;
	if (strcmp(name, ".") == 0) { *p++ = 0; return 1; }
	unsigned char label[1024];
	int ll = 0;
	for (const char *s = name;; s++) {
		if (*s == '\\' && s[1]) { label[ll++] = (unsigned char)*++s; continue; }
		if (*s == '.' || *s == 0) {
			if (ll > 0 || *s == '.') { *p++ = (unsigned char)ll; memcpy(p, label, ll); p += ll; }
			ll = 0;
			if (*s == 0 || (*s == '.' && s[1] == 0)) break;
			continue;
		}
		label[ll++] = (unsigned char)*s;
	}
	*p++ = 0;
	return (int)(p - start);
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

int main(int argc, char **argv)
{
	if (argc < 5) { fprintf(stderr, "usage: dnsx udp|tcp SERVER TYPE NAME\n"); return 64; }
	int tcp = !strcmp(argv[1], "tcp");
	struct sockaddr_storage ss; socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, argv[2], &s4->sin_addr) == 1) { s4->sin_family = AF_INET; s4->sin_port = htons(53); sl = sizeof *s4; }
	else if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) == 1) { s6->sin6_family = AF_INET6; s6->sin6_port = htons(53); sl = sizeof *s6; }
	else { fprintf(stderr, "bad server\n"); return 64; }
	unsigned char q[4096], r[65536];
	unsigned id = (unsigned)getpid() & 0xffff;
	unsigned char *p = q;
	*p++ = id >> 8; *p++ = id & 0xff; *p++ = 1; *p++ = 0;
	*p++ = 0; *p++ = 1; memset(p, 0, 6); p += 6;
	p += put_name(p, argv[4]);
	int t = qtype_of(argv[3]);
	*p++ = t >> 8; *p++ = t & 0xff; *p++ = 0; *p++ = 1;
	int qlen = (int)(p - q);
	int fd = socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0) { printf("socket: %s\n", strerror(errno)); return 2; }
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) { printf("connect: %s\n", strerror(errno)); return 2; }
	int n = 0;
	if (tcp) {
		unsigned char out[4098];
		out[0] = qlen >> 8; out[1] = qlen & 0xff; memcpy(out + 2, q, qlen);
		if (write(fd, out, qlen + 2) != qlen + 2) { printf("write: %s\n", strerror(errno)); return 2; }
		unsigned char lp[2];
		if (recv(fd, lp, 2, MSG_WAITALL) != 2) { printf("read: %s\n", errno ? strerror(errno) : "EOF"); return 2; }
		int len = lp[0] << 8 | lp[1];
		if (recv(fd, r, len, MSG_WAITALL) != len) { printf("read body: %s\n", strerror(errno)); return 2; }
		n = len;
	} else {
		if (send(fd, q, qlen, 0) != qlen) { printf("send: %s\n", strerror(errno)); return 2; }
		n = (int)recv(fd, r, sizeof r, 0);
		if (n < 0) { printf("recv: %s\n", strerror(errno)); return 2; }
	}
	if (n < 12) { printf("short reply %d\n", n); return 2; }
	static const char *rc[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
	int rcode = r[3] & 15, qd = r[4] << 8 | r[5], an = r[6] << 8 | r[7];
	printf("rcode=%d (%s)%s\nanswers=%d\n", rcode, rcode < 6 ? rc[rcode] : "?", (r[2] & 2) ? " TC" : "", an);
	int off = 12;
	for (int i = 0; i < qd && off >= 0; i++) { off = skip_name(r, n, off); if (off >= 0) off += 4; }
	for (int i = 0; i < an && off >= 0 && off < n; i++) {
		off = skip_name(r, n, off);
		if (off < 0 || off + 10 > n) break;
		int type = r[off] << 8 | r[off + 1], rdlen = r[off + 8] << 8 | r[off + 9];
		off += 10;
		if (off + rdlen > n) break;
		char txt[300];
		if (type == 1 && rdlen == 4) { inet_ntop(AF_INET, r + off, txt, sizeof txt); printf("A %s\n", txt); }
		else if (type == 28 && rdlen == 16) { inet_ntop(AF_INET6, r + off, txt, sizeof txt); printf("AAAA %s\n", txt); }
		else if (type == 16 && rdlen > 0) { int l = r[off] < rdlen ? r[off] : rdlen - 1; memcpy(txt, r + off + 1, l); txt[l] = 0; printf("TXT %s\n", txt); }
		else printf("TYPE %d\n", type);
		off += rdlen;
	}
	return rcode == 0 && an > 0 ? 0 : 1;
}
