//! The run manifest, `OUT/_runs/<run_id>.json`: what a run read, what each step
//! did, and how it ended. Written when the run ends, succeeded or failed.
//!
//! ```json
//! {"run_id": "...", "status": "succeeded", "error": null,
//!  "job": {"name": "demo", "file": "jobs/demo.toml", "sha256": "..."},
//!  "crmlake_version": "0.1.0", "run_date": "2026-12-01", "previous_run_date": "2026-11-30",
//!  "started_at": "...", "finished_at": "...", "lake": "file:///...", "out": "file:///...",
//!  "settings": {"target_partitions": null, "memory_limit_mb": 6006, "memory_limit_default": true, "max_file_mb": null,
//!               "currency": "GBP"},
//!  "inputs": [{"table": "transactions", "path": "file:///.../part-0.parquet",
//!              "size": 123, "last_modified": "...", "e_tag": "..."}],
//!  "steps": [{"table": "clean_transactions", "kind": "table", "status": "succeeded",
//!             "sql": "...", "rows_in": 541909, "rows_out": 392692,
//!             "rejected": {"cancellation": 9288}, "rejected_total": 9288,
//!             "warnings": {}, "seconds": 1.2, "peak_rss_bytes": 123456789, "spilled_bytes": 0,
//!             "output": ".../clean_transactions/run_date=2026-12-01/",
//!             "rejects_output": ".../_rejects/clean_transactions/run_date=2026-12-01/",
//!             "model_version": null, "model_metrics": null, "error": null, "report": null}],
//!  "alerts": [{"check": "nps_floor", "segment": null, "metric": "nps", "value": 12.5,
//!              "target": 30.0, "rule": "min", "severity": "fail", "message": "..."}],
//!  "alerts_output": ".../alerts/run_date=2026-12-01/",
//!  "notify": {"command": "...", "status": "succeeded", "exit_code": 0, "error": null, "seconds": 0.1},
//!  "incremental": [{"table": "feedback", "new_files": 1, "consumed_before": 3, "rewritten": []}]}
//! ```
//!
//! `report` is the step's declared report kind (`crate::report`), null when
//! the job gave none.
//! `peak_rss_bytes` is the process's peak resident memory during the step
//! (Linux: the high-water mark is reset before each step; null elsewhere);
//! `spilled_bytes` what its sorts, joins and aggregations spilled to disk to
//! stay under `settings.memory_limit_mb`.
//! `warnings` counts what a step let through with a change, by kind:
//! `text_truncated` is the number of texts the text functions read only the
//! first 64 KiB of (counted in this process: on `--cluster`, executors in
//! other processes log it but it is not counted here).
//! URLs are shown without user, password or query, so credentials never
//! reach a manifest.

use std::collections::BTreeMap;

use serde::Serialize;

/// The job that ran.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

/// Engine settings in force.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsInfo {
    pub target_partitions: Option<usize>,
    /// The pool the run had (the job's setting or the default).
    pub memory_limit_mb: Option<usize>,
    /// Whether that was the default (the job set none).
    pub memory_limit_default: bool,
    pub max_file_mb: Option<u64>,
    /// `settings.currency`, for the run report's money.
    pub currency: Option<String>,
}

/// One input file of the lake.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub table: String,
    pub path: String,
    pub size: u64,
    pub last_modified: String,
    pub e_tag: Option<String>,
}

impl InputFile {
    /// Lake file `f` of table `table`.
    pub fn of(table: &str, f: &crate::lake::LakeFile) -> InputFile {
        InputFile {
            table: table.to_string(),
            path: f.url.clone(),
            size: f.size,
            last_modified: f
                .last_modified
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e_tag: f.e_tag.clone(),
        }
    }
}

/// What an incremental input gave a run (the manifest's `incremental`).
#[derive(Debug, Clone, Serialize)]
pub struct InputRecord {
    pub table: String,
    /// Files read by this run.
    pub new_files: usize,
    /// Files an earlier run consumed, not read again.
    pub consumed_before: usize,
    /// Files consumed before with another version (rewritten in place),
    /// read again.
    pub rewritten: Vec<String>,
}

/// What one step did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepRecord {
    pub table: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub sql: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rejected: BTreeMap<String, u64>,
    pub rejected_total: u64,
    pub warnings: BTreeMap<String, u64>,
    pub seconds: f64,
    pub peak_rss_bytes: Option<u64>,
    pub spilled_bytes: u64,
    pub output: Option<String>,
    pub rejects_output: Option<String>,
    pub model_version: Option<i64>,
    pub model_metrics: Option<serde_json::Value>,
    pub error: Option<String>,
    /// The step's `report` kind, when the job declared one.
    pub report: Option<String>,
}

/// The whole manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub run_id: String,
    pub status: &'static str,
    pub error: Option<String>,
    pub job: JobInfo,
    pub crmlake_version: &'static str,
    pub run_date: String,
    /// This job's latest successful run before this one (`${previous_run_date}`).
    pub previous_run_date: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub lake: String,
    pub out: String,
    pub settings: SettingsInfo,
    pub inputs: Vec<InputFile>,
    pub steps: Vec<StepRecord>,
    /// The `[[checks]]` that fired ([`super::checks`]).
    pub alerts: Vec<super::checks::Alert>,
    /// Where the `alerts` table went; None without checks.
    pub alerts_output: Option<String>,
    /// What became of `settings.notify`; None when it did not run.
    pub notify: Option<super::checks::NotifyRecord>,
    /// Each incremental input's new, already consumed and rewritten files
    /// (`super::incremental`); empty for a job without one.
    pub incremental: Vec<InputRecord>,
}

/// Now as an RFC 3339 UTC timestamp.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Start measuring a step's peak memory (Linux: reset the process's
/// resident-memory high-water mark).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", b"5");
}

/// The process's peak resident memory since [`reset_peak_rss`], in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// SHA-256 of `text`, hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
