use std::collections::HashMap;

use anyhow::{Context, Result};
use policy::Policy;

use crate::cli::PolicyCheckArgs;

/// `cgfw-runc policy check BUNDLE | --annotations FILE [--query NAME|IP ...]`: validates and
/// explains a policy without creating anything. Exit 0 valid, 1 invalid.
pub fn check(args: PolicyCheckArgs) -> Result<i32> {
    let spec = args.bundle.as_deref().map(super::load_spec).transpose()?;
    let annotations: HashMap<String, String> = match (&spec, &args.annotations) {
        (Some(spec), _) => spec.annotations().clone().unwrap_or_default(),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: expected a JSON object of string annotations", file.display()))?
        }
        (None, None) => unreachable!("clap requires a bundle or --annotations"),
    };
    let policy = match Policy::from_annotations(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(Some(policy)) => policy,
        Ok(None) => {
            println!("no cgfw.io/* annotations: the container runs without a firewall, exactly as under runc");
            return Ok(0);
        }
        Err(err) => {
            eprintln!("invalid policy: {err}");
            return Ok(1);
        }
    };
    println!("{}", policy.explain());
    // With a bundle, what `create` will say about the process's capabilities.
    if let Some(spec) = &spec {
        match crate::capabilities::check_container(spec, &policy) {
            Ok(warnings) if warnings.is_empty() => {
                println!("Capabilities: the process can hold none that defeats the firewall.\n");
            }
            Ok(warnings) => {
                for warning in warnings {
                    println!("Capabilities: create warns: {warning}");
                }
                println!();
            }
            Err(err) => {
                eprintln!("create would refuse this bundle: {err:#}");
                return Ok(1);
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&policy)?);
    for query in &args.query {
        let decision = match query.parse::<std::net::IpAddr>() {
            Ok(ip) => policy.decide_ip(ip),
            Err(_) => policy.decide_domain(query),
        };
        println!("{query}: {} ({})", decision.verdict.as_str(), decision.rule_name());
    }
    Ok(0)
}
