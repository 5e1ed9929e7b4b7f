//! `brier(score, label)` and `calibration_error(score, label [, bins])`:
//! how far probabilities are from the outcomes ([`super::metrics`]).
//!
//! `score` is a probability in [0, 1], `label` a boolean or 0/1; rows with
//! a NULL score or label are left out, NULL when none is left. `bins` is a
//! constant from 1 to 1000 (default 10, equal width).
//!
//! ```sql
//! SELECT brier(churn_probability, churned), calibration_error(churn_probability, churned)
//! FROM scored_holdout;
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::AggregateUDF;

use super::metrics;
use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::pairs::{check_pair, Constant, PairFunction, PairUdaf};

const BRIER: &str = "brier";
const ECE: &str = "calibration_error";
/// The most bins `calibration_error` and `reliability` take.
pub const MAX_BINS: usize = 1000;

pub fn entries() -> Vec<FunctionEntry> {
    vec![
        FunctionEntry {
            name: BRIER,
            kind: FunctionKind::Aggregate,
            signature: "brier(score, label) -> DOUBLE",
            description: "Brier score: mean squared difference between probability and outcome (0 is best)",
            example: "SELECT brier(score, churned) FROM (VALUES (0.9, true), (0.8, false), (0.2, false), (0.1, true)) AS t(score, churned); -- 0.37500000000000006",
            registration: Registration::Aggregate(Arc::new(AggregateUDF::from(PairUdaf::new(
                BRIER,
                &[],
                0,
                DataType::Float64,
                |_| Ok(Arc::new(Metric::Brier)),
            )))),
        },
        FunctionEntry {
            name: ECE,
            kind: FunctionKind::Aggregate,
            signature: "calibration_error(score, label [, bins]) -> DOUBLE",
            description: "Expected calibration error: over equal-width probability bins (10 by default), the share of rows times the gap between observed rate and mean probability",
            example: "SELECT calibration_error(score, churned, 2) FROM (VALUES (0.9, true), (0.8, false), (0.2, false), (0.1, true)) AS t(score, churned); -- 0.35000000000000003",
            registration: Registration::Aggregate(Arc::new(AggregateUDF::from(PairUdaf::new(
                ECE,
                &[Constant::Number("bins")],
                0,
                DataType::Float64,
                make_ece,
            )))),
        },
    ]
}

/// `bins` of `function` as given (argument `i`), or 10.
pub fn bins_argument(function: &'static str, v: &ScalarValue) -> Result<usize> {
    if v.is_null() {
        return Ok(10);
    }
    let b = constant_number(function, "bins", v)?;
    if !(b.fract() == 0.0 && (1.0..=MAX_BINS as f64).contains(&b)) {
        return Err(UdfError::argument(
            function,
            "bins",
            format!("must be a whole number from 1 to {MAX_BINS}, got {b}"),
        )
        .into());
    }
    Ok(b as usize)
}

fn make_ece(args: &AccumulatorArgs) -> Result<Arc<dyn PairFunction>> {
    let bins = bins_argument(ECE, &constant(ECE, "bins", args.exprs, 2)?)?;
    Ok(Arc::new(Metric::CalibrationError(bins)))
}

#[derive(Debug)]
enum Metric {
    Brier,
    CalibrationError(usize),
}

impl PairFunction for Metric {
    fn name(&self) -> &'static str {
        match self {
            Metric::Brier => BRIER,
            Metric::CalibrationError(_) => ECE,
        }
    }

    fn check(&self, score: f64, label: f64) -> Result<()> {
        check_pair(self.name(), score, label, true)
    }

    fn evaluate(&self, scores: &[f64], labels: &[f64]) -> Result<ScalarValue> {
        let pairs: Vec<(f64, bool)> = scores
            .iter()
            .zip(labels)
            .map(|(&s, &l)| (s, l > 0.5))
            .collect();
        Ok(ScalarValue::Float64(match self {
            Metric::Brier => metrics::brier(&pairs),
            Metric::CalibrationError(bins) => metrics::calibration_error(&pairs, *bins),
        }))
    }

    fn return_type(&self) -> DataType {
        DataType::Float64
    }
}
