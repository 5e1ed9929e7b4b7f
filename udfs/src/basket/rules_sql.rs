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

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::AggregateUDF;

use super::agg_sql::{MiningUdaf, Output};
use super::output_rows;
use super::table_sql::{MiningCall, MiningTable};
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, Args};

const NAME: &str = "association_rules";

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
            .chain(output_rows::rules::METRICS.iter())
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
