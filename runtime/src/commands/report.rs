use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::{GlobalOpts, ReportArgs};
use crate::sidecar::recorder::{render_table, report_path, Report};
use crate::{container_ref, firewall};

/// Prints the audit report, for a running container (asking its sidecar to write it out
/// first) or a deleted one (the report its sidecar left at exit).
pub fn report(global: &GlobalOpts, args: ReportArgs) -> Result<()> {
    let id = match (&args.container_id, &args.pod) {
        (_, Some(pod)) => return pod_reports(global, pod, &args.format),
        (Some(id), None) => id.clone(),
        (None, None) => anyhow::bail!("a container id or --pod NAMESPACE/NAME is needed"),
    };
    let path = report_path(&global.cgfw_log_dir, &id);
    let dir = container_ref::container_dir(&global.root, &id)?;
    let record = firewall::Record::load(&dir);
    if let Some(warning) = record.as_ref().and_then(firewall::dead_sidecar_warning) {
        let _ = firewall::note_in_report(&global.cgfw_log_dir, &id, &warning);
    }
    if let Some(sidecar) = record.and_then(|r| r.sidecar).filter(|s| s.is_alive()) {
        // The sidecar answers SIGUSR1 by writing the report anew (write + rename), so the
        // file at `path` becomes a different inode. An mtime would not do: two writes within
        // one coarse clock tick carry the same time.
        let inode = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
        let before = inode(&path);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(sidecar.pid), nix::sys::signal::SIGUSR1);
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && inode(&path) == before {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let text = std::fs::read(&path).with_context(|| {
        format!("no firewall report for container {} ({}): it never had a cgfw.io policy", id, path.display())
    })?;
    let report: Report = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    match args.format.as_str() {
        "table" => print!("{}", render_table(&report)),
        _ => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}

/// The reports in the log dir whose workload is pod `NAMESPACE/NAME` (as written last: the
/// running containers' reports are at most a second or so old), oldest first. JSON: an array.
fn pod_reports(global: &GlobalOpts, pod: &str, format: &str) -> Result<()> {
    let (namespace, name) = pod
        .split_once('/')
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
        .with_context(|| format!("--pod {pod:?}: expected NAMESPACE/NAME"))?;
    let dir = &global.cgfw_log_dir;
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut reports: Vec<Report> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".report.json")))
        .filter_map(|e| serde_json::from_slice::<Report>(&std::fs::read(e.path()).ok()?).ok())
        .filter(|r| {
            r.workload.as_ref().is_some_and(|w| {
                w.namespace.as_deref() == Some(namespace) && w.pod.as_deref() == Some(name)
            })
        })
        .collect();
    if reports.is_empty() {
        anyhow::bail!("no firewall report of pod {namespace}/{name} in {}", dir.display());
    }
    reports.sort_by(|a, b| a.started.cmp(&b.started));
    match format {
        "table" => {
            for report in &reports {
                println!("{}", render_table(report));
            }
        }
        _ => println!("{}", serde_json::to_string_pretty(&reports)?),
    }
    Ok(())
}
