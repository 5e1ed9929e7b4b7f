//! Helpers shared by the integration tests: run the built `crmlake` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_lake() -> String {
    root().join("data/lake").display().to_string()
}

/// `crmlake ARGS` in `dir`, without a terminal.
pub fn crmlake_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crmlake"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("crmlake binary runs")
}

pub fn crmlake(args: &[&str]) -> Output {
    crmlake_in(&root(), args)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "crmlake failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Assert exit status 1 with a one-line `crmlake: ...` error containing every
/// `needle`; return that line.
pub fn user_error(o: Output, needles: &[&str]) -> String {
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1\nstdout:\n{}\nstderr:\n{err}",
        stdout(&o)
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("crmlake:")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{err}");
    assert!(!err.contains("panicked"), "panic reached the user:\n{err}");
    let line = lines[0].to_string();
    for n in needles {
        assert!(line.contains(n), "error line lacks '{n}': {line}");
    }
    line
}
