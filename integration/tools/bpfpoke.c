/* bpfpoke: what a process inside a firewalled container can do to the firewall with the
 * bpf() syscall (no bpftool in the container), for the hardening escalation tests.
 *
 *   bpfpoke CGROUP_ID detach        find the cgroup links attached to cgroup CGROUP_ID
 *                                   (BPF_LINK_GET_NEXT_ID + GET_FD_BY_ID + link info) and
 *                                   BPF_LINK_DETACH them; then BPF_PROG_DETACH every program
 *                                   still attached to CGROUP_PATH if given as 3rd argument
 *   bpfpoke CGROUP_ID allow IPV4    add IPV4 to the allow map (cgfw_allow_ip) of the programs
 *                                   attached to CGROUP_ID, never expiring
 *
 * Only objects attached to CGROUP_ID are touched (other containers on the host are not).
 * Prints one line per step: "<step>: ok" or "<step>: <strerror>", and a summary line
 * "links=N detached=N maps_written=N". Exit 0 if anything was changed, 1 if nothing was
 * (every step refused), 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

static int next_id(int cmd, uint32_t start, uint32_t *next)
{
	union bpf_attr a; memset(&a, 0, sizeof a);
	a.start_id = start;
	if (bpf(cmd, &a) < 0) return -1;
	*next = a.next_id;
	return 0;
}

static int fd_by_id(int cmd, uint32_t id)
{
	union bpf_attr a; memset(&a, 0, sizeof a);
	if (cmd == BPF_LINK_GET_FD_BY_ID) a.link_id = id; else if (cmd == BPF_MAP_GET_FD_BY_ID) a.map_id = id; else a.prog_id = id;
	return (int)bpf(cmd, &a);
}

static int info(int fd, void *buf, uint32_t len)
{
	union bpf_attr a; memset(&a, 0, sizeof a);
	a.info.bpf_fd = fd; a.info.info_len = len; a.info.info = (uint64_t)(uintptr_t)buf;
	return (int)bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
}

int main(int argc, char **argv)
{
	if (argc < 3) { fprintf(stderr, "usage: bpfpoke CGROUP_ID detach [CGROUP_PATH] | allow IPV4\n"); return 2; }
	uint64_t cgid = strtoull(argv[1], NULL, 10);
	int do_detach = !strcmp(argv[2], "detach");
	int links = 0, detached = 0, written = 0, enumerated = 0;
	uint32_t prog_ids[64]; int nprogs = 0;
	uint32_t id = 0;
	while (next_id(BPF_LINK_GET_NEXT_ID, id, &id) == 0) {
		enumerated++;
		int fd = fd_by_id(BPF_LINK_GET_FD_BY_ID, id);
		if (fd < 0) { printf("link %u get_fd: %s\n", id, strerror(errno)); continue; }
		struct bpf_link_info li; memset(&li, 0, sizeof li);
		if (info(fd, &li, sizeof li) < 0) { printf("link %u info: %s\n", id, strerror(errno)); close(fd); continue; }
		if (li.type != BPF_LINK_TYPE_CGROUP || li.cgroup.cgroup_id != cgid) { close(fd); continue; }
		links++;
		if (nprogs < 64) prog_ids[nprogs++] = li.prog_id;
		if (do_detach) {
			union bpf_attr a; memset(&a, 0, sizeof a);
			a.link_detach.link_fd = fd;
			if (bpf(BPF_LINK_DETACH, &a) < 0) printf("link %u detach: %s\n", id, strerror(errno));
			else { printf("link %u detach: ok\n", id); detached++; }
		}
		close(fd);
	}
	if (!enumerated) printf("link enumeration: %s\n", strerror(errno));
	if (do_detach && argc > 3) {
		int cg = open(argv[3], O_RDONLY | O_DIRECTORY);
		if (cg < 0) printf("open %s: %s\n", argv[3], strerror(errno));
		for (int t = 0; cg >= 0 && t < __MAX_BPF_ATTACH_TYPE; t++) {
			uint32_t ids[32]; union bpf_attr a; memset(&a, 0, sizeof a);
			a.query.target_fd = cg; a.query.attach_type = t; a.query.prog_ids = (uint64_t)(uintptr_t)ids; a.query.prog_cnt = 32;
			if (bpf(BPF_PROG_QUERY, &a) < 0) continue;
			for (uint32_t i = 0; i < a.query.prog_cnt; i++) {
				int pfd = fd_by_id(BPF_PROG_GET_FD_BY_ID, ids[i]);
				if (pfd < 0) { printf("prog %u get_fd: %s\n", ids[i], strerror(errno)); continue; }
				union bpf_attr d; memset(&d, 0, sizeof d);
				d.target_fd = cg; d.attach_bpf_fd = pfd; d.attach_type = t;
				if (bpf(BPF_PROG_DETACH, &d) < 0) printf("prog %u prog_detach: %s\n", ids[i], strerror(errno));
				else { printf("prog %u prog_detach: ok\n", ids[i]); detached++; }
				close(pfd);
			}
		}
	}
	if (!do_detach && argc > 3) {
		/* The maps of our programs: find cgfw_allow_ip among them. */
		uint8_t key[16] = {0};
		key[10] = 0xff; key[11] = 0xff;
		if (inet_pton(AF_INET, argv[3], key + 12) != 1) { fprintf(stderr, "bad IPv4\n"); return 2; }
		uint64_t expires = ~0ULL;
		for (int p = 0; p < nprogs && !written; p++) {
			int pfd = fd_by_id(BPF_PROG_GET_FD_BY_ID, prog_ids[p]);
			if (pfd < 0) { printf("prog %u get_fd: %s\n", prog_ids[p], strerror(errno)); continue; }
			uint32_t map_ids[32]; struct bpf_prog_info pi; memset(&pi, 0, sizeof pi);
			pi.nr_map_ids = 32; pi.map_ids = (uint64_t)(uintptr_t)map_ids;
			if (info(pfd, &pi, sizeof pi) < 0) { printf("prog info: %s\n", strerror(errno)); close(pfd); continue; }
			for (uint32_t m = 0; m < pi.nr_map_ids && m < 32; m++) {
				int mfd = fd_by_id(BPF_MAP_GET_FD_BY_ID, map_ids[m]);
				if (mfd < 0) { printf("map %u get_fd: %s\n", map_ids[m], strerror(errno)); continue; }
				struct bpf_map_info mi; memset(&mi, 0, sizeof mi);
				info(mfd, &mi, sizeof mi);
				if (!strcmp(mi.name, "cgfw_allow_ip")) {
					union bpf_attr u; memset(&u, 0, sizeof u);
					u.map_fd = mfd; u.key = (uint64_t)(uintptr_t)key; u.value = (uint64_t)(uintptr_t)&expires; u.flags = BPF_ANY;
					if (bpf(BPF_MAP_UPDATE_ELEM, &u) < 0) printf("map %u update: %s\n", map_ids[m], strerror(errno));
					else { printf("map %u (%s) update: ok\n", map_ids[m], mi.name); written++; }
				}
				close(mfd);
			}
			close(pfd);
		}
		if (!nprogs) printf("no program of cgroup %llu found\n", (unsigned long long)cgid);
	}
	printf("links=%d detached=%d maps_written=%d\n", links, detached, written);
	return detached || written ? 0 : 1;
}
