//! The model argument of the scoring functions (`p_alive`, `churn_score`,
//! `recommend`, `kmeans_assign`, `model_info`, ...): its type check, its
//! values whichever string type they arrive in, and the parsed model of a
//! batch. Shared by every area; depends only on [`crate::model`].

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::error::UdfError;
use crate::model::Model;

/// Parses the model argument, once per distinct text. Lives for one batch:
/// while the batch's arrays are alive, text at the same address and length is
/// the same text, so a repeated model (a CROSS JOIN with a models table) is
/// recognised without comparing its bytes on every row.
pub(crate) struct BatchModels {
    function: &'static str,
    last: Option<(String, Model)>,
    last_at: (usize, usize),
}

impl BatchModels {
    pub(crate) fn new(function: &'static str) -> Self {
        BatchModels {
            function,
            last: None,
            last_at: (0, 0),
        }
    }
    pub(crate) fn get(&mut self, text: &str) -> std::result::Result<&Model, UdfError> {
        Ok(self.get_changed(text)?.0)
    }

    /// [`Self::get`], and whether the model differs from the last call's
    /// (so a caller can keep work derived from it).
    pub(crate) fn get_changed(
        &mut self,
        text: &str,
    ) -> std::result::Result<(&Model, bool), UdfError> {
        let at = (text.as_ptr() as usize, text.len());
        let same_place = self.last.is_some() && at == self.last_at;
        let mut changed = false;
        if !same_place && !matches!(&self.last, Some((t, _)) if t == text) {
            let m = Model::parse(self.function, text)?;
            self.last = Some((text.to_string(), m));
            changed = true;
        }
        self.last_at = at;
        match &self.last {
            Some((_, m)) => Ok((m, changed)),
            None => Err(UdfError::data(self.function, "model cache is empty")),
        }
    }
}

/// Check that the model argument is a string. String types are kept as they
/// are (no cast): a model column read from Parquet is `Utf8View`, and casting
/// it would copy every row's model text.
pub(crate) fn coerce_model(function: &'static str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        other => Err(UdfError::argument(
            function,
            "model",
            format!("must be a model value (VARCHAR), got {other}"),
        )
        .into()),
    }
}

/// The arguments `(model, score)` of a scoring function whose second
/// argument is one number: the model as [`coerce_model`] keeps it, the
/// score as DOUBLE.
pub(crate) fn coerce_model_and_score(
    function: &'static str,
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    if arg_types.len() != 2 {
        return Err(UdfError::arity(function, "model, score", arg_types.len()).into());
    }
    let t = &arg_types[1];
    if !(t.is_numeric() || t == &DataType::Null) {
        return Err(
            UdfError::argument(function, "score", format!("must be a number, got {t}")).into(),
        );
    }
    Ok(vec![
        coerce_model(function, &arg_types[0])?,
        DataType::Float64,
    ])
}

/// A model argument's values, whichever string type they arrived in.
pub(crate) enum Models<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    View(&'a datafusion::arrow::array::StringViewArray),
    Large(&'a datafusion::arrow::array::LargeStringArray),
}

impl<'a> Models<'a> {
    pub(crate) fn new(function: &'static str, array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Models::Utf8(array.as_string::<i32>()),
            DataType::Utf8View => Models::View(array.as_string_view()),
            DataType::LargeUtf8 => Models::Large(array.as_string::<i64>()),
            other => {
                return Err(UdfError::argument(
                    function,
                    "model",
                    format!("must be a model value (VARCHAR), got {other}"),
                )
                .into())
            }
        })
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Models::Utf8(a) => a.len(),
            Models::View(a) => a.len(),
            Models::Large(a) => a.len(),
        }
    }

    pub(crate) fn is_null(&self, i: usize) -> bool {
        match self {
            Models::Utf8(a) => a.is_null(i),
            Models::View(a) => a.is_null(i),
            Models::Large(a) => a.is_null(i),
        }
    }

    pub(crate) fn value(&self, i: usize) -> &'a str {
        match self {
            Models::Utf8(a) => a.value(i),
            Models::View(a) => a.value(i),
            Models::Large(a) => a.value(i),
        }
    }
}
