//! runc-shaped logging. containerd's shim and conmon pass `--log FILE --log-format json` and
//! read error lines back from that file, so errors are written as logrus does:
//! `{"level":"error","msg":"…","time":"RFC3339"}` (json) or `time="…" level=error msg="…"` (text).
//! As in runc, a fatal error also goes to stderr in plain text when the log is a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

use crate::cli::GlobalOpts;

struct Sink {
    file: Option<Mutex<File>>,
    json: bool,
}

static SINK: OnceLock<Sink> = OnceLock::new();

pub fn init(global: &GlobalOpts) -> Result<()> {
    let file = match &global.log {
        // runc treats /dev/stderr as "no log file".
        Some(path) if path.as_os_str() != "/dev/stderr" => Some(Mutex::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?,
        )),
        _ => None,
    };
    let _ = SINK.set(Sink { file, json: global.log_format == "json" });
    if global.debug {
        // libcontainer reports through `tracing`; forward its messages in the same shape.
        let _ = tracing_subscriber::registry().with(LogrusLayer { max: Level::DEBUG }).try_init();
    }
    Ok(())
}

fn sink() -> &'static Sink {
    SINK.get_or_init(|| Sink { file: None, json: false })
}

fn format_line(level: &str, msg: &str, json: bool) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if json {
        serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
    } else {
        format!("time={time:?} level={level} msg={msg:?}")
    }
}

/// Writes one log line to the log file, or to stderr when there is none.
pub fn log(level: &str, msg: &str) {
    let sink = sink();
    let line = format_line(level, msg, sink.json);
    match &sink.file {
        Some(file) => {
            if let Ok(mut file) = file.lock() {
                let _ = writeln!(file, "{line}");
            }
        }
        None => eprintln!("{line}"),
    }
}

pub fn warn(msg: &str) {
    log("warning", msg);
}

/// Reports the error that ends the process.
pub fn fatal(err: &anyhow::Error) {
    let msg = format!("{err:#}");
    log("error", &msg);
    if sink().file.is_some() {
        eprintln!("{msg}");
    }
}

struct LogrusLayer {
    max: Level,
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for LogrusLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let level = *event.metadata().level();
        if level > self.max {
            return;
        }
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        let name = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            _ => "debug",
        };
        log(name, visitor.0.trim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_logrus_fields() {
        let line = format_line("error", "container \"x\" does not exist", true);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "container \"x\" does not exist");
        assert!(chrono::DateTime::parse_from_rfc3339(value["time"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn text_lines_quote_the_message() {
        let line = format_line("error", "a \"b\"", false);
        assert!(line.contains("level=error msg=\"a \\\"b\\\"\""), "{line}");
    }
}
