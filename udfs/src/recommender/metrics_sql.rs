//! `ranking_metrics(recommended, relevant, k)` aggregate → STRUCT<customers,
//! precision, recall, ndcg, map, hit_rate, items_recommended>: ranking
//! metrics ([`super::metrics`]) averaged over customers (one row each).
//!
//! `recommended` is what `recommend_for` returns (a list of {item, score},
//! read in order) or a plain list of items; `relevant` the list of items
//! the customer then bought; `k` the cut-off, a constant from 1 to 1,000.
//! Rows where either list is NULL or nothing is relevant are not counted.
//! Items are compared as text. `items_recommended` is the number of
//! distinct items in the lists (divided by the catalogue it gives
//! coverage). NULL means without any customer.

use std::sync::Arc;

use std::collections::HashSet;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::metrics::ranking;
use super::recommend_sql::check_k;
use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::list_scalar;

const NAME: &str = "ranking_metrics";
/// Means reported, in order.
const MEANS: [&str; 5] = ["precision", "recall", "ndcg", "map", "hit_rate"];

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "ranking_metrics(recommended LIST, relevant LIST, k) -> STRUCT(customers, precision, recall, ndcg, map, hit_rate, items_recommended)",
        description: "Mean precision@k, recall@k, NDCG@k, MAP@k and hit rate of recommendation lists against the items customers then bought (one row per customer), and the distinct items recommended",
        example: "SELECT ranking_metrics(recs, bought, 3) FROM (VALUES (['a', 'x', 'b'], ['a', 'b', 'c']), (['x', 'y', 'z'], ['a'])) AS t(recs, bought)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(RankingMetrics::new()))),
    }
}

fn output_fields() -> Fields {
    let mut fields = vec![Field::new("customers", DataType::Int64, false)];
    fields.extend(
        MEANS
            .iter()
            .map(|f| Field::new(*f, DataType::Float64, true)),
    );
    fields.push(Field::new("items_recommended", DataType::Int64, false));
    Fields::from(fields)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RankingMetrics {
    signature: Signature,
}

impl RankingMetrics {
    pub fn new() -> Self {
        RankingMetrics {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RankingMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A list argument's element type, checked: a struct with an `item` field
/// (recommend_for's output) or a plain value.
fn check_list(argument: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            match f.data_type() {
                DataType::Struct(fields) if fields.find("item").is_none() => {
                    Err(UdfError::argument(
                        NAME,
                        argument,
                        "a list of structs needs an 'item' field (what recommend_for returns)",
                    )
                    .into())
                }
                inner if inner.is_nested() && !matches!(inner, DataType::Struct(_)) => Err(
                    UdfError::argument(NAME, argument, format!("must be a list of items, got {t}"))
                        .into(),
                ),
                _ => Ok(DataType::List(f.clone())),
            }
        }
        DataType::Null => Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        )))),
        other => Err(UdfError::argument(
            NAME,
            argument,
            format!("must be a list of items, got {other}"),
        )
        .into()),
    }
}

/// Row `r` of a list column as item texts.
fn items_at(lists: &ArrayRef, r: usize) -> Result<Vec<String>> {
    let values = lists.as_list::<i32>().value(r);
    let values = match values.data_type() {
        DataType::Struct(_) => {
            let s: &StructArray = values.as_struct();
            match s.column_by_name("item") {
                Some(c) => c.clone(),
                None => return Ok(Vec::new()),
            }
        }
        _ => values,
    };
    let text = cast(&values, &DataType::Utf8)?;
    let text: &StringArray = text.as_string::<i32>();
    Ok(text.iter().flatten().map(str::to_string).collect())
}

impl AggregateUDFImpl for RankingMetrics {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields()))
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(UdfError::arity(NAME, "recommended, relevant, k", arg_types.len()).into());
        }
        let k = &arg_types[2];
        if !(k.is_integer() || k.is_null()) {
            return Err(
                UdfError::argument(NAME, "k", format!("must be an integer, got {k}")).into(),
            );
        }
        Ok(vec![
            check_list("recommended", &arg_types[0])?,
            check_list("relevant", &arg_types[1])?,
            DataType::Int64,
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let k = check_k(
            NAME,
            constant_number(NAME, "k", &constant(NAME, "k", args.exprs, 2)?)?,
        )?;
        Ok(Box::new(MetricsAccumulator {
            k,
            customers: 0,
            sums: [0.0; 5],
            items: HashSet::new(),
            item_bytes: 0,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut fields: Vec<FieldRef> = vec![Arc::new(Field::new(
            format_state_name(args.name, "customers"),
            DataType::Float64,
            true,
        ))];
        for m in MEANS {
            fields.push(Arc::new(Field::new(
                format_state_name(args.name, m),
                DataType::Float64,
                true,
            )));
        }
        fields.push(Arc::new(Field::new(
            format_state_name(args.name, "items"),
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        )));
        Ok(fields)
    }
}

#[derive(Debug)]
struct MetricsAccumulator {
    k: usize,
    customers: u64,
    /// Sums over customers, in the order of [`MEANS`].
    sums: [f64; 5],
    items: HashSet<String>,
    item_bytes: usize,
}

impl MetricsAccumulator {
    fn note(&mut self, item: &str) {
        if !self.items.contains(item) {
            self.item_bytes += item.len();
            self.items.insert(item.to_string());
        }
    }
}

impl Accumulator for MetricsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (recommended, relevant) = (&values[0], &values[1]);
        for r in 0..recommended.len() {
            if recommended.is_null(r) {
                continue;
            }
            let recs = items_at(recommended, r)?;
            for item in recs.iter().take(self.k) {
                self.note(item);
            }
            if relevant.is_null(r) {
                continue;
            }
            if let Some(m) = ranking(&recs, &items_at(relevant, r)?, self.k) {
                self.customers += 1;
                for (s, v) in self
                    .sums
                    .iter_mut()
                    .zip([m.precision, m.recall, m.ndcg, m.ap, m.hit])
                {
                    *s += v;
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let customers = states[0].as_primitive::<Float64Type>();
        for r in 0..customers.len() {
            if customers.is_valid(r) {
                self.customers += customers.value(r) as u64;
            }
            for (i, s) in self.sums.iter_mut().enumerate() {
                let a = states[1 + i].as_primitive::<Float64Type>();
                if a.is_valid(r) {
                    *s += a.value(r);
                }
            }
            let lists = states[6].as_list::<i32>();
            if lists.is_valid(r) {
                let items = lists.value(r);
                for item in items.as_string::<i32>().iter().flatten() {
                    self.note(item);
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut out = vec![ScalarValue::Float64(Some(self.customers as f64))];
        out.extend(self.sums.iter().map(|&s| ScalarValue::Float64(Some(s))));
        let mut items: Vec<&str> = self.items.iter().map(String::as_str).collect();
        items.sort_unstable();
        out.push(list_scalar(Arc::new(StringArray::from(items))));
        Ok(out)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.customers as f64;
        let mut values = vec![ScalarValue::Int64(Some(self.customers as i64))];
        values.extend(
            self.sums
                .iter()
                .map(|&s| ScalarValue::Float64((self.customers > 0).then(|| s / n))),
        );
        values.push(ScalarValue::Int64(Some(self.items.len() as i64)));
        let arrays = values
            .iter()
            .map(|v| v.to_array())
            .collect::<Result<Vec<_>>>()?;
        Ok(ScalarValue::Struct(Arc::new(StructArray::new(
            output_fields(),
            arrays,
            None,
        ))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.items.capacity() * (std::mem::size_of::<String>() + 1)
            + self.item_bytes
    }
}
