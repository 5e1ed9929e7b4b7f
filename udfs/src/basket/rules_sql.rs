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
//! SQL over the aggregate `association_rules_agg(basket_id, item,
//! min_support, min_confidence [, options])`, which returns the rows as one
//! list of structs and can mine per group.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::AggregateUDF;

use super::accumulate::{values_array, KeyType};
use super::agg_sql::{MiningUdaf, Output};
use super::itemsets_sql::mining_call;
use super::rules::{Metrics, Rule, Rules};
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

fn side<'r>(
    mined: &Mined,
    item: KeyType,
    rules: &'r Rules,
    pick: fn(Rule<'r>) -> &'r [u32],
) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(item.data_type(), true)),
        OffsetBuffer::from_lengths(rules.iter().map(|r| pick(r).len())),
        values_array(
            &mined.values,
            rules.iter().flat_map(|r| pick(r).iter().copied()),
        ),
        None,
    ))
}

/// `rules` of `mined` as a one-row list of structs. Each metric column is
/// computed straight from the rules (no table of all rules' metrics beside
/// the columns: 56 bytes a rule).
pub fn rows(mined: &Mined, rules: &Rules, item: KeyType) -> ListArray {
    let metric = |f: fn(&Metrics) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            rules.iter().map(|r| f(&r.metrics(mined.n))),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        side(mined, item, rules, |r| r.antecedent),
        side(mined, item, rules, |r| r.consequent),
        metric(|m| m.support),
        metric(|m| m.confidence),
        metric(|m| m.lift),
        metric(|m| m.leverage),
        metric(|m| m.conviction),
        metric(|m| m.antecedent_support),
        metric(|m| m.consequent_support),
        Arc::new(Int64Array::from_iter_values(
            rules.iter().map(|r| r.count as i64),
        )),
    ];
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
        let (input_sql, literals) = mining_call(NAME, state, &a, true)?;
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
        table_input::view(NAME, state, &sql)
    }
}
