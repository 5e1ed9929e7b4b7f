//! Calibrated probabilities and prediction sets: turning a score (a churn
//! probability, a model's raw output) into a probability that means what it
//! says, an interval around it, or a set of labels with a coverage
//! guarantee; and measuring how well probabilities are calibrated.
//!
//! - [`fit_sql`]: `calibrate_fit(score, label [, 'method=...'])` -> model;
//!   methods [`platt`], [`isotonic`] and [`venn_abers`].
//! - [`calibrate_sql`]: `calibrate(model, score)` and
//!   `calibrate_interval(model, score)` (Venn–Abers' [p0, p1]).
//! - [`conformal_sql`]: `conformal_fit(score, label, alpha [, 'mondrian=...'])`
//!   and `conformal_set(model, score)` ([`conformal`]).
//! - [`metrics_sql`]: `brier(score, label)` and `calibration_error(score,
//!   label [, bins])`; [`reliability_sql`]: the `reliability(input, bins)`
//!   table ([`metrics`]).
//!
//! Fit on data the scores were not trained on (a validation split): the
//! calibration is only as honest as that data.

pub mod calibrate_sql;
pub mod calibrator;
pub mod conformal;
pub mod conformal_sql;
pub mod fit_sql;
pub mod isotonic;
pub mod metrics;
pub mod metrics_sql;
pub mod platt;
pub mod reliability_sql;
pub mod venn_abers;

pub use calibrator::Calibrator;

/// Every function of the area, for the catalog.
pub fn entries() -> Vec<crate::function_entry::FunctionEntry> {
    let mut out = fit_sql::entries();
    out.extend(calibrate_sql::entries());
    out.extend(conformal_sql::entries());
    out.extend(metrics_sql::entries());
    out.extend(reliability_sql::entries());
    out
}
