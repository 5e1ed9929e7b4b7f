//! `recommendations(model, customers, k [, options])` table function → one
//! row per customer: `customer_id`, `algorithm`, `items` (LIST<STRUCT<item,
//! score>>, best first), for all customers at once.
//!
//! `model` is a table name or query whose first row's `model` column is a
//! `recommender_fit` model (e.g. a job's `models` table filtered to one
//! name, or `'SELECT recommender_fit(...) AS model FROM ...'`); `customers`
//! a table name or query with a `customer_id` column (duplicates give
//! duplicate rows), or with `customer_id` and `item`: then each customer's
//! items (one row per purchase, repeats weigh more) are their history,
//! one output row per customer — the way to use a model fitted with
//! `histories=false`, whose size does not grow with the customers. `k` and `options` are those of `recommend_for`. SQL
//! over the inputs, returned as a view: `recommend_for` over the customers,
//! which DataFusion runs on every partition in parallel.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use super::recommend_sql::check_k;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{self, check_argument_columns, quote_literal, Args, ColumnKind};

const NAME: &str = "recommendations";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "recommendations(model, customers, k [, options]) -> TABLE(customer_id, algorithm, items)",
        description: "Every customer's top k items from a recommender model (a table or query with a model column); options as recommend_for (exclude_seen, exclude)",
        example: "SELECT * FROM recommendations('SELECT recommender_fit(c, item, 1, ''similarity=cosine'') AS model FROM (VALUES (1, ''tea''), (1, ''cups''), (2, ''tea''), (2, ''cups''), (3, ''tea''), (3, ''sugar'')) AS t(c, item)', 'SELECT * FROM (VALUES (1), (3), (9)) AS c(customer_id)', 2, 'exclude_seen=true') ORDER BY customer_id",
        registration: Registration::Table(Arc::new(Recommendations)),
    }
}

#[derive(Debug)]
pub struct Recommendations;

impl TableFunctionImpl for Recommendations {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["model", "customers", "k", "options"], 3, &args)?;
        let model = a.input_sql(0)?;
        let customers = a.input_sql(1)?;
        let k = check_k(NAME, a.number(2)?)?;
        let options = if a.has(3) {
            a.string(3)?
        } else {
            String::new()
        };
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {model} AS m"))?;
        if !planned
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == "model")
        {
            return Err(UdfError::argument(
                NAME,
                "model",
                "needs a column 'model' (the value recommender_fit returned)",
            )
            .into());
        }
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {customers} AS c"))?;
        let has_items = planned.schema().fields().iter().any(|f| f.name() == "item");
        let mut required = vec![("customer_id", ColumnKind::Key)];
        if has_items {
            required.push(("item", ColumnKind::Key));
        }
        check_argument_columns(NAME, "customers", planned.schema(), &required)?;
        // With an item column: each customer's items, as a list.
        let (customers, who) = if has_items {
            (
                format!(
                    "(SELECT customer_id, array_agg(CAST(item AS VARCHAR)) AS items \
                      FROM {customers} AS c WHERE item IS NOT NULL GROUP BY customer_id)"
                ),
                "c.items",
            )
        } else {
            (customers, "c.customer_id")
        };
        let sql = format!(
            "SELECT c.customer_id, \
                    json_algorithm AS algorithm, \
                    recommend_for(m.model, {who}, {k}, {options}) AS items \
             FROM {customers} AS c \
             CROSS JOIN (SELECT model, \
                                regexp_match(model_info(model), '\"algorithm\":\"([a-z_]+)\"')[1] AS json_algorithm \
                         FROM {model} AS m LIMIT 1) AS m",
            options = quote_literal(&options),
        );
        table_input::view(NAME, state, &sql)
    }
}
