//! Table function `customer_ltv(input, as_of, horizon_days [, monthly_discount])`:
//! the whole lifetime-value analysis in one call.
//!
//! It is SQL over the other functions, so each step is the documented one:
//! `customer_summary(input, as_of)` in days; `bgnbd_fit` and `gamma_gamma_fit`
//! over all customers; then per customer `p_alive`, `expected_purchases` over
//! `horizon_days`, `expected_spend` and `clv` over horizon_days / 30 months at
//! `monthly_discount` (default 0.01, lifetimes' default). The Gamma-Gamma fit
//! uses repeat buyers whose mean repeat value is positive; customers whose
//! repeat purchases net to <= 0 (returns) get NULL `expected_spend` and `clv`,
//! and so do customers without a finite expected spend (p·x + q <= 1 when the
//! fit has q <= 1, see [`super::gamma_gamma::GammaGamma::expected_spend`]).
//! Columns: customer_id, frequency, recency, t, monetary, p_alive,
//! expected_purchases, expected_spend, clv, fits_converged (both fits found
//! a maximum that determines their parameters; false means the scores rest
//! on a fit the data cannot support, e.g. a handful of customers: fit by hand
//! and read `model_info`).

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, date_literal, quote_literal, Args};

const NAME: &str = "customer_ltv";
const ARGS: &[&str] = &["input", "as_of", "horizon_days", "monthly_discount"];

#[derive(Debug)]
pub struct CustomerLtv;

impl TableFunctionImpl for CustomerLtv {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, ARGS, 3, &args)?;
        let input = a.string(0)?;
        // Validates the input form early, with this function's name.
        a.input_sql(0)?;
        let as_of = a.date(1)?;
        let horizon = a.number(2)?;
        // CLV runs over horizon_days / 30 months: at most 100 years.
        let max_days = super::clv::MAX_HORIZON_MONTHS * 30.0;
        if !(0.0..=max_days).contains(&horizon) {
            return Err(UdfError::argument(
                NAME,
                "horizon_days",
                format!("must be from 0 to {max_days} (100 years), got {horizon}"),
            )
            .into());
        }
        let discount = if a.has(3) { a.number(3)? } else { 0.01 };
        if discount <= -1.0 {
            return Err(UdfError::argument(
                NAME,
                "monthly_discount",
                format!("must be > -1, got {discount}"),
            )
            .into());
        }
        let months = horizon / 30.0;
        let spend_ok = "(s.frequency = 0 OR s.monetary > 0)";
        let sql = format!(
            "WITH s AS (SELECT * FROM customer_summary({input}, {as_of})), \
             m AS (SELECT bgnbd_fit(frequency, recency, t) AS pm, \
                          gamma_gamma_fit(frequency, monetary) FILTER (WHERE monetary > 0) AS sm \
                   FROM s) \
             SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary, \
                    p_alive(m.pm, s.frequency, s.recency, s.t) AS p_alive, \
                    expected_purchases(m.pm, {horizon:?}, s.frequency, s.recency, s.t) AS expected_purchases, \
                    CASE WHEN {spend_ok} THEN expected_spend(m.sm, s.frequency, s.monetary) END AS expected_spend, \
                    CASE WHEN {spend_ok} THEN clv(m.pm, m.sm, s.frequency, s.recency, s.t, s.monetary, \
                                                   {months:?}, {discount:?}, 'day') END AS clv, \
                    strpos(m.pm, '\"converged\":true') > 0 \
                      AND COALESCE(strpos(m.sm, '\"converged\":true') > 0, true) AS fits_converged \
             FROM s CROSS JOIN m",
            input = quote_literal(&input),
            as_of = date_literal(as_of),
        );
        table_input::view(NAME, state, &sql)
    }
}

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "customer_ltv(input, as_of, horizon_days [, monthly_discount]) -> TABLE(customer_id, frequency, recency, t, monetary, p_alive, expected_purchases, expected_spend, clv, fits_converged)",
        description: "customer_summary in days, BG/NBD and Gamma-Gamma fits, and per customer P(alive), expected purchases over horizon_days, expected spend and CLV over horizon_days/30 months (discount default 0.01/month)",
        example: "SELECT count(*) FROM customer_ltv('SELECT * FROM (VALUES (1, DATE ''2024-01-01'', 10.0), (1, DATE ''2024-02-01'', 20.0), (2, DATE ''2024-01-05'', 15.0), (3, DATE ''2024-01-07'', 8.0), (3, DATE ''2024-01-20'', 9.0), (3, DATE ''2024-03-02'', 30.0), (4, DATE ''2024-02-11'', 5.0), (5, DATE ''2024-01-03'', 12.0), (5, DATE ''2024-03-20'', 11.0)) AS v(customer_id, ts, amount)', '2024-03-31', 90) WHERE p_alive BETWEEN 0 AND 1 AND clv >= 0; -- 5",
        registration: Registration::Table(Arc::new(CustomerLtv)),
    }
}
