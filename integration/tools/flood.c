/* flood: refused DNS queries or refused connects as fast as one process can send them, for a
 * bounded time, for the firewall's cost tests (hardening_flood.bats).
 *
 *   flood [--pad BYTES] dns SERVER SECONDS      denied queries (fNNN.flood.test, type A) over
 *                                               UDP, a fresh socket for each (each one a new
 *                                               socket cookie for the proxy to attribute)
 *   flood [--pad BYTES] connect IP PORT SECONDS TCP connects, a fresh socket for each, to
 *                                               ports PORT .. PORT+4999 in turn (each a
 *                                               destination of its own in the report)
 *     --pad BYTES   first re-exec this program with about BYTES of extra arguments (1000-byte
 *                   arguments: Linux takes at most 128 KiB per argument and about a quarter of
 *                   the stack limit in all), so /proc/PID/cmdline is that long
 *
 * Prints "sent=N answered=M" (dns) or "attempts=N refused=M connected=K" (connect) at the end.
 * Exit 0, or 2 on a usage or socket error. SERVER/IP: IPv4 or IPv6. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sockaddr_of(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof *a4;
		return AF_INET;
	}
	if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof *a6;
		return AF_INET6;
	}
	return -1;
}

static int query(unsigned char *buf, unsigned n)
{
	char label[16];
	int ll = snprintf(label, sizeof label, "f%u", n);
	unsigned char *p = buf;
	*p++ = n >> 8; *p++ = n & 0xff;
	*p++ = 0x01; *p++ = 0x00;                 /* RD */
	*p++ = 0; *p++ = 1; *p++ = 0; *p++ = 0;   /* QD=1 */
	*p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;
	*p++ = (unsigned char)ll; memcpy(p, label, ll); p += ll;
	*p++ = 5; memcpy(p, "flood", 5); p += 5;
	*p++ = 4; memcpy(p, "test", 4); p += 4;
	*p++ = 0;
	*p++ = 0; *p++ = 1; *p++ = 0; *p++ = 1;   /* A, IN */
	return (int)(p - buf);
}

static int usage(void)
{
	fprintf(stderr, "usage: flood [--pad BYTES] dns SERVER SECONDS | connect IP PORT SECONDS\n");
	return 2;
}

/* Re-exec with the arguments after --pad BYTES, then about BYTES of padding. */
static void repad(int argc, char **argv, long bytes)
{
	long n = bytes / 1000 + 1;
	char **nargv = calloc(argc + n + 1, sizeof *nargv);
	char *pad = malloc(1000);
	if (!nargv || !pad) { perror("flood: malloc"); exit(2); }
	memset(pad, 'A', 999);
	pad[999] = 0;
	int k = 0;
	nargv[k++] = argv[0];
	for (int i = 3; i < argc; i++) nargv[k++] = argv[i];
	for (long i = 0; i < n; i++) nargv[k++] = pad;
	nargv[k] = NULL;
	execv("/proc/self/exe", nargv);
	perror("flood: re-exec with padding");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--pad") == 0) repad(argc, argv, atol(argv[2]));
	if (argc < 2) return usage();
	struct sockaddr_storage ss;
	socklen_t len;
	if (strcmp(argv[1], "dns") == 0 && argc >= 4) {
		int fam = sockaddr_of(argv[2], 53, &ss, &len);
		if (fam < 0) return usage();
		double end = now() + atof(argv[3]);
		unsigned long sent = 0, answered = 0;
		unsigned char q[64], r[512];
		struct timeval tv = {0, 200000};
		while (now() < end) {
			int s = socket(fam, SOCK_DGRAM, 0);
			if (s < 0) { perror("flood: socket"); return 2; }
			setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			int ql = query(q, (unsigned)sent);
			if (connect(s, (struct sockaddr *)&ss, len) == 0 && send(s, q, ql, 0) == ql) {
				sent++;
				if (recv(s, r, sizeof r, 0) > 0) answered++;
			}
			close(s);
		}
		printf("sent=%lu answered=%lu\n", sent, answered);
		return 0;
	}
	if (strcmp(argv[1], "connect") == 0 && argc >= 5) {
		int port = atoi(argv[3]);
		int fam = sockaddr_of(argv[2], port, &ss, &len);
		if (fam < 0) return usage();
		double end = now() + atof(argv[4]);
		unsigned long attempts = 0, refused = 0, connected = 0;
		while (now() < end) {
			in_port_t p = htons(port + attempts % 5000);
			if (fam == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = p;
			else ((struct sockaddr_in6 *)&ss)->sin6_port = p;
			int s = socket(fam, SOCK_STREAM, 0);
			if (s < 0) { perror("flood: socket"); return 2; }
			attempts++;
			if (connect(s, (struct sockaddr *)&ss, len) == 0) connected++;
			else if (errno == EPERM) refused++;
			close(s);
		}
		printf("attempts=%lu refused=%lu connected=%lu\n", attempts, refused, connected);
		return 0;
	}
	return usage();
}
