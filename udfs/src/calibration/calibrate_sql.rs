//! `calibrate(model, score)` -> DOUBLE: the calibrated probability of a
//! score under a `calibrate_fit` model; `calibrate_interval(model, score)`
//! -> STRUCT(probability, p0, p1): a Venn–Abers model's probability with its
//! [p0, p1] interval (an error for the other methods, which have none).
//! NULL for a NULL model or score; a non-finite score is an error.
//!
//! ```sql
//! SELECT customer_id, calibrate(m.model, churn_probability) AS calibrated
//! FROM churn_scores CROSS JOIN (SELECT model FROM calibrations LIMIT 1) AS m;
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Builder, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::calibrator::Calibrator;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::model_arg::{coerce_model_and_score, BatchModels, Models};

const CALIBRATE: &str = "calibrate";
const INTERVAL: &str = "calibrate_interval";

pub fn entries() -> Vec<FunctionEntry> {
    vec![
        FunctionEntry {
            name: CALIBRATE,
            kind: FunctionKind::Scalar,
            signature: "calibrate(model, score) -> DOUBLE",
            description: "The calibrated probability of score under a calibrate_fit model",
            example: "SELECT calibrate(m.model, s) FROM (SELECT calibrate_fit(score, churned) AS model FROM (VALUES (0.9, true), (0.8, true), (0.7, false), (0.4, true), (0.3, false), (0.1, false)) AS t(score, churned)) AS m CROSS JOIN (VALUES (0.2), (0.85)) AS x(s)",
            registration: Registration::Scalar(Arc::new(ScalarUDF::from(Calibrate::new(false)))),
        },
        FunctionEntry {
            name: INTERVAL,
            kind: FunctionKind::Scalar,
            signature: "calibrate_interval(model, score) -> STRUCT(probability DOUBLE, p0 DOUBLE, p1 DOUBLE)",
            description: "A Venn-Abers model's calibrated probability p1 / (1 - p0 + p1) with its interval [p0, p1]",
            example: "SELECT calibrate_interval(m.model, 0.75) FROM (SELECT calibrate_fit(score, churned, 'method=venn_abers') AS model FROM (VALUES (0.9, true), (0.8, true), (0.7, false), (0.4, true), (0.3, false), (0.1, false)) AS t(score, churned)) AS m",
            registration: Registration::Scalar(Arc::new(ScalarUDF::from(Calibrate::new(true)))),
        },
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Calibrate {
    interval: bool,
    signature: Signature,
}

impl Calibrate {
    fn new(interval: bool) -> Self {
        Calibrate {
            interval,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn name_str(&self) -> &'static str {
        if self.interval {
            INTERVAL
        } else {
            CALIBRATE
        }
    }
}

fn interval_fields() -> Fields {
    Fields::from(vec![
        Field::new("probability", DataType::Float64, true),
        Field::new("p0", DataType::Float64, true),
        Field::new("p1", DataType::Float64, true),
    ])
}

impl ScalarUDFImpl for Calibrate {
    fn name(&self) -> &str {
        self.name_str()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.interval {
            DataType::Struct(interval_fields())
        } else {
            DataType::Float64
        })
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_model_and_score(self.name_str(), arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name_str();
        let n = args.number_rows;
        let models = args.args[0].to_array(n)?;
        let models = Models::new(name, &models)?;
        let scores = args.args[1].to_array(n)?;
        let scores = scores.as_primitive::<Float64Type>();
        let mut cache = BatchModels::new(name);
        let mut p = Float64Builder::with_capacity(n);
        let mut p0 = Float64Builder::with_capacity(if self.interval { n } else { 0 });
        let mut p1 = Float64Builder::with_capacity(if self.interval { n } else { 0 });
        for i in 0..n {
            if models.is_null(i) || datafusion::arrow::array::Array::is_null(scores, i) {
                p.append_null();
                if self.interval {
                    p0.append_null();
                    p1.append_null();
                }
                continue;
            }
            let score = scores.value(i);
            if !score.is_finite() {
                return Err(UdfError::argument(
                    name,
                    "score",
                    format!("must be finite, got {score}"),
                )
                .into());
            }
            let Model::Calibration { calibrator, .. } = cache.get(models.value(i))? else {
                return Err(UdfError::argument(
                    name,
                    "model",
                    "needs a calibration model (from calibrate_fit)",
                )
                .into());
            };
            if self.interval {
                let Calibrator::VennAbers(va) = calibrator else {
                    return Err(UdfError::argument(
                        name,
                        "model",
                        "only a venn_abers calibration has an interval; fit with 'method=venn_abers', or use calibrate",
                    )
                    .into());
                };
                let (lo, hi) = va.interval(score);
                p.append_value(va.probability(score));
                p0.append_value(lo);
                p1.append_value(hi);
            } else {
                p.append_value(calibrator.probability(score));
            }
        }
        let p = p.finish();
        let nulls = datafusion::arrow::array::Array::nulls(&p).cloned();
        let p: ArrayRef = Arc::new(p);
        if !self.interval {
            return Ok(ColumnarValue::Array(p));
        }
        let columns: Vec<ArrayRef> = vec![p, Arc::new(p0.finish()), Arc::new(p1.finish())];
        Ok(ColumnarValue::Array(Arc::new(StructArray::new(
            interval_fields(),
            columns,
            nulls,
        ))))
    }
}
