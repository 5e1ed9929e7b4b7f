//! `conformal_fit(score, label, alpha [, 'mondrian=true|false'])` -> model
//! and `conformal_set(model, score)` -> LIST<BOOLEAN>: split conformal
//! prediction sets for a binary label from a probability score
//! ([`super::conformal`]). The set holds the true label with probability at
//! least 1 - alpha; class-conditional (Mondrian, the default) holds it
//! within each class. A set may be `[false]`, `[true]`, both (the score
//! cannot tell at that coverage) or empty.
//!
//! `score` is a probability in [0, 1] of the label being true, `label` a
//! boolean or 0/1, `alpha` a constant in (0, 1). Fit on rows the scores were
//! not trained on.
//!
//! ```sql
//! SELECT customer_id, conformal_set(m.model, churn_probability) AS could_be
//! FROM churn_scores CROSS JOIN (SELECT conformal_fit(p, churned, 0.1) AS model FROM validation) AS m;
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanBuilder, ListBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::conformal::Conformal;
use crate::constant_args::{constant, constant_number, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::model_arg::{coerce_model_and_score, BatchModels, Models};
use crate::options::Options;
use crate::pairs::{check_pair, Constant, PairFunction, PairUdaf};

const FIT: &str = "conformal_fit";
const SET: &str = "conformal_set";

pub fn entries() -> Vec<FunctionEntry> {
    vec![
        FunctionEntry {
            name: FIT,
            kind: FunctionKind::Aggregate,
            signature: "conformal_fit(score, label, alpha [, 'mondrian=true|false']) -> VARCHAR (model)",
            description: "Split conformal prediction sets at coverage 1 - alpha from probability scores; class-conditional (Mondrian) by default",
            example: "SELECT conformal_set(m.model, 0.55) FROM (SELECT conformal_fit(score, churned, 0.2) AS model FROM (VALUES (0.9, true), (0.8, true), (0.7, false), (0.6, true), (0.4, true), (0.35, false), (0.3, false), (0.2, false), (0.1, false), (0.05, false)) AS t(score, churned)) AS m",
            registration: Registration::Aggregate(Arc::new(AggregateUDF::from(PairUdaf::new(
                FIT,
                &[Constant::Number("alpha"), Constant::Options],
                1,
                DataType::Utf8,
                make,
            )))),
        },
        FunctionEntry {
            name: SET,
            kind: FunctionKind::Scalar,
            signature: "conformal_set(model, score) -> LIST<BOOLEAN>",
            description: "The labels (false, true) in the conformal prediction set of a probability score",
            example: "SELECT s, conformal_set(m.model, s) FROM (SELECT conformal_fit(score, churned, 0.2, 'mondrian=false') AS model FROM (VALUES (0.9, true), (0.8, true), (0.7, false), (0.6, true), (0.4, true), (0.35, false), (0.3, false), (0.2, false), (0.1, false), (0.05, false)) AS t(score, churned)) AS m CROSS JOIN (VALUES (0.05), (0.5), (0.95)) AS x(s)",
            registration: Registration::Scalar(Arc::new(ScalarUDF::from(ConformalSet {
                signature: Signature::user_defined(Volatility::Immutable),
            }))),
        },
    ]
}

fn make(args: &AccumulatorArgs) -> Result<Arc<dyn PairFunction>> {
    let alpha = constant_number(FIT, "alpha", &constant(FIT, "alpha", args.exprs, 2)?)?;
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(
            UdfError::argument(FIT, "alpha", format!("must be in (0, 1), got {alpha}")).into(),
        );
    }
    let text = match constant(FIT, "options", args.exprs, 3)? {
        ScalarValue::Null => String::new(),
        v => constant_text(FIT, "options", &v)?,
    };
    let options = Options::parse(FIT, &text, &["mondrian"])?;
    Ok(Arc::new(Fit {
        alpha,
        mondrian: options.flag("mondrian", true)?,
    }))
}

#[derive(Debug)]
struct Fit {
    alpha: f64,
    mondrian: bool,
}

impl PairFunction for Fit {
    fn name(&self) -> &'static str {
        FIT
    }

    fn check(&self, score: f64, label: f64) -> Result<()> {
        check_pair(FIT, score, label, true)
    }

    fn evaluate(&self, scores: &[f64], labels: &[f64]) -> Result<ScalarValue> {
        if scores.is_empty() {
            return Ok(ScalarValue::Utf8(None));
        }
        let labels: Vec<bool> = labels.iter().map(|&l| l > 0.5).collect();
        let model = Model::Conformal {
            model: Conformal::fit(scores, &labels, self.alpha, self.mondrian),
        };
        Ok(ScalarValue::Utf8(Some(model.to_json())))
    }

    fn return_type(&self) -> DataType {
        DataType::Utf8
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ConformalSet {
    signature: Signature,
}

impl ScalarUDFImpl for ConformalSet {
    fn name(&self) -> &str {
        SET
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Boolean,
            true,
        ))))
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_model_and_score(SET, arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let models = args.args[0].to_array(n)?;
        let models = Models::new(SET, &models)?;
        let scores = args.args[1].to_array(n)?;
        let scores = scores.as_primitive::<Float64Type>();
        let mut cache = BatchModels::new(SET);
        let mut out = ListBuilder::with_capacity(BooleanBuilder::with_capacity(2 * n), n);
        for i in 0..n {
            if models.is_null(i) || datafusion::arrow::array::Array::is_null(scores, i) {
                out.append_null();
                continue;
            }
            let score = scores.value(i);
            if !(0.0..=1.0).contains(&score) {
                return Err(UdfError::argument(
                    SET,
                    "score",
                    format!("must be a probability in [0, 1], got {score}"),
                )
                .into());
            }
            let Model::Conformal { model } = cache.get(models.value(i))? else {
                return Err(UdfError::argument(
                    SET,
                    "model",
                    "needs a conformal model (from conformal_fit)",
                )
                .into());
            };
            for label in model.set(score) {
                out.values().append_value(label);
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
