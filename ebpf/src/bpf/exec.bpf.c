/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Exec and fork hooks, one pair per host: record the command line of every process of a
 * firewalled container (its cgroup or one below it) when it
 * execs, so userspace can name the process of a blocked connect after it has exited (a
 * tool that gets EPERM usually exits before its event is read; /proc then has nothing).
 *
 * tp_btf/sched_process_exec runs in exec_binprm() after the new image is set up: current
 * has its new mm, whose [arg_start, arg_end) holds the argv that /proc/PID/cmdline shows
 * (NUL-terminated strings), just copied there by the kernel, and current is already the
 * thread-group leader (pid == tgid). A failed exec never reaches this tracepoint.
 *
 * tp_btf/sched_process_fork copies the parent's entry to a new child process, so a child
 * that never execs (a shell subshell using /dev/tcp, a forked worker) is named like its
 * parent, as /proc would name it. It runs in the parent, after copy_process().
 *
 * The kernel structs are read with CO-RE: the minimal definitions below carry
 * preserve_access_index, and the loader (aya) rewrites the field offsets against
 * /sys/kernel/btf/vmlinux. arg_start/arg_end sit in an anonymous struct inside mm_struct;
 * field matching looks through anonymous members, as libbpf does.
 */
#include "cgfw.h"

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct task_struct {
	struct mm_struct *mm;
	__u64 start_time;
	int pid;               /* pid_t */
	int tgid;
} __attribute__((preserve_access_index));

/* Whether current is in a firewalled container's cgroup or below it: its cgroup v2 ancestors
 * (level 1 = a child of the root, down to its own cgroup) are looked up in cgfw_cgroups.
 * One pair of these programs serves every container on the host, so this is the cost every
 * exec and fork on the host pays: at most CGFW_MAX_CGROUP_DEPTH helper calls and lookups,
 * fewer for shallow cgroups (the walk ends below the task's own level). */
static __always_inline int cgfw_current_firewalled(void)
{
	for (int level = 1; level <= CGFW_MAX_CGROUP_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			return 0;
		if (bpf_map_lookup_elem(&cgfw_cgroups, &id))
			return 1;
	}
	return 0;
}

/* args: (struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm); p == current */
SEC("tp_btf/sched_process_exec")
int cgfw_exec(unsigned long long *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	struct cgfw_exec e = {};
	struct mm_struct *mm;
	unsigned long start, end;
	__u64 size;
	__u32 tgid;

	if (!cgfw_current_firewalled())
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	mm = p->mm;
	if (!mm)
		return 0;
	start = mm->arg_start;
	end = mm->arg_end;
	if (end <= start) {
		bpf_map_delete_elem(&cgfw_exec_args, &tgid);
		return 0;
	}
	size = end - start;
	e.full_len = size > 0xffffffffULL ? 0xffffffffU : (__u32)size;
	if (size > CGFW_ARGS_BYTES)
		size = CGFW_ARGS_BYTES;
	if (bpf_probe_read_user(e.args, size, (const void *)start)) {
		/* Do not leave an older process's entry under this tgid. */
		bpf_map_delete_elem(&cgfw_exec_args, &tgid);
		return 0;
	}
	e.len = (__u32)size;
	e.start_time_ns = p->start_time;
	bpf_map_update_elem(&cgfw_exec_args, &tgid, &e, BPF_ANY);
	return 0;
}

/* args: (struct task_struct *parent, struct task_struct *child); parent == current */
SEC("tp_btf/sched_process_fork")
int cgfw_fork(unsigned long long *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];
	struct cgfw_exec *parent_entry;
	struct cgfw_exec e;
	__u32 parent_tgid, child_tgid;

	/* A new thread shares its process's entry; only a new process (pid == tgid) needs one. */
	if (child->pid != child->tgid)
		return 0;
	parent_tgid = bpf_get_current_pid_tgid() >> 32;
	/* Only processes of firewalled containers have an entry: no cgroup walk needed here. */
	parent_entry = bpf_map_lookup_elem(&cgfw_exec_args, &parent_tgid);
	if (!parent_entry)
		return 0;
	__builtin_memcpy(&e, parent_entry, sizeof(e));
	e.start_time_ns = child->start_time;
	child_tgid = (__u32)child->tgid;
	bpf_map_update_elem(&cgfw_exec_args, &child_tgid, &e, BPF_ANY);
	return 0;
}
