//! `tier_history(transactions, rules, start, end)` and
//! `tier_as_of(transactions, rules, as_of)`: members' loyalty tiers over time
//! ([`super::tiers`]) under the rule set's `tiers`.
//!
//! * `transactions`: a table name or query with `customer_id`, `ts` and
//!   `amount`, optionally `order_id` (lines of one order are summed; the
//!   `orders` basis counts orders).
//! * `tier_history` → customer_id, tier, valid_from, valid_to (the last day
//!   the tier was held; NULL when still held on `end`), reason
//!   ('qualified', 'upgraded', 'downgraded after grace'). `start` NULL:
//!   from each member's first purchase.
//! * `tier_as_of` → customer_id, tier, since (the day the tier was reached),
//!   reason: the tier each member holds on `as_of`, from their whole
//!   history.
//!
//! Rows with a NULL `customer_id` or `ts`, or after the end, are left out.
//! SQL over `tier_history_lists` on each member's rows
//! ([`crate::rows_agg`]), returned as a view.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use super::ledger_sql::Output;
use super::rules_sql::RulesArg;
use super::table_sql::purchase_rows;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, check_argument_columns, date_literal, Args, INPUT_COLUMNS};

pub fn entries() -> Vec<FunctionEntry> {
    vec![
        FunctionEntry {
            name: "tier_history",
            kind: FunctionKind::Table,
            signature: "tier_history(transactions, rules, start, end) -> TABLE(customer_id, tier, valid_from, valid_to, reason)",
            description: "Members' loyalty tiers over time by the rules' tiers (basis amount, orders or points over rolling_N_months or calendar_year, thresholds, grace_days before a downgrade): one row per tier interval, with why it began (qualified, upgraded, downgraded after grace); start NULL: from the first purchase",
            example: "SELECT count(*) FROM tier_history('SELECT * FROM (VALUES (1, TIMESTAMP ''2011-01-15 10:00:00'', 600.0)) AS t(customer_id, ts, amount)', '{\"earn_rate\": 1, \"tiers\": {\"basis\": \"amount\", \"window\": \"rolling_12_months\", \"grace_days\": 30, \"levels\": [{\"name\": \"Bronze\", \"threshold\": 0}, {\"name\": \"Silver\", \"threshold\": 500}]}}', NULL, '2012-06-30'); -- 2",
            registration: Registration::Table(Arc::new(TierTable::History)),
        },
        FunctionEntry {
            name: "tier_as_of",
            kind: FunctionKind::Table,
            signature: "tier_as_of(transactions, rules, as_of) -> TABLE(customer_id, tier, since, reason)",
            description: "The loyalty tier each member holds on as_of (from their whole purchase history, as tier_history), the day it began and why",
            example: "SELECT tier FROM tier_as_of('SELECT * FROM (VALUES (1, TIMESTAMP ''2011-01-15 10:00:00'', 600.0)) AS t(customer_id, ts, amount)', '{\"earn_rate\": 1, \"tiers\": {\"basis\": \"amount\", \"window\": \"rolling_12_months\", \"grace_days\": 30, \"levels\": [{\"name\": \"Bronze\", \"threshold\": 0}, {\"name\": \"Silver\", \"threshold\": 500}]}}', '2011-12-31'); -- Silver",
            registration: Registration::Table(Arc::new(TierTable::AsOf)),
        },
    ]
}

/// Which table: every interval, or the tier on a day.
#[derive(Debug, Clone, Copy)]
pub enum TierTable {
    History,
    AsOf,
}

impl TierTable {
    fn name(self) -> &'static str {
        match self {
            TierTable::History => "tier_history",
            TierTable::AsOf => "tier_as_of",
        }
    }
}

impl TableFunctionImpl for TierTable {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        let state = table_input::state(name, args.session())?;
        let (a, start, end) = match self {
            TierTable::History => {
                let a = Args::new(name, &["transactions", "rules", "start", "end"], 4, &args)?;
                let start = if a.has(2) {
                    date_literal(a.date(2)?)
                } else {
                    "CAST(NULL AS DATE)".to_string()
                };
                let end = a.date(3)?;
                (a, start, end)
            }
            TierTable::AsOf => {
                let a = Args::new(name, &["transactions", "rules", "as_of"], 3, &args)?;
                let end = a.date(2)?;
                (a, "CAST(NULL AS DATE)".to_string(), end)
            }
        };
        let transactions = a.input_sql(0)?;
        let rules = RulesArg::parse(name, &a.string(1)?)?;
        if rules.known().is_some_and(|r| r.tiers.is_none()) {
            return Err(UdfError::argument(
                name,
                "rules",
                "rules.tiers is missing: give the tier levels, basis and window",
            )
            .into());
        }
        let tx = table_input::plan(name, state, &format!("SELECT * FROM {transactions} AS t"))?;
        check_argument_columns(name, "transactions", tx.schema(), &INPUT_COLUMNS)?;
        let (order_column, order_list) = if super::table_sql::has(tx.schema(), "order_id") {
            (", order_id", "x['order_id']")
        } else {
            ("", "NULL")
        };
        let grouped = format!(
            "SELECT customer_id, {function}(x['ts'], x['amount'], {order_list}, {rules}, {start}, {end_q}) AS l \
             FROM (SELECT customer_id, rows_agg(ts, amount{order_column}) AS x FROM ({rows}) \
                   GROUP BY customer_id)",
            function = Output::Tiers.name(),
            rules = rules.sql(),
            end_q = date_literal(end),
            rows = purchase_rows(&transactions, tx.schema(), end),
        );
        // As in points_ledger: `nullif(x, NULL)` (always x) ends the GROUP
        // BY's uniqueness of customer_id, which DataFusion 55 would carry
        // through the unnest and use to drop ORDER BY keys after it.
        let sql = match self {
            TierTable::History => format!(
                "WITH g AS ({grouped}), \
                 u AS (SELECT nullif(customer_id, NULL) AS k, unnest(l) AS e FROM g), \
                 v(customer_id, tier, valid_from, valid_to, reason) AS (SELECT k, unnest(e) FROM u) \
                 SELECT * FROM v"
            ),
            TierTable::AsOf => format!(
                "WITH g AS ({grouped}), \
                 u AS (SELECT customer_id, l[CAST(array_length(l) AS BIGINT)] AS e FROM g WHERE array_length(l) > 0), \
                 v(customer_id, tier, since, valid_to, reason) AS (SELECT customer_id, unnest(e) FROM u) \
                 SELECT customer_id, tier, since, reason FROM v"
            ),
        };
        table_input::view(name, state, &sql)
    }
}
