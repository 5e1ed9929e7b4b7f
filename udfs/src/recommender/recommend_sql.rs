//! `recommend_for(model, customer_id, k [, options])` and
//! `similar_items(model, item, k)` → LIST<STRUCT<item VARCHAR, score
//! DOUBLE>>, best first (ties by item), from a `recommender_fit` model.
//!
//! `recommend_for`: the customer's top `k` items by the model's algorithm.
//! A customer the model does not know (not in its fit) gets the `k` most
//! popular items, scored by their number of customers. In place of the
//! customer id, the customer's items can be given as a list (one unit of
//! weight per mention; items the model does not know are left out): the
//! way to score with a model fitted with `histories=false`, or with a
//! history newer than the fit. The parsed model is kept between batches
//! and its memory reserved in DataFusion's pool. Options (a constant
//! string): `exclude_seen` (`true`: leave out the items the customer bought
//! in the fit; default `false`, because repeat purchases are most of what
//! retail customers buy) and `exclude` (items to leave out, separated by
//! `|`, e.g. `'exclude=POST|DOT'`). With `algorithm=repeat` and
//! `exclude_seen=true` the list is empty: that model only knows the
//! customer's own items. `item_knn` lists only items with a score (a
//! neighbour of something the customer bought), so it may give fewer than
//! `k`.
//!
//! `similar_items`: the `k` items most similar to `item` (itself left out)
//! for an `item_knn` model; NULL for an item the model does not know; an
//! error for a model without item similarity.
//!
//! `k` is from 1 to 1,000. NULL model, customer, item or k give NULL.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, ListBuilder, StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::model::{Ask, RecommenderModel};
use crate::constant_args::constant_text;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::model_arg::{coerce_model, Models};
use crate::model_cache::{fold_hash, ModelCache};
use crate::options::Options;
use crate::text_arg::coerce_id;

const RECOMMEND: &str = "recommend_for";
const SIMILAR: &str = "similar_items";
/// The largest `k` a call may ask for.
pub const MAX_K: i64 = 1000;

/// A constant `k` argument: an integer from 1 to [`MAX_K`], or an error
/// naming `function`'s argument `k`.
pub fn check_k(function: &'static str, k: f64) -> Result<usize> {
    if k.fract() == 0.0 && (1.0..=MAX_K as f64).contains(&k) {
        Ok(k as usize)
    } else {
        Err(UdfError::argument(
            function,
            "k",
            format!("must be an integer from 1 to {MAX_K}, got {k}"),
        )
        .into())
    }
}

pub fn recommend_entry() -> FunctionEntry {
    FunctionEntry {
        name: RECOMMEND,
        kind: FunctionKind::Scalar,
        signature: "recommend_for(model, customer_id, k [, options]) -> LIST<STRUCT<item, score>>",
        description: "A customer's top k items from a recommender_fit model (unknown customers get the popular items); options exclude_seen=true|false, exclude=a|b",
        example: "WITH m AS (SELECT recommender_fit(c, item, 1, 'similarity=cosine') AS model FROM (VALUES (1, 'tea'), (1, 'cups'), (2, 'tea'), (2, 'cups'), (3, 'tea'), (3, 'sugar')) AS t(c, item)) SELECT recommend_for(model, 3, 2, 'exclude_seen=true') FROM m",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(RecommendFor::new(
            RECOMMEND,
        )))),
    }
}

pub fn similar_entry() -> FunctionEntry {
    FunctionEntry {
        name: SIMILAR,
        kind: FunctionKind::Scalar,
        signature: "similar_items(model, item, k) -> LIST<STRUCT<item, score>>",
        description: "The k items most similar to an item in an item_knn recommender model",
        example: "WITH m AS (SELECT recommender_fit(c, item, 1, 'similarity=cosine') AS model FROM (VALUES (1, 'tea'), (1, 'cups'), (2, 'tea'), (2, 'cups'), (3, 'tea'), (3, 'sugar')) AS t(c, item)) SELECT similar_items(model, 'tea', 2) FROM m",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(RecommendFor::new(SIMILAR)))),
    }
}

fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("item", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
    ])
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(entry_fields()),
        true,
    )))
}

/// A parsed model and its share of DataFusion's memory pool, held while
/// the model is cached.
struct Held {
    model: RecommenderModel,
    _memory: Option<datafusion::execution::memory_pool::MemoryReservation>,
}

static CACHE: ModelCache<Held> = ModelCache::new(4, fold_hash);

fn parsed(function: &'static str, text: &str) -> std::result::Result<Arc<Held>, UdfError> {
    CACHE.get_or_parse(text, |t| match Model::parse(function, t)? {
        Model::Recommender { model, .. } => {
            let memory = crate::memory::reserve(
                function,
                &format!(
                    "hold a recommender model of {} customers and {} items",
                    model.customers.len(),
                    model.items.len()
                ),
                model.bytes(),
            )?;
            Ok(Held {
                model,
                _memory: memory,
            })
        }
        other => Err(UdfError::argument(
            function,
            "model",
            format!(
                "is a {} model; {function} needs a recommender model (the value recommender_fit returned)",
                other.kind()
            ),
        )),
    })
}

/// The options of `recommend_for`.
struct Asked {
    exclude_seen: bool,
    exclude: Vec<String>,
}

fn parse_asked(text: &str) -> std::result::Result<Asked, UdfError> {
    let o = Options::parse(RECOMMEND, text, &["exclude_seen", "exclude"])?;
    let exclude_seen = o.flag("exclude_seen", false)?;
    let exclude = o
        .get("exclude")
        .map(|s| {
            s.split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Asked {
        exclude_seen,
        exclude,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RecommendFor {
    name: &'static str,
    signature: Signature,
}

impl RecommendFor {
    fn new(name: &'static str) -> Self {
        RecommendFor {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RecommendFor {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (names, max) = if self.name == RECOMMEND {
            ("model, customer_id, k [, options]", 4)
        } else {
            ("model, item, k", 3)
        };
        if !(3..=max).contains(&arg_types.len()) {
            return Err(UdfError::arity(self.name, names, arg_types.len()).into());
        }
        let key = if self.name == RECOMMEND {
            "customer_id"
        } else {
            "item"
        };
        let k = &arg_types[2];
        if !(k.is_integer() || k.is_null()) {
            return Err(
                UdfError::argument(self.name, "k", format!("must be an integer, got {k}")).into(),
            );
        }
        let who = match &arg_types[1] {
            // recommend_for(model, items, k): the customer's items as a list.
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
                if self.name == RECOMMEND && !f.data_type().is_nested() =>
            {
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
            }
            t => coerce_id(self.name, key, t)?,
        };
        let mut out = vec![
            coerce_model(self.name, &arg_types[0])?,
            who,
            DataType::Int64,
        ];
        if arg_types.len() == 4 {
            out.push(DataType::Utf8);
        }
        Ok(out)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let asked = match args.args.get(3) {
            None => parse_asked("")?,
            Some(ColumnarValue::Scalar(v)) => {
                parse_asked(&constant_text(self.name, "options", v)?)?
            }
            Some(_) => {
                return Err(UdfError::argument(
                    self.name,
                    "options",
                    "must be a constant (the same options for every row)",
                )
                .into())
            }
        };
        let models = args.args[0].to_array(n)?;
        let models = Models::new(self.name, &models)?;
        let keys: ArrayRef = args.args[1].to_array(n)?;
        let lists = keys.as_list_opt::<i32>();
        let ks: ArrayRef = args.args[2].to_array(n)?;
        let ks = ks.as_primitive::<Int64Type>();
        let mut out = ListBuilder::with_capacity(
            StructBuilder::new(
                entry_fields(),
                vec![
                    Box::new(StringBuilder::new()),
                    Box::new(Float64Builder::new()),
                ],
            ),
            n,
        )
        .with_field(Arc::new(Field::new_list_field(
            DataType::Struct(entry_fields()),
            true,
        )));
        let mut current: Option<(usize, usize, Arc<Held>, Vec<u32>)> = None;
        for row in 0..n {
            if models.is_null(row) || keys.is_null(row) || ks.is_null(row) {
                out.append_null();
                continue;
            }
            let k = ks.value(row);
            if !(1..=MAX_K).contains(&k) {
                return Err(UdfError::argument(
                    self.name,
                    "k",
                    format!("must be from 1 to {MAX_K}, got {k}"),
                )
                .into());
            }
            let text = models.value(row);
            let at = (text.as_ptr() as usize, text.len());
            if current.as_ref().is_none_or(|c| (c.0, c.1) != at) {
                let held = parsed(self.name, text)?;
                let mut exclude: Vec<u32> = asked
                    .exclude
                    .iter()
                    .filter_map(|i| held.model.item(i))
                    .collect();
                exclude.sort_unstable();
                current = Some((at.0, at.1, held, exclude));
            }
            let Some((_, _, held, exclude)) = &current else {
                unreachable!("set above")
            };
            let model = &held.model;
            let found = if self.name == RECOMMEND {
                let ask = Ask {
                    k: k as usize,
                    exclude_seen: asked.exclude_seen,
                    exclude,
                };
                match lists {
                    Some(lists) => {
                        let items = lists.value(row);
                        let history = model.history_of(items.as_string::<i32>().iter().flatten());
                        Some(model.recommend_from(Some(&history), &ask))
                    }
                    None if !model.histories => {
                        return Err(UdfError::argument(
                            RECOMMEND,
                            "customer_id",
                            "the model was fitted with histories=false, so it does not know customers: pass the customer's items as a list instead (recommend_for(model, items, k), or recommendations(model, 'SELECT customer_id, item FROM ...', k))",
                        )
                        .into())
                    }
                    None => {
                        let key = keys.as_string::<i32>().value(row);
                        Some(model.recommend(model.customer(key), &ask))
                    }
                }
            } else {
                let key = keys.as_string::<i32>().value(row);
                match model.item(key) {
                    None => None,
                    Some(i) => Some(model.similar(i, k as usize).ok_or_else(|| {
                        UdfError::argument(
                            SIMILAR,
                            "model",
                            format!(
                                "is a {} recommender, which has no item similarity; fit one with algorithm=item_knn",
                                model.algorithm.name()
                            ),
                        )
                    })?),
                }
            };
            match found {
                None => out.append_null(),
                Some(list) => {
                    let entries = out.values();
                    for (i, score) in list {
                        entries
                            .field_builder::<StringBuilder>(0)
                            .expect("item builder")
                            .append_value(&model.items[i as usize]);
                        entries
                            .field_builder::<Float64Builder>(1)
                            .expect("score builder")
                            .append_value(score);
                        entries.append(true);
                    }
                    out.append(true);
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
