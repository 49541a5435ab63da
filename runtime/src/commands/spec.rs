use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let dir = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let mut spec = if args.rootless {
        Spec::rootless(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
    } else {
        Spec::default()
    };
    // As `runc spec`: the process has a terminal (oci-spec's default has none), so that
    // `run` gives a shell in the foreground and `run -d` asks for --console-socket.
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(true));
    }
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
