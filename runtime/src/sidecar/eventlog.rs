//! The event log file with a size cap: `<id>.jsonl` is rotated to `<id>.jsonl.1` (and `.1`
//! to `.2`, ...) before a line would take it past `max_file_bytes`, and only `keep` rotated
//! files are kept, so the log never takes more than `(keep + 1) * max_file_bytes` on disk.
//! The limits are the operator's (`--cgfw-log-max-mib`, `--cgfw-log-keep`), never the
//! container's.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Defaults: 16 MiB files, 3 rotated ones kept: at most 64 MiB per container.
pub const DEFAULT_MAX_FILE_MIB: u64 = 16;
pub const DEFAULT_KEEP: u32 = 3;
/// Most rotated files an operator may ask to keep (and how many stale ones a new log removes).
pub const MAX_KEEP: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLimits {
    pub max_file_bytes: u64,
    pub keep: u32,
}

impl Default for LogLimits {
    fn default() -> LogLimits {
        LogLimits { max_file_bytes: DEFAULT_MAX_FILE_MIB << 20, keep: DEFAULT_KEEP }
    }
}

impl LogLimits {
    /// The most the log can take on disk.
    #[cfg(test)]
    pub fn cap_bytes(&self) -> u64 {
        self.max_file_bytes.saturating_mul(u64::from(self.keep) + 1)
    }
}

/// `<log>.N`: the Nth rotated file (1 = the most recent).
pub fn rotated_path(log: &Path, n: u32) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

pub struct RotatingLog {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    written: u64,
    limits: LogLimits,
}

impl RotatingLog {
    /// Starts a new log at `path`: the file truncated, rotated files of an earlier container
    /// of the same id removed.
    pub fn create(path: &Path, limits: LogLimits) -> io::Result<RotatingLog> {
        for n in 1..=MAX_KEEP {
            match std::fs::remove_file(rotated_path(path, n)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let file = open_truncated(path)?;
        Ok(RotatingLog { path: path.to_path_buf(), file, written: 0, limits })
    }

    /// Writes one line (`line` without its newline). A line that does not fit the current
    /// file goes to a fresh one; if rotating fails the line is not written (the cap holds).
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.written > 0 && self.written + len > self.limits.max_file_bytes {
            self.rotate()?;
        }
        if len > self.limits.max_file_bytes {
            return Err(io::Error::other("event longer than the log file size limit"));
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        match self.file.write_all(&buf) {
            Ok(()) => {
                self.written += len;
                Ok(())
            }
            Err(e) => {
                // A part may have been written (full disk): count what the file holds.
                self.written = self.file.metadata().map(|m| m.len()).unwrap_or(self.limits.max_file_bytes);
                Err(e)
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.limits.keep == 0 {
            // Nothing kept: start the file over (a new open: writes continue at its offset).
            self.file = open_truncated(&self.path)?;
        } else {
            for n in (1..self.limits.keep).rev() {
                match std::fs::rename(rotated_path(&self.path, n), rotated_path(&self.path, n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
            self.file = open_truncated(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).write(true).truncate(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cgfw-evlog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn total_bytes(log: &Path) -> u64 {
        let mut total = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        for n in 1..=MAX_KEEP + 1 {
            total += std::fs::metadata(rotated_path(log, n)).map(|m| m.len()).unwrap_or(0);
        }
        total
    }

    #[test]
    fn the_log_rotates_and_stays_under_its_cap() {
        let d = dir("rot");
        let path = d.join("c.jsonl");
        let limits = LogLimits { max_file_bytes: 1000, keep: 2 };
        let mut log = RotatingLog::create(&path, limits).unwrap();
        for i in 0..500 {
            log.write_line(format!("{{\"n\":{i:05},\"pad\":\"{}\"}}", "x".repeat(80)).as_bytes()).unwrap();
            assert!(total_bytes(&path) <= limits.cap_bytes());
        }
        for f in [path.clone(), rotated_path(&path, 1), rotated_path(&path, 2)] {
            let len = std::fs::metadata(&f).unwrap().len();
            assert!(len <= 1000 && len > 0, "{} has {len} bytes", f.display());
        }
        assert!(!rotated_path(&path, 3).exists(), "only 2 rotated files are kept");
        // The newest lines are in the current file, the one before in .1, whole lines only.
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.ends_with("\"}\n") && current.contains("\"n\":00499"));
        let older = std::fs::read_to_string(rotated_path(&path, 1)).unwrap();
        let last_older: u32 = older.lines().last().unwrap()[5..10].parse().unwrap();
        let first_current: u32 = current.lines().next().unwrap()[5..10].parse().unwrap();
        assert_eq!(last_older + 1, first_current);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_new_log_removes_the_rotated_files_of_an_old_one() {
        let d = dir("stale");
        let path = d.join("c.jsonl");
        std::fs::write(rotated_path(&path, 1), "old\n").unwrap();
        std::fs::write(rotated_path(&path, 7), "old\n").unwrap();
        std::fs::write(&path, "old\n").unwrap();
        let mut log = RotatingLog::create(&path, LogLimits::default()).unwrap();
        log.write_line(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert!(!rotated_path(&path, 1).exists() && !rotated_path(&path, 7).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn keep_zero_truncates_in_place() {
        let d = dir("keep0");
        let path = d.join("c.jsonl");
        let mut log = RotatingLog::create(&path, LogLimits { max_file_bytes: 100, keep: 0 }).unwrap();
        for _ in 0..50 {
            log.write_line(&[b'y'; 30]).unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        }
        assert!(!rotated_path(&path, 1).exists());
        assert!(log.write_line(&[b'z'; 200]).is_err(), "a line longer than a file is refused");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
