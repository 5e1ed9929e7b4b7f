//! `frequent_itemsets(input, min_support [, options])`: every set of items
//! bought together in at least `min_support` of the baskets.
//!
//! `input` is a table name or a query with columns `basket_id` (any plain
//! type) and `item` (any integer or string type). Rows: `items` (the itemset,
//! a sorted list of the input's item type: BIGINT or VARCHAR), `size`,
//! `count` (baskets containing every item) and `support` (count / baskets),
//! ordered by size, then count descending, then items. Options: `max_len`,
//! `max_basket_items`, `max_itemsets` (see [the module](super)).
//!
//! The rows stream out in batches ([`super::table_sql`]). The aggregate
//! `frequent_itemsets_agg(basket_id, item, min_support [, options])` returns
//! the same rows as one list of structs and can mine per group; the table
//! function's definition is SQL over it (what a cluster session runs).

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::AggregateUDF;

use super::accumulate::{values_array, KeyType};
use super::agg_sql::{MiningUdaf, Output};
use super::table_sql::{MiningCall, MiningTable};
use super::Mined;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::one_row_list;
use crate::table_input::{self, Args, ColumnKind};

const NAME: &str = "frequent_itemsets";

/// The columns every mining table function needs.
pub const INPUT_COLUMNS: [(&str, ColumnKind); 2] =
    [("basket_id", ColumnKind::Key), ("item", ColumnKind::Key)];

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "frequent_itemsets(input, min_support [, options]) -> TABLE(items, size, count, support)",
        description: "Frequent itemsets (FP-growth) of (basket_id, item) rows: itemsets in at least min_support of the baskets; options max_len, max_basket_items, max_itemsets",
        example: "SELECT * FROM frequent_itemsets('SELECT * FROM (VALUES (1, ''bread''), (1, ''milk''), (2, ''bread''), (2, ''milk''), (3, ''bread'')) AS t(basket_id, item)', 0.5)",
        registration: Registration::Table(Arc::new(FrequentItemsets)),
    }
}

pub fn agg_entry() -> FunctionEntry {
    FunctionEntry {
        name: "frequent_itemsets_agg",
        kind: FunctionKind::Aggregate,
        signature: "frequent_itemsets_agg(basket_id, item, min_support [, options]) -> LIST<STRUCT(items, size, count, support)>",
        description: "The aggregate behind frequent_itemsets: the itemsets as one list, e.g. per store with GROUP BY",
        example: "SELECT store, unnest(frequent_itemsets_agg(basket_id, item, 0.5)) FROM (VALUES ('a', 1, 'bread'), ('a', 1, 'milk'), ('a', 2, 'bread'), ('b', 3, 'tea')) AS t(store, basket_id, item) GROUP BY store ORDER BY store",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(MiningUdaf::new(Output::Itemsets)))),
    }
}

/// The struct of one itemset row.
pub fn row_type(item: KeyType) -> DataType {
    DataType::Struct(fields(item))
}

fn fields(item: KeyType) -> Fields {
    Fields::from(vec![
        Field::new("items", item.list_type(), false),
        Field::new("size", DataType::Int64, false),
        Field::new("count", DataType::Int64, false),
        Field::new("support", DataType::Float64, false),
    ])
}

/// The number of output columns.
pub const COLUMNS: usize = 4;

/// The schema of the table function's rows.
pub fn schema(item: KeyType) -> Schema {
    Schema::new(fields(item))
}

/// Column `c` (in the order of [`schema`]) of the itemsets at `range`.
pub fn column(mined: &Mined, range: Range<usize>, item: KeyType, c: usize) -> ArrayRef {
    let sets = &mined.itemsets;
    let len = |i: usize| sets.offsets[i + 1] - sets.offsets[i];
    match c {
        0 => Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(item.data_type(), true)),
            OffsetBuffer::from_lengths(range.clone().map(len)),
            values_array(
                &mined.values,
                sets.items[sets.offsets[range.start]..sets.offsets[range.end]]
                    .iter()
                    .copied(),
            ),
            None,
        )),
        1 => Arc::new(Int64Array::from_iter_values(range.map(|i| len(i) as i64))),
        2 => Arc::new(Int64Array::from_iter_values(
            sets.counts[range].iter().map(|&c| c as i64),
        )),
        _ => Arc::new(Float64Array::from_iter_values(
            sets.counts[range]
                .iter()
                .map(|&c| c as f64 / mined.n as f64),
        )),
    }
}

/// The itemsets of `mined` as a one-row list of structs (the aggregate's
/// value).
pub fn rows(mined: &Mined, item: KeyType) -> ListArray {
    let all = 0..mined.itemsets.len();
    let columns = (0..COLUMNS)
        .map(|c| column(mined, all.clone(), item, c))
        .collect();
    one_row_list(Arc::new(StructArray::new(fields(item), columns, None)))
}

#[derive(Debug)]
pub struct FrequentItemsets;

impl TableFunctionImpl for FrequentItemsets {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "min_support", "options"], 2, &args)?;
        let call = MiningCall::new(NAME, Output::Itemsets, state, &a)?;
        let (input_sql, literals) = (&call.input_sql, call.literals());
        let sql = format!(
            "SELECT s['items'] AS items, s['size'] AS size, s['count'] AS \"count\", s['support'] AS support \
             FROM (SELECT unnest(r) AS s FROM \
                    (SELECT frequent_itemsets_agg(basket_id, item, {literals}) AS r FROM {input_sql} AS input) AS a) AS u"
        );
        Ok(Arc::new(MiningTable::new(call, sql)?))
    }
}
