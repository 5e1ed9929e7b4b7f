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
//!
//! Options (last argument, or in `monthly_discount`'s place):
//! `'interval=0.9'` adds `p_alive_low`, `p_alive_high`,
//! `expected_purchases_low`, `expected_purchases_high`, `expected_spend_low`,
//! `expected_spend_high`, `clv_low` and `clv_high` after `clv` (delta-method
//! confidence intervals on each customer's expectation, see
//! [`super::interval`]); `interval_method=bootstrap` with `replicates`
//! (default 200) and `seed` (default 1) refits both models on resampled
//! customers instead. A delta interval whose fit has no covariance (a fit
//! at the boundary, e.g. the sample lake as of 2011-11-30, where no
//! customer seems to drop out: a → 0, b → ∞) is NULL, with
//! `fits_converged` false, instead of failing the query (the scoring
//! functions' `no_covariance=null`).

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::options::Options;
use crate::table_input::{self, date_literal, quote_literal, Args};

use super::bootstrap::BootstrapSpec;
use super::interval::{IntervalSpec, Method};

const NAME: &str = "customer_ltv";
const ARGS: &[&str] = &[
    "input",
    "as_of",
    "horizon_days",
    "monthly_discount",
    "options",
];

/// The options of `customer_ltv`: the scorers' interval keys and the fits'
/// bootstrap keys.
const KEYS: &[&str] = &["interval", "interval_method", "replicates", "seed"];

/// The intervals asked for: (the scorers' options, the fits' options), as
/// SQL literals with their leading comma, or empty.
fn interval_options(text: &str) -> Result<(String, String)> {
    let options = Options::parse(NAME, text, KEYS)?;
    let Some(spec) = IntervalSpec::from_options(NAME, &options, false)? else {
        if options.get("replicates").is_some() || options.get("seed").is_some() {
            return Err(UdfError::Options {
                function: NAME,
                message: "replicates and seed need interval=LEVEL, interval_method=bootstrap"
                    .into(),
            }
            .into());
        }
        return Ok((String::new(), String::new()));
    };
    // A nightly job must not stop on a day whose purchase fit runs to the
    // boundary (no dropout: a -> 0, b -> infinity): there the delta
    // intervals are NULL and fits_converged is false.
    let score = format!(
        ", 'interval={}, {}'",
        spec.level,
        if spec.method == Method::Bootstrap {
            "interval_method=bootstrap"
        } else {
            "interval_method=delta, no_covariance=null"
        }
    );
    let fit = match spec.method {
        Method::Bootstrap => {
            let boot = BootstrapSpec::from_options(NAME, &options)?.unwrap_or(BootstrapSpec {
                replicates: 200,
                seed: options.parse_or("seed", 1u64)?,
            });
            format!(", 'replicates={}, seed={}'", boot.replicates, boot.seed)
        }
        _ => {
            if options.get("replicates").is_some() || options.get("seed").is_some() {
                return Err(UdfError::Options {
                    function: NAME,
                    message: "replicates and seed are for interval_method=bootstrap".into(),
                }
                .into());
            }
            String::new()
        }
    };
    Ok((score, fit))
}

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
        // The options may stand in the discount's place.
        let options_at_3 = a.has(3) && a.string(3).is_ok_and(|t| t.contains('='));
        let discount = if a.has(3) && !options_at_3 {
            a.number(3)?
        } else {
            0.01
        };
        let options = if options_at_3 {
            a.string(3)?
        } else if a.has(4) {
            a.string(4)?
        } else {
            String::new()
        };
        let (score_opts, fit_opts) = interval_options(&options)?;
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
        // The four scores, each wrapped by `wrap` (an alias, or unnest).
        let scores = |o: &str, wrap: &dyn Fn(&str, &str) -> String| {
            [
                wrap(&format!("p_alive(m.pm, s.frequency, s.recency, s.t{o})"), "p_alive"),
                wrap(
                    &format!("expected_purchases(m.pm, {horizon:?}, s.frequency, s.recency, s.t{o})"),
                    "expected_purchases",
                ),
                wrap(
                    &format!("CASE WHEN {spend_ok} THEN expected_spend(m.sm, s.frequency, s.monetary{o}) END"),
                    "expected_spend",
                ),
                wrap(
                    &format!(
                        "CASE WHEN {spend_ok} THEN clv(m.pm, m.sm, s.frequency, s.recency, s.t, s.monetary, \
                         {months:?}, {discount:?}, 'day'{o}) END"
                    ),
                    "clv",
                ),
            ]
            .join(", ")
        };
        let from = format!(
            "WITH s AS (SELECT * FROM customer_summary({input}, {as_of})), \
             m AS (SELECT bgnbd_fit(frequency, recency, t{fit_opts}) AS pm, \
                          gamma_gamma_fit(frequency, monetary{fit_opts}) FILTER (WHERE monetary > 0) AS sm \
                   FROM s)",
            input = quote_literal(&input),
            as_of = date_literal(as_of),
        );
        let converged = "strpos(m.pm, '\"converged\":true') > 0 \
                      AND COALESCE(strpos(m.sm, '\"converged\":true') > 0, true) AS fits_converged";
        let sql = if score_opts.is_empty() {
            format!(
                "{from} SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary, {}, {converged} \
                 FROM s CROSS JOIN m",
                scores("", &|e, name| format!("{e} AS {name}"))
            )
        } else {
            // Each interval is computed once and its struct unnested into
            // three columns (reading its fields with ['low'] instead would
            // let the optimiser move the field access, and so the whole
            // scoring, into each of the three columns).
            let names = ["p_alive", "expected_purchases", "expected_spend", "clv"];
            let inner: Vec<String> = names
                .iter()
                .map(|c| format!("{c}, {c}_low, {c}_high"))
                .collect();
            let bounds: Vec<String> = names.iter().map(|c| format!("{c}_low, {c}_high")).collect();
            format!(
                "{from}, i(customer_id, frequency, recency, t, monetary, {}, fits_converged) AS \
                   (SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary, {}, {converged} \
                    FROM s CROSS JOIN m) \
                 SELECT customer_id, frequency, recency, t, monetary, {}, {}, fits_converged FROM i",
                inner.join(", "),
                scores(&score_opts, &|e, _| format!("unnest({e})")),
                names.join(", "),
                bounds.join(", ")
            )
        };
        table_input::view(NAME, state, &sql)
    }
}

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "customer_ltv(input, as_of, horizon_days [, monthly_discount] [, 'interval=0.9']) -> TABLE(customer_id, frequency, recency, t, monetary, p_alive, expected_purchases, expected_spend, clv, [p_alive_low, p_alive_high, expected_purchases_low, expected_purchases_high, expected_spend_low, expected_spend_high, clv_low, clv_high,] fits_converged)",
        description: "customer_summary in days, BG/NBD and Gamma-Gamma fits, and per customer P(alive), expected purchases over horizon_days, expected spend and CLV over horizon_days/30 months (discount default 0.01/month); 'interval=0.9' adds their confidence intervals",
        example: "SELECT count(*) FROM customer_ltv('SELECT * FROM (VALUES (1, DATE ''2024-01-01'', 10.0), (1, DATE ''2024-02-01'', 20.0), (2, DATE ''2024-01-05'', 15.0), (3, DATE ''2024-01-07'', 8.0), (3, DATE ''2024-01-20'', 9.0), (3, DATE ''2024-03-02'', 30.0), (4, DATE ''2024-02-11'', 5.0), (5, DATE ''2024-01-03'', 12.0), (5, DATE ''2024-03-20'', 11.0)) AS v(customer_id, ts, amount)', '2024-03-31', 90) WHERE p_alive BETWEEN 0 AND 1 AND clv >= 0; -- 5",
        registration: Registration::Table(Arc::new(CustomerLtv)),
    }
}
