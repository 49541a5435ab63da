/* getconn: resolve a name with the C library's resolver (getaddrinfo), connect over TCP and
 * fetch "GET /" over HTTP/1.0, for the firewall tests. Built twice at test set-up: static with
 * musl-gcc (musl's resolver: parallel unconnected sendto to every nameserver) and against
 * glibc (its resolver: connected UDP, A+AAAA in parallel).
 *
 *   getconn [-4|-6] HOST [PORT]     HOST may be a name or an address literal; PORT 80
 *
 * Prints "resolved HOST -> ADDR", then the first line of the body, or the error.
 * Exit: 0 fetched; 2 name did not resolve (gai_strerror printed); 3 connect failed (strerror
 * printed, e.g. "Operation not permitted"); 4 I/O error after connect. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int family = AF_UNSPEC, a = 1;
	if (argc > 1 && strcmp(argv[1], "-4") == 0) { family = AF_INET; a++; }
	else if (argc > 1 && strcmp(argv[1], "-6") == 0) { family = AF_INET6; a++; }
	if (argc <= a) { fprintf(stderr, "usage: getconn [-4|-6] HOST [PORT]\n"); return 64; }
	const char *host = argv[a], *port = argc > a + 1 ? argv[a + 1] : "80";
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	int e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) { printf("resolve %s: %s\n", host, gai_strerror(e)); return 2; }
	char txt[INET6_ADDRSTRLEN] = "?";
	if (res->ai_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, txt, sizeof txt);
	else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, txt, sizeof txt);
	printf("resolved %s -> %s\n", host, txt);
	fflush(stdout);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0) { printf("socket: %s\n", strerror(errno)); return 4; }
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) { printf("connect %s: %s\n", txt, strerror(errno)); return 3; }
	char req[512];
	int rl = snprintf(req, sizeof req, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	if (write(fd, req, rl) != rl) { printf("write: %s\n", strerror(errno)); return 4; }
	char buf[4096];
	int n = 0;
	ssize_t r;
	while (n < (int)sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += (int)r;
	buf[n] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (!body) { printf("no HTTP body (%d bytes read): %s\n", n, errno ? strerror(errno) : ""); return 4; }
	body += 4;
	char *nl = strchr(body, '\n');
	if (nl) *nl = 0;
	printf("body: %s\n", body);
	return 0;
}
