//! What crmlake's `GroupsAccumulator`s share.

use datafusion::arrow::array::{Array, BooleanArray};

/// Whether an aggregate's `FILTER (WHERE ...)` keeps row `row`: no filter
/// keeps every row, a false or NULL filter value leaves the row out.
#[inline]
pub fn kept(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}
