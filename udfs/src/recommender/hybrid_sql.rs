//! `hybrid_fit(models, weights)` → a recommender model blending separately
//! fitted ones ([`super::blend`]): `models` a list of `recommender_fit` or
//! `content_fit` values, `weights` a list of as many numbers (finite, ≥ 0,
//! not all 0).
//!
//! ```sql
//! WITH bought AS (SELECT recommender_fit(customer_id, product_id, 1) AS m FROM transactions),
//!      described AS (SELECT content_fit(product_id, description) AS m FROM transactions)
//! SELECT hybrid_fit([bought.m, described.m], [0.9, 0.1]) AS model FROM bought, described;
//! ```
//!
//! The blend scores a customer as `algorithm=hybrid` does: each part's
//! scores divided by that part's largest, summed with the part's weight.
//! Its catalogue is the union of the parts' items; customers, histories and
//! popularity (for unknown customers) come from the first model in the list
//! that was fitted on customers, and every part, a content part included,
//! scores that history. A blend of content models only knows no customers:
//! recommend from a list of items, as for a content model.
//!
//! A NULL list gives NULL; a NULL model in a list, a model of another kind,
//! lists of different lengths or a bad weight are errors naming the
//! position.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::blend::blend;
use super::model::RecommenderModel;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;

const NAME: &str = "hybrid_fit";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "hybrid_fit(models, weights) -> model",
        description: "Blend separately fitted recommender models (recommender_fit, content_fit) into one: each part's scores divided by its largest, summed with its weight; customers and histories from the first model fitted on customers",
        example: "WITH b AS (SELECT recommender_fit(c, item, 1, 'algorithm=repeat') AS m FROM (VALUES (1, 'red mug'), (2, 'tea')) AS t(c, item)), d AS (SELECT content_fit(item, text, 'ngrams=word') AS m FROM (VALUES ('red mug', 'red mug'), ('red cup', 'red cup'), ('tea', 'tea')) AS t(item, text)) SELECT recommend_for(hybrid_fit([b.m, d.m], [0.5, 0.5]), 1, 2) FROM b, d",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(HybridFit {
            signature: Signature::user_defined(Volatility::Immutable),
        }))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HybridFit {
    signature: Signature,
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

/// The element type of a list type, if `t` is one.
fn element(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

impl ScalarUDFImpl for HybridFit {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return Err(UdfError::arity(NAME, "models, weights", arg_types.len()).into());
        }
        match element(&arg_types[0]) {
            Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null) => {}
            _ => {
                return Err(UdfError::argument(
                    NAME,
                    "models",
                    format!(
                        "must be a list of model values, e.g. [m1, m2], got {}",
                        arg_types[0]
                    ),
                )
                .into())
            }
        }
        match element(&arg_types[1]) {
            Some(t) if t.is_numeric() || t.is_null() => {}
            _ => {
                return Err(UdfError::argument(
                    NAME,
                    "weights",
                    format!(
                        "must be a list of numbers, e.g. [0.8, 0.2], got {}",
                        arg_types[1]
                    ),
                )
                .into())
            }
        }
        Ok(vec![list_of(DataType::Utf8), list_of(DataType::Float64)])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let models: ArrayRef = args.args[0].to_array(n)?;
        let weights: ArrayRef = args.args[1].to_array(n)?;
        let (models, weights) = (models.as_list::<i32>(), weights.as_list::<i32>());
        let mut out = StringBuilder::new();
        for row in 0..n {
            if models.is_null(row) || weights.is_null(row) {
                out.append_null();
                continue;
            }
            let texts = models.value(row);
            let w = weights.value(row);
            let blended = hybrid(texts.as_string::<i32>(), w.as_primitive::<Float64Type>())?;
            out.append_value(blended);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// The blend of one row's models and weights, as a model value.
fn hybrid(
    texts: &datafusion::arrow::array::StringArray,
    weights: &datafusion::arrow::array::Float64Array,
) -> std::result::Result<String, UdfError> {
    if texts.len() != weights.len() {
        return Err(UdfError::argument(
            NAME,
            "weights",
            format!(
                "has {} weights for {} models: give one weight per model",
                weights.len(),
                texts.len()
            ),
        ));
    }
    if texts.is_empty() {
        return Err(UdfError::argument(
            NAME,
            "models",
            "is empty: give at least one model",
        ));
    }
    let mut total = 0.0;
    for i in 0..weights.len() {
        let w = if weights.is_null(i) {
            f64::NAN
        } else {
            weights.value(i)
        };
        if !(w.is_finite() && w >= 0.0) {
            return Err(UdfError::argument(
                NAME,
                "weights",
                format!("weight {} must be a finite number >= 0, got {w}", i + 1),
            ));
        }
        total += w;
    }
    if total <= 0.0 {
        return Err(UdfError::argument(
            NAME,
            "weights",
            "are all 0: give at least one part a weight > 0",
        ));
    }
    let bytes: usize = texts.iter().flatten().map(str::len).sum();
    // The parsed parts and the blend, about twice the parts' text.
    let _memory = crate::memory::reserve(
        NAME,
        &format!("blend {} recommender models", texts.len()),
        2 * bytes,
    )?;
    let mut parts: Vec<(f64, RecommenderModel)> = Vec::with_capacity(texts.len());
    let mut params = Vec::with_capacity(texts.len());
    for i in 0..texts.len() {
        if texts.is_null(i) {
            return Err(UdfError::argument(
                NAME,
                "models",
                format!("model {} is NULL", i + 1),
            ));
        }
        match Model::parse(NAME, texts.value(i))? {
            Model::Recommender { params: p, model } => {
                let mut p = serde_json::Value::Object(p);
                p["weight"] = weights.value(i).into();
                params.push(p);
                parts.push((weights.value(i), model));
            }
            other => {
                return Err(UdfError::argument(
                    NAME,
                    "models",
                    format!(
                        "model {} is a {} model; hybrid_fit blends recommender models (the values recommender_fit and content_fit return)",
                        i + 1,
                        other.kind()
                    ),
                ))
            }
        }
    }
    let mut shown = serde_json::Map::new();
    shown.insert("algorithm".into(), "hybrid".into());
    shown.insert("blended_by".into(), NAME.into());
    shown.insert("parts".into(), params.into());
    Ok(Model::Recommender {
        params: shown,
        model: blend(parts),
    }
    .to_json())
}
