//! The SQL side of the lifetime-value intervals ([`super::interval`]): the
//! trailing options argument of the scoring functions, read at planning time
//! to decide the return type (DOUBLE, or STRUCT{estimate, low, high} with
//! `interval`), and the builder of the struct column.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Float64Builder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;

use super::interval::IntervalSpec;
use crate::constant_args::columnar_constant;
use crate::error::UdfError;
use crate::options::Options;

fn interval_fields() -> Fields {
    Fields::from(vec![
        Field::new("estimate", DataType::Float64, true),
        Field::new("low", DataType::Float64, true),
        Field::new("high", DataType::Float64, true),
    ])
}

/// The functions whose return type is read from the literal of their last
/// argument (the options: DOUBLE, or STRUCT{estimate, low, high} with
/// `interval`). A client that wraps arguments in casts before planning
/// (crmlake's Python module turns text into dictionaries) must leave that
/// argument's type alone, or the planner no longer sees a literal there.
pub const RETURN_TYPE_FROM_LAST_ARGUMENT: &[&str] = &[
    "p_alive",
    "expected_purchases",
    "prob_purchases",
    "expected_spend",
    "clv",
];

/// STRUCT{estimate, low, high} of DOUBLE.
pub fn interval_type() -> DataType {
    DataType::Struct(interval_fields())
}

/// The interval an options argument asks for (`None`: no options, or
/// options without `interval`). The options must be a constant string.
pub fn spec_from_scalar(
    function: &'static str,
    options: Option<&ScalarValue>,
    keys: &[&str],
    predictive_ok: bool,
) -> Result<Option<IntervalSpec>> {
    let text = match options {
        None | Some(ScalarValue::Null) => return Ok(None),
        Some(ScalarValue::Utf8(t) | ScalarValue::Utf8View(t) | ScalarValue::LargeUtf8(t)) => {
            t.clone().unwrap_or_default()
        }
        Some(other) => {
            return Err(UdfError::argument(
                function,
                "options",
                format!(
                    "must be a 'key=value, ...' string, got {}",
                    other.data_type()
                ),
            )
            .into())
        }
    };
    let options = Options::parse(function, &text, keys)?;
    Ok(IntervalSpec::from_options(
        function,
        &options,
        predictive_ok,
    )?)
}

/// The options argument's value when the function runs: it must be a
/// constant (the return type was decided from it at planning time). It
/// arrives as a scalar, or, through datafusion-ffi (Python), as an array
/// repeating one value; an array of differing values is an error. Call with
/// at least one row (an empty batch has no value to read: return an empty
/// array of the planned type instead).
pub fn options_scalar(
    function: &'static str,
    arg: Option<&ColumnarValue>,
) -> Result<Option<ScalarValue>> {
    match arg {
        None => Ok(None),
        Some(v) => columnar_constant(
            function,
            "options",
            v,
            "must be a constant 'key=value, ...' string",
        ),
    }
}

/// The planning-time form of [`options_scalar`]: the options literal, if
/// the planner passed it. A client that does not pass literals to the
/// return type (one that wraps the argument in a cast, see
/// [`RETURN_TYPE_FROM_LAST_ARGUMENT`]) gets `None`: no interval is planned,
/// and asking for one is then an error when the function runs
/// ([`check_planned`]).
pub fn planned_options<'a>(
    scalar_arguments: &[Option<&'a ScalarValue>],
    index: usize,
) -> Option<&'a ScalarValue> {
    scalar_arguments.get(index).copied().flatten()
}

/// An interval asked for at run time must have been planned: the options
/// must reach the planner as a literal.
pub fn check_planned(
    function: &'static str,
    spec: Option<IntervalSpec>,
    return_type: &DataType,
) -> Result<()> {
    if spec.is_some() && !matches!(return_type, DataType::Struct(_)) {
        return Err(UdfError::argument(
            function,
            "options",
            "an interval needs the options as a literal the planner sees; this client planned the function without them (a cast around the options, or options from a column)",
        )
        .into());
    }
    Ok(())
}

/// Rows of (estimate, low, high); a row is NULL when its estimate is.
#[derive(Debug, Default)]
pub struct IntervalBuilder {
    estimate: Float64Builder,
    low: Float64Builder,
    high: Float64Builder,
    valid: Vec<bool>,
}

impl IntervalBuilder {
    pub fn append(&mut self, row: Option<(f64, Option<(f64, f64)>)>) {
        match row {
            None => {
                self.estimate.append_null();
                self.low.append_null();
                self.high.append_null();
                self.valid.push(false);
            }
            Some((e, bounds)) => {
                self.estimate.append_value(e);
                self.low.append_option(bounds.map(|b| b.0));
                self.high.append_option(bounds.map(|b| b.1));
                self.valid.push(true);
            }
        }
    }

    pub fn finish(mut self) -> ArrayRef {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.estimate.finish()),
            Arc::new(self.low.finish()),
            Arc::new(self.high.finish()),
        ];
        let nulls = NullBuffer::from(std::mem::take(&mut self.valid));
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Arc::new(StructArray::new(interval_fields(), columns, nulls))
    }
}

/// Value `i` of a member's column.
pub fn at(column: &Float64Array, i: usize) -> Option<f64> {
    use datafusion::arrow::array::Array;
    (!column.is_null(i)).then(|| column.value(i))
}
