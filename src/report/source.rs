//! What a report reads: one run's manifest and the tables it committed
//! (and the previous run's partitions of the same tables), each found by
//! its report kind.
//!
//! A step's kind is its `report = "<kind>"` in the job, recorded in the
//! manifest; without one, the documented table names of the demo job give
//! it ([`default_kind`]). Only the manifest and committed outputs are read,
//! so a report can be rebuilt later, for a run of an older version or one
//! made on a cluster.

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::error::{CrmlakeError, Result};
use crate::out_root::OutRoot;

/// The report kinds and the tables of the demo job that have them when a
/// step declares none. A user's step declares its own with `report = ...`.
pub const DEFAULT_KINDS: &[(&str, &str)] = &[
    ("clean_transactions", "transactions"),
    ("kpis", "kpis"),
    ("kpi_month", "kpi_series"),
    ("rfm_segments", "rfm"),
    ("kmeans_segments", "kmeans"),
    ("cohort_retention", "cohorts"),
    ("ltv", "ltv"),
    ("churn_scores", "churn_scores"),
    ("churn_calibration", "calibration"),
    ("basket_rules", "basket_rules"),
    ("recommendations", "recommendations"),
    ("feedback_scored", "feedback"),
    ("churn_watchlist", "watchlist"),
    ("loyalty_kpis", "loyalty_kpis"),
    ("loyalty_tiers", "loyalty_tiers"),
    ("campaign_readout", "campaign"),
];

/// Every kind a step may declare.
pub const KINDS: &[&str] = &[
    "transactions",
    "kpis",
    "kpi_series",
    "rfm",
    "kmeans",
    "cohorts",
    "ltv",
    "churn_scores",
    "calibration",
    "basket_rules",
    "recommendations",
    "recommender_eval",
    "feedback",
    "watchlist",
    "loyalty_kpis",
    "loyalty_tiers",
    "campaign",
];

/// The kind of a table without a declared one.
pub fn default_kind(table: &str) -> Option<&'static str> {
    DEFAULT_KINDS
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, k)| *k)
}

/// One run's manifest and committed tables, registered in a session of the
/// report's own.
pub struct Source<'a> {
    pub ctx: SessionContext,
    pub out: &'a OutRoot,
    pub manifest: Value,
    pub run_date: String,
    pub previous_run_date: Option<String>,
    /// Committed table steps: (table, kind).
    tables: Vec<(String, String)>,
}

impl<'a> Source<'a> {
    pub fn new(ctx: SessionContext, out: &'a OutRoot, manifest: Value) -> Result<Source<'a>> {
        let run_id = manifest["run_id"].as_str().unwrap_or("?").to_string();
        let run_date = manifest["run_date"]
            .as_str()
            .ok_or_else(|| {
                CrmlakeError::user(format!("run {run_id}: its manifest has no run_date"))
            })?
            .to_string();
        let previous_run_date = manifest["previous_run_date"].as_str().map(str::to_string);
        let mut tables = Vec::new();
        for step in manifest["steps"].as_array().into_iter().flatten() {
            let (Some(table), Some("table"), Some("succeeded")) = (
                step["table"].as_str(),
                step["kind"].as_str(),
                step["status"].as_str(),
            ) else {
                continue;
            };
            let kind = step["report"]
                .as_str()
                .or_else(|| default_kind(table))
                .unwrap_or("");
            tables.push((table.to_string(), kind.to_string()));
        }
        Ok(Source {
            ctx,
            out,
            manifest,
            run_date,
            previous_run_date,
            tables,
        })
    }

    /// The first committed table of `kind`.
    pub fn table_of(&self, kind: &str) -> Option<&str> {
        self.tables
            .iter()
            .find(|(_, k)| k == kind)
            .map(|(t, _)| t.as_str())
    }

    /// Register this run's partition of `table` (as `cur_<table>`) and
    /// return the name to query.
    pub async fn current(&self, table: &str) -> Result<String> {
        let name = format!("cur_{table}");
        self.register(&name, &format!("{table}/run_date={}", self.run_date))
            .await?;
        Ok(name)
    }

    /// The previous run's partition of `table` (as `prev_<table>`), when
    /// there was a previous run and it wrote that table.
    pub async fn previous(&self, table: &str) -> Result<Option<String>> {
        let Some(date) = &self.previous_run_date else {
            return Ok(None);
        };
        let rel = format!("{table}/run_date={date}");
        if self.out.list(&rel).await?.is_empty() {
            return Ok(None);
        }
        let name = format!("prev_{table}");
        self.register(&name, &rel).await?;
        Ok(Some(name))
    }

    /// The committed model versions (`OUT/models/`), as `report_models`.
    pub async fn models(&self) -> Result<Option<String>> {
        if self.out.list("models").await?.is_empty() {
            return Ok(None);
        }
        self.register("report_models", "models").await?;
        Ok(Some("report_models".to_string()))
    }

    /// Register the Parquet folder `rel` of the output root as `name`, once.
    async fn register(&self, name: &str, rel: &str) -> Result<()> {
        if self.ctx.table_exist(name).unwrap_or(false) {
            return Ok(());
        }
        let url = self.out.dir_url(rel)?;
        crate::lake::register_parquet_table(&self.ctx, name, &url, 1).await?;
        Ok(())
    }

    /// Run `sql` and collect its rows.
    pub async fn query(&self, sql: &str) -> Result<Rows> {
        let context = "report query";
        let batches = self
            .ctx
            .sql(sql)
            .await
            .map_err(|e| CrmlakeError::query(context, e))?
            .collect()
            .await
            .map_err(|e| CrmlakeError::query(context, e))?;
        Ok(Rows { batches })
    }

    /// The columns of a registered table and their types.
    async fn fields(&self, name: &str) -> Result<Vec<(String, DataType)>> {
        let df = self
            .ctx
            .table(name)
            .await
            .map_err(|e| CrmlakeError::query(format!("report table {name}"), e))?;
        Ok(df
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect())
    }

    /// The column names of a registered table.
    pub async fn columns(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .fields(name)
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// Numeric columns of a registered table, with whether they are integers.
    pub async fn numeric_columns(&self, name: &str) -> Result<Vec<(String, bool)>> {
        Ok(self
            .fields(name)
            .await?
            .into_iter()
            .filter(|(_, t)| t.is_numeric())
            .map(|(n, t)| (n, t.is_integer()))
            .collect())
    }
}

/// A query's rows, read column by column.
pub struct Rows {
    batches: Vec<RecordBatch>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column `name` as numbers (NULL or not a number: None).
    pub fn f64(&self, name: &str) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(self.len());
        for b in &self.batches {
            let n = b.num_rows();
            match b
                .column_by_name(name)
                .and_then(|c| cast(c, &DataType::Float64).ok())
            {
                Some(a) => {
                    let a = a
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::Float64Array>()
                        .cloned();
                    match a {
                        Some(a) => out.extend((0..n).map(|i| (!a.is_null(i)).then(|| a.value(i)))),
                        None => out.extend(std::iter::repeat_n(None, n)),
                    }
                }
                None => out.extend(std::iter::repeat_n(None, n)),
            }
        }
        out
    }

    /// Column `name` as numbers, NULL as NaN.
    pub fn f64_or_nan(&self, name: &str) -> Vec<f64> {
        self.f64(name)
            .into_iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    }

    /// Column `name` as text (NULL: empty).
    pub fn text(&self, name: &str) -> Vec<String> {
        let mut out = Vec::with_capacity(self.len());
        for b in &self.batches {
            let n = b.num_rows();
            let strings = b
                .column_by_name(name)
                .and_then(|c| cast(c, &DataType::Utf8).ok());
            match strings
                .as_ref()
                .and_then(|a| a.as_any().downcast_ref::<StringArray>())
            {
                Some(a) => out.extend((0..n).map(|i| {
                    if a.is_null(i) {
                        String::new()
                    } else {
                        a.value(i).to_string()
                    }
                })),
                None => out.extend(std::iter::repeat_n(String::new(), n)),
            }
        }
        out
    }
}
