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

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::AggregateUDF;

use super::agg_sql::{MiningUdaf, Output};
use super::table_sql::{MiningCall, MiningTable};
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, Args};

const NAME: &str = "frequent_itemsets";

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
