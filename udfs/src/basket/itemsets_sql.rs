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
//! The table function is SQL over the aggregate
//! `frequent_itemsets_agg(basket_id, item, min_support [, options])`, which
//! returns the same rows as one list of structs and can mine per group.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::AggregateUDF;

use super::accumulate::{values_array, KeyType};
use super::agg_sql::{MiningUdaf, Output};
use super::{check_fraction, Mined, MiningOptions};
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::one_row_list;
use crate::table_input::{self, check_columns, quote_literal, Args, ColumnKind};

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

/// The itemsets of `mined` as a one-row list of structs.
pub fn rows(mined: &Mined, item: KeyType) -> ListArray {
    let sets = &mined.itemsets;
    let n = sets.len();
    let items = ListArray::new(
        Arc::new(Field::new_list_field(item.data_type(), true)),
        OffsetBuffer::from_lengths((0..n).map(|i| sets.get(i).0.len())),
        values_array(&mined.values, sets.items.iter().copied()),
        None,
    );
    let size = Int64Array::from_iter_values((0..n).map(|i| sets.get(i).0.len() as i64));
    let count = Int64Array::from_iter_values(sets.counts.iter().map(|&c| c as i64));
    let support =
        Float64Array::from_iter_values(sets.counts.iter().map(|&c| c as f64 / mined.n as f64));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(items),
        Arc::new(size),
        Arc::new(count),
        Arc::new(support),
    ];
    let structs = StructArray::new(fields(item), columns, None);
    one_row_list(Arc::new(structs))
}

/// Check a mining table function's input and its literal arguments; returns
/// the input SQL and the arguments of the aggregate as SQL literals.
pub(super) fn mining_call(
    function: &'static str,
    state: &datafusion::execution::context::SessionState,
    args: &Args,
    rules: bool,
) -> Result<(String, String)> {
    let input_sql = args.input_sql(0)?;
    let input = table_input::plan(
        function,
        state,
        &format!("SELECT * FROM {input_sql} AS input"),
    )?;
    check_columns(function, input.schema(), &INPUT_COLUMNS)?;
    let min_support = check_fraction(function, "min_support", args.number(1)?, false)?;
    let mut literals = format!("{min_support:?}");
    let options_at = if rules {
        let c = check_fraction(function, "min_confidence", args.number(2)?, true)?;
        literals.push_str(&format!(", {c:?}"));
        3
    } else {
        2
    };
    let options = if args.has(options_at) {
        args.string(options_at)?
    } else {
        String::new()
    };
    // Checked here so that a bad key is reported at planning, with the
    // table function's name.
    MiningOptions::parse(function, &options, rules, 0)?;
    literals.push_str(&format!(", {}", quote_literal(&options)));
    Ok((input_sql, literals))
}

#[derive(Debug)]
pub struct FrequentItemsets;

impl TableFunctionImpl for FrequentItemsets {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["input", "min_support", "options"], 2, &args)?;
        let (input_sql, literals) = mining_call(NAME, state, &a, false)?;
        let sql = format!(
            "SELECT s['items'] AS items, s['size'] AS size, s['count'] AS \"count\", s['support'] AS support \
             FROM (SELECT unnest(r) AS s FROM \
                    (SELECT frequent_itemsets_agg(basket_id, item, {literals}) AS r FROM {input_sql} AS input) AS a) AS u"
        );
        table_input::view(NAME, state, &sql)
    }
}
