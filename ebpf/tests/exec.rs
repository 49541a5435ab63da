//! Exec command lines: argv recorded at exec in the kernel, for processes of the cgroup and
//! its subtree only, readable after the process has exited.
//!
//! Real kernel, real cgroups, real network namespaces. Root only. Each test builds its own
//! topology (unique names, tests/common), so tests run in parallel.
//! Traffic goes only to loopback and to 198.18.0.0/24 / fd00:cf::/64 inside test netns.

mod common;

use common::*;
use ebpf::Verdict;

/// The exec hook records argv in the kernel, so a process that was blocked and has already
/// exited can still be named: for processes in the cgroup (and below it) only.
#[test]
fn exec_cmdline_outlives_the_process() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("exe");
    let fw = firewall(&env, &cfg());
    assert_eq!(fw.exec_capture_unavailable(), None, "exec hook must load on this kernel");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut stream = rt.block_on(async { fw.events() }).unwrap();
    let url = format!("http://{DENIED}:{TCP_PORT}/cgfw-exec-marker");

    // A tool that is refused at connect and exits at once (busybox wget: EPERM, exit 1).
    let mut cmd = env.client_cmd("busybox");
    cmd.args(["wget", "-q", "-O-", &url]);
    let pid = run_cmd(cmd);
    let ev = next_event(&rt, &mut stream);
    assert_eq!((ev.tgid, ev.verdict, ev.daddr), (pid, Verdict::Blocked, DENIED.parse().unwrap()));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "process must be gone");
    assert_eq!(fw.exec_cmdline(ev.tgid).as_deref(), Some(format!("busybox wget -q -O- {url}").as_str()));
    let info = fw.exec_info(ev.tgid).unwrap();
    assert!(!info.truncated);
    assert!(info.start_time_ns > 0 && info.start_time_ns <= ev.ts_ns, "start {} event {}", info.start_time_ns, ev.ts_ns);
    // bpf_get_current_cgroup_id() (in the event) is the cgroup2 directory's inode number,
    // also on a hybrid host.
    assert_eq!(ev.cgroup_id, std::fs::metadata(&env.cgroup).unwrap().ino(), "cgroup id = cgroup2 inode");

    // The connecting process is a grandchild: its tgid comes from the event only. The shell
    // (which exec'd first) has its own entry.
    let mut cmd = env.client_cmd("sh");
    cmd.args(["-c", &format!("busybox wget -q -O- {url}/2 'two words'; exit 0")]);
    let sh_pid = run_cmd(cmd);
    let ev = next_event(&rt, &mut stream);
    assert_ne!(ev.tgid, sh_pid);
    assert_eq!(fw.exec_cmdline(ev.tgid).as_deref(), Some(format!("busybox wget -q -O- {url}/2 two words").as_str()));
    assert_eq!(
        fw.exec_cmdline(sh_pid).as_deref(),
        Some(format!("sh -c busybox wget -q -O- {url}/2 'two words'; exit 0").as_str())
    );

    // A forked child that never execs (bash connecting through /dev/tcp in a subshell)
    // inherits its parent's entry.
    let script = format!("( exec 3<>/dev/tcp/{DENIED}/{TCP_PORT} ) 2>/dev/null; exit 0");
    let mut cmd = env.client_cmd("bash");
    cmd.args(["-c", &script]);
    let bash_pid = run_cmd(cmd);
    let ev = next_event(&rt, &mut stream);
    assert_ne!(ev.tgid, bash_pid, "the subshell connects");
    assert_eq!(fw.exec_cmdline(ev.tgid).as_deref(), Some(format!("bash -c {script}").as_str()));
    let (parent, child) = (fw.exec_info(bash_pid).unwrap(), fw.exec_info(ev.tgid).unwrap());
    assert!(child.start_time_ns > parent.start_time_ns, "the child has its own start time");

    // Long argv: the first 256 bytes are kept.
    let long = "x".repeat(300);
    let mut cmd = env.client_cmd("/bin/true");
    cmd.arg(&long);
    let pid = run_cmd(cmd);
    let info = fw.exec_info(pid).expect("long argv recorded");
    assert!(info.truncated);
    assert_eq!(info.cmdline, format!("/bin/true {}", &long[..256 - "/bin/true ".len()]));

    // A child cgroup is covered (the programs apply to the whole subtree too).
    let sub = env.cgroup.join("sub");
    std::fs::create_dir(&sub).unwrap();
    struct Rmdir(std::path::PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _sub = Rmdir(sub.clone());
    let procs = sub.join("cgroup.procs");
    let mut cmd = std::process::Command::new("/bin/true");
    cmd.arg("cgfw-sub-marker");
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || std::fs::write(&procs, b"0\n"));
    }
    let pid = run_cmd(cmd);
    assert_eq!(fw.exec_cmdline(pid).as_deref(), Some("/bin/true cgfw-sub-marker"));

    // Outside the cgroup: not recorded.
    let mut cmd = std::process::Command::new("/bin/true");
    cmd.arg("cgfw-outside-marker");
    let pid = run_cmd(cmd);
    assert_eq!(fw.exec_cmdline(pid), None, "process outside the cgroup recorded");
}

/// Re-runs this file's scenarios with /sys/fs/cgroup being cgroup2 (a private mount namespace
/// with the unified hierarchy bound over /sys/fs/cgroup), as on a pure-v2 host.
#[test]
fn pure_v2_view() {
    rerun_in_pure_v2(&[
        "exec_cmdline_outlives_the_process",
    ]);
}

#[test]
fn pure_v2_inner_check() {
    inner_check_pure_v2();
}
