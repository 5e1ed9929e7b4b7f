//! SQL scalar `clv(purchase_model, spend_model, frequency, recency, t,
//! monetary, horizon_months, monthly_discount [, period])`: the discounted
//! value of a customer's next `horizon_months` months (see [`super::clv`] for
//! the method). `period` is the time unit the summary and the purchase model
//! use: 'day' (default, a month = 30 days) or 'week' (a month = 4.345 weeks).
//! NULL in any argument gives NULL. A last options argument
//! `'interval=0.9[, interval_method=bootstrap]'` returns
//! STRUCT{estimate, low, high} ([`super::interval`]): the purchase model's
//! discounted purchases times the spend model's expected spend, the two
//! fits' uncertainties combined as independent.

use std::sync::Arc;

use datafusion::arrow::array::{new_empty_array, Array, ArrayRef, AsArray, Float64Builder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::clv::ClvPlan;
use super::data::check_rfm;
use super::interval::{self, Combine, IntervalSpec, Method, Scale};
use super::interval_sql::{
    check_planned, interval_type, options_scalar, planned_options, spec_from_scalar,
    IntervalBuilder,
};
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
        signature: "clv(purchase_model, spend_model, frequency, recency, t, monetary, horizon_months, monthly_discount [, period] [, 'interval=0.9']) -> DOUBLE or STRUCT{estimate, low, high}",
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

/// Where the trailing string arguments are: `period` (a word) and the
/// options (`key=value`), in either of the last two places.
fn string_args(n_args: usize) -> std::ops::Range<usize> {
    8..n_args
}

/// `'day'`/`'week'` or options? Options hold `=`.
fn is_options(text: &str) -> bool {
    text.contains('=')
}

/// The options string among the trailing arguments, at planning time.
fn planned_options_of<'a>(scalars: &[Option<&'a ScalarValue>]) -> Option<&'a ScalarValue> {
    for i in string_args(scalars.len()) {
        let v = planned_options(scalars, i);
        if let Some(
            ScalarValue::Utf8(Some(t))
            | ScalarValue::Utf8View(Some(t))
            | ScalarValue::LargeUtf8(Some(t)),
        ) = v
        {
            if is_options(t) {
                return v;
            }
        }
    }
    None
}

/// The period and options of a call (constant strings).
fn trailing(args: &[ColumnarValue]) -> Result<(Period, Option<IntervalSpec>)> {
    let mut period = Period::Day;
    let mut spec = None;
    for i in string_args(args.len()) {
        let text = match options_scalar(NAME, args.get(i))? {
            Some(
                ScalarValue::Utf8(Some(t))
                | ScalarValue::Utf8View(Some(t))
                | ScalarValue::LargeUtf8(Some(t)),
            ) => t,
            Some(
                ScalarValue::Null
                | ScalarValue::Utf8(None)
                | ScalarValue::Utf8View(None)
                | ScalarValue::LargeUtf8(None),
            )
            | None => continue,
            _ => {
                return Err(UdfError::argument(
                    NAME,
                    "period",
                    "must be a constant 'day' or 'week'",
                )
                .into())
            }
        };
        if is_options(&text) {
            spec = spec_from_scalar(
                NAME,
                Some(&ScalarValue::Utf8(Some(text.clone()))),
                interval::KEYS,
                false,
            )?;
        } else {
            period = Period::parse(NAME, &text)?;
        }
    }
    Ok((period, spec))
}

/// A model's log-parameter covariance.
type Covariance = Vec<Vec<f64>>;

/// The purchase and spend families of an interval, rebuilt when a model
/// changes.
#[derive(Default)]
struct Families {
    purchase: Vec<Model>,
    purchase_cov: Option<Covariance>,
    spend: Vec<Model>,
    spend_cov: Option<Covariance>,
}

fn members(
    argument: &str,
    model: &Model,
    spec: IntervalSpec,
) -> Result<(Vec<Model>, Option<Covariance>)> {
    let Some(u) = model.uncertainty() else {
        return Ok((vec![model.clone()], None));
    };
    let family = interval::family(NAME, argument, spec, &u)?;
    let cov = u.log_covariance.map(<[Vec<f64>]>::to_vec);
    Ok((
        family.iter().filter_map(|p| model.with_params(p)).collect(),
        cov,
    ))
}

impl ScalarUDFImpl for ClvUdf {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() > 9 {
            return Err(UdfError::argument(
                NAME,
                "options",
                "the return type depends on the options: planned through return_field_from_args",
            )
            .into());
        }
        Ok(DataType::Float64)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let options = planned_options_of(args.scalar_arguments);
        let spec = spec_from_scalar(NAME, options, interval::KEYS, false)?;
        let t = if spec.is_some() {
            interval_type()
        } else {
            DataType::Float64
        };
        Ok(Arc::new(Field::new(NAME, t, true)))
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(8..=10).contains(&arg_types.len()) {
            let expected = format!(
                "purchase_model, spend_model, {} [, period] [, options]",
                NUMERIC.join(", ")
            );
            return Err(UdfError::arity(NAME, expected, arg_types.len()).into());
        }
        let mut out = vec![
            coerce_model(NAME, &arg_types[0])?,
            coerce_model(NAME, &arg_types[1])?,
        ];
        out.extend(coerce_numeric(NAME, &NUMERIC, &arg_types[2..8])?);
        for t in &arg_types[8..] {
            out.push(match t {
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
                    DataType::Utf8
                }
                other => {
                    return Err(UdfError::argument(
                        NAME,
                        "period",
                        format!("must be 'day' or 'week' (or an options string), got a {other}"),
                    )
                    .into())
                }
            });
        }
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        if n == 0 {
            return Ok(ColumnarValue::Array(new_empty_array(
                args.return_field.data_type(),
            )));
        }
        let (period, spec) = trailing(&args.args)?;
        check_planned(NAME, spec, args.return_field.data_type())?;
        let arrays = ColumnarValue::values_to_arrays(&args.args[..8])?;
        let purchase = Models::new(NAME, &arrays[0])?;
        let spend = Models::new(NAME, &arrays[1])?;
        let nums: Vec<_> = arrays[2..]
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let mut purchase_cache = BatchModels::new(NAME);
        let mut spend_cache = BatchModels::new(NAME);
        let mut out = Float64Builder::with_capacity(if spec.is_some() { 0 } else { n });
        let mut intervals = IntervalBuilder::default();
        let mut families = Families::default();
        let combine = spec.map(|s| Combine::new(s, Scale::Log));
        let mut plan: Option<((u64, u64), ClvPlan)> = None;
        let mut scratch = Vec::new();
        let append_null = |out: &mut Float64Builder, intervals: &mut IntervalBuilder| {
            if spec.is_some() {
                intervals.append(None)
            } else {
                out.append_null()
            }
        };
        for i in 0..n {
            if purchase.is_null(i) || spend.is_null(i) || nums.iter().any(|c| c.is_null(i)) {
                append_null(&mut out, &mut intervals);
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
            let m_used = if x > 0.0 { m } else { 0.0 };
            let (spend_model, spend_changed) = spend_cache.get_changed(spend.value(i))?;
            let Model::GammaGamma { params, .. } = spend_model else {
                return Err(UdfError::argument(
                    NAME,
                    "spend_model",
                    format!(
                        "needs a gamma_gamma model, got a {} model",
                        spend_model.kind()
                    ),
                )
                .into());
            };
            // No finite expected spend (p·x + q <= 1): no CLV.
            let Some(expected_spend) = params.expected_spend(x, m_used) else {
                append_null(&mut out, &mut intervals);
                continue;
            };
            let (model, purchase_changed) = purchase_cache.get_changed(purchase.value(i))?;
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
            let Some((_, p)) = &plan else { continue };
            let (Some(spec), Some(combine)) = (spec, &combine) else {
                out.append_value(p.value(pm, expected_spend, (x, tx, t), &mut scratch));
                continue;
            };
            if purchase_changed || families.purchase.is_empty() {
                (families.purchase, families.purchase_cov) =
                    members("purchase_model", model, spec)?;
            }
            if spend_changed || families.spend.is_empty() {
                (families.spend, families.spend_cov) = members("spend_model", spend_model, spec)?;
                if spec.method == Method::Bootstrap
                    && families.spend.len() != families.purchase.len()
                {
                    return Err(UdfError::argument(
                        NAME,
                        "spend_model",
                        format!(
                            "has {} bootstrap replicates, the purchase model {}: fit both with the same replicates",
                            families.spend.len() - 1,
                            families.purchase.len() - 1
                        ),
                    )
                    .into());
                }
            }
            // CLV = spend × (discounted purchases at spend 1).
            let a: Vec<Option<f64>> = families
                .purchase
                .iter()
                .map(|m| {
                    m.purchase()
                        .map(|pm| p.value(pm, 1.0, (x, tx, t), &mut scratch))
                })
                .collect();
            let b: Vec<Option<f64>> = families
                .spend
                .iter()
                .map(|m| match m {
                    Model::GammaGamma { params, .. } => params.expected_spend(x, m_used),
                    _ => None,
                })
                .collect();
            intervals.append(combine.product(
                &a,
                families.purchase_cov.as_deref(),
                &b,
                families.spend_cov.as_deref(),
            ));
        }
        Ok(ColumnarValue::Array(if spec.is_some() {
            intervals.finish()
        } else {
            Arc::new(out.finish()) as ArrayRef
        }))
    }
}
