//! `reliability(input, bins)`: the table behind a calibration plot. `input`
//! is a table name or a query with columns `score` (a probability) and
//! `label` (boolean or 0/1); one row per equal-width bin, empty bins
//! included: `bin`, `lower`, `upper`, `rows`, `mean_score` and
//! `observed_rate` (NULL for an empty bin), and `calibration_error`, the
//! whole input's expected calibration error over these bins (the same on
//! every row; computing it also checks every score and label, so a score
//! outside [0, 1] is an error here too). Rows with a NULL score or label
//! are left out. Bin edges and the lower-bin rule for a score on an edge
//! are scikit-learn's `calibration_curve(strategy="uniform")`'s
//! ([`super::metrics`]).
//!
//! ```sql
//! SELECT * FROM reliability('SELECT churn_probability AS score, churned AS label FROM scored', 10);
//! ```

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use super::metrics_sql::bins_argument;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, check_columns, Args, ColumnKind};

const NAME: &str = "reliability";

pub fn entries() -> Vec<FunctionEntry> {
    vec![FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "reliability(input, bins) -> TABLE(bin, lower, upper, rows, mean_score, observed_rate, calibration_error)",
        description: "Calibration plot table: per equal-width probability bin, the rows, their mean score and observed rate",
        example: "SELECT * FROM reliability('SELECT * FROM (VALUES (0.9, true), (0.8, false), (0.2, false), (0.1, true)) AS t(score, label)', 2)",
        registration: Registration::Table(Arc::new(Reliability)),
    }]
}

#[derive(Debug)]
pub struct Reliability;

impl TableFunctionImpl for Reliability {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "bins"], 1, &args)?;
        let input = a.input_sql(0)?;
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {input} AS input"))?;
        check_columns(
            NAME,
            planned.schema(),
            &[("score", ColumnKind::Number), ("label", ColumnKind::Key)],
        )?;
        let bins = if a.has(1) {
            bins_argument(
                NAME,
                &datafusion::common::ScalarValue::Float64(Some(a.number(1)?)),
            )?
        } else {
            10
        };
        // Edges as NumPy's linspace makes them (j * (1 / bins)), written in
        // shortest round-trip form so the SQL reads back the same doubles.
        let edge = |j: usize| {
            if j == bins {
                1.0
            } else {
                j as f64 * (1.0 / bins as f64)
            }
        };
        let edges: Vec<String> = (0..bins)
            .map(|j| format!("({j}, {:?}, {:?})", edge(j), edge(j + 1)))
            .collect();
        // A score on an inner edge goes to the lower bin.
        let case: String = (1..bins)
            .map(|j| format!("WHEN score <= {:?} THEN {} ", edge(j), j - 1))
            .collect();
        let bin_of = if bins == 1 {
            "0".to_string()
        } else {
            format!("CASE {case}ELSE {} END", bins - 1)
        };
        let sql = format!(
            "WITH edges(bin, lower, upper) AS (VALUES {edges}), \
                  p AS (SELECT CAST(score AS DOUBLE) AS score, CAST(label AS DOUBLE) AS label \
                        FROM {input} AS input WHERE score IS NOT NULL AND label IS NOT NULL), \
                  total AS (SELECT calibration_error(score, label, {bins}) AS calibration_error FROM p), \
                  b AS (SELECT {bin_of} AS bin, COUNT(*) AS rows, AVG(score) AS mean_score, \
                               AVG(label) AS observed_rate FROM p GROUP BY 1) \
             SELECT CAST(e.bin AS BIGINT) AS bin, CAST(e.lower AS DOUBLE) AS lower, \
                    CAST(e.upper AS DOUBLE) AS upper, COALESCE(b.rows, 0) AS rows, \
                    b.mean_score, b.observed_rate, t.calibration_error \
             FROM edges e CROSS JOIN total t LEFT JOIN b ON b.bin = e.bin \
             ORDER BY 1",
            edges = edges.join(", ")
        );
        table_input::view(NAME, state, &sql)
    }
}
