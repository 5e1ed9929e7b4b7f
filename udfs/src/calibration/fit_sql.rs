//! `calibrate_fit(score, label [, 'method=platt|isotonic|venn_abers'])`:
//! fit a calibration of `score` to `label` and return it as a model value
//! for [`super::calibrate_sql`].
//!
//! `score` is any finite number (a probability, or a raw model output for
//! Platt scaling), `label` a boolean or 0/1. Rows with a NULL score or label
//! are left out; NULL when no row is left. The default method is `platt`,
//! scikit-learn's default (`CalibratedClassifierCV(method="sigmoid")`):
//! two parameters, steady on a few hundred rows; `isotonic` follows any
//! monotone distortion but needs more rows; `venn_abers` adds the [p0, p1]
//! interval.
//!
//! ```sql
//! SELECT calibrate_fit(churn_probability, churned, 'method=isotonic') AS model
//! FROM validation_scores;
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::AggregateUDF;

use super::calibrator::Calibrator;
use super::isotonic::Isotonic;
use super::platt::Platt;
use super::venn_abers::VennAbers;
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::options::Options;
use crate::pairs::{check_pair, Constant, PairFunction, PairUdaf};

const NAME: &str = "calibrate_fit";

pub fn entries() -> Vec<FunctionEntry> {
    vec![FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "calibrate_fit(score, label [, 'method=platt|isotonic|venn_abers']) -> VARCHAR (model)",
        description: "Fit a probability calibration of score to label (Platt scaling by default, isotonic regression, or Venn-Abers); a model for calibrate",
        example: "SELECT calibrate(m.model, 0.7) FROM (SELECT calibrate_fit(score, churned, 'method=isotonic') AS model FROM (VALUES (0.9, true), (0.8, true), (0.7, false), (0.4, true), (0.3, false), (0.1, false)) AS t(score, churned)) AS m; -- 0.5",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(PairUdaf::new(
            NAME,
            &[Constant::Options],
            0,
            DataType::Utf8,
            make,
        )))),
    }]
}

/// How to calibrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Platt,
    Isotonic,
    VennAbers,
}

fn make(args: &AccumulatorArgs) -> Result<Arc<dyn PairFunction>> {
    let text = match constant(NAME, "options", args.exprs, 2)? {
        ScalarValue::Null => String::new(),
        v => constant_text(NAME, "options", &v)?,
    };
    let options = Options::parse(NAME, &text, &["method"])?;
    let method = match options
        .get("method")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("platt") | Some("sigmoid") => Method::Platt,
        Some("isotonic") => Method::Isotonic,
        Some("venn_abers") => Method::VennAbers,
        Some(other) => {
            return Err(UdfError::Options {
                function: NAME,
                message: format!("method must be platt, isotonic or venn_abers, got '{other}'"),
            }
            .into())
        }
    };
    Ok(Arc::new(Fit { method }))
}

/// `calibrate_fit` with its method.
#[derive(Debug)]
struct Fit {
    method: Method,
}

impl PairFunction for Fit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, score: f64, label: f64) -> Result<()> {
        check_pair(NAME, score, label, false)
    }

    fn evaluate(&self, scores: &[f64], labels: &[f64]) -> Result<ScalarValue> {
        if scores.is_empty() {
            return Ok(ScalarValue::Utf8(None));
        }
        let labels: Vec<bool> = labels.iter().map(|&l| l > 0.5).collect();
        let positives = labels.iter().filter(|&&l| l).count();
        let data = |m: String| UdfError::data(NAME, m);
        let calibrator = match self.method {
            Method::Platt => Calibrator::Platt(Platt::fit(scores, &labels).map_err(data)?.0),
            Method::Isotonic => Calibrator::Isotonic(Isotonic::fit(scores, &labels).map_err(data)?),
            Method::VennAbers => {
                Calibrator::VennAbers(VennAbers::fit(scores, &labels).map_err(data)?)
            }
        };
        let model = Model::Calibration {
            n: scores.len(),
            positives,
            calibrator,
        };
        Ok(ScalarValue::Utf8(Some(model.to_json())))
    }

    fn return_type(&self) -> DataType {
        DataType::Utf8
    }
}
