//! `cgfw-runc metrics`: the firewall's figures for Prometheus (format in crate::metrics).
//! Reads what is already on disk — each firewalled container's record under --root and the
//! report its sidecar rewrites about once a second — and asks no sidecar anything, so it stays
//! cheap when node_exporter's textfile collector is fed every few seconds.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{GlobalOpts, MetricsArgs};
use crate::metrics::{render, ContainerFigures, ReportFigures, Sidecar};
use crate::sidecar::recorder::report_path;
use crate::{container_ref, firewall, logging};

pub fn metrics(global: &GlobalOpts, args: MetricsArgs) -> Result<()> {
    let text = render(&collect(&global.root, &global.cgfw_log_dir));
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Every firewalled container under `root`, sorted by id. A container deleted meanwhile is
/// left out; one whose report is missing or unreadable is kept, without report, and warned of.
fn collect(root: &Path, log_dir: &Path) -> Vec<ContainerFigures> {
    let mut containers = Vec::new();
    let Ok(entries) = fs::read_dir(root) else { return containers };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str() else { continue };
        if container_ref::validate_id(id).is_err() {
            continue;
        }
        let Some(record) = firewall::Record::load(&entry.path()) else { continue };
        if !record.firewalled {
            continue;
        }
        let sidecar = match record.sidecar {
            Some(process) if process.is_alive() => Sidecar::Running,
            Some(_) => Sidecar::Dead,
            None => Sidecar::Starting,
        };
        let path = report_path(log_dir, id);
        let report = match fs::read(&path) {
            Ok(bytes) => ReportFigures::parse(&bytes)
                .map_err(|e| logging::warn(&format!("metrics: container {id}: report {} unreadable: {e}", path.display())))
                .ok(),
            // The sidecar writes its first report before it reports ready: none while starting.
            Err(_) if sidecar == Sidecar::Starting => None,
            Err(e) => {
                logging::warn(&format!("metrics: container {id}: no report at {}: {e}", path.display()));
                None
            }
        };
        containers.push(ContainerFigures { id: id.to_string(), sidecar, report });
    }
    containers.sort_by(|a, b| a.id.cmp(&b.id));
    containers
}

/// Writes `path` by a rename of a temporary file beside it, so a reader (node_exporter) sees
/// the old file or the new one, never half of one. Readable by all (0644), like
/// `cgfw-runc metrics > DIR/cgfw.prom.$$ && mv DIR/cgfw.prom.$$ DIR/cgfw.prom` makes it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file_name = path.file_name().with_context(|| format!("--output {}: not a file name", path.display()))?;
    // Hidden and not ending in .prom: the textfile collector reads only *.prom.
    let tmp = path.with_file_name(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<()> {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        // Whatever the umask: node_exporter may run as another user.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
