//! Customer lifetime value by the discounted-cash-flow method of the
//! `lifetimes` package (`GammaGammaFitter.customer_lifetime_value`):
//!
//!   CLV = Σ_{i=1..H} E[spend] · (E[Y(i·f)] − E[Y((i−1)·f)]) / (1 + d)^i
//!
//! month by month for H months, with f the length of a month in the model's
//! time unit (30 for days, 4.345 for weeks — lifetimes' constants), d the
//! monthly discount rate, E[Y] the purchase model's conditional expectation and
//! E[spend] the Gamma-Gamma expected mean transaction value. A fractional H adds
//! a last partial month ending at H, discounted by (1 + d)^H.

use super::summary_sql::Period;
use super::PurchaseModel;

/// A month in `period` units, as lifetimes counts it.
pub fn month_length(period: Period) -> f64 {
    match period {
        Period::Day => 30.0,
        Period::Week => 4.345,
    }
}

/// The horizons and discount divisors of one CLV setting, shared by every
/// customer scored with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvPlan {
    /// Month ends 1, 2, …, ⌊H⌋ and H itself when fractional, in the model's
    /// time unit.
    horizons: Vec<f64>,
    /// (1 + d)^end for each end.
    divisors: Vec<f64>,
}

/// The longest CLV horizon, in months (100 years). CLV sums one discounted
/// term per month, so its cost and memory grow with the horizon; a century
/// is past any business question and past where discounting leaves the
/// terms any weight, and an unbounded horizon (1e17 months) would allocate
/// without end.
pub const MAX_HORIZON_MONTHS: f64 = 1200.0;

impl ClvPlan {
    pub fn new(months: f64, monthly_discount: f64, period: Period) -> Self {
        let f = month_length(period);
        // Month ends 1, 2, …, ⌊H⌋ and H itself when fractional.
        let mut ends = Vec::with_capacity(months.ceil().max(0.0) as usize);
        let mut i = 1.0;
        while i - 1.0 < months {
            ends.push(f64::min(i, months));
            i += 1.0;
        }
        ClvPlan {
            horizons: ends.iter().map(|e| e * f).collect(),
            divisors: ends
                .iter()
                .map(|e| (1.0 + monthly_discount).powf(*e))
                .collect(),
        }
    }

    /// The discounted value for one customer with summary (x, t_x, T) and
    /// expected transaction value `spend`; `scratch` is reused between calls.
    pub fn value(
        &self,
        model: &dyn PurchaseModel,
        spend: f64,
        (x, tx, t): (f64, f64, f64),
        scratch: &mut Vec<f64>,
    ) -> f64 {
        scratch.clear();
        scratch.resize(self.horizons.len(), 0.0);
        model.expected_alive_many(&self.horizons, x, t, scratch);
        // P(alive) is common to every month: E[Y(h)] = E[Y(h) | alive]·P(alive).
        let pa = model.p_alive(x, tx, t);
        let mut total = 0.0;
        let mut previous = 0.0;
        for (e, divisor) in scratch.iter().zip(&self.divisors) {
            let e = e * pa;
            total += spend * (e - previous) / divisor;
            previous = e;
        }
        total
    }
}

/// Discounted value of the next `months` months for one customer with summary
/// (x, t_x, T) and expected transaction value `spend` (builds a [`ClvPlan`];
/// score many customers with one plan instead).
#[allow(clippy::too_many_arguments)] // the SQL function's arguments, in its order
pub fn clv(
    model: &dyn PurchaseModel,
    spend: f64,
    x: f64,
    tx: f64,
    t: f64,
    months: f64,
    monthly_discount: f64,
    period: Period,
) -> f64 {
    ClvPlan::new(months, monthly_discount, period).value(model, spend, (x, tx, t), &mut Vec::new())
}
