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
mod sidecar;
mod signals;

use clap::Parser;

fn main() {
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
