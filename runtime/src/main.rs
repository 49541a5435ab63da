//! `cgfw-runc`: a runc-compatible OCI runtime built on youki's libcontainer that confines a
//! container's network egress with cgroup eBPF programs when its bundle carries a `cgfw.io/*`
//! policy. Without such an annotation it behaves like runc.

mod cgroup2;
mod cli;
mod commands;
mod container_ref;
mod firewall;
mod logging;
mod netns;
mod packet_guard;
mod sidecar;
mod signals;

use clap::Parser;

fn main() {
    // Rust starts with SIGPIPE ignored; runc does not, and the disposition is inherited across
    // exec by every container process (`yes | head` would then see EPIPE instead of dying).
    // Default it back; the sidecar, which writes to client sockets, ignores it again itself.
    // SAFETY: setting a signal disposition to its default at startup, before any threads.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with status 0; usage errors exit 1 like runc.
            let code = if err.use_stderr() { 1 } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    if let Err(err) = logging::init(&cli.global) {
        eprintln!("cgfw-runc: {err:#}");
        std::process::exit(1);
    }
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            logging::fatal(&err);
            1
        }
    };
    std::process::exit(code);
}
