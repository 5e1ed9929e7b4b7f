//! Helpers shared by the integration tests: run the built `crmlake` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root: CARGO_MANIFEST_DIR as cargo sets it when running the
/// test (so a binary reused from another checkout's build reads this one),
/// else as it was at build time.
pub fn root() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
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

/// `crmlake sql --lake LAKE EXTRA... --format csv -c SQL`.
pub fn lake_sql(lake: &Path, extra: &[&str], sql: &str) -> Output {
    let mut args = vec!["sql", "--lake", lake.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "csv", "-c", sql]);
    crmlake(&args)
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

/// A 2-worker runtime for tests that drive a DataFusion session in process.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A session with crmlake's functions and `partitions` target partitions;
/// file scans are split even for small files, so aggregate partial states
/// always merge.
pub fn udf_session(partitions: usize) -> datafusion::prelude::SessionContext {
    let config = datafusion::prelude::SessionConfig::new()
        .with_target_partitions(partitions)
        .set_usize("datafusion.optimizer.repartition_file_min_size", 1024);
    let ctx = datafusion::prelude::SessionContext::new_with_config(config);
    crmlake_udfs::register_all(&ctx).unwrap();
    ctx
}

/// Run `sql` and collect its batches; a failure panics with the SQL.
pub async fn query(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> Vec<datafusion::arrow::array::RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The message of the error planning or running `sql` gives; empty when it
/// runs.
pub async fn query_error(ctx: &datafusion::prelude::SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => df
            .collect()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    }
}

/// Write job file `name` with `text` into `dir`; its path.
pub fn write_job(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `crmlake run JOB --lake LAKE --out OUT --run-date DATE EXTRA...`.
pub fn run_job_on(job: &Path, lake: &str, out: &Path, date: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--lake",
        lake,
        "--out",
        out.to_str().unwrap(),
        "--run-date",
        date,
    ];
    args.extend_from_slice(extra);
    crmlake(&args)
}

/// Every manifest under `out/_runs/`, oldest first (run ids sort by time).
pub fn manifests(out: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("_runs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// CSV text (no quoted commas) as rows of column -> field.
pub fn csv_maps(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Every column of `expected` (a pandas fixture) equals crmlake's `got`,
/// row by row in the same order: both empty (NULL/NaN), or numbers within
/// 1e-9 (relative to the larger of 1 and the value), or the same text.
pub fn assert_rows_match(got: &str, expected: &str, what: &str) {
    let (got, expected) = (csv_maps(got), csv_maps(expected));
    assert_eq!(got.len(), expected.len(), "{what}: row count");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        for (column, want) in e {
            let have = g
                .get(column)
                .unwrap_or_else(|| panic!("{what}: crmlake has no column {column}"));
            let same = match (have.parse::<f64>(), want.parse::<f64>()) {
                _ if have.is_empty() || want.is_empty() => have.is_empty() && want.is_empty(),
                (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                _ => have == want,
            };
            assert!(
                same,
                "{what}: row {i} ({e:?}) column {column}: crmlake {have}, pandas {want}"
            );
        }
    }
}

/// The sample lake's feedback with the fixture's vaderSentiment scores as
/// its `sentiment` column, then `tail` (SQL using the table `scored`).
pub fn with_reference_sentiment(tail: &str) -> String {
    let scores = root().join("tests/fixtures/feedback/vader_scores.csv");
    format!(
        "CREATE EXTERNAL TABLE vader STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); \
         CREATE VIEW scored AS SELECT f.*, CAST(v.sentiment AS DOUBLE) AS sentiment \
           FROM feedback f JOIN vader v ON f.feedback_id = CAST(v.feedback_id AS VARCHAR); {tail}",
        scores.display()
    )
}

/// A Python that imports `modules` (e.g. "duckdb, pyarrow"): $CRMLAKE_PYTHON,
/// else python3. `.ci/run` installs what the tests need, so under CI a
/// missing one fails the test; elsewhere the check is skipped, saying so.
pub fn python_with(modules: &str, check: &str) -> Option<String> {
    let candidates = [
        std::env::var("CRMLAKE_PYTHON").ok(),
        Some("python3".to_string()),
    ];
    for c in candidates.into_iter().flatten() {
        let found = Command::new(&c)
            .args(["-c", &format!("import {modules}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no python3 with {modules}: .ci/run must install them"
    );
    eprintln!("SKIPPED {check}: no python3 with {modules}");
    None
}
