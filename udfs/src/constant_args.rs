//! Constant arguments of aggregates (`min_support`, `k`, options strings,
//! dates), read from the literal expressions when the accumulator is made;
//! constant arguments of scalar functions, read from their values when the
//! function runs; and the date conversion table functions share.

use std::sync::Arc;

use datafusion::arrow::array::{make_comparator, ArrayRef};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::UdfError;

/// The constant value of argument `i`, read when the accumulator is made.
pub fn constant(
    function: &'static str,
    argument: &str,
    exprs: &[Arc<dyn PhysicalExpr>],
    i: usize,
) -> Result<ScalarValue> {
    let Some(expr) = exprs.get(i) else {
        return Ok(ScalarValue::Null);
    };
    if let Some(lit) = expr.downcast_ref::<Literal>() {
        return Ok(lit.value().clone());
    }
    // An expression that reads no column (a cast of a literal, or a literal
    // that reached us wrapped, as through datafusion-ffi from Python) is
    // evaluated once on a row without columns; one that reads a column fails
    // there and is reported as not constant.
    evaluate_without_columns(expr).ok_or_else(|| {
        UdfError::argument(
            function,
            argument,
            format!("must be a constant, got {expr}"),
        )
        .into()
    })
}

fn evaluate_without_columns(expr: &Arc<dyn PhysicalExpr>) -> Option<ScalarValue> {
    use datafusion::arrow::array::RecordBatchOptions;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::logical_expr::ColumnarValue;
    let options = RecordBatchOptions::new().with_row_count(Some(1));
    let batch =
        RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options).ok()?;
    match expr.evaluate(&batch).ok()? {
        ColumnarValue::Scalar(v) => Some(v),
        ColumnarValue::Array(a) if a.len() == 1 => ScalarValue::try_from_array(&a, 0).ok(),
        ColumnarValue::Array(_) => None,
    }
}

/// A constant argument as a number.
pub fn constant_number(function: &'static str, argument: &str, v: &ScalarValue) -> Result<f64> {
    match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(x))) => Ok(x),
        _ => {
            Err(UdfError::argument(function, argument, format!("must be a number, got {v}")).into())
        }
    }
}

/// A constant argument as text; NULL or absent gives "".
pub fn constant_text(function: &'static str, argument: &str, v: &ScalarValue) -> Result<String> {
    match v {
        ScalarValue::Null => Ok(String::new()),
        ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => {
            Ok(s.clone().unwrap_or_default())
        }
        other => {
            Err(
                UdfError::argument(function, argument, format!("must be a string, got {other}"))
                    .into(),
            )
        }
    }
}

/// A value as a calendar date (days since 1970-01-01): a `DATE`, a
/// `TIMESTAMP` (its date) or a `'YYYY-MM-DD'` string; None for anything else,
/// NULL, or text that is not a date.
pub fn to_date(v: &ScalarValue) -> Option<i32> {
    let as_date = match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => {
            ScalarValue::Utf8(Some(s.trim().to_string())).cast_to(&DataType::Date32)
        }
        ScalarValue::Date32(_)
        | ScalarValue::Date64(_)
        | ScalarValue::TimestampSecond(..)
        | ScalarValue::TimestampMillisecond(..)
        | ScalarValue::TimestampMicrosecond(..)
        | ScalarValue::TimestampNanosecond(..) => v.cast_to(&DataType::Date32),
        _ => return None,
    };
    match as_date {
        Ok(ScalarValue::Date32(Some(d))) => Some(d),
        _ => None,
    }
}

/// A constant argument as a date (see [`to_date`]).
pub fn constant_date(function: &'static str, argument: &str, v: &ScalarValue) -> Result<i32> {
    to_date(v).ok_or_else(|| {
        UdfError::argument(
            function,
            argument,
            format!("must be a date ('YYYY-MM-DD', DATE or TIMESTAMP), got {v}"),
        )
        .into()
    })
}

/// The one value a scalar function's constant argument holds when the
/// function runs: a scalar, or an array repeating one value (what
/// datafusion-ffi passes from Python, or a column from a one-row table);
/// None for an empty array. An array of differing values is an error naming
/// the argument, saying `message`.
pub fn columnar_constant(
    function: &'static str,
    argument: &str,
    v: &ColumnarValue,
    message: &str,
) -> Result<Option<ScalarValue>> {
    match v {
        ColumnarValue::Scalar(s) => Ok(Some(s.clone())),
        ColumnarValue::Array(a) if a.is_empty() => Ok(None),
        ColumnarValue::Array(a) => {
            if !same_on_every_row(a)? {
                return Err(UdfError::argument(function, argument, message).into());
            }
            Ok(Some(ScalarValue::try_from_array(a, 0)?))
        }
    }
}

/// Whether every row of `a` equals its first (compared in place; by value
/// for types without a comparator).
fn same_on_every_row(a: &ArrayRef) -> Result<bool> {
    if let Ok(compare) = make_comparator(a.as_ref(), a.as_ref(), SortOptions::default()) {
        return Ok((1..a.len()).all(|i| compare(0, i).is_eq()));
    }
    let first = ScalarValue::try_from_array(a, 0)?;
    for i in 1..a.len() {
        if ScalarValue::try_from_array(a, i)? != first {
            return Ok(false);
        }
    }
    Ok(true)
}
