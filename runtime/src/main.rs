//! `cgfw-runc`: a runc-compatible OCI runtime built on youki's libcontainer that confines a
//! container's network egress with cgroup eBPF programs when its bundle carries a `cgfw.io/*`
//! policy. Without such an annotation it behaves like runc.

mod capabilities;
mod cgroup2;
mod cli;
mod commands;
mod console;
mod container_ref;
mod firewall;
mod logging;
mod metrics;
mod netns;
mod packet_guard;
mod sidecar;
mod signals;

use clap::FromArgMatches;

fn main() {
    // SIGPIPE stays ignored (Rust's default) in the runtime; containers get it back at its
    // default right before exec (commands::ContainerExecutor), as under runc. Like runc (Go),
    // only a write to a closed stdout/stderr ends the runtime by SIGPIPE (`list | head`):
    // Rust's print macros panic on EPIPE, and this hook turns that panic into the signal.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to std") && text.contains("Broken pipe") {
            // SAFETY: restoring the default action and raising it ends the process at once.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
        }
        default_hook(info)
    }));
    let cli = match cli::command().try_get_matches().and_then(|m| cli::Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(err) => {
            // An unknown verb (`foo`, `foo -h`, `help foo`) is reported as runc reports it,
            // with runc's status 3.
            if err.kind() == clap::error::ErrorKind::InvalidSubcommand {
                if let Some(clap::error::ContextValue::String(name)) =
                    err.get(clap::error::ContextKind::InvalidSubcommand)
                {
                    logging::log("error", &format!("No help topic for '{name}'"));
                    std::process::exit(3);
                }
            }
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
