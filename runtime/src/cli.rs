//! Command line: runc's global flags and verbs. The verbs whose flags match runc's are taken
//! from youki's `liboci-cli`; `kill` is our own because runc's signal argument is optional.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_ROOT: &str = "/run/cgfw-runc";

/// The first line of `-h`, after "cgfw-runc - ": runc's, so that tools matching runc's help
/// (`runc - Open Container Initiative runtime`) find it.
const ABOUT: &str = "Open Container Initiative runtime (runc-compatible), with a per-container eBPF egress firewall";

#[derive(Parser, Debug)]
#[command(name = "cgfw-runc", about = ABOUT, disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Root directory for container state (tmpfs recommended)
    #[arg(long, global = true, default_value = DEFAULT_ROOT, env = "CGFW_RUNC_ROOT")]
    pub root: PathBuf,
    /// Log file for runtime messages (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroup management instead of cgroupfs
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; checkpoint/restore is not supported
    #[arg(long, global = true, hide = true)]
    pub criu: Option<PathBuf>,
    /// Accepted for runc compatibility (before the command, as runc takes it); ignored
    #[arg(long, hide = true, value_parser = ["true", "false", "auto"])]
    pub rootless: Option<String>,
    /// Directory for firewall event logs and audit reports
    #[arg(long, global = true, env = "CGFW_LOG_DIR", default_value = "/var/log/cgfw")]
    pub cgfw_log_dir: PathBuf,
    /// Size (MiB) at which a container's event log is rotated to <id>.jsonl.1
    #[arg(long, global = true, env = "CGFW_LOG_MAX_MIB", default_value_t = crate::sidecar::eventlog::DEFAULT_MAX_FILE_MIB,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub cgfw_log_max_mib: u64,
    /// Rotated event log files kept per container (the log takes at most (KEEP+1) x MAX_MIB)
    #[arg(long, global = true, env = "CGFW_LOG_KEEP", default_value_t = crate::sidecar::eventlog::DEFAULT_KEEP,
          value_parser = clap::value_parser!(u32).range(0..=crate::sidecar::eventlog::MAX_KEEP as i64))]
    pub cgfw_log_keep: u32,
}

/// The command line as runc presents it: `NAME:` / `   cgfw-runc <verb> - <about>` help pages
/// (tools and runc's tests read the second line), `-v`/`--version` printing the version,
/// commit and OCI runtime spec lines.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let template = |name: &str| {
        format!("NAME:\n   {name} - {{about}}\n\nUSAGE:\n   {{usage}}\n\n{{all-args}}{{after-help}}")
    };
    Cli::command()
        .help_template(template("cgfw-runc"))
        .version(version_text())
        .arg(
            clap::Arg::new("version")
                .short('v')
                .long("version")
                .action(clap::ArgAction::Version)
                .help("Print the version"),
        )
        .mut_subcommands(move |sub| {
            let name = format!("cgfw-runc {}", sub.get_name());
            sub.help_template(template(&name))
        })
}

/// `version ...`, `commit: ...`, `spec: ...` (clap prints it after the program name).
fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "version {}\ncommit: {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            option_env!("CGFW_RUNC_COMMIT").unwrap_or("unknown"),
            oci_spec::runtime::Spec::default().version()
        )
    })
}

impl GlobalOpts {
    /// The event log's size cap the operator chose.
    pub fn log_limits(&self) -> crate::sidecar::eventlog::LogLimits {
        crate::sidecar::eventlog::LogLimits { max_file_bytes: self.cgfw_log_max_mib << 20, keep: self.cgfw_log_keep }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (its process waits for `start`)
    Create(liboci_cli::Create),
    /// Start the user process of a created container
    Start(liboci_cli::Start),
    /// Print the state of a container as JSON
    State(liboci_cli::State),
    /// Send a signal to the container's init process (default TERM)
    Kill(KillArgs),
    /// Delete a container and everything the runtime made for it
    Delete(liboci_cli::Delete),
    /// Create and start a container, wait for it unless --detach
    Run(liboci_cli::Run),
    /// Run a new process inside a running container
    Exec(liboci_cli::Exec),
    /// List the processes of a container
    Ps(liboci_cli::Ps),
    /// List containers under --root
    List(liboci_cli::List),
    /// Freeze all processes of a container
    Pause(liboci_cli::Pause),
    /// Thaw a paused container
    Resume(liboci_cli::Resume),
    /// Print container events and resource statistics
    Events(EventsArgs),
    /// Print the features this runtime supports as JSON
    Features(liboci_cli::Features),
    /// Write a default config.json into the bundle
    Spec(liboci_cli::Spec),
    /// Update container resource limits
    Update(liboci_cli::Update),
    /// Print the firewall audit report of a container (running or deleted)
    Report(ReportArgs),
    /// Print the firewall's figures in the Prometheus text format (node_exporter textfile collector)
    Metrics(MetricsArgs),
    /// Policy tools
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Checkpoint a running container (not supported: cgfw-runc has no CRIU support)
    Checkpoint(NotSupportedArgs),
    /// Restore a container from a checkpoint (not supported: cgfw-runc has no CRIU support)
    Restore(NotSupportedArgs),
    /// Internal: the per-container firewall sidecar (started by `create`)
    #[command(hide = true)]
    Sidecar(SidecarArgs),
}

/// The arguments of a verb runc has and cgfw-runc does not implement: any runc flag is taken,
/// so the command fails with "not supported" rather than a usage error.
#[derive(Args, Debug)]
pub struct NotSupportedArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to all processes of the container
    #[arg(short, long)]
    pub all: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    /// Signal name (TERM, SIGTERM, RTMIN+3) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Stats collection interval, as a duration (5s, 500ms, 1m)
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Print the container's stats once and exit
    #[arg(long)]
    pub stats: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
}

/// Go-style durations as runc takes them: a number with ns, us, ms, s, m or h.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let split = raw.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("invalid duration {raw:?}"))?;
    let seconds = match unit {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration {raw:?}: missing or unknown unit")),
    };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("duration {raw} must be greater than 0"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[arg(required_unless_present = "pod", conflicts_with = "pod")]
    pub container_id: Option<String>,
    /// Every report (running or deleted containers) of this Kubernetes pod, NAMESPACE/NAME
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub pod: Option<String>,
    /// json or table
    #[arg(long, default_value = "json", value_parser = ["json", "table"])]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// Write to FILE atomically (a temporary file beside it, renamed), e.g.
    /// /var/lib/node_exporter/textfile/cgfw.prom; default: stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate and explain a policy without creating anything
    Check(PolicyCheckArgs),
}

#[derive(Args, Debug)]
pub struct PolicyCheckArgs {
    /// Bundle directory whose config.json annotations hold the policy
    #[arg(conflicts_with = "annotations", required_unless_present = "annotations")]
    pub bundle: Option<PathBuf>,
    /// A JSON file with an object of annotations
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Print the verdict and rule for this domain name or IP address
    #[arg(long)]
    pub query: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SidecarArgs {
    pub container_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_runc_takes_them() {
        assert_eq!(parse_duration("5s").unwrap(), std::time::Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), std::time::Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), std::time::Duration::from_secs(60));
        for bad in ["", "5", "s", "0s", "-1s", "1x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        command().debug_assert();
    }
}
