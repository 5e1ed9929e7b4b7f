//! One-row list values: how aggregates return a list of rows (e.g.
//! `frequent_itemsets_agg`) and how they carry partial state between
//! partitions (each state field a list scalar).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::Field;
use datafusion::common::ScalarValue;

/// A list array of one row holding all of `values`.
pub fn one_row_list(values: ArrayRef) -> ListArray {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ListArray::new(
        field,
        OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    )
}

/// A list scalar holding all of `values`.
pub fn list_scalar(values: ArrayRef) -> ScalarValue {
    ScalarValue::List(Arc::new(one_row_list(values)))
}

/// A list scalar of DOUBLE values.
pub fn f64_list_scalar(values: Vec<f64>) -> ScalarValue {
    list_scalar(Arc::new(Float64Array::from(values)))
}
