//! `sentiment(text)`: the VADER compound score of a text, in [−1, 1]
//! ([`super::vader`]: vaderSentiment 3.3.2's rules and lexicon, embedded).
//!
//! NULL for a NULL text and for a text without a word (empty or only
//! whitespace). Text past 64 KiB is scored on its first 64 KiB (cut at a
//! character boundary, logged and counted: [`crate::text_arg::TextCap`]). The score is not rounded (vaderSentiment rounds to 4 decimals).
//! A text is positive at compound >= 0.05 and negative at <= −0.05 by the
//! VADER authors' convention.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::vader::vader;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::text_arg::{text_type, TextCap};

const NAME: &str = "sentiment";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "sentiment(text VARCHAR) -> DOUBLE",
        description: "VADER compound sentiment in [-1, 1] (vaderSentiment 3.3.2's rules and lexicon, embedded); NULL for NULL or empty text",
        example: "SELECT t, round(sentiment(t), 4) AS s FROM (VALUES ('Great service, very friendly!'), ('The delivery was NOT good.'), ('')) AS v(t)",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(Sentiment::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sentiment {
    signature: Signature,
}

impl Sentiment {
    pub fn new() -> Self {
        Sentiment {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Sentiment {
    fn default() -> Self {
        Self::new()
    }
}

/// Scores of `texts` (NULL where the text is NULL or has no word).
fn score<'a>(texts: impl Iterator<Item = Option<&'a str>>, len: usize) -> ArrayRef {
    let v = vader();
    let mut out = Float64Builder::with_capacity(len);
    let mut cap = TextCap::new(NAME);
    for text in texts {
        out.append_option(text.and_then(|t| v.compound(cap.cap(t))));
    }
    cap.finish();
    Arc::new(out.finish())
}

impl ScalarUDFImpl for Sentiment {
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
        if arg_types.len() != 1 {
            return Err(UdfError::arity(NAME, "text", arg_types.len()).into());
        }
        Ok(vec![text_type(NAME, "text", &arg_types[0])?])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let a = &arrays[0];
        let out = match a.data_type() {
            DataType::Utf8 => score(a.as_string::<i32>().iter(), a.len()),
            DataType::LargeUtf8 => score(a.as_string::<i64>().iter(), a.len()),
            DataType::Utf8View => score(a.as_string_view().iter(), a.len()),
            other => {
                return Err(UdfError::argument(
                    NAME,
                    "text",
                    format!("must be a string (VARCHAR), got {other}"),
                )
                .into())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
