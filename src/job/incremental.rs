//! Incremental inputs: `[inputs.T] incremental = true` in a job file.
//!
//! ```toml
//! [inputs.feedback]
//! incremental = true      # steps see only feedback files no earlier run consumed
//! ```
//!
//! In such a job, lake table `T` holds only the Parquet files of `T` that no
//! earlier successful run of this job consumed (a file is known by its path
//! and its version: the store's ETag, or size and modification time where
//! there is none, so a file rewritten in place is read again, with a warning
//! and a `rewritten` entry in the manifest). The files are chosen once, when
//! the run starts: a file landing during the run waits for the next one.
//!
//! A step is incremental when its SQL reads an incremental table, or an
//! earlier incremental step's table (by name in `FROM`/`JOIN`, or inside a
//! quoted table-or-query argument such as `feedback_features('feedback_new',
//! ...)`). Its output is appended as `OUT/<table>/run_date=D/run=<run_id>/`
//! instead of replacing `OUT/<table>/run_date=D/`; so are its rejects and the
//! job's alerts. Other steps replace the day as in any job.
//!
//! What each run consumed is its manifest's `inputs` (only the new files of
//! an incremental table); a succeeded manifest is the commit point. To avoid
//! reading every manifest at each run, the union is kept in
//! `OUT/_runs/<job>/_incremental/consumed.json`, updated right after the
//! manifest. Before its first step a run writes
//! `OUT/_runs/<job>/_incremental/pending/<run_id>.json`: the files it
//! consumes and the partitions it will write. The next run (which holds the
//! output root's lock, so the writer is gone) finishes whatever a killed run
//! left: if that run's manifest says `succeeded`, its files go into the index
//! (it was killed between the manifest and the index); otherwise its
//! partitions are deleted and its files will be read again. So every file's
//! rows are committed exactly once, whatever point a run is killed at.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::manifest::{InputFile, InputRecord};
use crate::error::{CrmlakeError, Result};
use crate::lake::{LakeFile, LakeReport};
use crate::out_root::OutRoot;

/// Test hook: with `CRMLAKE_KILL_AT=<point>` in the environment an
/// incremental run aborts the process at that point (no clean-up runs, as
/// with SIGKILL), so tests can check what the next run makes of it. Points:
/// `before_steps` (after the pending record), `after_step_<n>` (step n
/// committed), `after_checks` (alerts committed), `after_manifest` (the
/// succeeded manifest written), `after_index` (the consumed index written).
pub fn kill_point(point: &str) {
    if std::env::var("CRMLAKE_KILL_AT").is_ok_and(|p| p == point) {
        eprintln!("CRMLAKE_KILL_AT={point}: aborting the process");
        std::process::abort();
    }
}

/// Settings of one lake table in a job's `[inputs.T]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSettings {
    /// Steps see only the files no earlier successful run consumed.
    #[serde(default)]
    pub incremental: bool,
}

/// Files consumed, by table, then by URL: their version.
type FileVersions = BTreeMap<String, BTreeMap<String, String>>;

/// The index of what a job's succeeded runs consumed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Consumed {
    files: FileVersions,
}

/// A run in progress: what it consumes and the partitions it writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    run_id: String,
    files: FileVersions,
    partitions: Vec<String>,
}

/// A file's version: its ETag, else its size and modification time.
fn version(f: &LakeFile) -> String {
    f.e_tag.clone().unwrap_or_else(|| {
        format!(
            "{}@{}",
            f.size,
            f.last_modified
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        )
    })
}

fn dir(job: &str) -> String {
    format!("_runs/{job}/_incremental")
}

fn index_path(job: &str) -> String {
    format!("{}/consumed.json", dir(job))
}

fn pending_path(job: &str, run_id: &str) -> String {
    format!("{}/pending/{run_id}.json", dir(job))
}

/// One step as [`appending_tables`] sees it.
pub struct StepSql<'a> {
    pub table: &'a str,
    pub sql: &'a str,
    /// Names the step in errors.
    pub context: String,
}

/// The tables of a job's `steps` that are appended to per run (see the
/// module doc), given its `incremental` inputs, and its `alerts_table`
/// (when it has checks) if there is any incremental input.
pub fn appending_tables(
    incremental: &[String],
    steps: &[StepSql<'_>],
    alerts_table: Option<&str>,
    ctx: &SessionContext,
) -> Result<HashSet<String>> {
    let mut incremental: HashSet<String> = incremental.iter().cloned().collect();
    if incremental.is_empty() {
        return Ok(incremental);
    }
    let mut appending = HashSet::new();
    let state = ctx.state();
    for step in steps {
        let context = &step.context;
        let mut names: HashSet<String> = HashSet::new();
        for statement in crate::sql::parse_statements(step.sql, context)? {
            let refs = state
                .resolve_table_references(&statement)
                .map_err(|e| CrmlakeError::query(context, e))?;
            names.extend(refs.iter().filter_map(bare_name));
        }
        let reads = incremental
            .iter()
            .any(|t| names.contains(t) || quoted_mentions(step.sql, t));
        if reads {
            incremental.insert(step.table.to_string());
            appending.insert(step.table.to_string());
        }
    }
    if let Some(alerts) = alerts_table {
        appending.insert(alerts.to_string());
    }
    Ok(appending)
}

fn bare_name(r: &TableReference) -> Option<String> {
    match r {
        TableReference::Bare { table } => Some(table.to_string()),
        _ => None,
    }
}

/// Whether a single-quoted literal of `sql` names `table` as a word (a
/// table-name argument, or a query passed as text).
fn quoted_mentions(sql: &str, table: &str) -> bool {
    sql.split('\'').skip(1).step_by(2).any(|literal| {
        literal
            .to_ascii_lowercase()
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == table)
    })
}

/// An incremental run's bookkeeping, from its start to its commit.
pub struct Batch {
    job: String,
    run_id: String,
    consumed: Consumed,
    /// This run's files, by table.
    files: FileVersions,
    /// The manifest's `incremental` records.
    pub records: Vec<InputRecord>,
    /// The new files, by table (for the manifest's `inputs`).
    new_files: BTreeMap<String, Vec<LakeFile>>,
}

impl Batch {
    /// Finish what job `job`'s killed runs left, then choose each of its
    /// `incremental` inputs' new files and register the table over only
    /// those in `ctx`.
    pub async fn start(
        job: &str,
        incremental: &[String],
        ctx: &SessionContext,
        out: &OutRoot,
        lake: &LakeReport,
        run_id: &str,
    ) -> Result<Batch> {
        let consumed = recover(out, job).await?;
        let mut batch = Batch {
            job: job.to_string(),
            run_id: run_id.to_string(),
            consumed,
            files: BTreeMap::new(),
            records: Vec::new(),
            new_files: BTreeMap::new(),
        };
        for name in incremental {
            let table = lake.tables.iter().find(|t| &t.name == name).ok_or_else(|| {
                CrmlakeError::user(format!(
                    "job '{}': [inputs.{name}] incremental = true, but the lake {} has no table '{name}'",
                    job, lake.root
                ))
            })?;
            let seen = batch.consumed.files.get(name);
            let mut record = InputRecord {
                table: name.clone(),
                new_files: 0,
                consumed_before: 0,
                rewritten: Vec::new(),
            };
            let mut new = Vec::new();
            for f in &table.files {
                let v = version(f);
                match seen.and_then(|s| s.get(&f.url)) {
                    Some(old) if *old == v => record.consumed_before += 1,
                    Some(_) => {
                        log::warn!(
                            "job '{}': input '{name}': file '{}' was rewritten since a run consumed it (new version {v}); reading it again",
                            job,
                            f.url
                        );
                        record.rewritten.push(f.url.clone());
                        new.push(f.clone());
                    }
                    None => new.push(f.clone()),
                }
            }
            record.new_files = new.len();
            batch.files.insert(
                name.clone(),
                new.iter().map(|f| (f.url.clone(), version(f))).collect(),
            );
            register_new_files(ctx, name, &table.url, &new).await?;
            batch.records.push(record);
            batch.new_files.insert(name.clone(), new);
        }
        Ok(batch)
    }

    /// Whether no incremental input has a new file (the run can be skipped).
    pub fn nothing_new(&self) -> bool {
        self.records.iter().all(|r| r.new_files == 0)
    }

    /// A one-line account of the new files, for the log.
    pub fn describe(&self) -> String {
        self.records
            .iter()
            .map(|r| {
                format!(
                    "{}: {} new file(s), {} consumed before{}",
                    r.table,
                    r.new_files,
                    r.consumed_before,
                    if r.rewritten.is_empty() {
                        String::new()
                    } else {
                        format!(", {} rewritten", r.rewritten.len())
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The manifest's `inputs` with each incremental table's files
    /// replaced by this run's new files.
    pub fn manifest_inputs(&self, inputs: Vec<InputFile>) -> Vec<InputFile> {
        let mut kept: Vec<InputFile> = inputs
            .into_iter()
            .filter(|i| !self.new_files.contains_key(&i.table))
            .collect();
        for (table, files) in &self.new_files {
            kept.extend(files.iter().map(|f| InputFile::of(table, f)));
        }
        kept
    }

    /// Record, before the first step, what this run consumes and the
    /// partitions it writes (`partitions`, relative to the output root).
    pub async fn begin(&self, out: &OutRoot, partitions: Vec<String>) -> Result<()> {
        let pending = Pending {
            run_id: self.run_id.clone(),
            files: self.files.clone(),
            partitions,
        };
        put_json(out, &pending_path(&self.job, &self.run_id), &pending).await
    }

    /// After the succeeded manifest: the run's files join the index and its
    /// pending record goes.
    pub async fn commit(mut self, out: &OutRoot) -> Result<()> {
        kill_point("after_manifest");
        merge(&mut self.consumed.files, &self.files);
        put_json(out, &index_path(&self.job), &self.consumed).await?;
        kill_point("after_index");
        out.delete(&pending_path(&self.job, &self.run_id)).await
    }

    /// A failed run: remove what it appended (best effort; what is left is
    /// removed by the next run).
    pub async fn abandon(&self, out: &OutRoot) {
        let path = pending_path(&self.job, &self.run_id);
        if let Ok(Some(pending)) = get_json::<Pending>(out, &path).await {
            if remove_partitions(out, &pending).await.is_ok() {
                let _ = out.delete(&path).await;
            }
        }
    }
}

/// Register lake table `name` (folder `url`) over only `files`.
async fn register_new_files(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    files: &[LakeFile],
) -> Result<()> {
    let (whole, _) = crate::lake::parquet_table(ctx, name, url).await?;
    let table = crate::file_list::FileListTable::new(name, url, &whole, files)
        .map_err(|e| CrmlakeError::query(format!("lake table '{name}' ({url})"), e))?;
    let reference = TableReference::bare(name);
    let context = format!("lake table '{name}'");
    ctx.deregister_table(reference.clone())
        .map_err(|e| CrmlakeError::query(&context, e))?;
    ctx.register_table(reference, Arc::new(table))
        .map_err(|e| CrmlakeError::query(&context, e))?;
    Ok(())
}

fn merge(into: &mut FileVersions, from: &FileVersions) {
    for (table, files) in from {
        let entry = into.entry(table.clone()).or_default();
        for (url, v) in files {
            entry.insert(url.clone(), v.clone());
        }
    }
}

/// The index, with the runs that were killed after their manifest folded
/// in and the partial outputs of runs killed before it removed.
async fn recover(out: &OutRoot, job: &str) -> Result<Consumed> {
    let mut consumed: Consumed = get_json(out, &index_path(job)).await?.unwrap_or_default();
    let pending_dir = format!("{}/pending", dir(job));
    let mut markers: Vec<String> = out
        .list(&pending_dir)
        .await?
        .iter()
        .map(|o| out.relative(&o.location))
        .filter(|p| p.ends_with(".json"))
        .collect();
    markers.sort();
    for marker in markers {
        let Some(pending) = get_json::<Pending>(out, &marker).await? else {
            continue;
        };
        let status = get_json::<serde_json::Value>(out, &format!("_runs/{}.json", pending.run_id))
            .await?
            .and_then(|m| m.get("status").and_then(|s| s.as_str()).map(String::from));
        if status.as_deref() == Some("succeeded") {
            merge(&mut consumed.files, &pending.files);
            put_json(out, &index_path(job), &consumed).await?;
            log::info!(
                "job '{job}': run {} committed but had not recorded its input files; recorded now",
                pending.run_id
            );
        } else {
            remove_partitions(out, &pending).await?;
            log::warn!(
                "job '{job}': run {} did not finish ({}); removed what it appended ({}); its input files are read again",
                pending.run_id,
                status.as_deref().unwrap_or("no manifest: killed"),
                pending.partitions.join(", ")
            );
        }
        out.delete(&marker).await?;
    }
    Ok(consumed)
}

async fn remove_partitions(out: &OutRoot, pending: &Pending) -> Result<()> {
    for p in &pending.partitions {
        out.delete_dir(p).await?;
    }
    out.delete_dir(&format!("_staging/{}", pending.run_id))
        .await
}

async fn get_json<T: serde::de::DeserializeOwned>(out: &OutRoot, rel: &str) -> Result<Option<T>> {
    let Some(bytes) = out.get(rel).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| CrmlakeError::user(format!("'{}' is not valid: {e}", out.show(rel))))
}

async fn put_json<T: Serialize>(out: &OutRoot, rel: &str, value: &T) -> Result<()> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| CrmlakeError::Internal(format!("{rel}: {e}")))?;
    out.put(rel, bytes).await
}

/// The partition a step of a run writes table `table` to: appended per run
/// for an appending table, the whole day otherwise.
pub fn partition(table: &str, run_date: NaiveDate, run_id: &str, appending: bool) -> String {
    if appending {
        format!("{table}/run_date={run_date}/run={run_id}")
    } else {
        format!("{table}/run_date={run_date}")
    }
}

/// Refuse to mix the two layouts in one day's folder: an appending table
/// where a whole-day run wrote parts, or a whole-day table over appended
/// runs (its commit would delete them).
pub async fn check_layout(
    out: &OutRoot,
    table: &str,
    run_date: NaiveDate,
    appending: bool,
    context: &str,
) -> Result<()> {
    let day = format!("{table}/run_date={run_date}");
    let entries = out.list_dir(&day).await.unwrap_or_default();
    let whole_day = entries
        .iter()
        .any(|e| e.ends_with(".parquet") || e == "_SUCCESS");
    let runs = entries.iter().any(|e| e.starts_with("run="));
    if appending && whole_day {
        return Err(CrmlakeError::user(format!(
            "{context}: '{}' holds a whole day written by a run without incremental inputs; this incremental job appends per run and cannot share the table: name its table differently (for the alerts table: settings.alerts_table)",
            out.show(&day)
        )));
    }
    if !appending && runs {
        return Err(CrmlakeError::user(format!(
            "{context}: '{}' holds per-run parts of an incremental job; replacing the day would delete them: name this table differently (for the alerts table: settings.alerts_table)",
            out.show(&day)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_arguments_count_as_reads() {
        assert!(quoted_mentions(
            "SELECT * FROM feedback_features('feedback_new', DATE '2024-01-01')",
            "feedback_new"
        ));
        assert!(quoted_mentions(
            "SELECT * FROM kpi_series('SELECT * FROM Feedback_New', 1)",
            "feedback_new"
        ));
        assert!(!quoted_mentions(
            "SELECT 'feedback_newer' FROM t",
            "feedback_new"
        ));
        assert!(!quoted_mentions(
            "SELECT feedback_new FROM t",
            "feedback_new"
        ));
    }

    #[test]
    fn runs_append_and_days_replace() {
        let d = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
        assert_eq!(
            partition("t", d, "r1", true),
            "t/run_date=2024-06-30/run=r1"
        );
        assert_eq!(partition("t", d, "r1", false), "t/run_date=2024-06-30");
    }
}
