use std::fs;

use anyhow::{bail, Result};

use super::state::RuncState;
use crate::cli::GlobalOpts;
use crate::container_ref;

pub fn list(global: &GlobalOpts, args: liboci_cli::List) -> Result<()> {
    let mut states = Vec::new();
    if let Ok(entries) = fs::read_dir(&global.root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if !entry.path().join("state.json").exists() {
                continue;
            }
            // A container deleted while we list is simply not listed.
            if let Ok(container) = container_ref::load(&global.root, id) {
                states.push(RuncState::of(&container));
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" if args.quiet => states.iter().for_each(|s| println!("{}", s.id)),
        "table" => print!("{}", table(&states)),
        other => bail!("invalid format option {other:?}"),
    }
    Ok(())
}

/// Columns aligned like runc's tabwriter (min width 12, padding 3).
fn table(states: &[RuncState]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for s in states {
        rows.push([
            s.id.clone(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap_or(0).max(12))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
