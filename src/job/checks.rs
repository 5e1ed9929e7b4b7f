//! Targets on a job's results: `[[checks]]`, the alerts they raise, and
//! the `notify` command that hears of them.
//!
//! ```toml
//! [[checks]]
//! name = "nps_floor"
//! sql = "SELECT nps FROM kpi_month WHERE complete ORDER BY period DESC LIMIT 1"
//! metric = "nps"      # the query's column holding the value
//! min = 30            # fires below 30 (not at 30)
//! severity = "fail"   # "warn" (default) or "fail": exit code 3
//! ```
//!
//! A check's query runs after every step has committed (it reads the
//! steps' tables) and returns one row, or one per segment with a `segment`
//! column. Each row fires when its value is below `min`, above `max`, or,
//! with `change_max`, when the absolute value of the column
//! `<metric>_change` (as `kpi_series` gives it) is above `change_max`. A
//! value exactly at its target does not fire. A NULL value, or a query
//! without rows, fires a `no_data` alert: a KPI without data is not a KPI
//! on target. A check listing cases (one row per customer to call, say)
//! sets `no_rows_ok = true`: no row means no case.
//!
//! Alerts are written as the table `alerts` (`OUT/alerts/run_date=D/`, or
//! the table named by `settings.alerts_table`; appended per run in an
//! incremental job; columns in [`schema`], empty when nothing fired)
//! through the same commit as the steps, listed in the manifest and the
//! run summary. With `notify = "command"` in `[settings]`, that command
//! runs once per run in which an alert fired (`sh -c`, in the working
//! directory), after the run has committed, with the alerts as JSON lines
//! on its standard input; its exit status is recorded in the manifest and a
//! failure is logged, never undoing the outputs. It runs at most once: a
//! run killed while it runs is not redone, and its manifest says `pending`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{CrmlakeError, Result};

/// How serious a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Recorded and printed; the run still exits 0.
    #[default]
    Warn,
    /// Recorded and printed; the run exits 3 after committing everything.
    Fail,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

/// One `[[checks]]` entry of a job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    pub sql: String,
    pub metric: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub change_max: Option<f64>,
    #[serde(default)]
    pub severity: Severity,
    /// A query without rows passes instead of firing `no_data`.
    #[serde(default)]
    pub no_rows_ok: bool,
}

/// A fired check, for one segment (or the whole when the query has no
/// `segment` column).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub check: String,
    pub segment: Option<String>,
    pub metric: String,
    /// The value (for `change_max`: the change); None for `no_data`.
    pub value: Option<f64>,
    /// The target crossed; None for `no_data`.
    pub target: Option<f64>,
    /// `min`, `max`, `change_max` or `no_data`.
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// Check the `[[checks]]` of job file `source`: names unique and
/// path-safe, at least one target, targets finite, min <= max.
pub fn validate(checks: &[Check], source: &str) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in checks.iter().enumerate() {
        let context = format!("job file '{source}': check {} ('{}')", i + 1, c.name);
        let name_ok = !c.name.is_empty()
            && c.name.len() <= 128
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !name_ok {
            return Err(CrmlakeError::user(format!(
                "{context}: name must be letters, digits, _ and -"
            )));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(CrmlakeError::user(format!(
                "{context}: two checks are named '{}'",
                c.name
            )));
        }
        if c.metric.trim().is_empty() {
            return Err(CrmlakeError::user(format!(
                "{context}: metric must name a column of the check's query"
            )));
        }
        if c.min.is_none() && c.max.is_none() && c.change_max.is_none() {
            return Err(CrmlakeError::user(format!(
                "{context}: give a target: min, max or change_max"
            )));
        }
        for (field, v) in [("min", c.min), ("max", c.max), ("change_max", c.change_max)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(CrmlakeError::user(format!(
                    "{context}: {field} must be a finite number"
                )));
            }
        }
        if let (Some(lo), Some(hi)) = (c.min, c.max) {
            if lo > hi {
                return Err(CrmlakeError::user(format!(
                    "{context}: min {lo} is above max {hi}"
                )));
            }
        }
        if c.change_max.is_some_and(|m| m < 0.0) {
            return Err(CrmlakeError::user(format!(
                "{context}: change_max must be >= 0 (it bounds the size of the change)"
            )));
        }
    }
    Ok(())
}

/// One row of a check's query: its segment, value and change.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub segment: Option<String>,
    pub value: Option<f64>,
    pub change: Option<f64>,
}

/// The alerts `check` raises on its query's rows.
pub fn evaluate(check: &Check, rows: &[Reading]) -> Vec<Alert> {
    let alert = |segment: &Option<String>, value, target, rule, message: String| Alert {
        check: check.name.clone(),
        segment: segment.clone(),
        metric: check.metric.clone(),
        value,
        target,
        rule,
        severity: check.severity,
        message,
    };
    let whose = |segment: &Option<String>| match segment {
        Some(s) => format!(" for segment '{s}'"),
        None => String::new(),
    };
    if rows.is_empty() {
        if check.no_rows_ok {
            return Vec::new();
        }
        return vec![alert(
            &None,
            None,
            None,
            "no_data",
            format!("{}: no data: the query returned no rows", check.metric),
        )];
    }
    let mut out = Vec::new();
    for r in rows {
        let Some(v) = r.value.filter(|v| !v.is_nan()) else {
            out.push(alert(
                &r.segment,
                None,
                None,
                "no_data",
                format!("{}{}: no data (NULL)", check.metric, whose(&r.segment)),
            ));
            continue;
        };
        if let Some(lo) = check.min.filter(|&lo| v < lo) {
            out.push(alert(
                &r.segment,
                Some(v),
                Some(lo),
                "min",
                format!(
                    "{}{} is {v}, below the minimum {lo}",
                    check.metric,
                    whose(&r.segment)
                ),
            ));
        }
        if let Some(hi) = check.max.filter(|&hi| v > hi) {
            out.push(alert(
                &r.segment,
                Some(v),
                Some(hi),
                "max",
                format!(
                    "{}{} is {v}, above the maximum {hi}",
                    check.metric,
                    whose(&r.segment)
                ),
            ));
        }
        if let Some(limit) = check.change_max {
            match r.change.filter(|c| !c.is_nan()) {
                None => out.push(alert(
                    &r.segment,
                    None,
                    Some(limit),
                    "no_data",
                    format!(
                        "{}_change{}: no data (NULL): no previous value to compare with",
                        check.metric,
                        whose(&r.segment)
                    ),
                )),
                Some(c) if c.abs() > limit => out.push(alert(
                    &r.segment,
                    Some(c),
                    Some(limit),
                    "change_max",
                    format!(
                        "{}{} changed by {c}, more than {limit}",
                        check.metric,
                        whose(&r.segment)
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    out
}

/// The columns of the `alerts` table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("check", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, true),
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("target", DataType::Float64, true),
        Field::new("rule", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
    ]))
}

/// `alerts` as a batch of [`schema`].
pub fn batch(alerts: &[Alert], run_id: &str) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Alert) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(alerts.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|a| a.check.clone()),
        Arc::new(StringArray::from_iter(
            alerts.iter().map(|a| a.segment.clone()),
        )),
        text(&|a| a.metric.clone()),
        Arc::new(Float64Array::from_iter(alerts.iter().map(|a| a.value))),
        Arc::new(Float64Array::from_iter(alerts.iter().map(|a| a.target))),
        text(&|a| a.rule.to_string()),
        text(&|a| a.severity.name().to_string()),
        text(&|_| run_id.to_string()),
        text(&|a| a.message.clone()),
    ];
    RecordBatch::try_new(schema(), columns)
        .map_err(|e| CrmlakeError::Internal(format!("alerts batch: {e}")))
}

/// The readings of a check's query result: its `metric` column (and
/// `segment`, `<metric>_change` where present), each cast to its type.
/// `context` names the check in errors.
pub fn readings(check: &Check, batches: &[RecordBatch], context: &str) -> Result<Vec<Reading>> {
    let mut out = Vec::new();
    let change_column = format!("{}_change", check.metric);
    for b in batches {
        let schema = b.schema();
        let column = |name: &str, t: &DataType| -> Result<Option<ArrayRef>> {
            match schema.index_of(name) {
                Ok(i) => cast(b.column(i), t).map(Some).map_err(|e| {
                    CrmlakeError::user(format!(
                        "{context}: column '{name}' cannot be read as {t}: {e}"
                    ))
                }),
                Err(_) => Ok(None),
            }
        };
        let Some(values) = column(&check.metric, &DataType::Float64)? else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(CrmlakeError::user(format!(
                "{context}: the query has no column '{}' (metric); its columns: {}",
                check.metric,
                names.join(", ")
            )));
        };
        let changes = column(&change_column, &DataType::Float64)?;
        if check.change_max.is_some() && changes.is_none() {
            return Err(CrmlakeError::user(format!(
                "{context}: change_max needs a column '{change_column}' in the query (kpi_series gives one per metric)"
            )));
        }
        let segments = column("segment", &DataType::Utf8)?;
        let values = values.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let changes = changes
            .as_ref()
            .map(|c| c.as_primitive::<datafusion::arrow::datatypes::Float64Type>());
        let segments = segments.as_ref().map(|s| s.as_string::<i32>());
        for row in 0..b.num_rows() {
            let get = |a: &datafusion::arrow::array::Float64Array| {
                (!a.is_null(row)).then(|| a.value(row))
            };
            out.push(Reading {
                segment: segments.and_then(|s| (!s.is_null(row)).then(|| s.value(row).to_string())),
                value: get(values),
                change: changes.and_then(get),
            });
        }
    }
    Ok(out)
}

/// What became of the `notify` command, for the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyRecord {
    pub command: String,
    /// `succeeded`, `failed` or `timed_out` (`pending` while it runs).
    pub status: &'static str,
    pub exit_code: Option<i32>,
    /// The end of its standard error, or why it could not start.
    pub error: Option<String>,
    pub seconds: f64,
}

impl NotifyRecord {
    /// The record of a command about to run (what a manifest says if the
    /// process dies while it runs).
    pub fn pending(command: &str) -> NotifyRecord {
        NotifyRecord {
            command: command.to_string(),
            status: "pending",
            exit_code: None,
            error: None,
            seconds: 0.0,
        }
    }
}

/// How long `notify` may take before it is stopped.
pub const NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Run `command` with `sh -c`, the alerts as JSON lines (with the run id
/// and date) on its standard input; wait up to [`NOTIFY_TIMEOUT`], then
/// stop it. Runs on a blocking thread of the runtime.
pub async fn notify(command: &str, alerts: &[Alert], run_id: &str, run_date: &str) -> NotifyRecord {
    let mut lines = String::new();
    for a in alerts {
        let mut v = serde_json::to_value(a).unwrap_or_default();
        v["run_id"] = run_id.into();
        v["run_date"] = run_date.into();
        lines += &v.to_string();
        lines.push('\n');
    }
    let command = command.to_string();
    let shown = command.clone();
    tokio::task::spawn_blocking(move || run_notify(&command, lines.as_bytes()))
        .await
        .unwrap_or_else(|e| NotifyRecord {
            command: shown,
            status: "failed",
            exit_code: None,
            error: Some(format!("notify thread: {e}")),
            seconds: 0.0,
        })
}

fn run_notify(command: &str, input: &[u8]) -> NotifyRecord {
    use std::io::{Read, Write};
    let started = std::time::Instant::now();
    let record = |status, exit_code, error: Option<String>| NotifyRecord {
        command: command.to_string(),
        status,
        exit_code,
        error,
        seconds: started.elapsed().as_secs_f64(),
    };
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return record("failed", None, Some(format!("cannot start: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not an error.
        let _ = stdin.write_all(input);
    }
    // Read standard error on its own thread so a chatty command cannot
    // block on a full pipe while we wait.
    let reader = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = e.read_to_string(&mut text);
            text
        })
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() < NOTIFY_TIMEOUT => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(None);
            }
            Err(e) => break Err(Some(e.to_string())),
        }
    };
    let stderr = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let tail: String = {
        let t = stderr.trim();
        let skip = t.chars().count().saturating_sub(2000);
        t.chars().skip(skip).collect()
    };
    match status {
        Err(None) => record(
            "timed_out",
            None,
            Some(format!("stopped after {} s", NOTIFY_TIMEOUT.as_secs())),
        ),
        Err(Some(e)) => record("failed", None, Some(e)),
        Ok(s) if s.success() => record("succeeded", Some(0), None),
        Ok(s) => record(
            "failed",
            s.code(),
            Some(if tail.is_empty() {
                format!("exited with {s}")
            } else {
                tail
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(min: Option<f64>, max: Option<f64>, change_max: Option<f64>) -> Check {
        Check {
            name: "c".into(),
            sql: String::new(),
            metric: "nps".into(),
            min,
            max,
            change_max,
            severity: Severity::Fail,
            no_rows_ok: false,
        }
    }

    fn reading(value: Option<f64>, change: Option<f64>) -> Reading {
        Reading {
            segment: None,
            value,
            change,
        }
    }

    fn rules(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|a| a.rule).collect::<Vec<_>>()
    }

    #[test]
    fn a_value_at_its_target_does_not_fire() {
        let c = check(Some(70.0), Some(90.0), Some(5.0));
        assert!(evaluate(&c, &[reading(Some(70.0), Some(5.0))]).is_empty());
        assert!(evaluate(&c, &[reading(Some(90.0), Some(-5.0))]).is_empty());
        assert_eq!(
            rules(&evaluate(&c, &[reading(Some(69.999), Some(5.001))])),
            ["min", "change_max"]
        );
        assert_eq!(
            rules(&evaluate(&c, &[reading(Some(90.5), None)])),
            ["max", "no_data"]
        );
    }

    #[test]
    fn no_data_fires_instead_of_passing() {
        let c = check(Some(70.0), None, None);
        let a = evaluate(&c, &[]);
        assert_eq!(rules(&a), ["no_data"]);
        assert_eq!((a[0].value, a[0].target), (None, None));
        assert_eq!(rules(&evaluate(&c, &[reading(None, None)])), ["no_data"]);
        let cases = Check {
            no_rows_ok: true,
            ..c.clone()
        };
        assert!(evaluate(&cases, &[]).is_empty());
        assert_eq!(
            rules(&evaluate(&cases, &[reading(None, None)])),
            ["no_data"]
        );
        assert_eq!(
            rules(&evaluate(&c, &[reading(Some(f64::NAN), None)])),
            ["no_data"]
        );
    }

    #[test]
    fn segments_are_named_in_the_message() {
        let c = check(None, Some(0.05), None);
        let a = evaluate(
            &c,
            &[
                Reading {
                    segment: Some("UK".into()),
                    value: Some(0.07),
                    change: None,
                },
                Reading {
                    segment: Some("FR".into()),
                    value: Some(0.01),
                    change: None,
                },
            ],
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].segment.as_deref(), Some("UK"));
        assert_eq!(
            a[0].message,
            "nps for segment 'UK' is 0.07, above the maximum 0.05"
        );
        let b = batch(&a, "run-1").unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (1, 9));
    }

    #[test]
    fn bad_targets_are_refused() {
        let mut c = check(Some(5.0), Some(1.0), None);
        assert!(validate(std::slice::from_ref(&c), "j")
            .unwrap_err()
            .to_string()
            .contains("min 5 is above max 1"));
        c = check(None, None, None);
        assert!(validate(&[c], "j")
            .unwrap_err()
            .to_string()
            .contains("give a target"));
    }
}
