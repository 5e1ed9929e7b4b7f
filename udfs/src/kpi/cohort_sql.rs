//! `cohort_retention(input, period)`: how each acquisition cohort keeps
//! buying.
//!
//! `input` is a table name or a query with `customer_id` (any plain type) and
//! `ts` (DATE or TIMESTAMP); rows with either NULL are left out. `period` is
//! 'month' (calendar months) or 'week' (ISO weeks, Monday to Sunday). A
//! customer's cohort is the period of their first row; they are active in a
//! period when they have a row in it. Rows (unordered: add `ORDER BY cohort,
//! period_number`):
//! - `cohort`: the first day of the cohort's period (DATE);
//! - `period_number`: periods since the cohort's (0 = the cohort's own
//!   period, where every customer is active);
//! - `customers`: the cohort's size; `active`: its customers active in that
//!   period; `retention_rate` = active / customers.
//!
//! Periods in which no customer of a cohort was active have no row (read them
//! as 0). Periods are of the calendar day of `ts` (`CAST(ts AS DATE)`: a
//! time zone's local day, as in `rfm` and `churn_features`), computed on
//! dates, so any date Arrow holds works (a µs timestamp in 1600 or 2300
//! too). SQL over the input, returned as a view.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, check_columns, Args, ColumnKind};

const NAME: &str = "cohort_retention";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "cohort_retention(input, period) -> TABLE(cohort, period_number, customers, active, retention_rate)",
        description: "Retention of acquisition cohorts by 'month' or 'week': per cohort and periods since, cohort size, customers active and their share",
        example: "SELECT * FROM cohort_retention('SELECT * FROM (VALUES (1, DATE ''2024-01-05''), (1, DATE ''2024-02-10''), (2, DATE ''2024-01-20''), (3, DATE ''2024-02-01'')) AS t(customer_id, ts)', 'month') ORDER BY cohort, period_number",
        registration: Registration::Table(Arc::new(CohortRetention)),
    }
}

#[derive(Debug)]
pub struct CohortRetention;

impl TableFunctionImpl for CohortRetention {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "period"], 2, &args)?;
        let input = a.input_sql(0)?;
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {input} AS input"))?;
        check_columns(
            NAME,
            planned.schema(),
            &[("customer_id", ColumnKind::Key), ("ts", ColumnKind::Time)],
        )?;
        let (start, number) = match a.string(1)?.trim().to_ascii_lowercase().as_str() {
            "month" | "months" => (
                "make_date(CAST(date_part('year', day) AS INT), CAST(date_part('month', day) AS INT), 1)",
                "CAST((date_part('year', a.p) - date_part('year', f.cohort)) * 12 \
                      + date_part('month', a.p) - date_part('month', f.cohort) AS BIGINT)",
            ),
            // Days since 1970-01-01 (a Thursday): the Monday on or before
            // day d is 7 * floor((d + 3) / 7) - 3.
            "week" | "weeks" => (
                "CAST(CAST(7 * floor((CAST(day AS INT) + 3) / 7.0) - 3 AS INT) AS DATE)",
                "CAST((CAST(a.p AS INT) - CAST(f.cohort AS INT)) / 7 AS BIGINT)",
            ),
            other => {
                return Err(UdfError::argument(
                    NAME,
                    "period",
                    format!("'{other}' is not a period; valid: 'month', 'week'"),
                )
                .into())
            }
        };
        let sql = format!(
            "WITH days AS (SELECT customer_id, CAST(ts AS DATE) AS day FROM {input} AS input \
                           WHERE customer_id IS NOT NULL AND ts IS NOT NULL), \
                  a AS (SELECT customer_id, {start} AS p FROM days GROUP BY 1, 2), \
                  f AS (SELECT customer_id, MIN(p) AS cohort FROM a GROUP BY customer_id), \
                  s AS (SELECT cohort, COUNT(*) AS customers FROM f GROUP BY cohort) \
             SELECT CAST(f.cohort AS DATE) AS cohort, {number} AS period_number, s.customers, \
                    COUNT(*) AS active, CAST(COUNT(*) AS DOUBLE) / s.customers AS retention_rate \
             FROM a JOIN f ON a.customer_id = f.customer_id JOIN s ON s.cohort = f.cohort \
             GROUP BY f.cohort, {number}, s.customers"
        );
        table_input::view(NAME, state, &sql)
    }
}
