//! `association_rules(input, min_support, min_confidence [, options])`:
//! rules `antecedent -> consequent` among the frequent itemsets of
//! `(basket_id, item)` rows.
//!
//! Rows: `antecedent`, `consequent` (sorted lists of the input's item type),
//! `support`, `confidence`, `lift`, `leverage`, `conviction` (+inf at
//! confidence 1), `antecedent_support`, `consequent_support`, `count`
//! (baskets containing both sides), best first: lift, confidence and count
//! descending. The metrics are defined in [`super::rules`]. Options:
//! `max_len`, `max_basket_items`, `max_itemsets`, `min_lift`,
//! `max_consequent` (default 1) and `max_rules` (see [the module](super)).
//!
//! The rows stream out in batches ([`super::table_sql`]). The aggregate
//! `association_rules_agg(basket_id, item, min_support, min_confidence [,
//! options])` returns the same rows as one list of structs and can mine per
//! group; the table function's definition is SQL over it (what a cluster
//! session runs).

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
use super::rules::{Metrics, Rule, Rules};
use super::table_sql::{MiningCall, MiningTable};
use super::Mined;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::one_row_list;
use crate::table_input::{self, Args};

const NAME: &str = "association_rules";

const METRICS: [&str; 7] = [
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
    "antecedent_support",
    "consequent_support",
];

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "association_rules(input, min_support, min_confidence [, options]) -> TABLE(antecedent, consequent, support, confidence, lift, leverage, conviction, antecedent_support, consequent_support, count)",
        description: "Association rules of (basket_id, item) rows, best lift first; options max_len, max_consequent (default 1), min_lift, max_rules, max_basket_items, max_itemsets",
        example: "SELECT antecedent, consequent, confidence, lift FROM association_rules('SELECT * FROM (VALUES (1, ''bread''), (1, ''milk''), (2, ''bread''), (2, ''milk''), (3, ''bread''), (4, ''tea'')) AS t(basket_id, item)', 0.25, 0.6)",
        registration: Registration::Table(Arc::new(AssociationRules)),
    }
}

pub fn agg_entry() -> FunctionEntry {
    FunctionEntry {
        name: "association_rules_agg",
        kind: FunctionKind::Aggregate,
        signature: "association_rules_agg(basket_id, item, min_support, min_confidence [, options]) -> LIST<STRUCT(antecedent, consequent, support, confidence, lift, ...)>",
        description: "The aggregate behind association_rules: the rules as one list, e.g. per store with GROUP BY",
        example: "SELECT store, cardinality(association_rules_agg(basket_id, item, 0.3, 0.5)) AS rules FROM (VALUES ('a', 1, 'bread'), ('a', 1, 'milk'), ('a', 2, 'bread'), ('a', 2, 'milk'), ('b', 3, 'tea')) AS t(store, basket_id, item) GROUP BY store ORDER BY store",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(MiningUdaf::new(Output::Rules)))),
    }
}

/// The struct of one rule row.
pub fn row_type(item: KeyType) -> DataType {
    DataType::Struct(fields(item))
}

fn fields(item: KeyType) -> Fields {
    let mut f = vec![
        Field::new("antecedent", item.list_type(), false),
        Field::new("consequent", item.list_type(), false),
    ];
    f.extend(
        METRICS
            .iter()
            .map(|m| Field::new(*m, DataType::Float64, false)),
    );
    f.push(Field::new("count", DataType::Int64, false));
    Fields::from(f)
}

/// The number of output columns.
pub const COLUMNS: usize = 10;

/// The schema of the table function's rows.
pub fn schema(item: KeyType) -> Schema {
    Schema::new(fields(item))
}

fn side<'r>(
    mined: &Mined,
    item: KeyType,
    rules: impl Iterator<Item = Rule<'r>> + Clone,
    pick: fn(Rule<'r>) -> &'r [u32],
) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(item.data_type(), true)),
        OffsetBuffer::from_lengths(rules.clone().map(|r| pick(r).len())),
        values_array(&mined.values, rules.flat_map(|r| pick(r).iter().copied())),
        None,
    ))
}

/// Column `c` (in the order of [`schema`]) of the rules at `range`, each
/// metric computed straight from the rules (no table of all rules' metrics
/// beside the columns: 56 bytes a rule).
pub fn column(
    mined: &Mined,
    rules: &Rules,
    range: Range<usize>,
    item: KeyType,
    c: usize,
) -> ArrayRef {
    let at = || rules.range(range.clone());
    let metric = |f: fn(&Metrics) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            at().map(|r| f(&r.metrics(mined.n))),
        ))
    };
    match c {
        0 => side(mined, item, at(), |r| r.antecedent),
        1 => side(mined, item, at(), |r| r.consequent),
        2 => metric(|m| m.support),
        3 => metric(|m| m.confidence),
        4 => metric(|m| m.lift),
        5 => metric(|m| m.leverage),
        6 => metric(|m| m.conviction),
        7 => metric(|m| m.antecedent_support),
        8 => metric(|m| m.consequent_support),
        _ => Arc::new(Int64Array::from_iter_values(at().map(|r| r.count as i64))),
    }
}

/// `rules` of `mined` as a one-row list of structs (the aggregate's value).
pub fn rows(mined: &Mined, rules: &Rules, item: KeyType) -> ListArray {
    let columns = (0..COLUMNS)
        .map(|c| column(mined, rules, 0..rules.len(), item, c))
        .collect();
    one_row_list(Arc::new(StructArray::new(fields(item), columns, None)))
}

#[derive(Debug)]
pub struct AssociationRules;

impl TableFunctionImpl for AssociationRules {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(
            NAME,
            &["input", "min_support", "min_confidence", "options"],
            3,
            &args,
        )?;
        let call = MiningCall::new(NAME, Output::Rules, state, &a)?;
        let (input_sql, literals) = (&call.input_sql, call.literals());
        let columns = ["antecedent", "consequent"]
            .iter()
            .chain(METRICS.iter())
            .map(|c| format!("s['{c}'] AS {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, s['count'] AS \"count\" \
             FROM (SELECT unnest(r) AS s FROM \
                    (SELECT association_rules_agg(basket_id, item, {literals}) AS r FROM {input_sql} AS input) AS a) AS u"
        );
        Ok(Arc::new(MiningTable::new(call, sql)?))
    }
}
