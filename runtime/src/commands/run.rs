use anyhow::{Context, Result};
use signal_hook::iterator::Signals;

use super::create::{create_container, CreateOptions};
use super::delete::delete_container;
use crate::cli::GlobalOpts;

/// Signals a foreground `run` passes on to the container's init, as runc does (not SIGWINCH:
/// runc resizes the container's terminal instead, which signals its foreground group).
const FORWARDED: &[i32] = &[
    libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2,
    libc::SIGCONT, libc::SIGALRM,
];

pub fn run(global: &GlobalOpts, args: liboci_cli::Run) -> Result<i32> {
    let created = create_container(
        global,
        &CreateOptions {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: args.detach,
        },
    )?;
    let mut container = created.container;
    // `run -t` without --console-socket: we relay the container's terminal (as runc).
    let relay = created.console.map(crate::console::Relay::start);
    if let Err(err) = container.start() {
        drop(relay);
        let _ = delete_container(global, &args.container_id, true);
        return Err(err).context("starting container");
    }
    if args.detach {
        return Ok(0);
    }

    // The init is our direct child (libcontainer clones it as a sibling of its intermediate
    // process), so a blocking waitpid on it cannot miss its exit, unlike a SIGCHLD-driven
    // loop that races with the child exiting before the signal mask is set.
    let init = container.pid().context("started container has no init pid")?;
    let mut signals = Signals::new(FORWARDED).context("installing signal forwarding")?;
    let forwarder = signals.handle();
    let forward_thread = std::thread::spawn(move || {
        for sig in signals.forever() {
            // SAFETY: kill(2) on the init pid we own; errors (already gone) are irrelevant.
            unsafe { libc::kill(init.as_raw(), sig) };
        }
    });
    let code = super::wait_for_exit(init);
    forwarder.close();
    let _ = forward_thread.join();
    if let Some(relay) = relay {
        relay.finish();
    }
    let code = code?;
    if !args.keep {
        // The container's exit code is what the caller asked for; a cleanup problem is logged.
        if let Err(err) = delete_container(global, &args.container_id, true) {
            crate::logging::warn(&format!("deleting container {}: {err:#}", args.container_id));
        }
    }
    Ok(code)
}
