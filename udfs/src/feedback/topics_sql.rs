//! `feedback_topics(text, taxonomy)`: the topics of a text by a keyword
//! taxonomy, as a list of topic names ([`super::topics`] says how keywords
//! match: case-, width- and composition-insensitive, whole words or `*`
//! prefixes, Hangul/Han/kana anywhere so Korean stems match inside an eojeol).
//!
//! `taxonomy` is either
//! - a literal map, `'delivery: late, parcel, 배송; price: expensive, 가격'`,
//!   or
//! - a list of structs with fields `topic` and `keyword` (others, such as
//!   `language`, are ignored), which is how a taxonomy table is passed:
//!   `(SELECT array_agg(named_struct('topic', topic, 'keyword', keyword))
//!   FROM feedback_taxonomy)`, a scalar subquery DataFusion runs once.
//!
//! A text gets its topics in name order, `['other']` when no keyword
//! matches, NULL when it is NULL or blank. A taxonomy without keywords (an
//! empty table gives a NULL list), a topic without keywords or a string that
//! is not a map is an error naming the argument.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ListArray, ListBuilder, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::topics::{Taxonomy, OTHER};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::text_arg::{is_text, text_type, TextCap};

const NAME: &str = "feedback_topics";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "feedback_topics(text VARCHAR, taxonomy VARCHAR | LIST<STRUCT(topic, keyword)>) -> LIST<VARCHAR>",
        description: "Topics of a text by a keyword taxonomy (a literal 'topic: kw, kw; topic: kw' map or a list of {topic, keyword} from a table); case- and width-insensitive, Korean stems match inside words; ['other'] when none matches",
        example: "SELECT t, feedback_topics(t, 'delivery: late, deliver*, 배송; price: expensive, price, 가격; service: rude, staff') AS topics FROM (VALUES ('Delivered LATE and the staff was rude'), ('배송이 너무 늦었어요'), ('Lovely colours')) AS v(t)",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(FeedbackTopics::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FeedbackTopics {
    signature: Signature,
}

impl FeedbackTopics {
    pub fn new() -> Self {
        FeedbackTopics {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for FeedbackTopics {
    fn default() -> Self {
        Self::new()
    }
}

fn taxonomy_error(message: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    UdfError::argument(NAME, "taxonomy", message.to_string()).into()
}

/// Compile the literal map `text`.
fn from_map(text: &str) -> Result<Taxonomy> {
    Taxonomy::parse_map(text).map_err(|e| match e {
        super::topics::TaxonomyError::NotAMap(_) if !text.contains(':') => taxonomy_error(format!(
            "'{text}' is not a map 'topic: keyword, keyword; topic: ...'; to use a table, pass \
             (SELECT array_agg(named_struct('topic', topic, 'keyword', keyword)) FROM {text})"
        )),
        e => taxonomy_error(e),
    })
}

/// Compile a list of {topic, keyword} structs.
fn from_list(entries: &ArrayRef) -> Result<Taxonomy> {
    let s: &StructArray = entries.as_struct_opt().ok_or_else(|| {
        taxonomy_error(format!(
            "a list must hold structs {{topic, keyword}}, got {}",
            entries.data_type()
        ))
    })?;
    let field = |name: &str| -> Result<ArrayRef> {
        let c = s.column_by_name(name).ok_or_else(|| {
            taxonomy_error(format!(
                "a list of structs needs a field '{name}' (fields: {})",
                s.fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Ok(cast(c, &DataType::Utf8)?)
    };
    let topics = field("topic")?;
    let keywords = field("keyword")?;
    let (topics, keywords) = (topics.as_string::<i32>(), keywords.as_string::<i32>());
    let pairs = (0..s.len())
        .filter(|&i| s.is_valid(i) && topics.is_valid(i))
        .map(|i| {
            (
                topics.value(i),
                keywords.is_valid(i).then(|| keywords.value(i)),
            )
        });
    Taxonomy::new(pairs).map_err(taxonomy_error)
}

/// Tag every text; `taxonomy_at(i)` gives row i's taxonomy source, and a
/// taxonomy is compiled again only when it changes from the previous row.
fn tag_all<'a, K: PartialEq>(
    texts: impl Iterator<Item = Option<&'a str>>,
    len: usize,
    mut taxonomy_at: impl FnMut(usize) -> Option<K>,
    compile: impl Fn(&K) -> Result<Taxonomy>,
) -> Result<ArrayRef> {
    let mut out = ListBuilder::with_capacity(StringBuilder::new(), len);
    let mut current: Option<(K, Taxonomy)> = None;
    let mut cap = TextCap::new(NAME);
    for (i, text) in texts.enumerate() {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            out.append_null();
            continue;
        };
        let key = taxonomy_at(i).ok_or_else(|| {
            taxonomy_error("the taxonomy has no keywords (it is NULL: an empty table?)")
        })?;
        if current.as_ref().is_none_or(|(k, _)| *k != key) {
            let t = compile(&key)?;
            current = Some((key, t));
        }
        let Some((_, taxonomy)) = &current else {
            unreachable!("set above")
        };
        let found = taxonomy.tag(cap.cap(text));
        if found.is_empty() {
            out.values().append_value(OTHER);
        }
        for i in found {
            out.values().append_value(&taxonomy.topics()[i]);
        }
        out.append(true);
    }
    cap.finish();
    Ok(Arc::new(out.finish()))
}

fn text_iter<'a>(a: &'a ArrayRef) -> Box<dyn Iterator<Item = Option<&'a str>> + 'a> {
    match a.data_type() {
        DataType::LargeUtf8 => Box::new(a.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(a.as_string_view().iter()),
        _ => Box::new(a.as_string::<i32>().iter()),
    }
}

impl ScalarUDFImpl for FeedbackTopics {
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
        if arg_types.len() != 2 {
            return Err(UdfError::arity(NAME, "text, taxonomy", arg_types.len()).into());
        }
        let text = text_type(NAME, "text", &arg_types[0])?;
        let taxonomy = match &arg_types[1] {
            t if is_text(t) => DataType::Utf8,
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
                if matches!(f.data_type(), DataType::Struct(_)) =>
            {
                DataType::List(f.clone())
            }
            other => {
                return Err(taxonomy_error(format!(
                    "must be a literal map 'topic: keyword, ...' (VARCHAR) or a list of {{topic, keyword}} structs, got {other}"
                )))
            }
        };
        Ok(vec![text, taxonomy])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let len = args.number_rows;
        let texts = args.args[0].to_array(len)?;
        let out = match &args.args[1] {
            // A literal: one taxonomy for the whole batch.
            ColumnarValue::Scalar(s) if is_text(&s.data_type()) => {
                let map = s.try_as_str().flatten().map(str::to_string);
                tag_all(text_iter(&texts), len, |_| map.clone(), |m| from_map(m))?
            }
            other => {
                let a = other.to_array(len)?;
                if is_text(a.data_type()) {
                    let a = cast(&a, &DataType::Utf8)?;
                    let maps = a.as_string::<i32>();
                    tag_all(
                        text_iter(&texts),
                        len,
                        |i| maps.is_valid(i).then(|| maps.value(i)),
                        |m| from_map(m),
                    )?
                } else {
                    let lists: &ListArray = a.as_list_opt().ok_or_else(|| {
                        taxonomy_error(format!("unexpected type {}", a.data_type()))
                    })?;
                    tag_all(
                        text_iter(&texts),
                        len,
                        |i| lists.is_valid(i).then(|| lists.value(i)),
                        from_list,
                    )?
                }
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
