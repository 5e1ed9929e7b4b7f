//! Table functions `customer_summary(input, as_of [, period])` and
//! `customer_summary_holdout(input, calibration_end, observation_end [, period])`:
//! transactions to the (frequency, recency, T, monetary) summary the
//! lifetime-value models take.
//!
//! Conventions of Fader, Hardie & Lee and of the `lifetimes` package:
//! - `input` is a table name or a query with columns `customer_id` (any plain
//!   type), `ts` (DATE or TIMESTAMP) and `amount` (a number). Rows with a NULL
//!   `customer_id` or `ts` cannot be attributed and are not counted; a NULL
//!   amount adds nothing to its day's value.
//! - Purchases on the same calendar day merge into one purchase whose value is
//!   their sum. Only days up to and including `as_of` count.
//! - `frequency` = purchase days after the first (repeat purchases), BIGINT;
//!   `recency` = last purchase day − first purchase day; `t` = `as_of` − first
//!   purchase day; both DOUBLE, in `period` units: 'day' (default) or 'week'
//!   (days / 7, as in the CDNOW literature).
//! - `monetary` = mean value of the repeat purchase days (the first day
//!   excluded), 0 for customers with no repeat purchase.
//!
//! The holdout form summarises the calibration period (days up to
//! `calibration_end`, customers whose first purchase is in it) and adds, per
//! customer, `frequency_holdout` (purchase days in (calibration_end,
//! observation_end]), `monetary_holdout` (their mean value, 0 if none) and
//! `duration_holdout` (observation_end − calibration_end in periods) — the
//! layout of lifetimes' `calibration_and_holdout_data`, except that
//! `monetary_holdout` averages purchase days as `monetary` does (lifetimes
//! averages the holdout's transaction lines there).
//!
//! Each call is SQL over the input returned as a view: it streams, runs on all
//! cores, and filters on the result push into it.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, check_columns, date_literal, Args, INPUT_COLUMNS};

/// The time unit of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
}

impl Period {
    pub fn days(self) -> f64 {
        match self {
            Period::Day => 1.0,
            Period::Week => 7.0,
        }
    }

    pub fn parse(function: &'static str, text: &str) -> Result<Period> {
        match text.trim().to_ascii_lowercase().as_str() {
            "day" | "days" | "d" => Ok(Period::Day),
            "week" | "weeks" | "w" => Ok(Period::Week),
            other => Err(UdfError::argument(
                function,
                "period",
                format!("'{other}' is not a period; valid: 'day', 'week'"),
            )
            .into()),
        }
    }
}

/// Check the input and return SQL for `days(customer_id, day, value)`: one row
/// per customer and purchase day up to `last_day` (days since 1970-01-01).
pub fn days_sql(
    function: &'static str,
    state: &datafusion::execution::context::SessionState,
    input_sql: &str,
    last_day: i32,
) -> Result<String> {
    let input = table_input::plan(
        function,
        state,
        &format!("SELECT * FROM {input_sql} AS input"),
    )?;
    check_columns(function, input.schema(), &INPUT_COLUMNS)?;
    Ok(format!(
        "SELECT customer_id, CAST(CAST(ts AS DATE) AS INT) AS day, \
                {value} AS value \
         FROM {input_sql} AS input \
         WHERE customer_id IS NOT NULL AND ts IS NOT NULL \
           AND CAST(CAST(ts AS DATE) AS INT) <= {last_day} \
         GROUP BY customer_id, CAST(CAST(ts AS DATE) AS INT)",
        value = table_input::exact_sum("amount", "")
    ))
}

/// SQL summarising the days in relation `days` as of day `as_of`.
fn summary_sql(days: &str, as_of: i32, period: Period) -> String {
    let p = period.days();
    format!(
        "SELECT d.customer_id, \
                COUNT(*) - 1 AS frequency, \
                CAST(MAX(d.day) - MIN(d.day) AS DOUBLE) / {p:?} AS recency, \
                CAST({as_of} - MIN(d.day) AS DOUBLE) / {p:?} AS t, \
                COALESCE({repeat_value} \
                         / CAST(NULLIF(COUNT(*) - 1, 0) AS DOUBLE), 0.0) AS monetary \
         FROM ({days}) AS d \
         JOIN (SELECT customer_id, MIN(day) AS first_day FROM ({days}) AS d0 GROUP BY customer_id) AS f \
           ON d.customer_id = f.customer_id \
         GROUP BY d.customer_id",
        repeat_value = table_input::exact_sum("d.value", " FILTER (WHERE d.day > f.first_day)")
    )
}

#[derive(Debug)]
pub struct CustomerSummary;

const SUMMARY_ARGS: &[&str] = &["input", "as_of", "period"];

impl TableFunctionImpl for CustomerSummary {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const NAME: &str = "customer_summary";
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, SUMMARY_ARGS, 2, &args)?;
        let input = a.input_sql(0)?;
        let as_of = a.date(1)?;
        let period = if a.has(2) {
            Period::parse(NAME, &a.string(2)?)?
        } else {
            Period::Day
        };
        let days = days_sql(NAME, state, &input, as_of)?;
        table_input::view(NAME, state, &summary_sql(&days, as_of, period))
    }
}

#[derive(Debug)]
pub struct CustomerSummaryHoldout;

const HOLDOUT_ARGS: &[&str] = &["input", "calibration_end", "observation_end", "period"];

impl TableFunctionImpl for CustomerSummaryHoldout {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const NAME: &str = "customer_summary_holdout";
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, HOLDOUT_ARGS, 3, &args)?;
        let input = a.input_sql(0)?;
        let cal = a.date(1)?;
        let obs = a.date(2)?;
        if obs <= cal {
            return Err(UdfError::argument(
                NAME,
                "observation_end",
                format!(
                    "{} must be after calibration_end {}",
                    date_literal(obs),
                    date_literal(cal)
                ),
            )
            .into());
        }
        let period = if a.has(3) {
            Period::parse(NAME, &a.string(3)?)?
        } else {
            Period::Day
        };
        let p = period.days();
        let days = days_sql(NAME, state, &input, obs)?;
        let calibration = format!("SELECT * FROM ({days}) AS a WHERE day <= {cal}");
        let sql = format!(
            "SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary, \
                    COALESCE(h.n, 0) AS frequency_holdout, \
                    COALESCE(h.mean_value, 0.0) AS monetary_holdout, \
                    CAST({obs} - {cal} AS DOUBLE) / {p:?} AS duration_holdout \
             FROM ({summary}) AS s \
             LEFT JOIN (SELECT customer_id, COUNT(*) AS n, {holdout_value} / CAST(COUNT(*) AS DOUBLE) AS mean_value \
                        FROM ({days}) AS b WHERE day > {cal} GROUP BY customer_id) AS h \
               ON s.customer_id = h.customer_id",
            summary = summary_sql(&calibration, cal, period),
            holdout_value = table_input::exact_sum("value", "")
        );
        table_input::view(NAME, state, &sql)
    }
}

pub fn summary_entry() -> FunctionEntry {
    FunctionEntry {
        name: "customer_summary",
        kind: FunctionKind::Table,
        signature: "customer_summary(input, as_of [, period]) -> TABLE(customer_id, frequency, recency, t, monetary)",
        description: "Per customer: repeat purchase days, age at last purchase and at as_of ('day' or 'week' units), mean repeat purchase value; input has customer_id, ts, amount",
        example: "SELECT customer_id, frequency, recency, t, monetary FROM customer_summary('SELECT * FROM (VALUES (1, DATE ''2024-01-01'', 10.0), (1, DATE ''2024-01-01'', 5.0), (1, DATE ''2024-01-15'', 20.0), (1, DATE ''2024-01-29'', 30.0)) AS v(customer_id, ts, amount)', '2024-02-12', 'week'); -- 1,2,4.0,6.0,25.0",
        registration: Registration::Table(Arc::new(CustomerSummary)),
    }
}

pub fn holdout_entry() -> FunctionEntry {
    FunctionEntry {
        name: "customer_summary_holdout",
        kind: FunctionKind::Table,
        signature: "customer_summary_holdout(input, calibration_end, observation_end [, period]) -> TABLE(customer_id, frequency, recency, t, monetary, frequency_holdout, monetary_holdout, duration_holdout)",
        description: "customer_summary of the calibration period plus purchase days, their mean value and the period length after calibration_end",
        example: "SELECT frequency, frequency_holdout, monetary_holdout, duration_holdout FROM customer_summary_holdout('SELECT * FROM (VALUES (1, DATE ''2024-01-01'', 10.0), (1, DATE ''2024-01-10'', 20.0), (1, DATE ''2024-02-05'', 7.0), (1, DATE ''2024-02-09'', 9.0)) AS v(customer_id, ts, amount)', '2024-01-31', '2024-02-29'); -- 1,2,8.0,29.0",
        registration: Registration::Table(Arc::new(CustomerSummaryHoldout)),
    }
}
