//! `loyalty_kpis(transactions, events, rules, start, end [, options])`:
//! whether a loyalty programme pays, per period from `start` to `end`.
//!
//! Options: `period` (`day`, `week`, `month` (default), `quarter`) and
//! `view`:
//!
//! * `summary` (default) → period, period_end, members (customers with an
//!   accepted ledger entry by the period's end), active_members (who earned
//!   or redeemed in the period), participation_rate (active / members),
//!   points_earned (earned, bonuses and positive adjustments, net of
//!   returns), points_redeemed (with negative adjustments), points_expired,
//!   redemption_rate (redeemed / earned), breakage (expired / earned),
//!   liability_points (points outstanding at the period's end),
//!   liability_value (× the rules' `point_value`; NULL without it), revenue
//!   (all transactions), members_revenue (those with a customer id) and
//!   members_revenue_share.
//! * `migration` → period, from_tier (NULL for a member's first tier),
//!   to_tier, customers: the tier changes that started in the period
//!   (`tier_history`).
//! * `tiers` → period, period_end, tier, members (holding the tier at the
//!   period's end), revenue (of members while in the tier, in the period),
//!   revenue_per_member (revenue / members).
//!
//! SQL over `points_ledger` / `tier_history` and the transactions, returned
//! as a view. The per-period sums are aggregated first, so the running
//! totals join only a row per period.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use super::rules_sql::RulesArg;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::kpi::periods::{Period, NAMES as PERIODS};
use crate::options::Options;
use crate::table_input::{
    self, check_argument_columns, date_literal, quote_literal, Args, INPUT_COLUMNS,
};

const NAME: &str = "loyalty_kpis";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "loyalty_kpis(transactions, events, rules, start, end [, 'period=month, view=summary|migration|tiers']) -> TABLE(period, period_end, members, active_members, participation_rate, points_earned, points_redeemed, points_expired, redemption_rate, breakage, liability_points, liability_value, revenue, members_revenue, members_revenue_share)",
        description: "Loyalty programme KPIs per period: members, participation, points earned/redeemed/expired, redemption rate, breakage, outstanding liability in points and currency, members' share of revenue; view=migration: tier changes (from, to, customers); view=tiers: members and revenue per member by tier",
        example: "SELECT liability_points FROM loyalty_kpis('SELECT * FROM (VALUES (1, TIMESTAMP ''2011-11-20 10:00:00'', 120.0), (2, TIMESTAMP ''2011-12-05 10:00:00'', 10.0)) AS t(customer_id, ts, amount)', NULL, '{\"earn_rate\": 1}', '2011-11-01', '2011-12-31') ORDER BY period DESC LIMIT 1; -- 130",
        registration: Registration::Table(Arc::new(LoyaltyKpis)),
    }
}

#[derive(Debug)]
pub struct LoyaltyKpis;

/// The table `view=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Summary,
    Migration,
    Tiers,
}

impl View {
    fn parse(name: &str) -> Result<View> {
        match name.to_ascii_lowercase().as_str() {
            "summary" => Ok(View::Summary),
            "migration" => Ok(View::Migration),
            "tiers" => Ok(View::Tiers),
            _ => Err(UdfError::Options {
                function: NAME,
                message: format!(
                    "view must be summary, migration or tiers, got '{}'",
                    name.to_ascii_lowercase()
                ),
            }
            .into()),
        }
    }
}

/// The VALUES list of (period, period_end) from `start`'s period to `end`'s.
fn periods_sql(period: Period, start: i32, end: i32) -> String {
    let mut at = period.start(start);
    let mut rows = Vec::new();
    while at <= end {
        let next = period.next(at);
        rows.push(format!(
            "({}, {})",
            date_literal(at),
            date_literal(next - 1)
        ));
        at = next;
    }
    format!(
        "SELECT * FROM (VALUES {}) AS p(period, period_end)",
        rows.join(", ")
    )
}

impl TableFunctionImpl for LoyaltyKpis {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(
            NAME,
            &["transactions", "events", "rules", "start", "end", "options"],
            5,
            &args,
        )?;
        let transactions_text = a.string(0)?;
        let transactions = a.input_sql(0)?;
        let events = if a.has(1) {
            quote_literal(&a.string(1)?)
        } else {
            "NULL".to_string()
        };
        let rules_text = a.string(2)?;
        let rules = RulesArg::parse(NAME, &rules_text)?;
        let (start, end) = (a.date(3)?, a.date(4)?);
        if start > end {
            return Err(UdfError::argument(NAME, "start", "is after end").into());
        }
        let options_text = if a.has(5) {
            a.string(5)?
        } else {
            String::new()
        };
        let options = Options::parse(NAME, &options_text, &["period", "view"])?;
        let period_name = options.get("period").unwrap_or("month");
        let period = Period::parse(period_name).ok_or_else(|| UdfError::Options {
            function: NAME,
            message: format!(
                "period must be one of {}, got '{period_name}'",
                PERIODS.join(", ")
            ),
        })?;
        let view_name = options.get("view").unwrap_or("summary");
        let view = View::parse(view_name)?;
        let tx = table_input::plan(NAME, state, &format!("SELECT * FROM {transactions} AS t"))?;
        check_argument_columns(NAME, "transactions", tx.schema(), &INPUT_COLUMNS)?;
        if view != View::Summary && rules.known().is_some_and(|r| r.tiers.is_none()) {
            return Err(UdfError::Options {
                function: NAME,
                message: format!("view={} needs rules.tiers", view_name.to_ascii_lowercase()),
            }
            .into());
        }
        let p = periods_sql(period, start, end);
        let bucket =
            |column: &str| format!("CAST(date_trunc('{}', {column}) AS DATE)", period.name());
        let (tx_q, rules_q, end_q) = (
            quote_literal(&transactions_text),
            quote_literal(&rules_text),
            date_literal(end),
        );
        let in_range = format!(
            "CAST(CAST(ts AS DATE) AS INT) BETWEEN {} AND {end}",
            period.start(start)
        );
        let sql = match view {
            View::Summary => {
                let point_value = match rules.known() {
                    Some(r) => r
                        .point_value
                        .map_or("CAST(NULL AS DOUBLE)".to_string(), |v| format!("{v:?}")),
                    None => format!("loyalty_point_value({})", rules.sql()),
                };
                // One GROUP BY per period over the ledger's rows per customer
                // and period, each member's first period (`joined`), a zero
                // row for every period (so periods without entries are there
                // for the running sums) and the revenue lines, then running
                // sums by a window. The ledger is computed twice (a CTE is
                // planned once per reference); the obvious one-pass forms,
                // `MIN(period) OVER (PARTITION BY customer_id)` in a UNION
                // branch or joins of the per-period table, made a Ballista
                // 55 executor panic (TopK "topk_emitter_count > 0") or the
                // plan too deep for its decoder.
                let zero = "0.0, 0.0, 0.0, 0.0, 0, 0";
                format!(
                    "WITH p AS ({p}), \
                     lp AS (SELECT {b} AS period, customer_id, kind, points \
                            FROM points_ledger({tx_q}, {events}, {rules_q}, {end_q}) WHERE rejected IS NULL), \
                     a AS (SELECT customer_id, period, \
                         SUM(CASE WHEN kind IN ('earn', 'signup', 'referral', 'return') OR (kind = 'adjust' AND points > 0) THEN points ELSE 0 END) AS earned, \
                         SUM(CASE WHEN kind = 'redeem' OR (kind = 'adjust' AND points < 0) THEN -points ELSE 0 END) AS redeemed, \
                         SUM(CASE WHEN kind = 'expire' THEN -points ELSE 0 END) AS expired, \
                         SUM(points) AS net, \
                         MAX(CASE WHEN kind IN ('earn', 'redeem') AND points <> 0 THEN 1 ELSE 0 END) AS active \
                       FROM lp GROUP BY customer_id, period), \
                     u AS (SELECT period, earned, redeemed, expired, net, active, 0 AS joined, \
                                  0.0 AS revenue, 0.0 AS members_revenue FROM a \
                           UNION ALL SELECT MIN(period), 0.0, 0.0, 0.0, 0.0, 0, 1, 0.0, 0.0 FROM a GROUP BY customer_id \
                           UNION ALL SELECT period, {zero}, 0.0, 0.0 FROM p \
                           UNION ALL SELECT {b} AS period, {zero}, CAST(amount AS DOUBLE), \
                                            CASE WHEN customer_id IS NOT NULL THEN CAST(amount AS DOUBLE) ELSE 0.0 END \
                                     FROM {transactions} AS t WHERE ts IS NOT NULL AND {in_range}), \
                     flows AS (SELECT period, SUM(earned) AS earned, SUM(redeemed) AS redeemed, SUM(expired) AS expired, \
                                      SUM(net) AS net, SUM(active) AS active, SUM(joined) AS joined, \
                                      SUM(revenue) AS revenue, SUM(members_revenue) AS members_revenue \
                               FROM u GROUP BY period), \
                     c AS (SELECT *, SUM(net) OVER (ORDER BY period) AS liability, \
                                     SUM(joined) OVER (ORDER BY period) AS members FROM flows) \
                     SELECT period, CAST({period_end} AS DATE) AS period_end, CAST(members AS BIGINT) AS members, \
                            CAST(active AS BIGINT) AS active_members, \
                            CAST(active AS DOUBLE) / NULLIF(CAST(members AS DOUBLE), 0) AS participation_rate, \
                            earned AS points_earned, redeemed AS points_redeemed, expired AS points_expired, \
                            redeemed / NULLIF(earned, 0) AS redemption_rate, \
                            expired / NULLIF(earned, 0) AS breakage, \
                            liability AS liability_points, liability * {point_value} AS liability_value, \
                            revenue, members_revenue, members_revenue / NULLIF(revenue, 0) AS members_revenue_share \
                     FROM c WHERE period >= {ps}",
                    b = bucket("ts"),
                    ps = date_literal(period.start(start)),
                    period_end = match period {
                        Period::Day => "period".to_string(),
                        Period::Week => "period + INTERVAL '6' DAY".to_string(),
                        Period::Month => "period + INTERVAL '1' MONTH - INTERVAL '1' DAY".to_string(),
                        Period::Quarter => "period + INTERVAL '3' MONTH - INTERVAL '1' DAY".to_string(),
                    },
                )
            }
            View::Migration => format!(
                "WITH h AS (SELECT * FROM tier_history({tx_q}, {rules_q}, NULL, {end_q})), \
                 m AS (SELECT {b} AS period, \
                              LAG(tier) OVER (PARTITION BY customer_id ORDER BY valid_from) AS from_tier, \
                              tier AS to_tier FROM h) \
                 SELECT period, from_tier, to_tier, COUNT(*) AS customers FROM m \
                 WHERE period >= {ps} GROUP BY period, from_tier, to_tier",
                b = bucket("valid_from"),
                ps = date_literal(period.start(start)),
            ),
            View::Tiers => format!(
                "WITH p AS ({p}), \
                 h AS (SELECT * FROM tier_history({tx_q}, {rules_q}, NULL, {end_q})), \
                 deltas AS (SELECT tier, period, SUM(d) AS d FROM \
                   (SELECT tier, {bf} AS period, 1 AS d FROM h \
                    UNION ALL SELECT tier, {bt} AS period, -1 AS d FROM h WHERE valid_to IS NOT NULL) \
                   GROUP BY tier, period), \
                 tiers AS (SELECT tier, SUM(CASE WHEN period < {ps} THEN d ELSE 0 END) AS base FROM deltas GROUP BY tier), \
                 held AS (SELECT p.period, p.period_end, t.tier, \
                     t.base + SUM(COALESCE(x.d, 0)) OVER (PARTITION BY t.tier ORDER BY p.period) AS members \
                   FROM p CROSS JOIN tiers t LEFT JOIN deltas x ON x.tier = t.tier AND x.period = p.period), \
                 rev AS (SELECT {tb} AS period, h.tier, SUM(t.amount) AS revenue \
                         FROM {transactions} AS t JOIN h ON t.customer_id = h.customer_id \
                          AND CAST(t.ts AS DATE) >= h.valid_from \
                          AND (h.valid_to IS NULL OR CAST(t.ts AS DATE) <= h.valid_to) \
                         WHERE t.ts IS NOT NULL AND {in_range} GROUP BY 1, 2) \
                 SELECT held.period, held.period_end, held.tier, CAST(held.members AS BIGINT) AS members, \
                        COALESCE(rev.revenue, 0) AS revenue, \
                        COALESCE(rev.revenue, 0) / NULLIF(CAST(held.members AS DOUBLE), 0) AS revenue_per_member \
                 FROM held LEFT JOIN rev ON rev.period = held.period AND rev.tier = held.tier",
                bf = bucket("valid_from"),
                bt = bucket("valid_to + INTERVAL '1 day'"),
                tb = bucket("t.ts"),
                ps = date_literal(period.start(start)),
            ),
        };
        table_input::view(NAME, state, &sql)
    }
}
