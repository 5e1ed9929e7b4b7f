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
//! memory_limit_mb = 4096
//! [[steps]]
//! table = "clean_transactions"
//! sql = "SELECT * FROM transactions WHERE customer_id IS NOT NULL"
//! ```
//!
//! Relative `lake` and `out` paths are relative to the current directory.
//! In a step's SQL, `${run_id}` and `${run_date}` are replaced by the run's id
//! and date as SQL string literals (`'20261201T...-123'`, `'2026-12-01'`).
//!
//! Model steps (`model = true`): the step's result must be one row with a
//! `model` column (a `*_fit` / `*_train` aggregate's value). Instead of a
//! table of its own, the model is appended to the `models` table as version
//! n + 1 of the model named by the step's `table`:
//! `OUT/models/<name>-v<version>.parquet` with columns `name`, `version`,
//! `run_id`, `run_date`, `created_at`, `metrics` (JSON: the training metrics
//! of `model_info`) and `model`. The file is written under `OUT/_staging/`
//! and renamed into place, so readers see a version whole or not at all. Later
//! steps read it from `models`, e.g. `(SELECT model FROM models WHERE name =
//! 'churn' ORDER BY version DESC LIMIT 1)`.
//!
//! Output layout and commit protocol: each table is written to
//! `OUT/<table>/_staging-<run_id>/run_date=D/part-00000.parquet` (plus a
//! `_SUCCESS` marker), then committed by renaming the staged folder to
//! `OUT/<table>/run_date=D`. An existing partition of the same date is first
//! renamed aside and deleted after the commit, so a rerun replaces it and never
//! mixes old and new files. Readers ignore folders starting with `_`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::common::TableReference;
use datafusion::datasource::ViewTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Deserialize;

use crate::error::{CrmlakeError, Result};
use crate::lake::register_parquet_table;
use crate::session::{lake_session, SessionOptions};

/// The bundled demo job.
pub const DEMO_JOB: &str = include_str!("../jobs/demo.toml");

/// A parsed job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub name: String,
    pub lake: Option<String>,
    pub out: Option<String>,
    #[serde(default)]
    pub settings: JobSettings,
    pub steps: Vec<Step>,
}

/// Optional engine settings of a job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub target_partitions: Option<usize>,
    pub memory_limit_mb: Option<usize>,
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
}

impl Step {
    /// The SQL with `${run_id}` and `${run_date}` filled in.
    fn sql_for(&self, run_id: &str, run_date: NaiveDate) -> String {
        self.sql
            .replace("${run_id}", &format!("'{run_id}'"))
            .replace("${run_date}", &format!("'{run_date}'"))
    }
}

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub run_date: Option<NaiveDate>,
    pub lake: Option<String>,
    pub out: Option<String>,
    pub dry_run: bool,
}

/// What one step wrote.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
    pub path: Option<PathBuf>,
}

/// Parse a job file's text; `source` names it in errors.
pub fn parse_job(text: &str, source: &str) -> Result<JobFile> {
    let job: JobFile = toml::from_str(text)
        .map_err(|e| CrmlakeError::user(format!("job file '{source}': {e}")))?;
    if job.steps.is_empty() {
        return Err(CrmlakeError::user(format!(
            "job file '{source}': no [[steps]]"
        )));
    }
    for (i, s) in job.steps.iter().enumerate() {
        let ok = !s.table.is_empty()
            && !s.table.starts_with(['_', '.'])
            && s.table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(CrmlakeError::user(format!(
                "job file '{source}': step {}: table name '{}' must be letters, digits and _ and not start with _",
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
    }
    Ok(job)
}

/// Read and parse a job file.
pub fn load_job(path: &Path) -> Result<JobFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CrmlakeError::user(format!("cannot read job file '{}': {e}", path.display()))
    })?;
    parse_job(&text, &path.display().to_string())
}

/// Run `job`; returns one report per step.
pub async fn run_job(job: &JobFile, opts: &RunOptions) -> Result<Vec<StepReport>> {
    let lake = opts
        .lake
        .clone()
        .or_else(|| job.lake.clone())
        .unwrap_or_else(|| crate::session::DEFAULT_LAKE.to_string());
    let out = PathBuf::from(
        opts.out
            .clone()
            .or_else(|| job.out.clone())
            .unwrap_or_else(|| "out".into()),
    );
    let run_date = opts
        .run_date
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let session_opts = SessionOptions {
        lake: Some(lake),
        target_partitions: job.settings.target_partitions,
        memory_limit: job.settings.memory_limit_mb.map(|mb| mb * 1024 * 1024),
    };
    let (ctx, _report) = lake_session(&session_opts).await?;
    let run_id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    // Models of earlier runs, for steps that score with them.
    let models_dir = out.join("models");
    if !opts.dry_run && models_dir.is_dir() {
        register_output(&ctx, "models", &models_dir, &format!("job '{}'", job.name)).await?;
    }
    let total = job.steps.len();
    let mut reports = Vec::with_capacity(total);
    for (i, step) in job.steps.iter().enumerate() {
        let context = format!(
            "job '{}' step {} of {total} ('{}')",
            job.name,
            i + 1,
            step.table
        );
        let started = Instant::now();
        let report = if opts.dry_run {
            plan_step_as_view(&ctx, step, &context, &run_id, run_date).await?;
            StepReport {
                table: step.table.clone(),
                rows: 0,
                seconds: 0.0,
                path: None,
            }
        } else if step.model {
            let path = write_model(&ctx, step, &context, &out, run_date, &run_id).await?;
            StepReport {
                table: step.table.clone(),
                rows: 1,
                seconds: started.elapsed().as_secs_f64(),
                path: Some(path),
            }
        } else {
            let (rows, path) = write_step(&ctx, step, &context, &out, run_date, &run_id).await?;
            StepReport {
                table: step.table.clone(),
                rows,
                seconds: started.elapsed().as_secs_f64(),
                path: Some(path),
            }
        };
        if opts.dry_run {
            log::info!("{context}: planned");
            eprintln!("{context}: planned");
        } else {
            eprintln!("{context}: {} rows in {:.2}s", report.rows, report.seconds);
        }
        reports.push(report);
    }
    Ok(reports)
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

/// The columns of the `models` table over a model step's query.
fn models_projection(name: &str, sql: &str, run_id: &str, run_date: NaiveDate) -> String {
    format!(
        "SELECT CAST('{name}' AS VARCHAR) AS name, CAST(1 AS BIGINT) AS version, \
         CAST('{run_id}' AS VARCHAR) AS run_id, DATE '{run_date}' AS run_date, \
         CAST(now() AS TIMESTAMP) AS created_at, CAST('{{}}' AS VARCHAR) AS metrics, \
         CAST(model AS VARCHAR) AS model FROM ({sql}) AS step"
    )
}

/// Dry run: plan the step and expose it as a view so later steps plan too
/// (a model step as the `models` table).
async fn plan_step_as_view(
    ctx: &SessionContext,
    step: &Step,
    context: &str,
    run_id: &str,
    run_date: NaiveDate,
) -> Result<()> {
    let sql = step.sql_for(run_id, run_date);
    let (sql, table) = if step.model {
        plan_step(ctx, &sql, context).await?;
        let sql = sql.trim().trim_end_matches(';');
        (
            models_projection(&step.table, sql, run_id, run_date),
            "models",
        )
    } else {
        (sql, step.table.as_str())
    };
    let plan = plan_step(ctx, &sql, context).await?;
    let view = ViewTable::new(plan, None);
    let name = TableReference::bare(table);
    ctx.deregister_table(name.clone())
        .map_err(|e| CrmlakeError::query(context, e))?;
    ctx.register_table(name, Arc::new(view))
        .map_err(|e| CrmlakeError::query(context, e))?;
    Ok(())
}

/// Run the step, stage its output, commit it, and register it for later steps.
async fn write_step(
    ctx: &SessionContext,
    step: &Step,
    context: &str,
    out: &Path,
    run_date: NaiveDate,
    run_id: &str,
) -> Result<(u64, PathBuf)> {
    let plan = plan_step(ctx, &step.sql_for(run_id, run_date), context).await?;
    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| CrmlakeError::query(context, e))?;
    let table_dir = out.join(&step.table);
    let partition = format!("run_date={run_date}");
    let staging = table_dir.join(format!("_staging-{run_id}"));
    let staged_partition = staging.join(&partition);
    std::fs::create_dir_all(&staged_partition)
        .map_err(|e| CrmlakeError::io(staged_partition.display(), e))?;
    let result = async {
        let file = staged_partition.join("part-00000.parquet");
        let schema = df.schema().inner().clone();
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| CrmlakeError::query(context, e))?;
        let f = std::fs::File::create(&file).map_err(|e| CrmlakeError::io(file.display(), e))?;
        let mut writer = ArrowWriter::try_new(f, schema, Some(crate::output::writer_properties()))
            .map_err(|e| CrmlakeError::Internal(format!("parquet writer: {e}")))?;
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| CrmlakeError::query(context, e))?;
            rows += batch.num_rows() as u64;
            writer.write(&batch).map_err(|e| {
                CrmlakeError::user(format!("{context}: writing '{}': {e}", file.display()))
            })?;
        }
        let f = writer.into_inner().map_err(|e| {
            CrmlakeError::user(format!("{context}: writing '{}': {e}", file.display()))
        })?;
        f.sync_all()
            .map_err(|e| CrmlakeError::io(file.display(), e))?;
        let marker = staged_partition.join("_SUCCESS");
        std::fs::write(&marker, b"").map_err(|e| CrmlakeError::io(marker.display(), e))?;
        Ok::<u64, CrmlakeError>(rows)
    }
    .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let target = table_dir.join(&partition);
    commit(&staged_partition, &target, &table_dir, run_id)?;
    let _ = std::fs::remove_dir_all(&staging);

    // Later steps read what was committed.
    register_output(ctx, &step.table, &target, context).await?;
    Ok((rows, target))
}

/// (Re-)register the committed folder `dir` as table `name` for later steps.
async fn register_output(
    ctx: &SessionContext,
    name: &str,
    dir: &Path,
    context: &str,
) -> Result<()> {
    let abs = std::fs::canonicalize(dir).map_err(|e| CrmlakeError::io(dir.display(), e))?;
    let url = url::Url::from_directory_path(&abs)
        .map_err(|_| CrmlakeError::Internal(format!("bad output path {}", abs.display())))?;
    ctx.deregister_table(TableReference::bare(name))
        .map_err(|e| CrmlakeError::query(context, e))?;
    // DataFusion caches directory listings: forget them, or files written
    // since a folder was last listed (a new model version) stay invisible.
    if let Some(cache) = ctx.runtime_env().cache_manager.get_list_files_cache() {
        cache.clear();
    }
    register_parquet_table(ctx, name, url.as_str(), 1).await?;
    Ok(())
}

/// Move `staged` to `target`, replacing an existing `target` whole.
fn commit(staged: &Path, target: &Path, table_dir: &Path, run_id: &str) -> Result<()> {
    let aside = table_dir.join(format!("_replaced-{run_id}"));
    let had_old = target.exists();
    if had_old {
        std::fs::rename(target, &aside).map_err(|e| CrmlakeError::io(target.display(), e))?;
    }
    if let Err(e) = std::fs::rename(staged, target) {
        if had_old {
            let _ = std::fs::rename(&aside, target);
        }
        return Err(CrmlakeError::io(target.display(), e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&aside);
    }
    Ok(())
}

/// The next version of model `name` in `models_dir` (1 when there is none).
fn next_version(models_dir: &Path, name: &str) -> Result<i64> {
    let prefix = format!("{name}-v");
    let mut last = 0;
    match std::fs::read_dir(models_dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some(v) = file
                    .strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(".parquet"))
                    .and_then(|v| v.parse::<i64>().ok())
                {
                    last = last.max(v);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CrmlakeError::io(models_dir.display(), e)),
    }
    Ok(last + 1)
}

/// The training metrics of a model value as JSON: `model_info`'s `metrics`
/// object, or its top-level numbers for models without one.
fn model_metrics(text: &str) -> String {
    let Ok(model) = crmlake_udfs::model::Model::parse("models", text) else {
        return "{}".into();
    };
    let info: serde_json::Value =
        serde_json::from_str(&model.info_json()).unwrap_or(serde_json::Value::Null);
    if let Some(m) = info.get("metrics").filter(|m| m.is_object()) {
        return m.to_string();
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
    serde_json::Value::Object(numbers).to_string()
}

/// Run a model step and append its model to `OUT/models/` as the next version.
async fn write_model(
    ctx: &SessionContext,
    step: &Step,
    context: &str,
    out: &Path,
    run_date: NaiveDate,
    run_id: &str,
) -> Result<PathBuf> {
    use datafusion::arrow::array::{
        Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    let plan = plan_step(ctx, &step.sql_for(run_id, run_date), context).await?;
    let batches = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| CrmlakeError::query(context, e))?
        .collect()
        .await
        .map_err(|e| CrmlakeError::query(context, e))?;
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
    let models_dir = out.join("models");
    let staging_dir = out.join("_staging");
    for d in [&models_dir, &staging_dir] {
        std::fs::create_dir_all(d).map_err(|e| CrmlakeError::io(d.display(), e))?;
    }
    let version = next_version(&models_dir, &step.table)?;
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
    ]));
    let days = (run_date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![step.table.clone()])),
        Arc::new(Int64Array::from(vec![version])),
        Arc::new(StringArray::from(vec![run_id.to_string()])),
        Arc::new(Date32Array::from(vec![days as i32])),
        Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec![model_metrics(&text)])),
        Arc::new(StringArray::from(vec![text])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(|e| CrmlakeError::Internal(format!("models row: {e}")))?;
    let file_name = format!("{}-v{version}.parquet", step.table);
    let staged = staging_dir.join(format!("{run_id}-{file_name}"));
    let target = models_dir.join(&file_name);
    let written = (|| {
        let f =
            std::fs::File::create(&staged).map_err(|e| CrmlakeError::io(staged.display(), e))?;
        let mut writer = ArrowWriter::try_new(f, schema, Some(crate::output::writer_properties()))
            .map_err(|e| CrmlakeError::Internal(format!("parquet writer: {e}")))?;
        writer.write(&batch).map_err(|e| {
            CrmlakeError::user(format!("{context}: writing '{}': {e}", staged.display()))
        })?;
        let f = writer.into_inner().map_err(|e| {
            CrmlakeError::user(format!("{context}: writing '{}': {e}", staged.display()))
        })?;
        f.sync_all()
            .map_err(|e| CrmlakeError::io(staged.display(), e))?;
        std::fs::rename(&staged, &target).map_err(|e| CrmlakeError::io(target.display(), e))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    register_output(ctx, "models", &models_dir, context).await?;
    Ok(target)
}
