//! `feedback_terms(text [, stop_words])`: the terms of a text as a list, as
//! `keywords` counts them ([`super::text::Terms`]: normalized words,
//! Korean particles taken off, Han/kana character pairs, stop words out).
//!
//! `stop_words` is a `|`-separated list; the item `default` stands for the
//! built-in English and Korean lists, which are used when the argument is
//! left out; `''` keeps every word. NULL for a NULL text.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::text::Terms;
use crate::constant_args::constant_text;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::text_arg::{text_type, TextCap};

const NAME: &str = "feedback_terms";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "feedback_terms(text VARCHAR [, stop_words VARCHAR = 'default']) -> LIST<VARCHAR>",
        description: "The terms keywords counts: normalized words (Korean particles off, Han/kana character pairs) without stop words ('a|b|default'; '' keeps all)",
        example: "SELECT feedback_terms('The delivery was NOT on time!') AS en, feedback_terms('배송이 너무 늦었어요') AS ko, feedback_terms('the late train', 'late|default') AS custom",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(FeedbackTerms::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FeedbackTerms {
    signature: Signature,
}

impl FeedbackTerms {
    pub fn new() -> Self {
        FeedbackTerms {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for FeedbackTerms {
    fn default() -> Self {
        Self::new()
    }
}

fn list<'a>(terms: &Terms, texts: impl Iterator<Item = Option<&'a str>>, len: usize) -> ArrayRef {
    let mut out = ListBuilder::with_capacity(StringBuilder::new(), len);
    let mut cap = TextCap::new(NAME);
    for text in texts {
        match text {
            None => out.append_null(),
            Some(t) => {
                for term in terms.terms(cap.cap(t)) {
                    out.values().append_value(term);
                }
                out.append(true);
            }
        }
    }
    cap.finish();
    Arc::new(out.finish())
}

impl ScalarUDFImpl for FeedbackTerms {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() || arg_types.len() > 2 {
            return Err(UdfError::arity(NAME, "text [, stop_words]", arg_types.len()).into());
        }
        // Read as Utf8 whichever string type arrives.
        arg_types
            .iter()
            .zip(["text", "stop_words"])
            .map(|(t, name)| text_type(NAME, name, t).map(|_| DataType::Utf8))
            .collect()
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let stop = match args.args.get(1) {
            None => "default".to_string(),
            Some(ColumnarValue::Scalar(v)) => constant_text(NAME, "stop_words", v)?,
            Some(_) => {
                return Err(UdfError::argument(
                    NAME,
                    "stop_words",
                    "must be a constant (the same list for every row)",
                )
                .into())
            }
        };
        let terms = Terms::with_stop_words(&stop);
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = texts.as_string::<i32>();
        Ok(ColumnarValue::Array(list(
            &terms,
            texts.iter(),
            args.number_rows,
        )))
    }
}
