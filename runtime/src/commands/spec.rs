use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Spec};

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let dir = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = if args.rootless {
        Spec::rootless(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
    } else {
        runc_default()?
    };
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// The spec `runc spec` writes (runc 1.1): oci-spec's default with runc's differences — a
/// terminal, hostname "runc", no cgroup namespace, no inheritable capabilities, a deny-all
/// device rule, no annotations. Tools and runc's own tests edit this default and rely on them.
fn runc_default() -> Result<Spec> {
    let mut spec = Spec::default();
    spec.set_hostname(Some("runc".to_string())).set_annotations(None);
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(true));
        if let Some(mut caps) = process.capabilities().clone() {
            caps.set_inheritable(None);
            process.set_capabilities(Some(caps));
        }
    }
    if let Some(linux) = spec.linux_mut() {
        if let Some(namespaces) = linux.namespaces_mut() {
            namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Cgroup);
        }
        let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build()?;
        linux.set_resources(Some(LinuxResourcesBuilder::default().devices(vec![deny_all]).build()?));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_runcs() {
        let spec = runc_default().unwrap();
        let value = serde_json::to_value(&spec).unwrap();
        assert_eq!(value["process"]["terminal"], true);
        assert_eq!(value["hostname"], "runc");
        assert!(value["process"]["capabilities"].get("inheritable").is_none());
        assert!(value.get("annotations").is_none());
        let namespaces: Vec<&str> =
            value["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(namespaces, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(value["linux"]["resources"]["devices"], serde_json::json!([{"allow": false, "access": "rwm"}]));
    }
}
