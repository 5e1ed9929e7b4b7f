//! `points_ledger(transactions, events, rules, as_of)` and
//! `points_balance(transactions, events, rules, as_of)`: a loyalty
//! programme's points ledger, one row per entry, and each member's totals.
//!
//! * `transactions`: a table name or query with `customer_id`, `ts` (DATE or
//!   TIMESTAMP) and `amount`, optionally `order_id` (a return, amount < 0,
//!   with the order's id takes back the points that order earned) and
//!   `category` (for `category_multipliers`).
//! * `events`: NULL, or a table name or query with `customer_id`, `ts`,
//!   `kind` ('redeem', 'referral', 'signup', 'adjust') and `points`,
//!   optionally `source_id`.
//! * `rules`: the programme as JSON ([`super::rules`]).
//! * `as_of`: the ledger's last day.
//!
//! Rows with a NULL `customer_id` or `ts`, or after `as_of`, are left out.
//! `points_ledger` → customer_id, ts, kind ('earn', 'return', 'signup',
//! 'referral', 'adjust', 'redeem', 'expire'), points (+/−), balance (after
//! the entry), expires_at, source_id, rejected (the reason a row changed
//! nothing: it is kept, with points 0), note. `points_balance` → customer_id,
//! earned (net of returns), redeemed, expired, balance, expiring_30,
//! expiring_90, last_activity, rejected (rows).
//!
//! SQL over the list functions of [`super::ledger_sql`] on each customer's
//! rows ([`crate::rows_agg`]), returned as a view (so it runs the same from Python and on a cluster).

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::DFSchemaRef;
use datafusion::error::Result;

use super::ledger_sql::Output;
use super::rules_sql::RulesArg;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{
    self, check_argument_columns, date_literal, quote_literal, Args, ColumnKind, INPUT_COLUMNS,
};

const NAMES: [&str; 4] = ["transactions", "events", "rules", "as_of"];

/// Times as the list functions read them without a cast (SQL's TIMESTAMP is
/// nanoseconds in DataFusion).
const MICROS: &str = "'Timestamp(Microsecond, None)'";

const EVENT_COLUMNS: [(&str, ColumnKind); 4] = [
    ("customer_id", ColumnKind::Key),
    ("ts", ColumnKind::Time),
    ("kind", ColumnKind::Text),
    ("points", ColumnKind::Number),
];

pub fn entries() -> Vec<FunctionEntry> {
    vec![
        FunctionEntry {
            name: "points_ledger",
            kind: FunctionKind::Table,
            signature: "points_ledger(transactions, events, rules, as_of) -> TABLE(customer_id, ts, kind, points, balance, expires_at, source_id, rejected, note)",
            description: "A loyalty programme's points ledger: purchases earn by the rules (JSON: earn rate, rounding, category multipliers, bonus periods, bonuses, minimum redemption, FIFO expiry), returns take back, events (signup, referral, adjust, redeem) from the events table (or NULL); redemptions beyond the balance are kept as rejected rows with a reason",
            example: "SELECT sum(points) FROM points_ledger('SELECT * FROM (VALUES (1, TIMESTAMP ''2011-11-20 10:00:00'', 120.0), (1, TIMESTAMP ''2011-12-03 10:00:00'', 30.0), (2, TIMESTAMP ''2011-12-05 10:00:00'', 10.0)) AS t(customer_id, ts, amount)', NULL, '{\"earn_rate\": 1, \"bonus_periods\": [{\"from\": \"2011-12-01\", \"to\": \"2011-12-31\", \"multiplier\": 2}]}', '2011-12-09'); -- 200",
            registration: Registration::Table(Arc::new(PointsTable::Ledger)),
        },
        FunctionEntry {
            name: "points_balance",
            kind: FunctionKind::Table,
            signature: "points_balance(transactions, events, rules, as_of) -> TABLE(customer_id, earned, redeemed, expired, balance, expiring_30, expiring_90, last_activity, rejected)",
            description: "Each member's points at as_of under a loyalty programme (arguments as points_ledger): earned net of returns, redeemed, expired, balance, points expiring within 30 and 90 days, last activity, rejected rows",
            example: "SELECT balance FROM points_balance('SELECT * FROM (VALUES (1, TIMESTAMP ''2011-11-20 10:00:00'', 120.0), (1, TIMESTAMP ''2011-12-03 10:00:00'', 30.0), (2, TIMESTAMP ''2011-12-05 10:00:00'', 10.0)) AS t(customer_id, ts, amount)', NULL, '{\"earn_rate\": 1}', '2011-12-09') WHERE customer_id = 1; -- 150",
            registration: Registration::Table(Arc::new(PointsTable::Balance)),
        },
    ]
}

/// Which table: the ledger's entries, or each member's totals.
#[derive(Debug, Clone, Copy)]
pub enum PointsTable {
    Ledger,
    Balance,
}

impl PointsTable {
    fn name(self) -> &'static str {
        match self {
            PointsTable::Ledger => "points_ledger",
            PointsTable::Balance => "points_balance",
        }
    }
    fn function(self) -> Output {
        match self {
            PointsTable::Ledger => Output::Ledger,
            PointsTable::Balance => Output::Balance,
        }
    }
}

/// Whether a planned input has `column`.
pub(super) fn has(schema: &DFSchemaRef, column: &str) -> bool {
    schema.fields().iter().any(|f| f.name() == column)
}

/// A text column as VARCHAR, or a typed NULL when the input lacks it.
fn text_or_null(schema: &DFSchemaRef, column: &str) -> String {
    if has(schema, column) {
        format!("CAST({column} AS VARCHAR)")
    } else {
        "CAST(NULL AS VARCHAR)".to_string()
    }
}

/// `column` (a time) is on or before day `as_of`: a comparison of
/// timestamps, cheaper than a cast of every row to a date.
fn until(as_of: i32, column: &str) -> String {
    format!(
        "arrow_cast({column}, {MICROS}) < arrow_cast({}, {MICROS})",
        date_literal(as_of + 1)
    )
}

/// The purchase rows of `transactions` (of `schema`) up to day `as_of`, as
/// the loyalty functions read them: customer_id, ts (µs), amount (DOUBLE),
/// order_id and category (VARCHAR, NULL when absent), kind and points NULL;
/// rows without a customer or time left out.
pub(super) fn purchase_rows(transactions: &str, schema: &DFSchemaRef, as_of: i32) -> String {
    format!(
        "SELECT customer_id, arrow_cast(ts, {MICROS}) AS ts, CAST(amount AS DOUBLE) AS amount, \
                {order} AS order_id, {category} AS category, \
                CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS DOUBLE) AS points \
         FROM {transactions} AS t WHERE customer_id IS NOT NULL AND ts IS NOT NULL AND {d}",
        order = text_or_null(schema, "order_id"),
        category = text_or_null(schema, "category"),
        d = until(as_of, "ts"),
    )
}

impl TableFunctionImpl for PointsTable {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        let state = table_input::state(name, args.session())?;
        let a = Args::new(name, &NAMES, 4, &args)?;
        let transactions = a.input_sql(0)?;
        let rules = RulesArg::parse(name, &a.string(2)?)?;
        let as_of = a.date(3)?;
        let tx = table_input::plan(name, state, &format!("SELECT * FROM {transactions} AS t"))?;
        check_argument_columns(name, "transactions", tx.schema(), &INPUT_COLUMNS)?;
        let key_type = tx
            .schema()
            .field_with_unqualified_name("customer_id")?
            .data_type()
            .clone();
        let mut rows = purchase_rows(&transactions, tx.schema(), as_of);
        if a.has(1) {
            let events = a.input_sql(1)?;
            let ev = table_input::plan(name, state, &format!("SELECT * FROM {events} AS e"))?;
            check_argument_columns(name, "events", ev.schema(), &EVENT_COLUMNS)?;
            rows.push_str(&format!(
                " UNION ALL \
                 SELECT arrow_cast(customer_id, {key}) AS customer_id, arrow_cast(ts, {MICROS}) AS ts, \
                        CAST(NULL AS DOUBLE) AS amount, {source} AS order_id, \
                        CAST(NULL AS VARCHAR) AS category, CAST(kind AS VARCHAR) AS kind, \
                        CAST(points AS DOUBLE) AS points \
                 FROM {events} AS e WHERE customer_id IS NOT NULL AND ts IS NOT NULL AND {d}",
                key = quote_literal(&key_type.to_string()),
                source = text_or_null(ev.schema(), "source_id"),
                d = until(as_of, "ts"),
            ));
        }
        // Each customer's rows as lists (one `rows_agg` holding the columns
        // the ledger reads); NULL for a column that is not there (no ids,
        // no category multipliers, no events).
        let events = a.has(1);
        let wanted = [
            ("ts", true),
            ("amount", true),
            ("order_id", has(tx.schema(), "order_id") || events),
            (
                "category",
                has(tx.schema(), "category")
                    && rules
                        .known()
                        .is_none_or(|r| !r.category_multipliers.is_empty()),
            ),
            ("kind", events),
            ("points", events),
        ];
        let held: Vec<&str> = wanted.iter().filter(|w| w.1).map(|w| w.0).collect();
        let lists: Vec<String> = wanted
            .iter()
            .map(|(column, w)| {
                if *w {
                    format!("x['{column}']")
                } else {
                    "NULL".to_string()
                }
            })
            .collect();
        let grouped = format!(
            "SELECT customer_id, {}({}, {}, {}) AS l \
             FROM (SELECT customer_id, rows_agg({}) AS x FROM r GROUP BY customer_id)",
            self.function().name(),
            lists.join(", "),
            rules.sql(),
            date_literal(as_of),
            held.join(", ")
        );
        let sql = match self {
            // DataFusion 55 keeps the GROUP BY's "customer_id is unique"
            // through the unnest, so `ORDER BY customer_id, ts` on the result
            // would drop `ts` as implied by the customer. `nullif(x, NULL)`
            // (always x) is an expression, which ends that dependency.
            PointsTable::Ledger => format!(
                "WITH r AS ({rows}), \
                 g AS ({grouped}), \
                 u AS (SELECT nullif(customer_id, NULL) AS k, unnest(l) AS e FROM g), \
                 v(customer_id, ts, kind, points, balance, expires_at, source_id, rejected, note) AS \
                   (SELECT k, unnest(e) FROM u) \
                 SELECT * FROM v"
            ),
            PointsTable::Balance => format!(
                "WITH r AS ({rows}), \
                 g AS ({grouped}), \
                 v(customer_id, earned, redeemed, expired, balance, expiring_30, expiring_90, \
                   last_activity, rejected) AS (SELECT customer_id, unnest(l) FROM g) \
                 SELECT * FROM v"
            ),
        };
        table_input::view(name, state, &sql)
    }
}
