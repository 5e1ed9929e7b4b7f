//! A job reading its own earlier output: `${previous_run_date}` (the date of
//! this job's latest successful run before this one, `NULL` when there is
//! none) and the table function `previous(table)`: the latest committed
//! partition of `table` in the output root dated before this run (a
//! partition with its `_SUCCESS`), or, when there is none (a first run),
//! no rows with the columns `table` has in this run (so a step after the
//! one writing `table` can always read `previous(table)`).
//!
//! `latest(table)` is the same with the run's own date included: the latest
//! partition committed on or before the run date when the run starts (in a
//! shared output root, how a job that runs every few minutes reads what the
//! nightly job wrote today, e.g. `latest(churn_scores)`).
//!
//! All are resolved when the run starts, before any step commits: what
//! this run writes is never its own "previous". A dry run does not read the
//! output root: there `${previous_run_date}` is NULL and `previous(table)`
//! has no rows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use crate::error::{CrmlakeError, Result};
use crate::out_root::OutRoot;

/// Which of the two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `previous(table)`: partitions dated before the run date.
    Previous,
    /// `latest(table)`: partitions dated on or before the run date.
    Latest,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Previous => "previous",
            Which::Latest => "latest",
        }
    }

    /// Whether a partition of `date` counts for a run on `run_date`.
    fn admits(self, date: NaiveDate, run_date: NaiveDate) -> bool {
        match self {
            Which::Previous => date < run_date,
            Which::Latest => date <= run_date,
        }
    }
}

/// The tables `sql` reads with `previous(table)` (or `latest(table)`, by
/// `which`; names lower-cased, as SQL folds them; job tables are
/// lower-case), in order of appearance.
pub fn tables_in(sql: &str, which: Which) -> Vec<String> {
    let lower = sql.to_ascii_lowercase();
    let function = which.name();
    let mut names = Vec::new();
    for (i, _) in lower.match_indices(function) {
        let before = lower[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let Some(args) = lower[i + function.len()..].trim_start().strip_prefix('(') else {
            continue;
        };
        let name: String = args
            .trim_start()
            .trim_start_matches(['\'', '"'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

/// The dates `name=YYYY-MM-DD` entries of `entries` hold that `which`
/// admits for a run on `run_date`, latest first.
fn dates_admitted(entries: &[String], which: Which, run_date: NaiveDate) -> Vec<NaiveDate> {
    let mut dates: Vec<NaiveDate> = entries
        .iter()
        .filter_map(|e| e.strip_prefix("run_date="))
        .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .filter(|d| which.admits(*d, run_date))
        .collect();
    dates.sort_unstable_by(|a, b| b.cmp(a));
    dates
}

/// The latest date `which` admits for `run_date` whose folder
/// `dir/run_date=D/` holds `_SUCCESS` (or, for a table an incremental job
/// appends to, a `run=<id>/_SUCCESS`).
async fn latest_committed(
    out: &OutRoot,
    dir: &str,
    which: Which,
    run_date: NaiveDate,
) -> Result<Option<NaiveDate>> {
    let entries = out
        .list_dir(dir)
        .await
        .map_err(|e| CrmlakeError::user(format!("{}: list: {e}", out.show(dir))))?;
    for d in dates_admitted(&entries, which, run_date) {
        let folder = format!("{dir}/run_date={d}");
        let committed = out
            .list(&folder)
            .await?
            .iter()
            .any(|o| o.location.filename() == Some("_SUCCESS"));
        if committed {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// The date of job `job`'s latest successful run before `run_date` (its run
/// marker).
pub async fn previous_run_date(
    out: &OutRoot,
    job: &str,
    run_date: NaiveDate,
) -> Result<Option<NaiveDate>> {
    latest_committed(out, &format!("_runs/{job}"), Which::Previous, run_date).await
}

/// `previous(table)` for a run on `run_date`: each table the job names in
/// a `previous(...)` call, with its latest committed partition before that
/// date (None: there is none).
#[derive(Debug)]
pub struct Previous {
    which: Which,
    run_date: NaiveDate,
    tables: HashMap<String, Option<Arc<dyn TableProvider>>>,
}

impl Previous {
    /// Nothing before for any of `names` (a dry run).
    pub fn none(which: Which, run_date: NaiveDate, names: Vec<String>) -> Previous {
        Previous {
            which,
            run_date,
            tables: names.into_iter().map(|n| (n, None)).collect(),
        }
    }

    /// Find the latest committed partition before `run_date` of each of
    /// `names` (only those: no other table's folder is listed or read).
    pub async fn resolve(
        ctx: &SessionContext,
        out: &OutRoot,
        which: Which,
        run_date: NaiveDate,
        names: Vec<String>,
    ) -> Result<Previous> {
        let mut tables = HashMap::new();
        for name in names {
            let table = match latest_committed(out, &name, which, run_date).await? {
                Some(d) => {
                    let url = out.dir_url(&format!("{name}/run_date={d}"))?;
                    let shown = format!("{}({name})", which.name());
                    let (table, _) = crate::lake::parquet_table(ctx, &shown, &url).await?;
                    Some(Arc::new(table) as Arc<dyn TableProvider>)
                }
                None => None,
            };
            tables.insert(name, table);
        }
        Ok(Previous {
            which,
            run_date,
            tables,
        })
    }
}

impl TableFunctionImpl for Previous {
    fn call_with_args(&self, args: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let function = self.which.name();
        let name = match args.exprs() {
            [Expr::Column(c)] if c.relation.is_none() => c.name.clone(),
            [Expr::Literal(v, _)] => match v {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
                other => {
                    return Err(DataFusionError::Plan(format!(
                        "{function}(table): the argument must be a table name, got {other}"
                    )))
                }
            },
            other => {
                return Err(DataFusionError::Plan(format!(
                    "{function}(table): takes one table name, got {} arguments",
                    other.len()
                )))
            }
        };
        match self.tables.get(&name) {
            Some(Some(t)) => return Ok(Arc::clone(t)),
            Some(None) => {}
            None => {
                return Err(DataFusionError::Plan(format!(
                    "{function}({name}): not resolved when the run started; write {function}(<table>) with the table's plain name"
                )))
            }
        }
        // None before this run: no rows, with this run's columns.
        let state = crmlake_udfs::table_input::state(function, args.session())?;
        let sql = format!(
            "SELECT * FROM {} WHERE false",
            crmlake_udfs::table_input::quote_ident(&name)
        );
        crmlake_udfs::table_input::view(function, state, &sql).map_err(|e| {
            let when = match self.which {
                Which::Previous => "before",
                Which::Latest => "on or before",
            };
            DataFusionError::Plan(format!(
                "{function}({name}): no committed partition of '{name}' {when} {} in the output root, and no table '{name}' in this run to take its columns from (write it in an earlier step): {e}",
                self.run_date
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_calls_are_found_and_other_words_are_not() {
        assert_eq!(
            tables_in(
                "SELECT * FROM previous(churn_scores) JOIN PREVIOUS ( 'X' ) USING (c)",
                Which::Previous
            ),
            ["churn_scores", "x"]
        );
        assert_eq!(
            tables_in(
                "SELECT * FROM previous(a), previous(\"a\")",
                Which::Previous
            ),
            ["a", "a"]
        );
        assert!(tables_in("SELECT previous_score FROM t", Which::Previous).is_empty());
        assert!(tables_in("SELECT * FROM my_previous(t)", Which::Previous).is_empty());
        assert_eq!(
            tables_in(
                "SELECT * FROM latest(ltv) JOIN previous(x) USING (c)",
                Which::Latest
            ),
            ["ltv"]
        );
    }

    #[test]
    fn dates_before_the_run_latest_first() {
        let entries: Vec<String> = [
            "run_date=2024-01-03",
            "run_date=2024-01-01",
            "run_date=2024-01-05",
            "_SUCCESS",
            "run_date=bad",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            dates_admitted(&entries, Which::Previous, d("2024-01-05")),
            [d("2024-01-03"), d("2024-01-01")]
        );
        assert_eq!(
            dates_admitted(&entries, Which::Latest, d("2024-01-05")),
            [d("2024-01-05"), d("2024-01-03"), d("2024-01-01")]
        );
    }
}
