//! `content_fit(item, text [, options])` aggregate → a content-based
//! recommender model ([`super::content`]): items as TF-IDF vectors of their
//! texts, each keeping its most similar items.
//!
//! Rows are (item, text), e.g. one per product with its description, or
//! one per transaction line (repeats of the same pair count once; an item
//! with several texts gets them joined in sorted order). Rows with a NULL
//! item or text are left out and counted (`model_info` → `skipped`).
//!
//! Options: `ngrams` = `both` (default: words and word pairs, and
//! character n-grams of 3–5), `word` or `char`; `min_df` (features in fewer
//! items are dropped, default 1); `neighbours` (similar items kept per
//! item, default 100).
//!
//! The model knows no customers: `recommend_for(model, items, k)` and
//! `recommendations(model, 'SELECT customer_id, item FROM ...', k)` take a
//! customer's items; an empty list gets an empty list. `similar_items`
//! works as for `item_knn`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::content::Ngrams;
use super::model::RecommenderModel;
use super::skipped_sql::Skipped;
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::list_scalar;
use crate::model::Model;
use crate::options::{coerce_options, Options};
use crate::text_arg::coerce_id;

const NAME: &str = "content_fit";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "content_fit(item, text [, options]) -> model",
        description: "Fit a content-based recommender: items as TF-IDF vectors of their texts (words, word pairs and character 3-5-grams), each keeping its most similar items by cosine; options ngrams=both|word|char, min_df, neighbours. recommend_for takes a customer's items as a list",
        example: "SELECT similar_items(content_fit(item, text, 'ngrams=word'), 'red mug', 2) FROM (VALUES ('red mug', 'red mug'), ('red cup', 'red cup'), ('tea', 'tea')) AS t(item, text)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(ContentFit::new()))),
    }
}

/// The options of one call.
#[derive(Debug, Clone)]
struct Resolved {
    ngrams: Ngrams,
    min_df: usize,
    neighbours: usize,
    shown: serde_json::Map<String, serde_json::Value>,
}

fn parse_options(text: &str) -> std::result::Result<Resolved, UdfError> {
    let o = Options::parse(NAME, text, &["ngrams", "min_df", "neighbours"])?;
    let bad = |message: String| UdfError::Options {
        function: NAME,
        message,
    };
    let ngrams = match o
        .get("ngrams")
        .unwrap_or("both")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "both" => Ngrams::Both,
        "word" => Ngrams::Word,
        "char" => Ngrams::Char,
        other => {
            return Err(bad(format!(
                "ngrams must be both, word or char, got '{other}'"
            )))
        }
    };
    let min_df: usize = o.parse_or("min_df", 1)?;
    let neighbours: usize = o.parse_or("neighbours", 100)?;
    if min_df == 0 || neighbours == 0 {
        return Err(bad("min_df and neighbours must be at least 1".into()));
    }
    let mut shown = serde_json::Map::new();
    shown.insert("algorithm".into(), "content".into());
    shown.insert("ngrams".into(), ngrams.name().into());
    shown.insert("min_df".into(), min_df.into());
    shown.insert("neighbours".into(), neighbours.into());
    Ok(Resolved {
        ngrams,
        min_df,
        neighbours,
        shown,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ContentFit {
    signature: Signature,
}

impl ContentFit {
    pub fn new() -> Self {
        ContentFit {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ContentFit {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for ContentFit {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return Err(UdfError::arity(NAME, "item, text [, options]", arg_types.len()).into());
        }
        let text = &arg_types[1];
        if !matches!(
            text,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ) {
            return Err(
                UdfError::argument(NAME, "text", format!("must be text, got {text}")).into(),
            );
        }
        let mut out = vec![coerce_id(NAME, "item", &arg_types[0])?, DataType::Utf8];
        if let Some(t) = arg_types.get(2) {
            out.push(coerce_options(NAME, t)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let text = if args.exprs.len() > 2 {
            constant_text(NAME, "options", &constant(NAME, "options", args.exprs, 2)?)?
        } else {
            String::new()
        };
        Ok(Box::new(ContentAccumulator {
            texts: BTreeMap::new(),
            bytes: 0,
            skipped: Skipped::new(SKIP_REASONS),
            options: parse_options(&text)?,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        let mut fields: Vec<FieldRef> = ["items", "texts"]
            .into_iter()
            .map(|name| {
                Arc::new(Field::new(
                    format_state_name(args.name, name),
                    list.clone(),
                    true,
                )) as FieldRef
            })
            .collect();
        fields.extend(Skipped::state_fields(SKIP_REASONS, args.name));
        Ok(fields)
    }
}

const SKIP_REASONS: [&str; 2] = ["null_item", "null_text"];

#[derive(Debug)]
struct ContentAccumulator {
    /// Each item's distinct texts.
    texts: BTreeMap<String, BTreeSet<String>>,
    bytes: usize,
    skipped: Skipped<2>,
    options: Resolved,
}

impl ContentAccumulator {
    fn add(&mut self, item: &str, text: &str) {
        let set = self.texts.entry(item.to_string()).or_insert_with(|| {
            self.bytes += item.len() + 64;
            BTreeSet::new()
        });
        if !set.contains(text) {
            self.bytes += text.len() + 48;
            set.insert(text.to_string());
        }
    }
}

impl Accumulator for ContentAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (items, texts) = (values[0].as_string::<i32>(), values[1].as_string::<i32>());
        for r in 0..items.len() {
            if items.is_null(r) {
                self.skipped.count(0);
            } else if texts.is_null(r) {
                self.skipped.count(1);
            } else {
                self.add(items.value(r), texts.value(r));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (items, texts) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..states[0].len() {
            self.skipped.merge(&states[2..], row);
            if items.is_null(row) || texts.is_null(row) {
                continue;
            }
            let (i, t) = (items.value(row), texts.value(row));
            let (i, t) = (i.as_string::<i32>(), t.as_string::<i32>());
            for r in 0..i.len() {
                self.add(i.value(r), t.value(r));
            }
        }
        Ok(())
    }

    /// The (item, text) pairs as two lists.
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (mut items, mut texts) = (Vec::new(), Vec::new());
        for (item, set) in &self.texts {
            for text in set {
                items.push(item.as_str());
                texts.push(text.as_str());
            }
        }
        let mut out = vec![
            list_scalar(Arc::new(StringArray::from(items))),
            list_scalar(Arc::new(StringArray::from(texts))),
        ];
        out.extend(self.skipped.state());
        Ok(out)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.texts.is_empty() {
            return Ok(ScalarValue::Utf8View(None));
        }
        let taken = std::mem::take(&mut self.texts);
        let (items, texts): (Vec<String>, Vec<String>) = taken
            .into_iter()
            .map(|(item, set)| (item, set.into_iter().collect::<Vec<_>>().join(" ")))
            .unzip();
        let n = items.len();
        // The n-gram counts (about 40 per text), the matrix and its
        // transpose, the neighbour lists and one accumulator per thread.
        let work = texts.iter().map(|t| t.len() * 40 * 3).sum::<usize>()
            + n * self.options.neighbours.min(n) * 12
            + crate::pool::threads() * n * 12;
        let _memory = crate::memory::reserve(
            NAME,
            &format!("fit on the texts of {n} items"),
            work.saturating_sub(self.size()),
        )?;
        let mut model = RecommenderModel::content(
            items,
            &texts,
            self.options.ngrams,
            self.options.min_df,
            self.options.neighbours,
        );
        self.skipped.record(&mut model.skipped);
        Ok(ScalarValue::Utf8View(Some(
            Model::Recommender {
                params: self.options.shown.clone(),
                model,
            }
            .to_json(),
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.bytes
    }
}
