//! `recommend(model, basket_items, k)`: up to `k` items not already in the
//! basket, best first, from a `basket_fit` model (ranking in
//! [`super::recommend`]). Returns a list of the basket's item type. NULL
//! model, basket or k gives NULL; an empty basket gets the most popular
//! items. Items the model has never seen are ignored.
//!
//! A rules model can be megabytes of JSON, so the parsed model is kept for
//! the process ([`crate::model_cache`]: found by a hash of its text,
//! confirmed by comparing the text) instead of
//! being parsed once per batch.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::accumulate::{coerce_item_list, push_strs, KeyType};
use super::items::Values;
use super::recommend::{BasketValues, Recommender};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::model_arg::{coerce_model, Models};
use crate::model_cache::{fold_hash, ModelCache};

const NAME: &str = "recommend";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "recommend(model, basket_items, k) -> LIST",
        description: "Up to k items not in the basket, ranked by the best rule that fires (confidence, then lift), then by popularity",
        example: "WITH m AS (SELECT basket_fit(items, 0.3, 0.5) AS model FROM (VALUES (['bread', 'milk']), (['bread', 'milk', 'jam']), (['bread']), (['tea'])) AS b(items)) SELECT recommend(model, ['bread'], 2) FROM m",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(Recommend::new()))),
    }
}

/// `LIST<BIGINT>` or `LIST<VARCHAR>`, as the basket's items (a list of
/// string views gives `LIST<VARCHAR>`).
fn output_type(basket_items: &DataType) -> Result<DataType> {
    let list = coerce_item_list(NAME, "basket_items", basket_items)?;
    let item = match &list {
        DataType::List(f) => f.data_type().clone(),
        other => other.clone(),
    };
    Ok(KeyType::of(&item).list_type())
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Recommend {
    signature: Signature,
}

impl Recommend {
    pub fn new() -> Self {
        Recommend {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Recommend {
    fn default() -> Self {
        Self::new()
    }
}

/// The last models parsed in this process (found by hash, confirmed by
/// comparing the text).
static CACHE: ModelCache<Recommender> = ModelCache::new(2, fold_hash);

fn recommender(text: &str) -> std::result::Result<Arc<Recommender>, UdfError> {
    CACHE.get_or_parse(text, |text| {
        let Model::BasketRules { rules, .. } = Model::parse(NAME, text)? else {
            return Err(UdfError::argument(
                NAME,
                "model",
                "needs a basket_rules model (from basket_fit)",
            ));
        };
        Ok(Recommender::new(rules))
    })
}

impl ScalarUDFImpl for Recommend {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        output_type(&arg_types[1])
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(UdfError::arity(NAME, "model, basket_items, k", arg_types.len()).into());
        }
        if !(arg_types[2].is_integer() || arg_types[2] == DataType::Null) {
            return Err(UdfError::argument(
                NAME,
                "k",
                format!("must be an integer, got {}", arg_types[2]),
            )
            .into());
        }
        Ok(vec![
            coerce_model(NAME, &arg_types[0])?,
            coerce_item_list(NAME, "basket_items", &arg_types[1])?,
            DataType::Int64,
        ])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let models = Models::new(NAME, &arrays[0])?;
        let baskets = arrays[1].as_list::<i32>();
        let ks = arrays[2].as_primitive::<Int64Type>();
        let int_items = KeyType::of(&baskets.value_type()) == KeyType::Int;
        let values = baskets.values();
        let offsets = baskets.value_offsets();
        let mut ints = ListBuilder::new(Int64Builder::new());
        let mut strs = ListBuilder::new(StringBuilder::new());
        let mut current: Option<((usize, usize), Arc<Recommender>)> = None;
        let mut texts: Vec<&str> = Vec::new();
        let mut nums: Vec<i64> = Vec::new();
        for row in 0..args.number_rows {
            if models.is_null(row) || baskets.is_null(row) || ks.is_null(row) {
                if int_items {
                    ints.append_null();
                } else {
                    strs.append_null();
                }
                continue;
            }
            let k = ks.value(row);
            if k < 0 {
                return Err(UdfError::argument(NAME, "k", format!("must be >= 0, got {k}")).into());
            }
            let text = models.value(row);
            let at = (text.as_ptr() as usize, text.len());
            let rec = match &current {
                Some((a, r)) if *a == at => Arc::clone(r),
                _ => {
                    let r = recommender(text)?;
                    current = Some((at, Arc::clone(&r)));
                    r
                }
            };
            if rec.int_items() != int_items {
                let (model_type, basket_type) = if int_items {
                    ("strings", "integers")
                } else {
                    ("integers", "strings")
                };
                return Err(UdfError::argument(
                    NAME,
                    "basket_items",
                    format!(
                        "the model's items are {model_type} but the basket's are {basket_type}"
                    ),
                )
                .into());
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            let picked = if int_items {
                let a = values.as_primitive::<Int64Type>();
                nums.clear();
                nums.extend((start..end).filter(|&i| a.is_valid(i)).map(|i| a.value(i)));
                rec.recommend(BasketValues::Int(&nums), k as usize)
            } else {
                texts.clear();
                push_strs(values.as_ref(), start..end, &mut texts);
                rec.recommend(BasketValues::Str(&texts), k as usize)
            };
            match &rec.model.items {
                Values::Int(v) => {
                    for &i in &picked {
                        ints.values().append_value(v[i as usize]);
                    }
                    ints.append(true);
                }
                Values::Str(v) => {
                    for &i in &picked {
                        strs.values().append_value(&v[i as usize]);
                    }
                    strs.append(true);
                }
            }
        }
        let out: ArrayRef = if int_items {
            Arc::new(ints.finish())
        } else {
            Arc::new(strs.finish())
        };
        // The builders name the list field "item"; match the declared type.
        let out = datafusion::arrow::compute::cast(&out, &output_type(arrays[1].data_type())?)?;
        Ok(ColumnarValue::Array(out))
    }
}
