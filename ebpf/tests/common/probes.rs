//! Child-side probes (run inside a forked client with `Env::run_client`, return 0 or an errno)
//! and small process helpers shared by several test files.

use super::{wait_pid, Env};

pub fn ping(env: &Env, ip: &str) -> Result<(), String> {
    let out = env.client_cmd("ping").args(["-n", "-c", "1", "-W", "1", ip]).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Child-side: a raw ICMP echo request. 0 if sendto succeeded, errno otherwise.
pub fn raw_icmp(ip: &str) -> i32 {
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd < 0 {
        return 250;
    }
    let pkt: [u8; 8] = [8, 0, 0xf7, 0xff, 0, 0, 0, 0]; // type 8, checksum of zeros
    let addr: std::net::Ipv4Addr = ip.parse().unwrap();
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(addr).to_be() },
        sin_zero: [0; 8],
    };
    let r = unsafe {
        libc::sendto(fd, pkt.as_ptr().cast(), 8, 0, (&sin as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&sin) as u32)
    };
    if r < 0 {
        return std::io::Error::last_os_error().raw_os_error().unwrap_or(255);
    }
    0
}

/// Child-side: socket(family, type, protocol). 0 if created, errno otherwise.
pub fn make_socket(family: i32, ty: i32, protocol: i32) -> i32 {
    let fd = unsafe { libc::socket(family, ty, protocol) };
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error().unwrap_or(255);
    }
    unsafe { libc::close(fd) };
    0
}

/// Runs a command to its end (bounded: wait_pid reaps it, SIGKILL after 30 s); its pid.
#[allow(clippy::zombie_processes)]
pub fn run_cmd(mut cmd: std::process::Command) -> u32 {
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
    let pid = child.id();
    wait_pid(pid as libc::pid_t);
    pid
}
