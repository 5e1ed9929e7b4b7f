//! SQL scalar `clv(purchase_model, spend_model, frequency, recency, t,
//! monetary, horizon_months, monthly_discount [, period])`: the discounted
//! value of a customer's next `horizon_months` months (see [`super::clv`] for
//! the method). `period` is the time unit the summary and the purchase model
//! use: 'day' (default, a month = 30 days) or 'week' (a month = 4.345 weeks).
//! NULL in any argument gives NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::clv::ClvPlan;
use super::data::check_rfm;
use super::score_sql::check_spend;
use super::summary_sql::Period;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::kpi::nps::coerce_numeric;
use crate::model::Model;
use crate::model_arg::{coerce_model, BatchModels, Models};

const NAME: &str = "clv";
const NUMERIC: [&str; 6] = [
    "frequency",
    "recency",
    "t",
    "monetary",
    "horizon_months",
    "monthly_discount",
];

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "clv(purchase_model, spend_model, frequency, recency, t, monetary, horizon_months, monthly_discount [, period]) -> DOUBLE",
        description: "Discounted value of the next horizon_months months (lifetimes' method): expected spend x purchases per month / (1+discount)^month; period 'day' (month = 30) or 'week' (month = 4.345)",
        example: "SELECT round(clv('{\"kind\":\"bgnbd\",\"params\":{\"r\":0.243,\"alpha\":4.414,\"a\":0.793,\"b\":2.426},\"log_likelihood\":0,\"n\":2357,\"converged\":true,\"iterations\":0}', '{\"kind\":\"gamma_gamma\",\"params\":{\"p\":6.25,\"q\":3.74,\"gamma\":15.44},\"log_likelihood\":0,\"n\":946,\"converged\":true,\"iterations\":0}', 2, 213 / 7.0, 272 / 7.0, 22.345, 12, 0.01, 'week'), 2); -- 36.29",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ClvUdf::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClvUdf {
    signature: Signature,
}

impl ClvUdf {
    pub fn new() -> Self {
        ClvUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ClvUdf {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ClvUdf {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(8..=9).contains(&arg_types.len()) {
            let expected = format!(
                "purchase_model, spend_model, {} [, period]",
                NUMERIC.join(", ")
            );
            return Err(UdfError::arity(NAME, expected, arg_types.len()).into());
        }
        let mut out = vec![
            coerce_model(NAME, &arg_types[0])?,
            coerce_model(NAME, &arg_types[1])?,
        ];
        out.extend(coerce_numeric(NAME, &NUMERIC, &arg_types[2..8])?);
        if let Some(t) = arg_types.get(8) {
            out.push(match t {
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => {
                    return Err(UdfError::argument(
                        NAME,
                        "period",
                        format!("must be 'day' or 'week', got a {other}"),
                    )
                    .into())
                }
            });
        }
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let period = match args.args.get(8) {
            None => Period::Day,
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(p)))) => Period::parse(NAME, p)?,
            Some(_) => {
                return Err(UdfError::argument(
                    NAME,
                    "period",
                    "must be a constant 'day' or 'week'",
                )
                .into())
            }
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args[..8])?;
        let purchase = Models::new(NAME, &arrays[0])?;
        let spend = Models::new(NAME, &arrays[1])?;
        let nums: Vec<_> = arrays[2..]
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let mut purchase_cache = BatchModels::new(NAME);
        let mut spend_cache = BatchModels::new(NAME);
        let mut out = Float64Builder::with_capacity(n);
        let mut plan: Option<((u64, u64), ClvPlan)> = None;
        let mut scratch = Vec::new();
        for i in 0..n {
            if purchase.is_null(i) || spend.is_null(i) || nums.iter().any(|c| c.is_null(i)) {
                out.append_null();
                continue;
            }
            let v: Vec<f64> = nums.iter().map(|c| c.value(i)).collect();
            let (x, tx, t, m, months, d) = (v[0], v[1], v[2], v[3], v[4], v[5]);
            check_rfm(x, tx, t).map_err(|msg| UdfError::data(NAME, msg))?;
            check_spend(NAME, x, m)?;
            if !(months.is_finite() && (0.0..=super::clv::MAX_HORIZON_MONTHS).contains(&months)) {
                return Err(UdfError::data(
                    NAME,
                    format!(
                        "horizon_months {months} must be a number from 0 to {} (100 years)",
                        super::clv::MAX_HORIZON_MONTHS
                    ),
                )
                .into());
            }
            if !(d.is_finite() && d > -1.0) {
                return Err(UdfError::data(
                    NAME,
                    format!("monthly_discount {d} is not a finite number > -1"),
                )
                .into());
            }
            let expected_spend = match spend_cache.get(spend.value(i))? {
                Model::GammaGamma { params, .. } => {
                    match params.expected_spend(x, if x > 0.0 { m } else { 0.0 }) {
                        Some(spend) => spend,
                        // No finite expected spend (p·x + q <= 1): no CLV.
                        None => {
                            out.append_null();
                            continue;
                        }
                    }
                }
                other => {
                    return Err(UdfError::argument(
                        NAME,
                        "spend_model",
                        format!("needs a gamma_gamma model, got a {} model", other.kind()),
                    )
                    .into())
                }
            };
            let model = purchase_cache.get(purchase.value(i))?;
            let pm = model.purchase().ok_or_else(|| {
                UdfError::argument(
                    NAME,
                    "purchase_model",
                    format!(
                        "needs a bgnbd, paretonbd or mbgnbd model, got a {} model",
                        model.kind()
                    ),
                )
            })?;
            let key = (months.to_bits(), d.to_bits());
            if plan.as_ref().is_none_or(|(k, _)| *k != key) {
                plan = Some((key, ClvPlan::new(months, d, period)));
            }
            if let Some((_, p)) = &plan {
                out.append_value(p.value(pm, expected_spend, (x, tx, t), &mut scratch));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
