use std::process::Command;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;
use libcontainer::container::Container;

use crate::cli::GlobalOpts;
use crate::container_ref;

/// All pids in the container's cgroup.
pub(crate) fn container_pids(container: &Container) -> Result<Vec<i32>> {
    let manager = super::cgroup_manager(container)?;
    Ok(manager.get_all_pids()?.iter().map(|p| p.as_raw()).collect())
}

pub fn ps(global: &GlobalOpts, args: liboci_cli::Ps) -> Result<()> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    let pids = container_pids(&container)?;
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let options = if args.ps_options.is_empty() { vec!["-ef".to_string()] } else { args.ps_options };
            let output = Command::new("ps").args(&options).output().context("running ps")?;
            if !output.status.success() {
                bail!("ps {}: {}", options.join(" "), String::from_utf8_lossy(&output.stderr).trim());
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_column = header
                .split_whitespace()
                .position(|c| c == "PID")
                .context("couldn't find PID field in ps output")?;
            println!("{header}");
            for line in lines {
                let pid = line.split_whitespace().nth(pid_column).and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
        }
        other => bail!("invalid format option {other:?}"),
    }
    Ok(())
}
