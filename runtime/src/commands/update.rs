use std::io::Read;

use anyhow::{Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use crate::cli::GlobalOpts;
use crate::container_ref;

/// Flags that map onto libcontainer's resource controllers; the rest are refused clearly.
pub fn update(global: &GlobalOpts, args: liboci_cli::Update) -> Result<()> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    let unsupported = [
        ("--blkio-weight", args.blkio_weight.is_some()),
        ("--cpu-rt-period", args.cpu_rt_period.is_some()),
        ("--cpu-rt-runtime", args.cpu_rt_runtime.is_some()),
        ("--l3-cache-schema", args.l3_cache_schema.is_some()),
        ("--mem-bw-schema", args.mem_bw_schema.is_some()),
    ];
    if let Some((flag, _)) = unsupported.iter().find(|(_, set)| *set) {
        anyhow::bail!("update: {flag} is not supported by cgfw-runc");
    }
    let resources: LinuxResources = match &args.resources {
        Some(path) => {
            let mut text = String::new();
            if path.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            }
            serde_json::from_str(&text).context("parsing resources JSON")?
        }
        None => {
            let mut builder = LinuxResourcesBuilder::default();
            let mut cpu = LinuxCpuBuilder::default();
            let mut cpu_set = false;
            if let Some(v) = args.cpu_period { cpu = cpu.period(v); cpu_set = true; }
            if let Some(v) = args.cpu_quota { cpu = cpu.quota(v as i64); cpu_set = true; }
            if let Some(v) = args.cpu_share { cpu = cpu.shares(v); cpu_set = true; }
            if let Some(v) = &args.cpuset_cpus { cpu = cpu.cpus(v.clone()); cpu_set = true; }
            if let Some(v) = &args.cpuset_mems { cpu = cpu.mems(v.clone()); cpu_set = true; }
            if cpu_set {
                builder = builder.cpu(cpu.build()?);
            }
            let mut memory = LinuxMemoryBuilder::default();
            let mut memory_set = false;
            if let Some(v) = args.memory { memory = memory.limit(v as i64); memory_set = true; }
            if let Some(v) = args.memory_reservation { memory = memory.reservation(v as i64); memory_set = true; }
            if let Some(v) = args.memory_swap { memory = memory.swap(v); memory_set = true; }
            if memory_set {
                builder = builder.memory(memory.build()?);
            }
            if let Some(v) = args.pids_limit {
                builder = builder.pids(LinuxPidsBuilder::default().limit(v).build()?);
            }
            builder.build()?
        }
    };
    let manager = super::cgroup_manager(&container)?;
    manager.apply(&ControllerOpt {
        resources: &resources,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    })?;
    Ok(())
}
