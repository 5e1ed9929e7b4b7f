//! SQL scalars that score customers with a fitted model:
//! `p_alive(model, frequency, recency, t)`,
//! `expected_purchases(model, horizon, frequency, recency, t)`,
//! `prob_purchases(model, n, horizon, frequency, recency, t)` (any of the
//! BG/NBD, Pareto/NBD and MBG/NBD models) and
//! `expected_spend(model, frequency, monetary)` (Gamma-Gamma).
//!
//! The model is usually a scalar subquery (`(SELECT model FROM models ...)`) and
//! is parsed once per batch; a model column (a CROSS JOIN with a models table)
//! is taken in runs of rows holding the same model, each parsed once and
//! scored like a constant. NULL in any argument gives NULL.
//!
//! A last options argument `'interval=0.9'` (any level in (0, 1)) returns
//! STRUCT{estimate, low, high}: a delta-method confidence interval on the
//! customer's expectation, or with `interval_method=bootstrap` the
//! quantiles over the model's bootstrap replicates ([`super::interval`]).
//! `expected_purchases(..., 'interval=predictive')` gives instead the 90 %
//! range of the purchase count itself, mixed over the replicates. Invalid summaries are errors
//! naming the argument, as for the fits. Time arguments are in the unit the
//! model was fitted in (days for `customer_summary`'s default).

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{
    new_empty_array, Array, ArrayRef, AsArray, Float64Array, Float64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::bgnbd::BgNbd;
use super::data::{check_rfm, rfm_all_valid};
use super::interval::{self, Combine, IntervalSpec, Method, Scale};
use super::interval_sql::{
    at, check_planned, interval_type, options_scalar, planned_options, spec_from_scalar,
    IntervalBuilder,
};
use super::mbgnbd::MbgNbd;
use super::PurchaseModel;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::kpi::nps::coerce_numeric;
use crate::model::{same_text, Model};
use crate::model_arg::{coerce_model, BatchModels, Models};
use crate::options::coerce_options;

/// Which score a scalar computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Score {
    PAlive,
    ExpectedPurchases,
    ProbPurchases,
    ExpectedSpend,
}

impl Score {
    fn name(self) -> &'static str {
        match self {
            Score::PAlive => "p_alive",
            Score::ExpectedPurchases => "expected_purchases",
            Score::ProbPurchases => "prob_purchases",
            Score::ExpectedSpend => "expected_spend",
        }
    }
    /// Names of the numeric arguments after the model.
    fn args(self) -> &'static [&'static str] {
        match self {
            Score::PAlive => &["frequency", "recency", "t"],
            Score::ExpectedPurchases => &["horizon", "frequency", "recency", "t"],
            Score::ProbPurchases => &["n", "horizon", "frequency", "recency", "t"],
            Score::ExpectedSpend => &["frequency", "monetary"],
        }
    }

    /// The scale its delta intervals are built on.
    fn scale(self) -> Scale {
        match self {
            Score::PAlive | Score::ProbPurchases => Scale::Logit,
            Score::ExpectedPurchases | Score::ExpectedSpend => Scale::Log,
        }
    }

    /// Compute from a model and the numeric arguments; None where the value
    /// does not exist (an expected spend with p·x + q <= 1): NULL.
    fn compute(self, model: &Model, v: &[f64]) -> std::result::Result<Option<f64>, UdfError> {
        let name = self.name();
        let wrong = |want: &str| {
            UdfError::argument(
                name,
                "model",
                format!("needs a {want} model, got a {} model", model.kind()),
            )
        };
        if self == Score::ExpectedSpend {
            let Model::GammaGamma { params, .. } = model else {
                return Err(wrong("gamma_gamma"));
            };
            let (x, m) = (v[0], v[1]);
            check_spend(name, x, m)?;
            return Ok(params.expected_spend(x, if x > 0.0 { m } else { 0.0 }));
        }
        let pm = model
            .purchase()
            .ok_or_else(|| wrong("bgnbd, paretonbd or mbgnbd"))?;
        let rfm = &v[v.len() - 3..];
        check_rfm(rfm[0], rfm[1], rfm[2]).map_err(|m| UdfError::data(name, m))?;
        let horizon = |h: f64| {
            if h.is_finite() && h >= 0.0 {
                Ok(h)
            } else {
                Err(UdfError::data(
                    name,
                    format!("horizon {h} is not a finite number >= 0"),
                ))
            }
        };
        Ok(Some(match self {
            Score::PAlive => pm.p_alive(rfm[0], rfm[1], rfm[2]),
            Score::ExpectedPurchases => {
                pm.expected_purchases(horizon(v[0])?, rfm[0], rfm[1], rfm[2])
            }
            _ => {
                let n = v[0];
                if !(n.is_finite() && n >= 0.0 && n.fract() == 0.0) {
                    return Err(UdfError::data(
                        name,
                        format!("n {n} is not a whole number >= 0"),
                    ));
                }
                pm.prob_purchases(n, horizon(v[1])?, rfm[0], rfm[1], rfm[2])
            }
        }))
    }
}

/// Check a Gamma-Gamma (frequency, monetary) pair.
pub(crate) fn check_spend(name: &'static str, x: f64, m: f64) -> std::result::Result<(), UdfError> {
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
    Ok(())
}

pub fn p_alive_entry() -> FunctionEntry {
    FunctionEntry {
        name: "p_alive",
        kind: FunctionKind::Scalar,
        signature: "p_alive(model, frequency, recency, t [, 'interval=0.9']) -> DOUBLE or STRUCT{estimate, low, high}",
        description: "Probability that a customer is still active given a purchase model (BG/NBD, Pareto/NBD, MBG/NBD) and their summary",
        example: "SELECT round(p_alive('{\"kind\":\"bgnbd\",\"params\":{\"r\":0.243,\"alpha\":4.414,\"a\":0.793,\"b\":2.426},\"log_likelihood\":-9582.4,\"n\":2357,\"converged\":true,\"iterations\":0}', 2, 30.43, 38.86), 4); -- 0.7266",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ScoreUdf::new(Score::PAlive)))),
    }
}

pub fn expected_purchases_entry() -> FunctionEntry {
    FunctionEntry {
        name: "expected_purchases",
        kind: FunctionKind::Scalar,
        signature: "expected_purchases(model, horizon, frequency, recency, t [, 'interval=0.9' | 'interval=predictive']) -> DOUBLE or STRUCT{estimate, low, high}",
        description: "Expected repeat purchases in the next `horizon` time units, conditional on the customer's summary (BG/NBD, Pareto/NBD, MBG/NBD)",
        example: "SELECT round(expected_purchases('{\"kind\":\"bgnbd\",\"params\":{\"r\":0.243,\"alpha\":4.414,\"a\":0.793,\"b\":2.426},\"log_likelihood\":-9582.4,\"n\":2357,\"converged\":true,\"iterations\":0}', 39, 2, 30.43, 38.86), 3); -- 1.226",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ScoreUdf::new(Score::ExpectedPurchases)))),
    }
}

pub fn prob_purchases_entry() -> FunctionEntry {
    FunctionEntry {
        name: "prob_purchases",
        kind: FunctionKind::Scalar,
        signature: "prob_purchases(model, n, horizon, frequency, recency, t [, 'interval=0.9']) -> DOUBLE or STRUCT{estimate, low, high}",
        description: "P(exactly n repeat purchases in the next `horizon`) given the customer's summary; frequency = recency = t = 0 gives a new customer's",
        example: "SELECT round(prob_purchases('{\"kind\":\"bgnbd\",\"params\":{\"r\":0.243,\"alpha\":4.414,\"a\":0.793,\"b\":2.426},\"log_likelihood\":-9582.4,\"n\":2357,\"converged\":true,\"iterations\":0}', 0, 39, 2, 30.43, 38.86), 4); -- 0.4454",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ScoreUdf::new(Score::ProbPurchases)))),
    }
}

pub fn expected_spend_entry() -> FunctionEntry {
    FunctionEntry {
        name: "expected_spend",
        kind: FunctionKind::Scalar,
        signature: "expected_spend(model, frequency, monetary [, 'interval=0.9']) -> DOUBLE or STRUCT{estimate, low, high}",
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

    fn predictive_ok(&self) -> bool {
        self.score == Score::ExpectedPurchases
    }
}

impl ScoreUdf {
    /// A constant model (a literal, or a scalar the planner folded): parsed
    /// once, and the model text is not repeated into an array per row.
    fn invoke_scalar_model(
        &self,
        model: &datafusion::common::ScalarValue,
        rest: &[ColumnarValue],
        n: usize,
        spec: Option<IntervalSpec>,
    ) -> Result<ColumnarValue> {
        use datafusion::common::ScalarValue as S;
        let text = match model {
            S::Utf8(t) | S::Utf8View(t) | S::LargeUtf8(t) => t.as_deref(),
            S::Null => None,
            other => {
                return Err(UdfError::argument(
                    self.score.name(),
                    "model",
                    format!("must be a model value (VARCHAR), got {}", other.data_type()),
                )
                .into())
            }
        };
        let Some(text) = text else {
            let t = if spec.is_some() {
                interval_type()
            } else {
                DataType::Float64
            };
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_null_array(&t, n),
            ));
        };
        let model = Model::parse(self.score.name(), text)?;
        let arrays = ColumnarValue::values_to_arrays(rest)?;
        let nums: Vec<_> = arrays
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let mut out = Out::new(spec, n);
        self.score_run(&model, &nums, 0..n, &mut out)?;
        Ok(ColumnarValue::Array(out.finish()))
    }

    /// Scores `rows` under one `model` into `out`, with intervals if asked.
    fn score_run(
        &self,
        model: &Model,
        nums: &[&Float64Array],
        rows: Range<usize>,
        out: &mut Out,
    ) -> Result<()> {
        match out {
            Out::Plain(b) => self.score_rows(model, nums, rows, b),
            Out::Interval(spec, b) => self.interval_rows(model, *spec, nums, rows, b),
        }
    }

    /// The intervals of `rows` under `model` (see [`super::interval`]): the
    /// scores under each member of the model's family, combined per row.
    fn interval_rows(
        &self,
        model: &Model,
        spec: IntervalSpec,
        nums: &[&Float64Array],
        rows: Range<usize>,
        out: &mut IntervalBuilder,
    ) -> Result<()> {
        let name = self.score.name();
        // A model of the wrong kind is the plain score's error.
        let u = match model.uncertainty() {
            Some(u) => u,
            None => return self.score_rows(model, nums, rows, &mut Float64Builder::new()),
        };
        let family = interval::family(name, "model", spec, &u)?;
        let members: Vec<Model> = family.iter().filter_map(|p| model.with_params(p)).collect();
        if spec.method == Method::Predictive {
            return self.predictive_rows(&members, spec, nums, rows, out);
        }
        let columns = members
            .iter()
            .map(|m| {
                let mut b = Float64Builder::with_capacity(rows.len());
                self.score_rows(m, nums, rows.clone(), &mut b)?;
                Ok(b.finish())
            })
            .collect::<Result<Vec<_>>>()?;
        let combine = Combine::new(spec, self.score.scale());
        let mut values = vec![None; columns.len()];
        for j in 0..rows.len() {
            for (v, c) in values.iter_mut().zip(&columns) {
                *v = at(c, j);
            }
            out.append(combine.interval(&values, u.log_covariance));
        }
        Ok(())
    }

    /// `interval=predictive` of expected_purchases: the expectation at the
    /// estimate and the count's quantiles under the mixture over the
    /// bootstrap replicates (`members[1..]`).
    fn predictive_rows(
        &self,
        members: &[Model],
        spec: IntervalSpec,
        nums: &[&Float64Array],
        rows: Range<usize>,
        out: &mut IntervalBuilder,
    ) -> Result<()> {
        let purchase: Vec<&dyn PurchaseModel> =
            members.iter().filter_map(|m| m.purchase()).collect();
        let mut v = vec![0.0; nums.len()];
        for i in rows {
            if nums.iter().any(|c| c.is_null(i)) {
                out.append(None);
                continue;
            }
            for (slot, c) in v.iter_mut().zip(nums) {
                *slot = c.value(i);
            }
            let Some(estimate) = self.score.compute(&members[0], &v)? else {
                out.append(None);
                continue;
            };
            let (h, x, tx, t) = (v[0], v[1], v[2], v[3]);
            let reps = &purchase[1..];
            let bounds = interval::predictive_counts(
                spec.level,
                MAX_PREDICTIVE_COUNT,
                |m, n| reps[m].prob_purchases(n, h, x, tx, t),
                reps.len(),
            );
            out.append(Some((estimate, Some(bounds))));
        }
        Ok(())
    }

    /// Appends the scores of `rows` under one `model` to `out`.
    fn score_rows(
        &self,
        model: &Model,
        nums: &[&Float64Array],
        rows: Range<usize>,
        out: &mut Float64Builder,
    ) -> Result<()> {
        let no_nulls = nums.iter().all(|c| c.null_count() == 0);
        let many = match (self.score, model, no_nulls) {
            (Score::PAlive, Model::Bgnbd { params, .. }, true) => Some(PAliveMany::Bgnbd(params)),
            (Score::PAlive, Model::Mbgnbd { params, .. }, true) => Some(PAliveMany::Mbgnbd(params)),
            _ => None,
        };
        if let Some(many) = many {
            // The common nightly case, vectorised: check every row, then
            // one pass over the columns.
            let (x, tx, t) = (
                &nums[0].values()[rows.clone()],
                &nums[1].values()[rows.clone()],
                &nums[2].values()[rows],
            );
            if !rfm_all_valid(x, tx, t) {
                for i in 0..x.len() {
                    check_rfm(x[i], tx[i], t[i])
                        .map_err(|m| UdfError::data(self.score.name(), m))?;
                }
            }
            let mut values = Vec::with_capacity(x.len());
            match many {
                PAliveMany::Bgnbd(m) => m.p_alive_many(x, tx, t, &mut values),
                PAliveMany::Mbgnbd(m) => m.p_alive_many(x, tx, t, &mut values),
            }
            out.append_slice(&values);
            return Ok(());
        }
        let mut v = vec![0.0; nums.len()];
        for i in rows {
            if !no_nulls && nums.iter().any(|c| c.is_null(i)) {
                out.append_null();
                continue;
            }
            for (slot, c) in v.iter_mut().zip(nums) {
                *slot = c.value(i);
            }
            out.append_option(self.score.compute(model, &v)?);
        }
        Ok(())
    }
}

/// The largest purchase count a predictive interval searches to.
const MAX_PREDICTIVE_COUNT: u32 = 100_000;

/// A scoring function's output: plain scores, or intervals.
enum Out {
    Plain(Float64Builder),
    Interval(IntervalSpec, Box<IntervalBuilder>),
}

impl Out {
    fn new(spec: Option<IntervalSpec>, n: usize) -> Self {
        match spec {
            None => Out::Plain(Float64Builder::with_capacity(n)),
            Some(s) => Out::Interval(s, Box::default()),
        }
    }
    fn append_null(&mut self) {
        match self {
            Out::Plain(b) => b.append_null(),
            Out::Interval(_, b) => b.append(None),
        }
    }
    fn finish(self) -> ArrayRef {
        match self {
            Out::Plain(mut b) => Arc::new(b.finish()),
            Out::Interval(_, b) => b.finish(),
        }
    }
}

/// The models whose P(alive) has a vectorised batch form.
enum PAliveMany<'a> {
    Bgnbd(&'a BgNbd),
    Mbgnbd(&'a MbgNbd),
}

impl ScalarUDFImpl for ScoreUdf {
    fn name(&self) -> &str {
        self.score.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() > self.score.args().len() + 1 {
            return Err(UdfError::argument(
                self.score.name(),
                "options",
                "the return type depends on the options: planned through return_field_from_args",
            )
            .into());
        }
        Ok(DataType::Float64)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = self.score.name();
        let options = planned_options(args.scalar_arguments, self.score.args().len() + 1);
        let spec = spec_from_scalar(name, options, interval::KEYS, self.predictive_ok())?;
        let t = if spec.is_some() {
            interval_type()
        } else {
            DataType::Float64
        };
        Ok(Arc::new(Field::new(name, t, true)))
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.score.name();
        let names = self.score.args();
        if !(names.len() + 1..=names.len() + 2).contains(&arg_types.len()) {
            let expected = format!("model, {} [, options]", names.join(", "));
            return Err(UdfError::arity(name, expected, arg_types.len()).into());
        }
        let mut out = vec![coerce_model(name, &arg_types[0])?];
        out.extend(coerce_numeric(name, names, &arg_types[1..=names.len()])?);
        if let Some(t) = arg_types.get(names.len() + 1) {
            out.push(coerce_options(name, t)?);
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
        let name = self.score.name();
        let k = self.score.args().len() + 1;
        let options = options_scalar(name, args.args.get(k))?;
        let spec = spec_from_scalar(name, options.as_ref(), interval::KEYS, self.predictive_ok())?;
        check_planned(name, spec, args.return_field.data_type())?;
        let args = &args.args[..k];
        if let ColumnarValue::Scalar(model) = &args[0] {
            return self.invoke_scalar_model(model, &args[1..], n, spec);
        }
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let models = Models::new(self.score.name(), &arrays[0])?;
        let nums: Vec<_> = arrays[1..]
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let mut cache = BatchModels::new(self.score.name());
        let mut out = Out::new(spec, n);
        let mut i = 0;
        while i < n {
            if models.is_null(i) {
                out.append_null();
                i += 1;
                continue;
            }
            // A run of rows with the same model text (a CROSS JOIN with a
            // models table repeats one value), scored together.
            let text = models.value(i);
            let mut end = i + 1;
            while end < n && !models.is_null(end) && same_text(models.value(end), text) {
                end += 1;
            }
            let model = cache.get(text)?;
            self.score_run(model, &nums, i..end, &mut out)?;
            i = end;
        }
        Ok(ColumnarValue::Array(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{StringArray, StructArray};
    use datafusion::config::ConfigOptions;

    /// Through datafusion-ffi (Python) every argument arrives as an array,
    /// the options too: one value repeated is the constant; an empty batch
    /// returns the planned type.
    #[test]
    fn options_arriving_as_an_array_are_read() {
        let model = r#"{"kind":"bgnbd","params":{"r":0.2426,"alpha":4.4135,"a":0.7929,"b":2.4258},"log_likelihood":0,"n":2357,"converged":true,"iterations":0,"log_covariance":[[0.00268,0.00346,-0.00046,0.00011],[0.00346,0.00734,-0.00082,0.00098],[-0.00046,-0.00082,0.0549,0.0641],[0.00011,0.00098,0.0641,0.0845]]}"#;
        let udf = ScoreUdf::new(Score::PAlive);
        let call = |n: usize, options: Vec<&str>| {
            let strings =
                |v: Vec<&str>| ColumnarValue::Array(Arc::new(StringArray::from(v)) as ArrayRef);
            let nums =
                |v: f64| ColumnarValue::Array(Arc::new(Float64Array::from(vec![v; n])) as ArrayRef);
            let args = vec![
                strings(vec![model; n]),
                nums(2.0),
                nums(30.43),
                nums(38.86),
                strings(options),
            ];
            let arg_fields = args
                .iter()
                .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
                .collect();
            udf.invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: n,
                return_field: Arc::new(Field::new("p_alive", interval_type(), true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
        };
        let ColumnarValue::Array(a) = call(3, vec!["interval=0.9"; 3]).unwrap() else {
            panic!("an array")
        };
        let s = a.as_any().downcast_ref::<StructArray>().expect("a struct");
        let est = s.column(0).as_primitive::<Float64Type>().value(0);
        assert!((est - 0.7266).abs() < 1e-3, "{est}");
        let err = call(2, vec!["interval=0.9", "interval=0.8"]).unwrap_err();
        assert!(err.to_string().contains("must be a constant"), "{err}");
        let ColumnarValue::Array(empty) = call(0, vec![]).unwrap() else {
            panic!("an array")
        };
        assert_eq!(empty.data_type(), &interval_type());
    }
}
