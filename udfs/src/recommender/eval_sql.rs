//! `recommender_eval(interactions, split, k [, options])` → per algorithm
//! and `exclude_seen`: the offline evaluation of per-customer recommenders.
//!
//! `interactions` is a table name or query with `customer_id`, `item` and
//! `ts` (DATE or TIMESTAMP), and optionally `weight` (a number, 1 per row
//! when absent). `split` is either a date — fit on the rows before
//! midnight at its start, test on each customer's items from then on — or
//! `'last'`:
//! each customer's last purchase day is the test, the days before it the
//! fit (customers with one day only are not evaluated). The customers
//! evaluated are those with rows on both sides; their relevant items are
//! the distinct items of their test rows, whether or not they bought them
//! before (repeat purchases count). `k` is from 1 to 1,000.
//!
//! Options: `algorithms` (default `popular+repeat+item_knn`), `exclude_seen`
//! (`both`, the default, or `true` / `false`), and the fit options passed to
//! `recommender_fit`: `similarity`, `neighbours`, `bm25_k1`, `bm25_b` (for
//! item_knn), `min_item_customers`, `max_items`.
//!
//! Columns: `algorithm`, `exclude_seen`, `customers`, `precision`,
//! `recall`, `ndcg`, `map`, `hit_rate` (means over the customers of
//! [`super::metrics`]: precision divides by k), and `coverage`: distinct
//! recommended items / distinct items bought before the split. SQL over the input, returned as a
//! view: a model per algorithm by `recommender_fit`, lists by
//! `recommend_for`, metrics by the `ranking_metrics` aggregate.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;

use super::fit_sql::{options_of, ALS_OPTIONS, EASE_OPTIONS, KNN_OPTIONS, SHARED_OPTIONS};
use super::recommend_sql::check_k;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::options::Options;
use crate::table_input::{self, check_columns, quote_literal, Args, ColumnKind};

const NAME: &str = "recommender_eval";
const ALGORITHMS: [&str; 6] = ["popular", "repeat", "item_knn", "als", "ease", "hybrid"];

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Table,
        signature: "recommender_eval(interactions, split, k [, options]) -> TABLE(algorithm, exclude_seen, customers, precision, recall, ndcg, map, hit_rate, coverage)",
        description: "Offline evaluation of recommenders: fit before split (a date, or 'last' for each customer's last day), precision/recall/NDCG/MAP/hit rate@k and coverage on what customers bought after; options algorithms=popular+repeat+item_knn, exclude_seen=both|true|false and recommender_fit's options",
        example: "SELECT algorithm, exclude_seen, customers, precision, hit_rate FROM recommender_eval('SELECT * FROM (VALUES (1, ''tea'', DATE ''2024-01-01''), (1, ''cups'', DATE ''2024-01-02''), (2, ''tea'', DATE ''2024-01-01''), (2, ''cups'', DATE ''2024-02-02''), (3, ''tea'', DATE ''2024-01-03''), (3, ''tea'', DATE ''2024-02-05'')) AS t(customer_id, item, ts)', '2024-02-01', 1, 'similarity=cosine') ORDER BY algorithm, exclude_seen",
        registration: Registration::Table(Arc::new(RecommenderEval)),
    }
}

#[derive(Debug)]
pub struct RecommenderEval;

impl TableFunctionImpl for RecommenderEval {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let state = table_input::state(NAME, args.session())?;
        let a = Args::new(NAME, &["interactions", "split", "k", "options"], 3, &args)?;
        let input = a.input_sql(0)?;
        let split_text = a.string(1)?;
        let k = check_k(NAME, a.number(2)?)?;
        let options_text = if a.has(3) {
            a.string(3)?
        } else {
            String::new()
        };
        let mut known = vec!["algorithms", "exclude_seen", "parts"];
        known.extend(KNN_OPTIONS);
        known.extend(ALS_OPTIONS);
        known.extend(EASE_OPTIONS);
        known.extend(SHARED_OPTIONS);
        let options = Options::parse(NAME, &options_text, &known)?;
        let bad = |message: String| -> datafusion::error::DataFusionError {
            UdfError::Options {
                function: NAME,
                message,
            }
            .into()
        };
        let algorithms: Vec<String> = options
            .get("algorithms")
            .unwrap_or("popular+repeat+item_knn")
            .split('+')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        for alg in &algorithms {
            if !ALGORITHMS.contains(&alg.as_str()) {
                return Err(bad(format!(
                    "algorithms: '{alg}' is not one of {} (join several with +)",
                    ALGORITHMS.join(", ")
                )));
            }
        }
        let flags: &[bool] = match options
            .get("exclude_seen")
            .unwrap_or("both")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "both" => &[false, true],
            "true" => &[true],
            "false" => &[false],
            other => {
                return Err(bad(format!(
                    "exclude_seen must be both, true or false, got '{other}'"
                )))
            }
        };
        let planned = table_input::plan(NAME, state, &format!("SELECT * FROM {input} AS input"))?;
        let has = |c: &str| planned.schema().fields().iter().any(|f| f.name() == c);
        let mut required = vec![
            ("customer_id", ColumnKind::Key),
            ("item", ColumnKind::Key),
            ("ts", ColumnKind::Time),
        ];
        let weight = if has("weight") {
            required.push(("weight", ColumnKind::Number));
            "weight"
        } else {
            "1"
        };
        check_columns(NAME, planned.schema(), &required)?;
        let is_test = if split_text.trim().eq_ignore_ascii_case("last") {
            "CAST(ts AS DATE) = MAX(CAST(ts AS DATE)) OVER (PARTITION BY c) \
             AND MIN(CAST(ts AS DATE)) OVER (PARTITION BY c) < MAX(CAST(ts AS DATE)) OVER (PARTITION BY c)"
                .to_string()
        } else {
            let day = a.date(1).map_err(|_| {
                UdfError::argument(
                    NAME,
                    "split",
                    format!("must be a date (YYYY-MM-DD) or 'last', got '{split_text}'"),
                )
            })?;
            format!(
                "ts >= CAST({} AS TIMESTAMP)",
                table_input::date_literal(day)
            )
        };
        // Fit options for recommender_fit, per algorithm.
        let fit_options = |alg: &str| -> String {
            let mut parts = vec![format!("algorithm={alg}")];
            for key in options_of(alg, options.get("parts")) {
                if let Some(v) = options.get(key) {
                    parts.push(format!("{key}={v}"));
                }
            }
            quote_literal(&parts.join(", "))
        };
        // All models from one grouping of the fit rows, then one row each.
        let fits = algorithms
            .iter()
            .map(|alg| format!("recommender_fit(c, i, w, {})", fit_options(alg)))
            .collect::<Vec<_>>()
            .join(", ");
        let names = algorithms
            .iter()
            .map(|alg| quote_literal(alg))
            .collect::<Vec<_>>()
            .join(", ");
        let models = format!(
            "SELECT unnest(make_array({names})) AS algorithm, unnest(make_array({fits})) AS model FROM train"
        );
        let lists = flags
            .iter()
            .map(|&flag| {
                format!(
                    "SELECT m.algorithm, {flag} AS exclude_seen, e.items, \
                            recommend_for(m.model, e.c, {k}, 'exclude_seen={flag}') AS recs \
                     FROM models m CROSS JOIN evaluated e"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!(
            "WITH input AS ( \
               SELECT CAST(customer_id AS VARCHAR) AS c, CAST(item AS VARCHAR) AS i, \
                      CAST({weight} AS DOUBLE) AS w, CAST(ts AS TIMESTAMP) AS ts \
               FROM {input} AS input \
               WHERE customer_id IS NOT NULL AND item IS NOT NULL AND ts IS NOT NULL), \
             marked AS (SELECT c, i, w, {is_test} AS is_test FROM input), \
             train AS (SELECT c, i, w FROM marked WHERE NOT is_test), \
             evaluated AS ( \
               SELECT c, array_agg(DISTINCT i) AS items FROM marked \
               WHERE is_test AND c IN (SELECT c FROM train) GROUP BY c), \
             models AS ({models}), \
             lists AS ({lists}), \
             metrics AS ( \
               SELECT algorithm, exclude_seen, ranking_metrics(recs, items, {k}) AS m \
               FROM lists GROUP BY algorithm, exclude_seen) \
             SELECT algorithm, exclude_seen, m['customers'] AS customers, m['precision'] AS precision, \
                    m['recall'] AS recall, m['ndcg'] AS ndcg, m['map'] AS map, m['hit_rate'] AS hit_rate, \
                    CAST(m['items_recommended'] AS DOUBLE) \
                      / CAST((SELECT COUNT(DISTINCT i) FROM train) AS DOUBLE) AS coverage \
             FROM metrics"
        );
        table_input::view(NAME, state, &sql)
    }
}
