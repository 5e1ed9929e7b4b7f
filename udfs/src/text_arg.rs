//! String arguments and columns: which types count as text, and the type a
//! text argument is read as. Shared by the table-function input checks and
//! the feedback functions.

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::error::UdfError;

/// Whether `t` is a string type, a dictionary of strings, or NULL.
pub fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// The type a text argument is read as: its own string type, a
/// dictionary's value type, Utf8 for NULL; otherwise an error naming the
/// argument ("must be a string (VARCHAR), got ...").
pub fn text_type(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if is_text(v) && !matches!(v.as_ref(), DataType::Null) => {
            text_type(function, argument, v)
        }
        other => Err(UdfError::argument(
            function,
            argument,
            format!("must be a string (VARCHAR), got {other}"),
        )
        .into()),
    }
}
