//! `rfm(input, as_of)`: recency, frequency and monetary value per customer,
//! their quintile scores, the RFM cell and a named segment.
//!
//! `input` is a table name or a query with `customer_id` (any plain type),
//! `ts` (DATE or TIMESTAMP) and `amount` (a number), optionally `order_id`.
//! Rows with a NULL `customer_id` or `ts`, or after the day `as_of`, are left
//! out. Per customer:
//! - `recency_days`: days from the last purchase day to `as_of` (BIGINT);
//! - `frequency`: distinct orders when the input has an `order_id` column,
//!   otherwise distinct purchase days (BIGINT). With an `order_id` column a
//!   NULL `order_id` is no order: a customer whose lines all lack one has
//!   frequency 0 (and the lowest F score, as any customer without a known
//!   order), the same rule as `churn_features`; clean or fill `order_id`
//!   first, or drop the column to count purchase days;
//! - `monetary`: the sum of `amount` (DOUBLE; returns count against it, so
//!   clean the input first);
//! - `r_score`, `f_score`, `m_score`: quintiles 1–5 over all customers, 5
//!   best (most recent, most frequent, highest spend). A customer's score is
//!   `floor(5 · (rank − ½) / n) + 1`, rank being the mid-rank of their value
//!   among the n customers, worst first (tied values share the mean of the
//!   ranks they span, pandas `rank(method='average')`). Equal values always
//!   get equal scores, a tie sits where its values sit (a single customer, or
//!   a column where everyone is tied, scores 3; a tie at the top scores high),
//!   scores never fall as the value improves, and the result does not depend
//!   on row order;
//! - a `monetary` that is NaN (a NaN `amount`) is not a spend that can be
//!   ranked: that customer's `m_score`, `rfm_cell` and `segment` are NULL, and
//!   the other customers' `m_score` is ranked among themselves;
//! - `rfm_cell`: the three scores as text, e.g. `'545'`;
//! - `segment`: from `r_score` and `fm = (f_score + m_score + 1) / 2` (the
//!   mean of F and M rounded half up), by this map (rows R, columns FM):
//!
//! | R \ FM | 1 | 2 | 3 | 4 | 5 |
//! |---|---|---|---|---|---|
//! | 5 | New Customers | Potential Loyalist | Potential Loyalist | Champions | Champions |
//! | 4 | Promising | Potential Loyalist | Potential Loyalist | Loyal | Champions |
//! | 3 | About to Sleep | About to Sleep | Need Attention | Loyal | Loyal |
//! | 2 | Hibernating | Hibernating | At Risk | At Risk | Cannot Lose Them |
//! | 1 | Lost | Lost | At Risk | Cannot Lose Them | Cannot Lose Them |
//!
//! SQL over the input, returned as a view. `monetary` is an exact sum (the
//! same bits on any partitioning), grouped apart from the distinct order count
//! so DataFusion still rewrites `COUNT(DISTINCT ...)` into a grouping.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::INPUT_COLUMNS;
use crate::table_input::{self, check_columns, quote_literal, Args};

const NAME: &str = "rfm";

/// The segment map: `SEGMENTS[5 - r][fm - 1]` (the table in the module doc).
pub const SEGMENTS: [[&str; 5]; 5] = [
    [
        "New Customers",
        "Potential Loyalist",
        "Potential Loyalist",
        "Champions",
        "Champions",
    ],
    [
        "Promising",
        "Potential Loyalist",
        "Potential Loyalist",
        "Loyal",
        "Champions",
    ],
    [
        "About to Sleep",
        "About to Sleep",
        "Need Attention",
        "Loyal",
        "Loyal",
    ],
    [
        "Hibernating",
        "Hibernating",
        "At Risk",
        "At Risk",
        "Cannot Lose Them",
    ],
    [
        "Lost",
        "Lost",
        "At Risk",
        "Cannot Lose Them",
        "Cannot Lose Them",
    ],
];

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "rfm(input, as_of) -> TABLE(customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_cell, segment)",
        description: "RFM per customer: recency in days, orders (or purchase days), total spend, quintile scores 1-5 by mid-rank (5 best, ties equal, NULL for a NaN spend), cell and one of 11 named segments",
        example: "SELECT customer_id, recency_days, frequency, monetary, rfm_cell, segment FROM rfm('SELECT * FROM (VALUES (1, DATE ''2024-03-01'', 50.0), (1, DATE ''2024-03-20'', 70.0), (2, DATE ''2024-01-05'', 10.0)) AS t(customer_id, ts, amount)', '2024-03-31') ORDER BY customer_id",
        registration: Registration::Table(Arc::new(Rfm)),
    }
}

/// The `CASE` expression of the segment map over `r` and `fm`.
fn segment_case() -> String {
    let mut sql = String::from("CASE");
    for (row, names) in SEGMENTS.iter().enumerate() {
        for (col, name) in names.iter().enumerate() {
            sql.push_str(&format!(
                " WHEN r_score = {} AND fm = {} THEN {}",
                5 - row,
                col + 1,
                quote_literal(name)
            ));
        }
    }
    sql.push_str(" END");
    sql
}

#[derive(Debug)]
pub struct Rfm;

impl TableFunctionImpl for Rfm {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "as_of"], 2, &args)?;
        let input = a.input_sql(0)?;
        let as_of = a.date(1)?;
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {input} AS input"))?;
        check_columns(NAME, planned.schema(), &INPUT_COLUMNS)?;
        let has_orders = planned
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == "order_id");
        let day = "CAST(CAST(ts AS DATE) AS INT)";
        let order = if has_orders { "order_id" } else { day };
        // Mid-rank, worst first: (rank among worse-or-equal + n - rank among
        // better-or-equal + 1) / 2; the score floor(5 (mid - 1/2) / n) + 1 in
        // integers. `part` keeps values that cannot be ranked (NaN spend) in
        // a window of their own, whose score is then set NULL.
        let score = |column: &str, worst_first: &str, part: &str| {
            let best_first = if worst_first == "ASC" { "DESC" } else { "ASC" };
            format!(
                "CAST(floor(5.0 * CAST(RANK() OVER ({part} ORDER BY {column} {worst_first}) \
                   + COUNT(*) OVER ({part}) - RANK() OVER ({part} ORDER BY {column} {best_first}) AS DOUBLE) \
                   / (2.0 * CAST(COUNT(*) OVER ({part}) AS DOUBLE))) AS BIGINT) + 1"
            )
        };
        let sql = format!(
            "WITH sales AS ( \
               SELECT * FROM {input} AS input \
               WHERE customer_id IS NOT NULL AND ts IS NOT NULL AND {day} <= {as_of}), \
             counts AS ( \
               SELECT customer_id, CAST({as_of} - MAX({day}) AS BIGINT) AS recency_days, \
                      COUNT(DISTINCT {order}) AS frequency \
               FROM sales GROUP BY customer_id), \
             money AS ( \
               SELECT customer_id, COALESCE({monetary}, 0.0) AS monetary \
               FROM sales GROUP BY customer_id), \
             c AS ( \
               SELECT counts.customer_id, counts.recency_days, counts.frequency, money.monetary \
               FROM counts JOIN money ON counts.customer_id = money.customer_id), \
             s AS ( \
               SELECT customer_id, recency_days, frequency, monetary, \
                      {r} AS r_score, {f} AS f_score, \
                      CASE WHEN isnan(monetary) THEN NULL ELSE {m} END AS m_score FROM c), \
             g AS (SELECT *, (f_score + m_score + 1) / 2 AS fm FROM s) \
             SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, \
                    CASE WHEN m_score IS NOT NULL THEN concat(CAST(r_score AS VARCHAR), CAST(f_score AS VARCHAR), CAST(m_score AS VARCHAR)) END AS rfm_cell, \
                    {segment} AS segment \
             FROM g",
            r = score("recency_days", "DESC", ""),
            f = score("frequency", "ASC", ""),
            m = score("monetary", "ASC", "PARTITION BY isnan(monetary)"),
            segment = segment_case(),
            monetary = table_input::exact_sum("amount", ""),
        );
        table_input::view(NAME, state, &sql)
    }
}
