//! `sentiment_train(text, label [, options])` aggregate → model and
//! `sentiment_score(model, text)` → P(positive): the learned,
//! language-agnostic scorer of [`super::learned`] (hashed word and character
//! n-grams, TF-IDF, L2 logistic regression), trained on the customer's own
//! labelled feedback, e.g. `label = nps_score >= 9`.
//!
//! `label` is a boolean or 0/1 number; rows with a NULL text or label are
//! skipped (counted in `metrics.skipped`); both classes are needed. Rows are
//! put in a canonical order (by text and label) before training, so the
//! model does not depend on row order or partitioning. Options:
//! `hash_bits` (10–24, 18), `word_ngrams` (`1-2`), `char_ngrams` (`2-4`, or
//! `none`), `char_scope` (`all`; `cjk`: only terms with Hangul, Han or kana),
//! `c` (inverse regularisation, 1), `max_iter` (200). `model_info` shows the
//! options, the training metrics and the n-grams of the largest positive
//! and negative weights. `sentiment_score` gives NULL for a NULL text or
//! model; an empty text scores the intercept (the training share).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use super::learned::{row_bytes, train, SentimentModel, TrainParams};
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::{f64_list_scalar, list_scalar};
use crate::model::Model;
use crate::model_arg::{coerce_model, Models};
use crate::model_cache::{fold_hash, ModelCache};
use crate::options::{coerce_options, Options};
use crate::text_arg::{text_type, TextCap};

const TRAIN: &str = "sentiment_train";
const SCORE: &str = "sentiment_score";

pub fn train_entry() -> FunctionEntry {
    FunctionEntry {
        name: TRAIN,
        kind: FunctionKind::Aggregate,
        signature: "sentiment_train(text, label [, options]) -> model",
        description: "Train a language-agnostic sentiment scorer (hashed word and character n-grams, TF-IDF, L2 logistic regression) on labelled texts; options hash_bits, word_ngrams, char_ngrams, char_scope, c, max_iter",
        example: "SELECT model_info(sentiment_train(t, positive)) FROM (VALUES ('great service', true), ('really great', true), ('love it', true), ('awful service', false), ('really awful', false), ('배송이 빨라서 좋아요', true), ('배송이 늦어서 싫어요', false)) AS v(t, positive)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(SentimentTrain::new()))),
    }
}

pub fn score_entry() -> FunctionEntry {
    FunctionEntry {
        name: SCORE,
        kind: FunctionKind::Scalar,
        signature: "sentiment_score(model, text) -> DOUBLE",
        description: "P(positive) of a text in [0, 1] from a sentiment_train model; NULL for NULL text",
        example: "WITH m AS (SELECT sentiment_train(t, positive) AS model FROM (VALUES ('great service', true), ('really great', true), ('love it', true), ('awful service', false), ('really awful', false), ('hate it', false)) AS v(t, positive)) SELECT sentiment_score(model, 'great') > sentiment_score(model, 'awful') FROM m; -- true",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(SentimentScore::new()))),
    }
}

fn range(key: &str, v: &str) -> std::result::Result<(usize, usize), UdfError> {
    let bad = || UdfError::Options {
        function: TRAIN,
        message: format!(
            "{key} must be 'lo-hi' with 1 <= lo <= hi <= 6 (or 'none' for char_ngrams), got '{v}'"
        ),
    };
    if key == "char_ngrams" && v.trim().eq_ignore_ascii_case("none") {
        return Ok((0, 0));
    }
    let (lo, hi) = match v.split_once('-') {
        Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
        None => (v.trim().parse::<usize>(), v.trim().parse::<usize>()),
    };
    match (lo, hi) {
        (Ok(lo), Ok(hi)) if 1 <= lo && lo <= hi && hi <= 6 => Ok((lo, hi)),
        _ => Err(bad()),
    }
}

/// Parse the options; also the resolved options shown in the model.
fn parse_options(
    text: &str,
) -> std::result::Result<(TrainParams, serde_json::Map<String, serde_json::Value>), UdfError> {
    let o = Options::parse(
        TRAIN,
        text,
        &[
            "hash_bits",
            "word_ngrams",
            "char_ngrams",
            "char_scope",
            "c",
            "max_iter",
        ],
    )?;
    let mut p = TrainParams::default();
    let bits: u32 = o.parse_or("hash_bits", p.featurizer.hash_bits)?;
    if !(10..=24).contains(&bits) {
        return Err(UdfError::Options {
            function: TRAIN,
            message: format!("hash_bits must be from 10 to 24, got {bits}"),
        });
    }
    p.featurizer.hash_bits = bits;
    if let Some(v) = o.get("word_ngrams") {
        p.featurizer.word_ngrams = range("word_ngrams", v)?;
    }
    if let Some(v) = o.get("char_ngrams") {
        p.featurizer.char_ngrams = range("char_ngrams", v)?;
    }
    p.featurizer.char_all = match o.get("char_scope").map(|s| s.trim().to_ascii_lowercase()) {
        None => p.featurizer.char_all,
        Some(s) if s == "cjk" => false,
        Some(s) if s == "all" => true,
        Some(s) => {
            return Err(UdfError::Options {
                function: TRAIN,
                message: format!("char_scope must be cjk or all, got '{s}'"),
            })
        }
    };
    p.c = o.parse_or("c", 1.0)?;
    if !(p.c > 0.0 && p.c.is_finite()) {
        return Err(UdfError::Options {
            function: TRAIN,
            message: format!("c must be a positive number, got {}", p.c),
        });
    }
    p.max_iter = o.parse_or("max_iter", 200)?;
    let fz = p.featurizer;
    let shown = serde_json::json!({
        "hash_bits": fz.hash_bits,
        "word_ngrams": format!("{}-{}", fz.word_ngrams.0, fz.word_ngrams.1),
        "char_ngrams": if fz.char_ngrams.0 == 0 { "none".to_string() } else { format!("{}-{}", fz.char_ngrams.0, fz.char_ngrams.1) },
        "char_scope": if fz.char_all { "all" } else { "cjk" },
        "c": p.c,
        "max_iter": p.max_iter,
    });
    let shown = shown.as_object().cloned().unwrap_or_default();
    Ok((p, shown))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SentimentTrain {
    signature: Signature,
}

impl SentimentTrain {
    pub fn new() -> Self {
        SentimentTrain {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for SentimentTrain {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for SentimentTrain {
    fn name(&self) -> &str {
        TRAIN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return Err(UdfError::arity(TRAIN, "text, label [, options]", arg_types.len()).into());
        }
        text_type(TRAIN, "text", &arg_types[0])?;
        let label = &arg_types[1];
        if !(label.is_numeric() || matches!(label, DataType::Boolean | DataType::Null)) {
            return Err(UdfError::argument(
                TRAIN,
                "label",
                format!("must be a boolean or a 0/1 number, got {label}"),
            )
            .into());
        }
        let mut out = vec![DataType::Utf8, DataType::Float64];
        if let Some(t) = arg_types.get(2) {
            out.push(coerce_options(TRAIN, t)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let text = if args.exprs.len() > 2 {
            constant_text(
                TRAIN,
                "options",
                &constant(TRAIN, "options", args.exprs, 2)?,
            )?
        } else {
            String::new()
        };
        let (params, shown) = parse_options(&text)?;
        Ok(Box::new(TrainAccumulator {
            texts: Vec::new(),
            labels: Vec::new(),
            text_bytes: 0,
            skipped: 0,
            params,
            shown,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "texts"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "labels"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "skipped"),
                DataType::Int64,
                true,
            )),
        ])
    }
}

#[derive(Debug)]
struct TrainAccumulator {
    texts: Vec<String>,
    labels: Vec<f64>,
    text_bytes: usize,
    skipped: i64,
    params: TrainParams,
    shown: serde_json::Map<String, serde_json::Value>,
}

impl TrainAccumulator {
    fn add(&mut self, texts: &ArrayRef, labels: &ArrayRef) -> Result<()> {
        let texts = texts.as_string::<i32>();
        let labels = labels.as_primitive::<Float64Type>();
        let mut cap = TextCap::new(TRAIN);
        for i in 0..texts.len() {
            if texts.is_null(i) || labels.is_null(i) {
                self.skipped += 1;
                continue;
            }
            let y = labels.value(i);
            if y != 0.0 && y != 1.0 {
                return Err(UdfError::argument(
                    TRAIN,
                    "label",
                    format!("must be true/false or 0/1, got {y}"),
                )
                .into());
            }
            let t = cap.cap(texts.value(i)).to_string();
            self.text_bytes += t.capacity();
            self.texts.push(t);
            self.labels.push(y);
        }
        cap.finish();
        Ok(())
    }
}

impl Accumulator for TrainAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let texts = states[0].as_list::<i32>();
        let labels = states[1].as_list::<i32>();
        let skipped = states[2].as_primitive::<Int64Type>();
        for row in 0..states[0].len() {
            if !skipped.is_null(row) {
                self.skipped += skipped.value(row);
            }
            if texts.is_null(row) || labels.is_null(row) {
                continue;
            }
            self.add(&texts.value(row), &labels.value(row))?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            list_scalar(Arc::new(StringArray::from(self.texts.clone()))),
            f64_list_scalar(self.labels.clone()),
            ScalarValue::Int64(Some(self.skipped)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.labels.is_empty() {
            return Ok(ScalarValue::Utf8View(None));
        }
        let positive = self.labels.iter().filter(|&&y| y == 1.0).count();
        let negative = self.labels.len() - positive;
        if positive == 0 || negative == 0 {
            return Err(UdfError::data(
                TRAIN,
                format!("the label has one class only ({positive} positive, {negative} negative); training needs texts of both"),
            )
            .into());
        }
        let n = self.labels.len();
        let fz = self.params.featurizer;
        let _memory = crate::memory::reserve(
            TRAIN,
            &format!("train on {n} texts"),
            row_bytes(&fz, self.text_bytes / n) * n
                + fz.dims() * 8 * (2 * 10 + 8 + super::learned::BLOCKS),
        )?;
        // Canonical order: by a hash of text and label, ties by both.
        let build = foldhash::fast::FixedState::with_seed(7);
        let mut order: Vec<(u64, usize)> = (0..n)
            .map(|i| {
                let mut h = build.build_hasher();
                h.write(self.texts[i].as_bytes());
                h.write_u64(self.labels[i].to_bits());
                (h.finish(), i)
            })
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.texts[a.1].cmp(&self.texts[b.1]))
                .then(self.labels[a.1].total_cmp(&self.labels[b.1]))
        });
        let texts: Vec<&str> = order.iter().map(|&(_, i)| self.texts[i].as_str()).collect();
        let labels: Vec<f64> = order.iter().map(|&(_, i)| self.labels[i]).collect();
        let model = train(&texts, &labels, &self.params, self.skipped.max(0) as u64);
        Ok(ScalarValue::Utf8View(Some(
            Model::Sentiment {
                params: self.shown.clone(),
                model,
            }
            .to_json(),
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.texts.capacity() * std::mem::size_of::<String>()
            + self.labels.capacity() * 8
            + self.text_bytes
    }
}

/// A parsed model with its dense vectors, kept between batches.
struct Prepared {
    model: SentimentModel,
    idf: Vec<f32>,
    weights: Vec<f32>,
}

static CACHE: ModelCache<Prepared> = ModelCache::new(4, fold_hash);

fn prepared(text: &str) -> std::result::Result<Arc<Prepared>, UdfError> {
    CACHE.get_or_parse(text, |t| match Model::parse(SCORE, t)? {
        Model::Sentiment { model, .. } => {
            let (idf, weights) = model.dense();
            Ok(Prepared {
                model,
                idf,
                weights,
            })
        }
        other => Err(UdfError::argument(
            SCORE,
            "model",
            format!(
                "is a {} model; pass the value sentiment_train returned",
                other.kind()
            ),
        )),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SentimentScore {
    signature: Signature,
}

impl SentimentScore {
    pub fn new() -> Self {
        SentimentScore {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for SentimentScore {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for SentimentScore {
    fn name(&self) -> &str {
        SCORE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return Err(UdfError::arity(SCORE, "model, text", arg_types.len()).into());
        }
        text_type(SCORE, "text", &arg_types[1])?;
        Ok(vec![coerce_model(SCORE, &arg_types[0])?, DataType::Utf8])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let models = args.args[0].to_array(n)?;
        let models = Models::new(SCORE, &models)?;
        let texts: ArrayRef = args.args[1].to_array(n)?;
        let texts = texts.as_string::<i32>();
        let mut out = Float64Builder::with_capacity(n);
        let mut current: Option<(usize, usize, Arc<Prepared>)> = None;
        let mut cap = TextCap::new(SCORE);
        for i in 0..n {
            if models.is_null(i) || texts.is_null(i) {
                out.append_null();
                continue;
            }
            let m = models.value(i);
            let at = (m.as_ptr() as usize, m.len());
            let p = match &current {
                Some((a, b, p)) if (*a, *b) == at => Arc::clone(p),
                _ => {
                    let p = prepared(m)?;
                    current = Some((at.0, at.1, Arc::clone(&p)));
                    p
                }
            };
            out.append_value(
                p.model
                    .score_with(cap.cap(texts.value(i)), &p.idf, &p.weights),
            );
        }
        cap.finish();
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
