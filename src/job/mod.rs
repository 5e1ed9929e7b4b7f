//! Batch jobs: `crmlake run JOB.toml` and `crmlake demo`.
//!
//! A job file names a lake, an output root and ordered steps; each step is one
//! SQL statement whose result is written as a table, and later steps read
//! earlier outputs by their table name (an output shadows a lake table of the
//! same name).
//!
//! ```toml
//! name = "nightly"
//! lake = "data/lake"        # --lake overrides
//! out = "out"               # --out overrides
//! [settings]                # optional
//! target_partitions = 4
//! memory_limit_mb = 4096    # default: a quarter of the machine's memory
//! max_file_mb = 4096        # largest file of a table partition (the default)
//! [[steps]]
//! table = "clean_transactions"
//! sql = "SELECT * FROM transactions WHERE customer_id IS NOT NULL"
//! ```
//!
//! Relative `lake` and `out` paths are relative to the current directory.
//! In a step's SQL, `${run_id}` and `${run_date}` are replaced by the run's id
//! and date as SQL string literals (`'20261201T...-123'`, `'2026-12-01'`),
//! and `${name}` by the text of `name` in the job's `[vars]` table, also as a
//! string literal.
//!
//! The job's `name` (lower-case letters, digits, `_`, `-`) scopes its run
//! marker and owns its model names.
//!
//! Model steps (`model = true`): the step's result must be one row with a
//! `model` column (a `*_fit` / `*_train` aggregate's value). Instead of a
//! table of its own, the model is appended to the `models` table as version
//! n + 1 of the model named by the step's `table`:
//! `OUT/models/<name>-v<version>.parquet` with columns `name`, `version`,
//! `run_id`, `run_date`, `created_at`, `metrics` (JSON: the training
//! metrics of `model_info`), `model` and `job`. A model name belongs to the job that
//! first wrote it (another job naming it fails before it trains), and a
//! rerun of the same job and date replaces that date's version instead of
//! adding one. The file is written under `OUT/_staging/`
//! and renamed into place, so readers see a version whole or not at all. Later
//! steps read it from `models`, e.g. `(SELECT model FROM models WHERE name =
//! 'churn' ORDER BY version DESC LIMIT 1)`.
//!
//! Rejected rows: a step may list `reject` rules (a reason and a SQL
//! condition) and `reject_duplicates = true`; rows they match go to
//! `OUT/_rejects/<table>/run_date=D/` with a `reason` column ([`rejects`]).
//!
//! Output layout and commit protocol ([`out_root`]): every table is
//! `OUT/<table>/run_date=D/part-00000.parquet` (and `part-00001.parquet`, ...
//! beyond `max_file_mb`) plus `_SUCCESS`, staged under
//! `OUT/_staging/<run_id>/` and renamed into place, so a reader sees the old
//! partition or the new one, and a rerun of the same date replaces it. When
//! every step has committed, the run writes `OUT/_runs/<run_id>.json` (the
//! manifest, [`manifest`]) and last `OUT/_runs/<job>/run_date=D/_SUCCESS`
//! (holding the run id; [`run_marker`]); a run deletes its job's marker for
//! the date when it starts, so after a failed run there is none for its job
//! and date, and other jobs' markers in the same root are never touched. A failed run still writes its manifest,
//! with `"status": "failed"` and the error. After the manifest, succeeded or
//! failed, the run writes its report, `OUT/_runs/<run_id>.html`
//! ([`crate::report`]). Readers ignore names starting with `_`.

pub mod checks;
pub mod every;
pub mod incremental;
pub mod lock;
pub mod manifest;
pub mod previous;
pub mod progress;
pub mod rejects;

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::common::TableReference;
use datafusion::datasource::ViewTable;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Deserialize;

use crate::error::{CrmlakeError, Result};
pub use crate::lake::redact_url;
use crate::lake::register_parquet_table;
use crate::out_root::PartWriter;
pub use crate::out_root::{self, OutRoot};
use crate::session::{lake_session, SessionOptions};
use lock::{Holder, RunLock};
use manifest::{InputFile, JobInfo, Manifest, SettingsInfo, StepRecord};
use progress::StepProgress;
use rejects::RejectRule;

/// The bundled demo job.
pub const DEMO_JOB: &str = include_str!("../../jobs/demo.toml");

/// A parsed job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub name: String,
    pub lake: Option<String>,
    pub out: Option<String>,
    #[serde(default)]
    pub settings: JobSettings,
    /// Per lake table settings (`[inputs.T]`, [`incremental`]).
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, incremental::InputSettings>,
    /// `[vars]`: named text a step's SQL (and its reject rules) reads as
    /// `${name}`, filled in as a SQL string literal when the job is read
    /// (e.g. a loyalty programme's rules, used by several steps).
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
    pub steps: Vec<Step>,
    /// Targets checked after the steps ([`checks`]).
    #[serde(default)]
    pub checks: Vec<checks::Check>,
    /// Where the job came from (for messages and the manifest).
    #[serde(skip)]
    pub source: String,
    /// SHA-256 of the job file's text.
    #[serde(skip)]
    pub sha256: String,
}

/// Optional engine settings of a job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub target_partitions: Option<usize>,
    /// Bound on the memory DataFusion's operators may hold; sorts, joins and
    /// grouping spill to disk beyond it, or the step fails naming the limit.
    pub memory_limit_mb: Option<usize>,
    /// Largest file of a table partition, 1 to 4096 (the default); a larger
    /// partition is written as several parts.
    pub max_file_mb: Option<u64>,
    /// A command (`sh -c`) run once per run in which checks fired, with the
    /// alerts as JSON lines on its standard input ([`checks::notify`]).
    pub notify: Option<String>,
    /// The table the job's `[[checks]]` write (default `alerts`): jobs that
    /// share an output root and both have checks need one each.
    pub alerts_table: Option<String>,
    /// The currency of money columns in the run report: `GBP`, `USD`,
    /// `EUR`, ... (shown as its symbol) or any prefix text.
    pub currency: Option<String>,
}

/// One step: a SQL statement whose result becomes table `table`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub table: String,
    pub sql: String,
    /// A model step: append the result's one model to `models`.
    #[serde(default)]
    pub model: bool,
    /// Rows to reject, with a reason, instead of writing them to `table`.
    #[serde(default)]
    pub reject: Vec<RejectRule>,
    /// Reject the second and later copies of a line (reason `duplicate`).
    #[serde(default)]
    pub reject_duplicates: bool,
    /// The run report's kind of this table (`crate::report::source::KINDS`),
    /// so the report draws the section that reads it; without it the demo
    /// job's table names decide.
    pub report: Option<String>,
}

impl Step {
    /// The SQL with `${run_id}` and `${run_date}` filled in.
    fn sql_for(&self, run_id: &str, run_date: NaiveDate) -> String {
        substitute(&self.sql, run_id, run_date)
    }

    fn rejects(&self) -> bool {
        !self.reject.is_empty() || self.reject_duplicates
    }

    fn rules_for(&self, run_id: &str, run_date: NaiveDate) -> Vec<RejectRule> {
        self.reject
            .iter()
            .map(|r| RejectRule {
                reason: r.reason.clone(),
                when: substitute(&r.when, run_id, run_date),
            })
            .collect()
    }
}

impl JobFile {
    /// The table its `[[checks]]` write.
    pub fn alerts_table(&self) -> &str {
        self.settings.alerts_table.as_deref().unwrap_or("alerts")
    }

    /// Whether a lake table is marked `incremental`.
    pub fn is_incremental(&self) -> bool {
        self.inputs.values().any(|s| s.incremental)
    }

    /// The lake tables marked `incremental`.
    fn incremental_inputs(&self) -> Vec<String> {
        self.inputs
            .iter()
            .filter(|(_, s)| s.incremental)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The tables a run appends to ([`incremental::appending_tables`]).
    fn appending_tables(&self, ctx: &SessionContext) -> Result<std::collections::HashSet<String>> {
        let steps: Vec<incremental::StepSql> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| incremental::StepSql {
                table: &s.table,
                sql: &s.sql,
                context: step_context(self, i),
            })
            .collect();
        let alerts = (!self.checks.is_empty()).then(|| self.alerts_table());
        incremental::appending_tables(&self.incremental_inputs(), &steps, alerts, ctx)
    }

    /// The job with `${previous_run_date}` filled in everywhere it can
    /// appear (steps, reject rules, checks): the date quoted, or NULL.
    fn with_previous_run_date(&self, date: Option<NaiveDate>) -> JobFile {
        let value = date.map_or("NULL".to_string(), |d| format!("'{d}'"));
        let fill = |text: &str| text.replace("${previous_run_date}", &value);
        let mut job = self.clone();
        for step in &mut job.steps {
            step.sql = fill(&step.sql);
            for rule in &mut step.reject {
                rule.when = fill(&rule.when);
            }
        }
        for check in &mut job.checks {
            check.sql = fill(&check.sql);
        }
        job
    }

    /// The tables its steps and checks read with `previous(...)` or
    /// `latest(...)` (by `which`).
    fn previous_tables(&self, which: previous::Which) -> Vec<String> {
        let mut names = Vec::new();
        let sqls = self
            .steps
            .iter()
            .map(|s| &s.sql)
            .chain(self.checks.iter().map(|c| &c.sql));
        for name in sqls.flat_map(|sql| previous::tables_in(sql, which)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

fn substitute(sql: &str, run_id: &str, run_date: NaiveDate) -> String {
    sql.replace("${run_id}", &format!("'{run_id}'"))
        .replace("${run_date}", &format!("'{run_date}'"))
}

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub run_date: Option<NaiveDate>,
    pub lake: Option<String>,
    pub out: Option<String>,
    pub dry_run: bool,
    /// Wait for another run's lock on the output root instead of failing.
    pub wait: bool,
    /// Run every step's query on this Ballista cluster.
    pub cluster: Option<crate::cluster::SchedulerAddress>,
    /// Set to abandon the run before its next step (`--every` on a second
    /// SIGTERM): the run fails, its appended parts are removed.
    pub abandon: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Do not write the run report (`--no-report`).
    pub no_report: bool,
}

/// What one step wrote.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub table: String,
    pub rows: u64,
    pub rejected: u64,
    pub seconds: f64,
    /// Where the output went (shown without credentials); `None` in a dry run.
    pub output: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub steps: Vec<StepReport>,
    /// The checks that fired.
    pub alerts: Vec<checks::Alert>,
    /// The manifest's location; `None` in a dry run.
    pub manifest: Option<String>,
    /// Why nothing ran: an incremental job with no new input file.
    pub skipped: Option<String>,
    /// Where the run report went; `None` with `--no-report`, in a dry run,
    /// or when it could not be written (a warning says why).
    pub report: Option<String>,
}

impl RunReport {
    /// The end-of-run summary: one aligned line per step.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("{why}\n");
        }
        let mut text = format!(
            "{:<22} {:>10} {:>9} {:>8}  output\n",
            "table", "rows", "rejected", "seconds"
        );
        for s in &self.steps {
            text += &format!(
                "{:<22} {:>10} {:>9} {:>8.2}  {}\n",
                s.table,
                s.rows,
                s.rejected,
                s.seconds,
                s.output.as_deref().unwrap_or("(planned)")
            );
        }
        for a in &self.alerts {
            text += &format!("ALERT {} {}: {}\n", a.severity.name(), a.check, a.message);
        }
        if let Some(m) = &self.manifest {
            text += &format!("run {} manifest: {m}\n", self.run_id);
        }
        if let Some(r) = &self.report {
            text += &format!("run {} report: {r}\n", self.run_id);
        }
        text
    }

    /// The error for a run whose `fail` checks fired (exit code 3), if any.
    pub fn failed_checks(&self) -> Option<CrmlakeError> {
        let failed: Vec<&str> = self
            .alerts
            .iter()
            .filter(|a| a.severity == checks::Severity::Fail)
            .map(|a| a.check.as_str())
            .collect();
        (!failed.is_empty()).then(|| {
            CrmlakeError::ChecksFailed(format!(
                "run {}: every output committed, but {} fail alert(s) fired: {} (see the alerts table)",
                self.run_id,
                failed.len(),
                failed.join(", ")
            ))
        })
    }
}

/// Parse a job file's text; `source` names it in errors.
pub fn parse_job(text: &str, source: &str) -> Result<JobFile> {
    let mut job: JobFile = toml::from_str(text)
        .map_err(|e| CrmlakeError::user(format!("job file '{source}': {e}")))?;
    job.source = source.to_string();
    job.sha256 = manifest::sha256_hex(text);
    if job.steps.is_empty() {
        return Err(CrmlakeError::user(format!(
            "job file '{source}': no [[steps]]"
        )));
    }
    // The name is a folder of `_runs/` (the run marker) and owns the job's
    // model names, so: a path-safe name, lower case (one folder on any disk).
    let name_ok = !job.name.is_empty()
        && job.name.len() <= 128
        && job
            .name
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && job
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !name_ok {
        return Err(CrmlakeError::user(format!(
            "job file '{source}': name '{}' must be lower-case letters, digits, _ and -, starting with a letter or digit",
            job.name
        )));
    }
    if let Some(mb) = job.settings.memory_limit_mb {
        if mb == 0 || mb.checked_mul(1024 * 1024).is_none() {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': settings.memory_limit_mb = {mb} must be between 1 and {}",
                usize::MAX / (1024 * 1024)
            )));
        }
    }
    if let Some(mb) = job.settings.max_file_mb {
        if !(1..=out_root::MAX_FILE_MB).contains(&mb) {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': settings.max_file_mb = {mb} must be between 1 and {} (S3 copies an object, which is how a file is committed, only up to 5 GiB)",
                out_root::MAX_FILE_MB
            )));
        }
    }
    checks::validate(&job.checks, source)?;
    if let Some(name) = &job.settings.alerts_table {
        if !table_name_ok(name) || name == "models" {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': settings.alerts_table = '{name}' must be lower-case letters, digits and _, not start with _, and not be 'models'"
            )));
        }
    }
    if job.settings.alerts_table.is_some() && job.checks.is_empty() {
        return Err(CrmlakeError::user(format!(
            "job file '{source}': settings.alerts_table is set but the job has no [[checks]] to write it"
        )));
    }
    fill_vars(&mut job, source)?;
    let mut first_step_of: std::collections::HashMap<&str, usize> = Default::default();
    for (i, s) in job.steps.iter().enumerate() {
        if let Some(kind) = &s.report {
            if !crate::report::source::KINDS.contains(&kind.as_str()) {
                return Err(CrmlakeError::user(format!(
                    "job file '{source}': step {} ('{}'): report = '{kind}' is not a report kind; use one of: {}",
                    i + 1,
                    s.table,
                    crate::report::source::KINDS.join(", ")
                )));
            }
            if s.model {
                return Err(CrmlakeError::user(format!(
                    "job file '{source}': step {} ('{}'): a model step cannot have a report kind (its metrics are in the report's churn section)",
                    i + 1,
                    s.table
                )));
            }
        }
        if !table_name_ok(&s.table) {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': step {}: table name '{}' must be lower-case letters, digits and _ and not start with _",
                i + 1,
                s.table
            )));
        }
        if let Some(first) = first_step_of.insert(s.table.as_str(), i) {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': steps {} and {} both write table '{}'; each step needs a table of its own",
                first + 1,
                i + 1,
                s.table
            )));
        }
        if s.table == job.alerts_table() && !job.checks.is_empty() {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': step {}: '{}' is the table the job's [[checks]] write; name the step's table differently (or set settings.alerts_table)",
                i + 1,
                s.table
            )));
        }
        if s.table == "models" {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': step {}: 'models' is the table model steps append to; name the model instead (table = \"churn\", model = true)",
                i + 1
            )));
        }
        let context = format!("job file '{source}': step {} ('{}')", i + 1, s.table);
        rejects::validate(&s.reject, &context)?;
        if s.model && s.rejects() {
            return Err(CrmlakeError::user(format!(
                "{context}: a model step cannot reject rows; put the rules on the step it reads"
            )));
        }
    }
    Ok(job)
}

/// Replace `${name}` in the steps' SQL and reject rules by each `[vars]`
/// value as a SQL string literal (quotes doubled).
fn fill_vars(job: &mut JobFile, source: &str) -> Result<()> {
    const RESERVED: [&str; 3] = ["run_id", "run_date", "previous_run_date"];
    for name in job.vars.keys() {
        let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok || RESERVED.contains(&name.as_str()) {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': vars.{name}: a variable name is lower-case letters, digits and _, starting with a letter, and not {}",
                RESERVED.join(", ")
            )));
        }
    }
    let vars: Vec<(String, String)> = job
        .vars
        .iter()
        .map(|(k, v)| (format!("${{{k}}}"), format!("'{}'", v.replace('\'', "''"))))
        .collect();
    let fill = |text: &mut String| {
        for (key, value) in &vars {
            if text.contains(key.as_str()) {
                *text = text.replace(key.as_str(), value);
            }
        }
    };
    for step in &mut job.steps {
        fill(&mut step.sql);
        for rule in &mut step.reject {
            fill(&mut rule.when);
        }
    }
    Ok(())
}

/// A table name a step (or the alerts) may write: lower case only (SQL
/// folds unquoted names to lower case, so a later step could not read
/// `Clean`, and on a case-insensitive disk `MODELS/` would be `models/`).
fn table_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['_', '.'])
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Read and parse a job file.
pub fn load_job(path: &std::path::Path) -> Result<JobFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CrmlakeError::user(format!("cannot read job file '{}': {e}", path.display()))
    })?;
    parse_job(&text, &path.display().to_string())
}

/// Everything a step needs from the run.
struct RunContext<'a> {
    /// The job's name: it scopes the run marker and owns its model names.
    job: &'a str,
    ctx: &'a SessionContext,
    out: &'a OutRoot,
    run_id: &'a str,
    run_date: NaiveDate,
    /// `settings.max_file_mb` in bytes: a table part rolls over beyond it.
    max_file_bytes: u64,
    /// The session's memory pool in MB ([`memory_limit_mb`], read once).
    memory_limit_mb: Option<usize>,
    /// The tables appended per run ([`incremental`]).
    appending: &'a std::collections::HashSet<String>,
    abandon: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// `--no-report`.
    no_report: bool,
}

impl RunContext<'_> {
    /// Where this run writes `table` ([`incremental::partition`]).
    fn partition(&self, table: &str) -> String {
        incremental::partition(
            table,
            self.run_date,
            self.run_id,
            self.appending.contains(table),
        )
    }
}

/// The last day with a transaction in `lake` (`max(ts)` of its
/// `transactions` table): the demo's run date when none is given, so that the
/// demo's dates (all derived from `${run_date}`) fit the lake's data.
pub async fn last_transaction_day(lake: &str) -> Result<NaiveDate> {
    let (ctx, report) = lake_session(&SessionOptions {
        lake: Some(lake.to_string()),
        ..SessionOptions::default()
    })
    .await?;
    let context = format!("lake {}: the last day of transactions.ts", report.root);
    let batches = ctx
        .sql("SELECT CAST(max(ts) AS DATE) FROM transactions")
        .await
        .map_err(|e| CrmlakeError::query(&context, e))?
        .collect()
        .await
        .map_err(|e| CrmlakeError::query(&context, e))?;
    let day = batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Date32Array>()
                .filter(|a| datafusion::arrow::array::Array::is_valid(a, 0))
                .map(|a| a.value(0))
        })
        .ok_or_else(|| {
            CrmlakeError::user(format!(
                "{context}: the table has no dated rows; give --run-date"
            ))
        })?;
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(i64::from(day))))
        .ok_or_else(|| CrmlakeError::user(format!("{context}: day {day} is out of range")))
}

/// Run `job`: open the session, then either plan every step (a dry run) or
/// take the output root's lock, prepare the root, run the steps and commit
/// the run (manifest, then the run marker), releasing the lock either way.
pub async fn run_job(job: &JobFile, opts: &RunOptions) -> Result<RunReport> {
    let started_at = manifest::now_rfc3339();
    let out_location = opts
        .out
        .clone()
        .or_else(|| job.out.clone())
        .unwrap_or_else(|| "out".into());
    let run_date = opts
        .run_date
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let memory_limit = memory_limit_mb(job);
    if opts.cluster.is_some() && job.is_incremental() {
        return Err(CrmlakeError::user(format!(
            "job '{}': incremental inputs are not supported with --cluster (the cluster would list the whole folder); run this job without --cluster",
            job.name
        )));
    }
    let (ctx, lake_report) = open_session(job, opts, memory_limit).await?;
    let appending = job.appending_tables(&ctx)?;
    let run_id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    if opts.dry_run {
        for which in [previous::Which::Previous, previous::Which::Latest] {
            let names = job.previous_tables(which);
            ctx.register_udtf(
                which.name(),
                Arc::new(previous::Previous::none(which, run_date, names)),
            );
        }
        return dry_run(&job.with_previous_run_date(None), &ctx, &run_id, run_date).await;
    }
    let out = OutRoot::open(&ctx, &out_location).await?;
    let lock = RunLock::acquire(&out, &Holder::this_process(&run_id, &job.name), opts.wait).await?;
    let rc = RunContext {
        job: &job.name,
        ctx: &ctx,
        out: &out,
        run_id: &run_id,
        run_date,
        max_file_bytes: job.settings.max_file_mb.unwrap_or(out_root::MAX_FILE_MB) * 1024 * 1024,
        memory_limit_mb: memory_limit,
        appending: &appending,
        abandon: opts.abandon.clone(),
        no_report: opts.no_report,
    };
    let result = run_locked(job, &rc, &lake_report, started_at).await;
    lock.release().await;
    result
}

/// The memory pool a run of `job` gets, in MB: its `settings.memory_limit_mb`,
/// else a quarter of the memory this process may use (the machine's, or its
/// cgroup's limit when lower), so that sorts, joins and grouping spill
/// instead of growing without bound (a 10M-customer job's duplicate check
/// held 12 GB of hash table before it had a default). None where the
/// machine's memory cannot be read (not Linux).
pub fn memory_limit_mb(job: &JobFile) -> Option<usize> {
    job.settings
        .memory_limit_mb
        .or_else(default_memory_limit_mb)
}

fn default_memory_limit_mb() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut bytes = total_kb.saturating_mul(1024);
    // cgroup v2's limit ("max" when there is none).
    if let Some(limit) = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        bytes = bytes.min(limit);
    }
    usize::try_from(bytes / 4 / (1024 * 1024))
        .ok()
        .map(|mb| mb.max(256))
}

/// The lake a run of `job` reads: `--lake` (`given`), else the job's, else
/// the default.
pub fn lake_location(job: &JobFile, given: Option<&str>) -> String {
    given
        .or(job.lake.as_deref())
        .unwrap_or(crate::session::DEFAULT_LAKE)
        .to_string()
}

/// The session a job runs in: its lake ([`lake_location`]), engine
/// settings and a memory pool of `memory_limit_mb`.
async fn open_session(
    job: &JobFile,
    opts: &RunOptions,
    memory_limit_mb: Option<usize>,
) -> Result<(SessionContext, crate::lake::LakeReport)> {
    let session_opts = SessionOptions {
        lake: Some(lake_location(job, opts.lake.as_deref())),
        target_partitions: job.settings.target_partitions,
        memory_limit: memory_limit_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
        cluster: opts.cluster.clone(),
    };
    lake_session(&session_opts).await
}

/// `--dry-run`: plan every step (each one's output registered as a view for
/// the next), write nothing.
async fn dry_run(
    job: &JobFile,
    ctx: &SessionContext,
    run_id: &str,
    run_date: NaiveDate,
) -> Result<RunReport> {
    let mut steps = Vec::with_capacity(job.steps.len());
    for (i, step) in job.steps.iter().enumerate() {
        let context = step_context(job, i);
        plan_step_as_view(ctx, &job.name, step, &context, run_id, run_date).await?;
        eprintln!("{context}: planned");
        steps.push(StepReport {
            table: step.table.clone(),
            rows: 0,
            rejected: 0,
            seconds: 0.0,
            output: None,
        });
    }
    Ok(RunReport {
        run_id: run_id.to_string(),
        steps,
        alerts: Vec::new(),
        manifest: None,
        skipped: None,
        report: None,
    })
}

/// `_runs/<job>/run_date=D/_SUCCESS`: the marker of a job's run for a date,
/// one per job, so jobs sharing an output root never see or remove each
/// other's.
pub fn run_marker(job: &str, run_date: NaiveDate) -> String {
    format!("_runs/{job}/run_date={run_date}/_SUCCESS")
}

/// Everything a run does while it holds the output root's lock.
async fn run_locked(
    job: &JobFile,
    rc: &RunContext<'_>,
    lake_report: &crate::lake::LakeReport,
    started_at: String,
) -> Result<RunReport> {
    // An incremental job: finish what killed runs left, choose the new files.
    let batch = if job.is_incremental() {
        let batch = incremental::Batch::start(
            &job.name,
            &job.incremental_inputs(),
            rc.ctx,
            rc.out,
            lake_report,
            rc.run_id,
        )
        .await?;
        if batch.nothing_new() {
            return Ok(RunReport {
                run_id: rc.run_id.to_string(),
                steps: Vec::new(),
                alerts: Vec::new(),
                manifest: None,
                skipped: Some(format!(
                    "job '{}': no new input files ({}); nothing to do",
                    job.name,
                    batch.describe()
                )),
                report: None,
            });
        }
        log::info!("job '{}' run {}: {}", job.name, rc.run_id, batch.describe());
        Some(batch)
    } else {
        None
    };
    let run_marker = prepare_out_root(job, rc).await?;
    // What this job wrote before this run, resolved before anything commits.
    let previous_run_date = previous::previous_run_date(rc.out, rc.job, rc.run_date).await?;
    let job = &job.with_previous_run_date(previous_run_date);
    for which in [previous::Which::Previous, previous::Which::Latest] {
        let names = job.previous_tables(which);
        if !names.is_empty() {
            let p = previous::Previous::resolve(rc.ctx, rc.out, which, rc.run_date, names).await?;
            rc.ctx.register_udtf(which.name(), Arc::new(p));
        }
    }
    let mut manifest = new_manifest(job, rc, lake_report, started_at);
    manifest.previous_run_date = previous_run_date.map(|d| d.to_string());
    let manifest_rel = format!("_runs/{}.json", rc.run_id);
    let run = Run {
        rc,
        manifest_rel: &manifest_rel,
        batch: batch.as_ref(),
    };
    if let Some(b) = &batch {
        manifest.inputs = b.manifest_inputs(std::mem::take(&mut manifest.inputs));
        manifest.incremental = b.records.clone();
        let mut partitions: Vec<String> = rc.appending.iter().map(|t| rc.partition(t)).collect();
        partitions.extend(
            rc.appending
                .iter()
                .map(|t| format!("_rejects/{}", rc.partition(t))),
        );
        partitions.sort();
        if let Err(e) = b.begin(rc.out, partitions).await {
            return Err(run.fail(&mut manifest, e).await);
        }
        incremental::kill_point("before_steps");
    }
    let mut reports = Vec::with_capacity(job.steps.len());
    for i in 0..job.steps.len() {
        if rc
            .abandon
            .as_ref()
            .is_some_and(|a| a.load(std::sync::atomic::Ordering::SeqCst))
        {
            let e = CrmlakeError::user(format!(
                "job '{}' run {}: abandoned before step {} (a second stop signal); what it appended is removed and its input files are read again by the next run",
                job.name,
                rc.run_id,
                i + 1
            ));
            return Err(run.fail(&mut manifest, e).await);
        }
        match run_step(job, i, rc).await {
            Ok((record, report)) => {
                manifest.steps.push(record);
                reports.push(report);
                if batch.is_some() {
                    incremental::kill_point(&format!("after_step_{}", i + 1));
                }
            }
            Err((record, e)) => {
                manifest.steps.push(record);
                return Err(run.fail(&mut manifest, e).await);
            }
        }
    }
    let alerts = if job.checks.is_empty() {
        Vec::new()
    } else {
        match run_checks(job, rc).await {
            Ok(alerts) => {
                manifest.alerts_output = Some(
                    rc.out
                        .show(&format!("{}/", rc.partition(job.alerts_table()))),
                );
                alerts
            }
            Err(e) => return Err(run.fail(&mut manifest, e).await),
        }
    };
    manifest.alerts = alerts.clone();
    if batch.is_some() {
        incremental::kill_point("after_checks");
    }
    manifest.status = "succeeded";
    manifest.finished_at = Some(manifest::now_rfc3339());
    // The notify command runs after the commit, so a run killed before it
    // is redone without anyone having heard of its alerts, and a run killed
    // during it is not redone (its manifest says `pending`): at most once.
    let notify_command = job.settings.notify.as_ref().filter(|_| !alerts.is_empty());
    if let Some(command) = notify_command {
        manifest.notify = Some(checks::NotifyRecord::pending(command));
    }
    commit_run(rc, &manifest_rel, &manifest, &run_marker, batch).await?;
    if let Some(command) = notify_command {
        let record = checks::notify(command, &alerts, rc.run_id, &rc.run_date.to_string()).await;
        if record.status != "succeeded" {
            log::warn!(
                "job '{}': notify command {}: {}; the run's outputs are committed",
                job.name,
                record.status,
                record.error.as_deref().unwrap_or("")
            );
        }
        manifest.notify = Some(record);
        if let Err(e) = write_manifest(rc.out, &manifest_rel, &manifest).await {
            log::warn!("job '{}': recording the notify result: {e}", job.name);
        }
    }
    let report = write_report(rc).await;
    Ok(RunReport {
        run_id: rc.run_id.to_string(),
        steps: reports,
        alerts,
        manifest: Some(rc.out.show(&manifest_rel)),
        skipped: None,
        report,
    })
}

/// Build and write the run report after the commit ([`crate::report`]),
/// unless `--no-report`; returns where it went. Everything else is
/// committed by then, so a report that cannot be built is a warning, not a
/// failed run; `crmlake report` builds it again.
async fn write_report(rc: &RunContext<'_>) -> Option<String> {
    if rc.no_report {
        return None;
    }
    let built = async {
        let mut r = crate::report::build(rc.ctx.runtime_env(), rc.out, Some(rc.run_id)).await?;
        crate::report::write(rc.out, &mut r).await?;
        Ok::<_, CrmlakeError>(r)
    };
    match built.await {
        Ok(r) => r.written.first().cloned(),
        Err(e) => {
            log::warn!(
                "job '{}' run {}: the run report was not written: {e}; every output is committed (`crmlake report` builds it again)",
                rc.job,
                rc.run_id
            );
            None
        }
    }
}

/// A run between its start and its commit, for [`Run::fail`].
struct Run<'a> {
    rc: &'a RunContext<'a>,
    manifest_rel: &'a str,
    batch: Option<&'a incremental::Batch>,
}

impl Run<'_> {
    /// The run stops at `e`: its manifest says so (best effort: `e` is what
    /// the user must see), its staging and appended parts go; returns `e`.
    async fn fail(&self, manifest: &mut Manifest, e: CrmlakeError) -> CrmlakeError {
        manifest.status = "failed";
        manifest.error = Some(e.to_string());
        manifest.finished_at = Some(manifest::now_rfc3339());
        let _ = write_manifest(self.rc.out, self.manifest_rel, manifest).await;
        let _ = self
            .rc
            .out
            .delete_dir(&format!("_staging/{}", self.rc.run_id))
            .await;
        if let Some(b) = self.batch {
            b.abandon(self.rc.out).await;
        }
        // The failed run's page: its error at the top, the steps it
        // committed before it (best effort, as for a run that succeeded).
        if let Some(page) = write_report(self.rc).await {
            log::warn!("run {} failed; its report: {page}", self.rc.run_id);
        }
        e
    }
}

/// Run the job's checks on the committed tables and commit the `alerts`
/// table (empty when none fired).
async fn run_checks(job: &JobFile, rc: &RunContext<'_>) -> Result<Vec<checks::Alert>> {
    let mut alerts = Vec::new();
    for (i, check) in job.checks.iter().enumerate() {
        let context = format!("job '{}' check {} ('{}')", job.name, i + 1, check.name);
        let sql = substitute(&check.sql, rc.run_id, rc.run_date);
        let batches = rc
            .ctx
            .sql(&sql)
            .await
            .map_err(|e| CrmlakeError::query(&context, e))?
            .collect()
            .await
            .map_err(|e| CrmlakeError::query(&context, e))?;
        let readings = checks::readings(check, &batches, &context)?;
        alerts.extend(checks::evaluate(check, &readings));
    }
    let table = job.alerts_table();
    let context = format!("job '{}' alerts", job.name);
    incremental::check_layout(
        rc.out,
        table,
        rc.run_date,
        rc.appending.contains(table),
        &context,
    )
    .await?;
    let batch = checks::batch(&alerts, rc.run_id)?;
    let partition = rc.partition(table);
    let staged = format!("_staging/{}/{partition}", rc.run_id);
    let in_checks = |e: CrmlakeError| CrmlakeError::user(format!("{context}: {e}"));
    let mut writer = PartWriter::new(rc.out, &staged, checks::schema(), rc.max_file_bytes)?;
    writer.write(&batch).await.map_err(in_checks)?;
    let parts = writer.finish().await.map_err(in_checks)?;
    rc.out.delete(&format!("{partition}/_SUCCESS")).await?;
    rc.out
        .commit_partition(&parts, &partition, rc.run_id)
        .await?;
    Ok(alerts)
}

/// Clear what earlier runs left (killed runs' staging, this date's run
/// marker: it comes back only when this run has committed every step) and
/// register the existing `models` table. Returns the run marker's path.
async fn prepare_out_root(job: &JobFile, rc: &RunContext<'_>) -> Result<String> {
    let out = rc.out;
    out.delete_dir("_staging").await?;
    let run_marker = run_marker(rc.job, rc.run_date);
    out.delete(&run_marker).await?;
    if !out.list("models").await?.is_empty() {
        register_output(
            rc.ctx,
            "models",
            &out.dir_url("models")?,
            &format!("job '{}'", job.name),
        )
        .await?;
    }
    Ok(run_marker)
}

/// The manifest of a run that has just started (no steps yet).
fn new_manifest(
    job: &JobFile,
    rc: &RunContext<'_>,
    lake_report: &crate::lake::LakeReport,
    started_at: String,
) -> Manifest {
    Manifest {
        run_id: rc.run_id.to_string(),
        status: "running",
        error: None,
        job: JobInfo {
            name: job.name.clone(),
            file: job.source.clone(),
            sha256: job.sha256.clone(),
        },
        crmlake_version: env!("CARGO_PKG_VERSION"),
        run_date: rc.run_date.to_string(),
        started_at,
        finished_at: None,
        lake: lake_report.root.clone(),
        out: rc.out.shown().to_string(),
        settings: SettingsInfo {
            target_partitions: job.settings.target_partitions,
            memory_limit_mb: rc.memory_limit_mb,
            memory_limit_default: job.settings.memory_limit_mb.is_none(),
            max_file_mb: job.settings.max_file_mb,
            currency: job.settings.currency.clone(),
        },
        previous_run_date: None,
        alerts: Vec::new(),
        alerts_output: None,
        notify: None,
        incremental: Vec::new(),
        inputs: lake_report
            .tables
            .iter()
            .flat_map(|t| t.files.iter().map(|f| InputFile::of(&t.name, f)))
            .collect(),
        steps: Vec::new(),
    }
}

/// Run step `i` and commit its output, with its progress line; its manifest
/// record either way.
async fn run_step(
    job: &JobFile,
    i: usize,
    rc: &RunContext<'_>,
) -> std::result::Result<(StepRecord, StepReport), (StepRecord, CrmlakeError)> {
    let step = &job.steps[i];
    let context = step_context(job, i);
    let progress = StepProgress::start(&format!(
        "step {}/{} {}",
        i + 1,
        job.steps.len(),
        step.table
    ));
    let mut record = StepRecord {
        table: step.table.clone(),
        kind: if step.model { "model" } else { "table" },
        sql: step.sql_for(rc.run_id, rc.run_date),
        report: step.report.clone(),
        ..Default::default()
    };
    manifest::reset_peak_rss();
    let started = Instant::now();
    let truncated_before = crmlake_udfs::text_arg::truncated_texts();
    let result = if step.model {
        write_model(rc, step, &context, &mut record).await
    } else {
        write_step(rc, step, &context, &mut record, &progress).await
    };
    record.seconds = started.elapsed().as_secs_f64();
    record.peak_rss_bytes = manifest::peak_rss_bytes();
    let truncated = crmlake_udfs::text_arg::truncated_texts().saturating_sub(truncated_before);
    if truncated > 0 {
        record.warnings.insert("text_truncated".into(), truncated);
    }
    if let Err(e) = result {
        progress.abandon();
        let e = explain_error(e, rc.memory_limit_mb);
        let e = crate::invalid_utf8::name_invalid_utf8(rc.ctx, &record.sql, e).await;
        record.status = "failed";
        record.error = Some(e.to_string());
        return Err((record, e));
    }
    record.status = "succeeded";
    let rejected = record.rejected_total;
    progress.finish(&format!(
        "{context}: {} rows{}{} in {:.2}s",
        record.rows_out,
        if rejected > 0 {
            format!(", {rejected} rejected")
        } else {
            String::new()
        },
        if truncated > 0 {
            format!(", {truncated} texts cut to 64 KiB")
        } else {
            String::new()
        },
        record.seconds
    ));
    let report = StepReport {
        table: step.table.clone(),
        rows: record.rows_out,
        rejected,
        seconds: record.seconds,
        output: record.output.clone(),
    };
    Ok((record, report))
}

/// The end of a successful run: its manifest, then the run marker (last:
/// downstream jobs wait for it), then its staging folder goes.
async fn commit_run(
    rc: &RunContext<'_>,
    manifest_rel: &str,
    manifest: &Manifest,
    run_marker: &str,
    batch: Option<incremental::Batch>,
) -> Result<()> {
    let out = rc.out;
    out.check_lease()?;
    write_manifest(out, manifest_rel, manifest).await?;
    if let Some(b) = batch {
        b.commit(out).await?;
    }
    out.put(run_marker, format!("{}\n", rc.run_id).into_bytes())
        .await?;
    out.delete_dir(&format!("_staging/{}", rc.run_id)).await?;
    if let Some(dir) = out.local_dir() {
        let _ = std::fs::remove_dir(dir.join("_staging"));
    }
    Ok(())
}

fn step_context(job: &JobFile, i: usize) -> String {
    format!(
        "job '{}' step {} of {} ('{}')",
        job.name,
        i + 1,
        job.steps.len(),
        job.steps[i].table
    )
}

/// A step over the memory pool fails with DataFusion's "Resources exhausted":
/// say which limit, and where it is set.
fn explain_error(e: CrmlakeError, limit_mb: Option<usize>) -> CrmlakeError {
    match (limit_mb, &e) {
        (Some(mb), CrmlakeError::Query { context, source })
            if source.to_string().contains("Resources exhausted") =>
        {
            CrmlakeError::user(format!(
                "{context}: over the job's memory limit of {mb} MB (settings.memory_limit_mb; without it a quarter of the machine's memory): {source}"
            ))
        }
        _ => e,
    }
}

async fn write_manifest(out: &OutRoot, rel: &str, manifest: &Manifest) -> Result<()> {
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| CrmlakeError::Internal(format!("manifest: {e}")))?;
    out.put(rel, json).await
}

async fn plan_step(
    ctx: &SessionContext,
    sql: &str,
    context: &str,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let mut statements = crate::sql::parse_statements(sql, context)?;
    if statements.len() != 1 {
        return Err(CrmlakeError::user(format!(
            "{context}: a step is exactly one SQL statement, found {}",
            statements.len()
        )));
    }
    let statement = statements.remove(0);
    ctx.state()
        .statement_to_plan(statement)
        .await
        .map_err(|e| CrmlakeError::query(context, e))
}

/// A step's own columns may not include `run_date` (in any case): it is the
/// partition column of every table crmlake writes (`OUT/<table>/run_date=D/`),
/// and a file column of the same name makes the table unreadable (DataFusion
/// and pyarrow refuse it, DuckDB drops one of the two).
fn check_step_columns(plan: &datafusion::logical_expr::LogicalPlan, context: &str) -> Result<()> {
    match plan
        .schema()
        .fields()
        .iter()
        .find(|f| f.name().eq_ignore_ascii_case("run_date"))
    {
        Some(f) => Err(CrmlakeError::user(format!(
            "{context}: column '{}' clashes with the run_date partition column crmlake adds to every table; rename it (e.g. AS as_of)",
            f.name()
        ))),
        None => Ok(()),
    }
}

/// The plan of the step's own query, its columns checked.
async fn plan_output(
    ctx: &SessionContext,
    step: &Step,
    context: &str,
    run_id: &str,
    run_date: NaiveDate,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let plan = plan_step(ctx, &step.sql_for(run_id, run_date), context).await?;
    check_step_columns(&plan, context)?;
    Ok(plan)
}

/// The plan of the step's query with the reject rules' reason column;
/// `output` is the plan of the step's own query ([`plan_output`]).
async fn plan_rejects(
    ctx: &SessionContext,
    step: &Step,
    context: &str,
    run_id: &str,
    run_date: NaiveDate,
    output: &datafusion::logical_expr::LogicalPlan,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let columns: Vec<String> = output
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let sql = rejects::with_reasons(
        &step.sql_for(run_id, run_date),
        &step.rules_for(run_id, run_date),
        step.reject_duplicates,
        &columns,
    );
    plan_step(ctx, &sql, &format!("{context}: reject rules")).await
}

/// The step's plan, with the reject rules' reason column when it has rules.
async fn plan_with_rejects(
    ctx: &SessionContext,
    step: &Step,
    context: &str,
    run_id: &str,
    run_date: NaiveDate,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let plan = plan_output(ctx, step, context, run_id, run_date).await?;
    if !step.rejects() {
        return Ok(plan);
    }
    plan_rejects(ctx, step, context, run_id, run_date, &plan).await
}

/// The columns of the `models` table over a model step's query (wrapped
/// with a newline before the parenthesis, so a trailing `-- comment` ends
/// where the step's SQL does).
fn models_projection(
    job: &str,
    name: &str,
    sql: &str,
    run_id: &str,
    run_date: NaiveDate,
) -> String {
    format!(
        "SELECT CAST('{name}' AS VARCHAR) AS name, CAST(1 AS BIGINT) AS version, \
         CAST('{run_id}' AS VARCHAR) AS run_id, DATE '{run_date}' AS run_date, \
         CAST(now() AS TIMESTAMP) AS created_at, CAST('{{}}' AS VARCHAR) AS metrics, \
         CAST(model AS VARCHAR) AS model, CAST('{job}' AS VARCHAR) AS job FROM ({sql}\n) AS step"
    )
}

/// Dry run: plan the step and expose it as a view so later steps plan too
/// (a model step as the `models` table).
async fn plan_step_as_view(
    ctx: &SessionContext,
    job: &str,
    step: &Step,
    context: &str,
    run_id: &str,
    run_date: NaiveDate,
) -> Result<()> {
    let (plan, table) = if step.model {
        let sql = step.sql_for(run_id, run_date);
        plan_step(ctx, &sql, context).await?;
        let sql = sql.trim().trim_end_matches(';');
        (
            plan_step(
                ctx,
                &models_projection(job, &step.table, sql, run_id, run_date),
                context,
            )
            .await?,
            "models",
        )
    } else {
        // The rules are planned too (a typo in a condition is caught), but
        // later steps see the step's own columns.
        let plan = plan_output(ctx, step, context, run_id, run_date).await?;
        if step.rejects() {
            plan_rejects(ctx, step, context, run_id, run_date, &plan).await?;
        }
        (plan, step.table.as_str())
    };
    let view = ViewTable::new(plan, None);
    let name = TableReference::bare(table);
    ctx.deregister_table(name.clone())
        .map_err(|e| CrmlakeError::query(context, e))?;
    ctx.register_table(name, Arc::new(view))
        .map_err(|e| CrmlakeError::query(context, e))?;
    Ok(())
}

/// Rows the plan's sources produced (its leaves' `output_rows`).
fn rows_read(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let children = plan.children();
    if children.is_empty() {
        return plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0) as u64;
    }
    children.into_iter().map(rows_read).sum()
}

/// Bytes the plan's operators spilled to disk.
fn bytes_spilled(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
    own + plan.children().into_iter().map(bytes_spilled).sum::<u64>()
}

/// The physical plan of a step's logical plan.
async fn physical_plan(
    ctx: &SessionContext,
    plan: datafusion::logical_expr::LogicalPlan,
    context: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    ctx.execute_logical_plan(plan)
        .await
        .map_err(|e| CrmlakeError::query(context, e))?
        .create_physical_plan()
        .await
        .map_err(|e| CrmlakeError::query(context, e))
}

/// Record what an executed plan read and spilled.
fn record_plan_metrics(record: &mut StepRecord, physical: &Arc<dyn ExecutionPlan>) {
    record.rows_in = rows_read(physical);
    record.spilled_bytes = bytes_spilled(physical);
}

/// Run the step, stage its output (and rejects), commit, and register the
/// table for later steps.
async fn write_step(
    rc: &RunContext<'_>,
    step: &Step,
    context: &str,
    record: &mut StepRecord,
    progress: &StepProgress,
) -> Result<()> {
    let RunContext {
        ctx,
        out,
        run_id,
        run_date,
        ..
    } = rc;
    let appending = rc.appending.contains(&step.table);
    incremental::check_layout(out, &step.table, *run_date, appending, context).await?;
    let plan = plan_with_rejects(ctx, step, context, run_id, *run_date).await?;
    let physical = physical_plan(ctx, plan, context).await?;
    let schema = physical.schema();
    let mut splitter = if step.rejects() {
        Some(rejects::Splitter::new(&schema, context)?)
    } else {
        None
    };
    let partition = rc.partition(&step.table);
    let rejects_partition = format!("_rejects/{partition}");
    let staged = format!("_staging/{run_id}/{partition}");
    let staged_rejects = format!("_staging/{run_id}/{rejects_partition}");
    let table_schema = splitter
        .as_ref()
        .map(|s| s.table_schema.clone())
        .unwrap_or_else(|| schema.clone());
    let in_step = |e: CrmlakeError| CrmlakeError::user(format!("{context}: {e}"));
    let mut writer = PartWriter::new(out, &staged, table_schema, rc.max_file_bytes)?;
    let mut rejects_writer = match &splitter {
        Some(s) => Some(PartWriter::new(
            out,
            &staged_rejects,
            s.rejects_schema.clone(),
            rc.max_file_bytes,
        )?),
        None => None,
    };
    let mut stream = execute_stream(Arc::clone(&physical), ctx.task_ctx())
        .map_err(|e| CrmlakeError::query(context, e))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| CrmlakeError::query(context, e))?;
        let kept = match (&mut splitter, &mut rejects_writer) {
            (Some(s), Some(w)) => {
                let (kept, rejected) = s.split(&batch)?;
                if rejected.num_rows() > 0 {
                    w.write(&rejected).await.map_err(in_step)?;
                }
                kept
            }
            _ => batch,
        };
        rows += kept.num_rows() as u64;
        if kept.num_rows() > 0 {
            writer.write(&kept).await.map_err(in_step)?;
        }
        progress.rows(rows);
    }
    let parts = writer.finish().await.map_err(in_step)?;
    let rejects_parts = match rejects_writer {
        Some(w) => Some(w.finish().await.map_err(in_step)?),
        None => None,
    };
    // The table's `_SUCCESS` goes before anything of the step changes and
    // comes back as its last write: while the rejects are committed, or if
    // the table's commit then fails, the table has no marker (its rows and
    // rejects belong together when both markers hold the same run id).
    out.delete(&format!("{partition}/_SUCCESS")).await?;
    if let Some(rejects_parts) = rejects_parts {
        out.commit_partition(&rejects_parts, &rejects_partition, run_id)
            .await?;
        record.rejects_output = Some(out.show(&format!("{rejects_partition}/")));
    } else {
        // A rerun of a step that has no rules (any more) leaves no stale rejects.
        out.delete_dir(&rejects_partition).await?;
    }
    out.commit_partition(&parts, &partition, run_id).await?;
    record_plan_metrics(record, &physical);
    record.rows_out = rows;
    if let Some(s) = splitter {
        record.rejected_total = s.counts.values().sum();
        record.rejected = s.counts;
    }
    record.output = Some(out.show(&format!("{partition}/")));
    // Later steps read what was committed.
    register_output(ctx, &step.table, &out.dir_url(&partition)?, context).await
}

/// (Re-)register the committed folder at `url` as table `name` for later steps.
async fn register_output(ctx: &SessionContext, name: &str, url: &str, context: &str) -> Result<()> {
    ctx.deregister_table(TableReference::bare(name))
        .map_err(|e| CrmlakeError::query(context, e))?;
    // DataFusion caches directory listings: forget them, or files written
    // since a folder was last listed (a new model version) stay invisible.
    if let Some(cache) = ctx.runtime_env().cache_manager.get_list_files_cache() {
        cache.clear();
    }
    register_parquet_table(ctx, name, url, 1).await?;
    Ok(())
}

/// The version a model step writes: model `name` belongs to the job that
/// first wrote it (another job's step naming it is refused), a rerun of the
/// same job and date replaces that date's version, and otherwise the model
/// gets the next version (1 when there is none). Versions written before
/// models carried their job (no `job` column, or NULL) belong to no job.
async fn model_version(rc: &RunContext<'_>, name: &str, context: &str) -> Result<i64> {
    let prefix = format!("{name}-v");
    let exists = rc.out.list("models").await?.iter().any(|o| {
        o.location
            .filename()
            .is_some_and(|f| f.starts_with(&prefix) && f.ends_with(".parquet"))
    });
    if !exists {
        return Ok(1);
    }
    let models = rc
        .ctx
        .table("models")
        .await
        .map_err(|e| CrmlakeError::query(context, e))?;
    let has_job = models.schema().field_with_unqualified_name("job").is_ok();
    let job = if has_job {
        "job"
    } else {
        "CAST(NULL AS VARCHAR)"
    };
    let sql = format!(
        "SELECT CAST(max(version) AS BIGINT), \
                CAST(max(CASE WHEN {job} = '{me}' AND run_date = DATE '{date}' THEN version END) AS BIGINT), \
                min(CASE WHEN {job} <> '{me}' THEN {job} END) \
         FROM models WHERE name = '{name}'",
        me = rc.job,
        date = rc.run_date,
    );
    let batches = rc
        .ctx
        .sql(&sql)
        .await
        .map_err(|e| CrmlakeError::query(context, e))?
        .collect()
        .await
        .map_err(|e| CrmlakeError::query(context, e))?;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(1);
    };
    let int = |i: usize| {
        let c = b.column(i).as_primitive::<Int64Type>();
        (!c.is_null(0)).then(|| c.value(0))
    };
    let other = datafusion::arrow::compute::cast(
        b.column(2),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .map_err(|e| CrmlakeError::Internal(format!("models owner: {e}")))?;
    let other = other.as_string::<i32>();
    if !other.is_null(0) {
        return Err(CrmlakeError::user(format!(
            "{context}: model '{name}' in '{}' belongs to job '{}'; a model name belongs to one job, so name this step's model differently (table = \"{}_{name}\")",
            rc.out.show("models"),
            other.value(0),
            rc.job
        )));
    }
    Ok(match (int(1), int(0)) {
        (Some(same_date), _) => same_date,
        (None, Some(last)) => last + 1,
        (None, None) => 1,
    })
}

/// The training metrics of a model value as JSON: `model_info`'s `metrics`
/// object, or its top-level numbers for models without one.
fn model_metrics(text: &str) -> serde_json::Value {
    let Ok(model) = crmlake_udfs::model::Model::parse("models", text) else {
        return serde_json::json!({});
    };
    let info: serde_json::Value =
        serde_json::from_str(&model.info_json()).unwrap_or(serde_json::Value::Null);
    if let Some(m) = info.get("metrics").filter(|m| m.is_object()) {
        return m.clone();
    }
    let numbers: serde_json::Map<String, serde_json::Value> = info
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.is_number() || v.is_boolean())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    serde_json::Value::Object(numbers)
}

/// Run a model step and append its model to `OUT/models/` as the next version.
async fn write_model(
    rc: &RunContext<'_>,
    step: &Step,
    context: &str,
    record: &mut StepRecord,
) -> Result<()> {
    use datafusion::arrow::array::{
        Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    let RunContext {
        job,
        ctx,
        out,
        run_id,
        run_date,
        ..
    } = rc;
    // Before training: a name owned by another job fails fast.
    let version = model_version(rc, &step.table, context).await?;
    let plan = plan_step(ctx, &step.sql_for(run_id, *run_date), context).await?;
    let physical = physical_plan(ctx, plan, context).await?;
    let batches = datafusion::physical_plan::collect(Arc::clone(&physical), ctx.task_ctx())
        .await
        .map_err(|e| CrmlakeError::query(context, e))?;
    record_plan_metrics(record, &physical);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Err(CrmlakeError::user(format!(
            "{context}: a model step must return one row with a 'model' column, got no rows"
        )));
    };
    if rows != 1 {
        return Err(CrmlakeError::user(format!(
            "{context}: a model step must return one row with a 'model' column, got {rows} rows"
        )));
    }
    let Some(column) = batch.column_by_name("model") else {
        return Err(CrmlakeError::user(format!(
            "{context}: a model step must return a column named 'model'"
        )));
    };
    let text = cast(column, &DataType::Utf8)
        .map_err(|e| CrmlakeError::user(format!("{context}: column 'model': {e}")))?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .filter(|a| !a.is_null(0))
        .map(|a| a.value(0).to_string())
        .ok_or_else(|| {
            CrmlakeError::user(format!(
                "{context}: the model is NULL (no rows to train on?)"
            ))
        })?;
    let metrics = model_metrics(&text);
    let now = chrono::Utc::now().timestamp_micros();
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("run_date", DataType::Date32, false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("metrics", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        // Added after the first release: at the end, as every new column.
        Field::new("job", DataType::Utf8, false),
    ]));
    let days = (*run_date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![step.table.clone()])),
        Arc::new(Int64Array::from(vec![version])),
        Arc::new(StringArray::from(vec![run_id.to_string()])),
        Arc::new(Date32Array::from(vec![days as i32])),
        Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec![metrics.to_string()])),
        Arc::new(StringArray::from(vec![text])),
        Arc::new(StringArray::from(vec![job.to_string()])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(|e| CrmlakeError::Internal(format!("models row: {e}")))?;
    let file = format!("models/{}-v{version}.parquet", step.table);
    let staged = format!("_staging/{run_id}/{file}");
    let write_error = |e: datafusion::parquet::errors::ParquetError| {
        CrmlakeError::user(format!("{context}: writing '{}': {e}", out.show(&staged)))
    };
    let mut writer = out.parquet_writer(&staged, schema)?;
    writer.write(&batch).await.map_err(write_error)?;
    writer.close().await.map_err(write_error)?;
    out.rename(&staged, &file).await?;
    record.rows_out = 1;
    record.model_version = Some(version);
    record.model_metrics = Some(metrics);
    record.output = Some(out.show(&file));
    register_output(ctx, "models", &out.dir_url("models")?, context).await
}
