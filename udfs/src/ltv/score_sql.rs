//! SQL scalars that score customers with a fitted model:
//! `p_alive(model, frequency, recency, t)`,
//! `expected_purchases(model, horizon, frequency, recency, t)` and
//! `expected_spend(model, frequency, monetary)`.
//!
//! The model is usually a scalar subquery (`(SELECT model FROM models ...)`) and
//! is parsed once per batch; a model column is parsed once per distinct value
//! in a row. NULL in any argument gives NULL. Invalid summaries are errors
//! naming the argument, as for the fits. Time arguments are in the unit the
//! model was fitted in (days for `customer_summary`'s default).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, StringArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::data::check_rfm;
use crate::catalog::{FunctionEntry, FunctionKind, Registration};
use crate::error::UdfError;
use crate::kpi::nps::coerce_numeric;
use crate::model::Model;

/// Which score a scalar computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Score {
    PAlive,
    ExpectedPurchases,
    ExpectedSpend,
}

impl Score {
    fn name(self) -> &'static str {
        match self {
            Score::PAlive => "p_alive",
            Score::ExpectedPurchases => "expected_purchases",
            Score::ExpectedSpend => "expected_spend",
        }
    }
    /// Names of the numeric arguments after the model.
    fn args(self) -> &'static [&'static str] {
        match self {
            Score::PAlive => &["frequency", "recency", "t"],
            Score::ExpectedPurchases => &["horizon", "frequency", "recency", "t"],
            Score::ExpectedSpend => &["frequency", "monetary"],
        }
    }

    /// Compute from a model and the numeric arguments.
    fn compute(self, model: &Model, v: &[f64]) -> std::result::Result<f64, UdfError> {
        let name = self.name();
        let wrong = |want: &str| {
            UdfError::argument(
                name,
                "model",
                format!("needs a {want} model, got a {} model", model.kind()),
            )
        };
        match (self, model) {
            (Score::PAlive, Model::Bgnbd { params, .. }) => {
                check_rfm(v[0], v[1], v[2]).map_err(|m| UdfError::data(name, m))?;
                Ok(params.p_alive(v[0], v[1], v[2]))
            }
            (Score::ExpectedPurchases, Model::Bgnbd { params, .. }) => {
                if !(v[0].is_finite() && v[0] >= 0.0) {
                    return Err(UdfError::data(
                        name,
                        format!("horizon {} is not a finite number >= 0", v[0]),
                    ));
                }
                check_rfm(v[1], v[2], v[3]).map_err(|m| UdfError::data(name, m))?;
                Ok(params.expected_purchases(v[0], v[1], v[2], v[3]))
            }
            (Score::ExpectedSpend, Model::GammaGamma { params, .. }) => {
                let (x, m) = (v[0], v[1]);
                if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
                    return Err(UdfError::data(
                        name,
                        format!("frequency {x} is not a whole number >= 0"),
                    ));
                }
                if x > 0.0 && !(m.is_finite() && m > 0.0) {
                    return Err(UdfError::data(
                        name,
                        format!("monetary {m} of a repeat buyer is not a positive number"),
                    ));
                }
                Ok(params.expected_spend(x, if x > 0.0 { m } else { 0.0 }))
            }
            (Score::ExpectedSpend, _) => Err(wrong("gamma_gamma")),
            _ => Err(wrong("bgnbd")),
        }
    }
}

pub fn p_alive_entry() -> FunctionEntry {
    FunctionEntry {
        name: "p_alive",
        kind: FunctionKind::Scalar,
        signature: "p_alive(model, frequency, recency, t) -> DOUBLE",
        description: "Probability that a customer is still active given a BG/NBD model and their summary",
        example: "SELECT round(p_alive('{\"kind\":\"bgnbd\",\"params\":{\"r\":0.243,\"alpha\":4.414,\"a\":0.793,\"b\":2.426},\"log_likelihood\":-9582.4,\"n\":2357,\"converged\":true,\"iterations\":0}', 2, 30.43, 38.86), 4); -- 0.7266",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ScoreUdf::new(Score::PAlive)))),
    }
}

pub fn expected_purchases_entry() -> FunctionEntry {
    FunctionEntry {
        name: "expected_purchases",
        kind: FunctionKind::Scalar,
        signature: "expected_purchases(model, horizon, frequency, recency, t) -> DOUBLE",
        description: "Expected repeat purchases in the next `horizon` time units (BG/NBD, conditional on the customer's summary)",
        example: "SELECT round(expected_purchases('{\"kind\":\"bgnbd\",\"params\":{\"r\":0.243,\"alpha\":4.414,\"a\":0.793,\"b\":2.426},\"log_likelihood\":-9582.4,\"n\":2357,\"converged\":true,\"iterations\":0}', 39, 2, 30.43, 38.86), 3); -- 1.226",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ScoreUdf::new(Score::ExpectedPurchases)))),
    }
}

pub fn expected_spend_entry() -> FunctionEntry {
    FunctionEntry {
        name: "expected_spend",
        kind: FunctionKind::Scalar,
        signature: "expected_spend(model, frequency, monetary) -> DOUBLE",
        description: "Expected mean transaction value of a customer (Gamma-Gamma), shrunk towards the population mean",
        example: "SELECT round(expected_spend('{\"kind\":\"gamma_gamma\",\"params\":{\"p\":6.25,\"q\":3.74,\"gamma\":15.44},\"log_likelihood\":0,\"n\":946,\"converged\":true,\"iterations\":0}', 0, 0), 4); -- 35.219",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ScoreUdf::new(Score::ExpectedSpend)))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ScoreUdf {
    score: Score,
    signature: Signature,
}

impl ScoreUdf {
    pub fn new(score: Score) -> Self {
        ScoreUdf {
            score,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Parses the model argument, once per distinct text.
pub(crate) struct ModelCache {
    function: &'static str,
    last: Option<(String, Model)>,
}

impl ModelCache {
    pub(crate) fn new(function: &'static str) -> Self {
        ModelCache {
            function,
            last: None,
        }
    }
    pub(crate) fn get(&mut self, text: &str) -> std::result::Result<&Model, UdfError> {
        let fresh = !matches!(&self.last, Some((t, _)) if t == text);
        if fresh {
            let m = Model::parse(self.function, text)?;
            self.last = Some((text.to_string(), m));
        }
        match &self.last {
            Some((_, m)) => Ok(m),
            None => Err(UdfError::data(self.function, "model cache is empty")),
        }
    }
}

/// Check that the model argument is a string.
pub(crate) fn coerce_model(function: &'static str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
            Ok(DataType::Utf8)
        }
        other => Err(UdfError::argument(
            function,
            "model",
            format!("must be a model value (VARCHAR), got {other}"),
        )
        .into()),
    }
}

impl ScalarUDFImpl for ScoreUdf {
    fn name(&self) -> &str {
        self.score.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.score.name();
        let names = self.score.args();
        if arg_types.len() != names.len() + 1 {
            return Err(UdfError::argument(
                name,
                "arguments",
                format!(
                    "expected (model, {}), got {} arguments",
                    names.join(", "),
                    arg_types.len()
                ),
            )
            .into());
        }
        let mut out = vec![coerce_model(name, &arg_types[0])?];
        out.extend(coerce_numeric(name, names, &arg_types[1..])?);
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let models: &StringArray = arrays[0].as_string::<i32>();
        let nums: Vec<_> = arrays[1..]
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let mut cache = ModelCache::new(self.score.name());
        let mut out = Float64Builder::with_capacity(n);
        let mut v = vec![0.0; nums.len()];
        for i in 0..n {
            if models.is_null(i) || nums.iter().any(|c| c.is_null(i)) {
                out.append_null();
                continue;
            }
            for (slot, c) in v.iter_mut().zip(&nums) {
                *slot = c.value(i);
            }
            let model = cache.get(models.value(i))?;
            out.append_value(self.score.compute(model, &v)?);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
