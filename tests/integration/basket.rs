//! Market basket end to end on FIMI retail (88,162 baskets, as Parquet
//! `(basket_id, item)` rows in data/baskets/retail.parquet) against the
//! pyfim and mlxtend fixtures in tests/fixtures/basket/.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::common::*;

const BASKETS: f64 = 88_162.0;

/// A session over retail.parquet with `partitions` target partitions; the
/// file scan is split so partial states merge.
async fn session(partitions: usize) -> SessionContext {
    let ctx = udf_session(partitions);
    register_retail(&ctx).await;
    ctx
}

/// retail.parquet as table `retail` of `ctx`.
async fn register_retail(ctx: &SessionContext) {
    let path = root().join("data/baskets/retail.parquet");
    ctx.register_parquet(
        "retail",
        path.to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
}

fn count(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// A list-of-BIGINT cell as "a b c".
fn items(batch: &RecordBatch, column: &str, row: usize) -> String {
    let list = batch
        .column_by_name(column)
        .unwrap()
        .as_list::<i32>()
        .value(row);
    let values = list.as_primitive::<Int64Type>();
    values
        .values()
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn f64s(batch: &RecordBatch, column: &str) -> Vec<f64> {
    batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn i64s(batch: &RecordBatch, column: &str) -> Vec<i64> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn fixture(name: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/basket").join(name)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn close(got: f64, want: f64, what: &str) {
    if want.is_infinite() {
        assert_eq!(got, want, "{what}");
    } else {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1e-300),
            "{what}: got {got}, reference {want}"
        );
    }
}

/// Rules keyed by "antecedent -> consequent", with their row's metrics.
fn rules_by_key(batches: &[RecordBatch]) -> BTreeMap<String, HashMap<&'static str, f64>> {
    let mut out = BTreeMap::new();
    for b in batches {
        let cols: Vec<(&str, Vec<f64>)> = [
            "support",
            "confidence",
            "lift",
            "leverage",
            "conviction",
            "antecedent_support",
            "consequent_support",
        ]
        .into_iter()
        .map(|c| (c, f64s(b, c)))
        .collect();
        let counts = i64s(b, "count");
        for row in 0..b.num_rows() {
            let key = format!(
                "{} -> {}",
                items(b, "antecedent", row),
                items(b, "consequent", row)
            );
            let mut m: HashMap<&'static str, f64> =
                cols.iter().map(|(c, v)| (*c, v[row])).collect();
            m.insert("count", counts[row] as f64);
            assert!(out.insert(key.clone(), m).is_none(), "duplicate rule {key}");
        }
    }
    out
}

#[test]
fn itemset_and_rule_counts_match_pyfim_and_mlxtend() {
    runtime().block_on(async {
        let ctx = session(2).await;
        for row in fixture("retail_counts.csv") {
            let s = &row["min_support"];
            let sets = count(
                &query(
                    &ctx,
                    &format!("SELECT count(*) FROM frequent_itemsets('retail', {s})"),
                )
                .await,
            );
            let rules = count(
                &query(
                    &ctx,
                    &format!("SELECT count(*) FROM association_rules('retail', {s}, 0.5)"),
                )
                .await,
            );
            assert_eq!(sets.to_string(), row["pyfim_itemsets"], "itemsets at {s}");
            assert_eq!(sets.to_string(), row["mlxtend_itemsets"], "itemsets at {s}");
            assert_eq!(rules.to_string(), row["pyfim_rules"], "rules at {s}");
            assert_eq!(rules.to_string(), row["mlxtend_rules"], "rules at {s}");
        }
    });
}

#[test]
fn every_itemset_at_0_001_matches_pyfim() {
    runtime().block_on(async {
        let ctx = session(2).await;
        let batches = query(
            &ctx,
            "SELECT items, size, \"count\", support FROM frequent_itemsets('retail', 0.001)",
        )
        .await;
        let mut got = BTreeMap::new();
        for b in &batches {
            let (sizes, counts, support) = (i64s(b, "size"), i64s(b, "count"), f64s(b, "support"));
            for row in 0..b.num_rows() {
                let key = items(b, "items", row);
                assert_eq!(key.split(' ').count() as i64, sizes[row], "{key}");
                assert_eq!(support[row], counts[row] as f64 / BASKETS, "{key}");
                got.insert(key, counts[row].to_string());
            }
        }
        let want: BTreeMap<String, String> = fixture("retail_itemsets_0.001.csv")
            .into_iter()
            .map(|r| (r["items"].clone(), r["count"].clone()))
            .collect();
        assert_eq!(got.len(), 7589);
        assert_eq!(got, want);
    });
}

#[test]
fn every_rule_metric_matches_mlxtend_and_pyfim() {
    runtime().block_on(async {
        let ctx = session(2).await;
        for s in ["0.005", "0.001"] {
            let got = rules_by_key(
                &query(
                    &ctx,
                    &format!("SELECT * FROM association_rules('retail', {s}, 0.5)"),
                )
                .await,
            );
            let want = fixture(&format!("retail_rules_mlxtend_{s}.csv"));
            assert_eq!(got.len(), want.len(), "rules at {s}");
            for r in &want {
                let key = format!("{} -> {}", r["antecedent"], r["consequent"]);
                let m = got
                    .get(&key)
                    .unwrap_or_else(|| panic!("missing rule {key} at {s}"));
                for metric in [
                    "support",
                    "confidence",
                    "lift",
                    "leverage",
                    "conviction",
                    "antecedent_support",
                    "consequent_support",
                ] {
                    let want: f64 = r[metric].parse().unwrap();
                    close(m[metric], want, &format!("{key} {metric} at {s}"));
                }
                close(m["count"], m["support"] * BASKETS, &format!("{key} count"));
            }
        }
        // 0.0005: pyfim's counts of rule, body and head determine every metric.
        let got = rules_by_key(
            &query(
                &ctx,
                "SELECT * FROM association_rules('retail', 0.0005, 0.5)",
            )
            .await,
        );
        let want = fixture("retail_rules_pyfim_0.0005.csv");
        assert_eq!(got.len(), 15321);
        assert_eq!(want.len(), 15321);
        for r in &want {
            let key = format!("{} -> {}", r["antecedent"], r["consequent"]);
            let m = got
                .get(&key)
                .unwrap_or_else(|| panic!("missing rule {key} at 0.0005"));
            let (n, a, h): (f64, f64, f64) = (
                r["count"].parse().unwrap(),
                r["antecedent_count"].parse().unwrap(),
                r["consequent_count"].parse().unwrap(),
            );
            assert_eq!(m["count"], n, "{key}");
            close(m["support"], n / BASKETS, &key);
            close(m["antecedent_support"], a / BASKETS, &key);
            close(m["consequent_support"], h / BASKETS, &key);
            close(m["confidence"], n / a, &key);
            close(m["lift"], n * BASKETS / (a * h), &key);
        }
    });
}

#[test]
fn top_rule_by_lift_at_0_005() {
    runtime().block_on(async {
        let ctx = session(2).await;
        let b = &query(
            &ctx,
            "SELECT * FROM association_rules('retail', 0.005, 0.5) LIMIT 1",
        )
        .await[0];
        assert_eq!(items(b, "antecedent", 0), "16011");
        assert_eq!(items(b, "consequent", 0), "16010");
        assert_eq!(format!("{:.5}", f64s(b, "support")[0]), "0.00738");
        assert_eq!(format!("{:.3}", f64s(b, "confidence")[0]), "0.973");
        assert_eq!(format!("{:.2}", f64s(b, "lift")[0]), "65.19");
    });
}

/// The same rules, in the same order, with 1 and 4 partitions and with the
/// input rows in two different orders (baskets and items within them).
#[test]
fn results_do_not_depend_on_partitions_or_row_order() {
    runtime().block_on(async {
        let mut results = Vec::new();
        for (partitions, input) in [
            (1, "retail"),
            (4, "retail"),
            (
                4,
                "SELECT * FROM retail ORDER BY (basket_id * 7919 + item * 104729) % 1000003",
            ),
            (2, "SELECT * FROM retail ORDER BY basket_id DESC, item DESC"),
        ] {
            let ctx = session(partitions).await;
            let sql = format!("SELECT * FROM association_rules('{input}', 0.001, 0.5)");
            let batches = query(&ctx, &sql).await;
            let mut rows = Vec::new();
            for b in &batches {
                for (row, lift) in f64s(b, "lift").into_iter().enumerate() {
                    rows.push(format!(
                        "{} -> {} {lift}",
                        items(b, "antecedent", row),
                        items(b, "consequent", row),
                    ));
                }
            }
            results.push(rows);
        }
        assert_eq!(results[0].len(), 5731);
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
    });
}

/// The table functions stream their rows in batches of the session's
/// `batch_size` from their own plan node, with the rows of the aggregate
/// behind them in the same order; a cluster session plans them as SQL over
/// that aggregate instead.
#[test]
fn mining_table_functions_stream_batches_of_the_aggregate_rows() {
    runtime().block_on(async {
        let ctx = session(2).await;
        query(&ctx, "SET datafusion.execution.batch_size = 1000").await;
        let calls = [
            (
                "association_rules('retail', 0.001, 0.5)",
                "association_rules_agg(basket_id, item, 0.001, 0.5)",
                5731,
            ),
            (
                "frequent_itemsets('retail', 0.001)",
                "frequent_itemsets_agg(basket_id, item, 0.001)",
                // pyfim's count at 0.001 (tests/fixtures/basket).
                7589,
            ),
        ];
        for (table, aggregate, rows) in calls {
            let streamed = query(&ctx, &format!("SELECT * FROM {table}")).await;
            assert!(streamed.len() >= 6, "{table}: {} batches", streamed.len());
            assert!(streamed.iter().all(|b| b.num_rows() <= 1000), "{table}");
            let whole = query(
                &ctx,
                &format!("SELECT unnest(r) AS s FROM (SELECT {aggregate} AS r FROM retail)"),
            )
            .await;
            let streamed =
                datafusion::arrow::compute::concat_batches(&streamed[0].schema(), &streamed)
                    .unwrap();
            let whole =
                datafusion::arrow::compute::concat_batches(&whole[0].schema(), &whole).unwrap();
            assert_eq!(streamed.num_rows(), rows, "{table}");
            let fields = whole.column(0).as_struct();
            assert_eq!(fields.num_columns(), streamed.num_columns());
            for (c, column) in fields.columns().iter().enumerate() {
                assert_eq!(column, streamed.column(c), "{table}: column {c}");
            }
            let plan = query(&ctx, &format!("EXPLAIN SELECT count(*) FROM {table}")).await;
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
                .unwrap()
                .to_string();
            assert!(text.contains("MiningExec"), "{text}");
        }
        let cluster = SessionContext::new();
        crmlake_udfs::register_for_cluster(&cluster).unwrap();
        register_retail(&cluster).await;
        let plan = query(
            &cluster,
            "EXPLAIN SELECT count(*) FROM association_rules('retail', 0.001, 0.5)",
        )
        .await;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
            .unwrap()
            .to_string();
        assert!(
            !text.contains("MiningExec") && text.contains("association_rules_agg"),
            "{text}"
        );
        let n = query(
            &cluster,
            "SELECT count(*) FROM association_rules('retail', 0.001, 0.5)",
        )
        .await;
        assert_eq!(count(&n), 5731);
    });
}

/// Two calls with different arguments in one query are two tables, not one
/// (DataFusion tells scans apart by name and schema).
#[test]
fn two_calls_in_one_query_are_two_tables() {
    runtime().block_on(async {
        let ctx = session(2).await;
        let b = query(
            &ctx,
            "SELECT (SELECT count(*) FROM association_rules('retail', 0.001, 0.5)) AS a, \
                    (SELECT count(*) FROM association_rules('retail', 0.002, 0.5)) AS b, \
                    (SELECT count(*) FROM frequent_itemsets('retail', 0.001)) AS c, \
                    (SELECT count(*) FROM frequent_itemsets('retail', 0.001, 'max_len=1')) AS d",
        )
        .await;
        let b = &b[0];
        let v: Vec<i64> = (0..4)
            .map(|c| b.column(c).as_primitive::<Int64Type>().value(0))
            .collect();
        assert_eq!(v[0], 5731);
        assert!(v[1] < v[0], "{v:?}");
        assert_eq!(v[2], 7589);
        assert!(v[3] < v[2], "{v:?}");
    });
}

/// The baskets and the mined rows are reserved from the session's memory
/// pool: under a pool too small for them the query fails naming the
/// function and the memory it needed.
#[test]
fn mining_over_the_memory_pool_fails_naming_the_function() {
    runtime().block_on(async {
        use datafusion::execution::memory_pool::GreedyMemoryPool;
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(std::sync::Arc::new(GreedyMemoryPool::new(2 << 20)))
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(Default::default(), runtime);
        crmlake_udfs::register_all(&ctx).unwrap();
        register_retail(&ctx).await;
        let e = ctx
            .sql("SELECT count(*) FROM association_rules('retail', 0.001, 0.5)")
            .await
            .unwrap()
            .collect()
            .await
            .expect_err("2 MB cannot hold 88,162 baskets");
        let text = e.to_string();
        assert!(
            text.contains("association_rules needs about")
                && text.contains("MB to collect the baskets"),
            "{text}"
        );
    });
}

/// basket_fit over retail's baskets and recommend: the top rule's consequent
/// comes first for its antecedent; model_info shows counts and thresholds.
#[test]
fn basket_fit_and_recommend_on_retail() {
    runtime().block_on(async {
        let ctx = session(2).await;
        let sql = "WITH m AS (SELECT basket_fit(items, 0.005, 0.5) AS model \
                              FROM (SELECT array_agg(item) AS items FROM retail GROUP BY basket_id)) \
                   SELECT model_info(model) AS info, recommend(model, [16011], 3) AS r1, \
                          recommend(model, make_array(CAST(-1 AS BIGINT)), 2) AS r2 FROM m";
        let b = &query(&ctx, sql).await[0];
        let info: serde_json::Value = serde_json::from_str(b.column(0).as_string::<i32>().value(0)).unwrap();
        assert_eq!(info["kind"], "basket_rules");
        assert_eq!(info["rule_count"], 402);
        assert_eq!(info["itemsets"], 580);
        assert_eq!(info["baskets"], 88162);
        assert_eq!(info["params"]["min_confidence"], 0.5);
        let r1 = items(b, "r1", 0);
        assert!(r1.starts_with("16010 "), "{r1}");
        assert_eq!(r1.split(' ').count(), 3);
        // An unknown item fires no rule: the two most bought items (39 and 48
        // are in 57 % and 48 % of retail's baskets).
        assert_eq!(items(b, "r2", 0), "39 48");
    });
}

/// Planted co-purchases in a `crmlake generate` lake are recovered: for each
/// planted pair (a, c, p), the rule {a} -> c is found and its confidence is
/// within 4 binomial standard errors of p + (1 - p) q, q being c's rate in
/// orders without a (the chance of drawing c anyway).
#[test]
fn planted_pairs_of_a_generated_lake_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    ok(crmlake(&[
        "generate",
        "--customers",
        "20000",
        "--seed",
        "5",
        "--out",
        lake,
    ]));
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("lake/_truth.json")).unwrap(),
    )
    .unwrap();
    let pairs = truth["basket"]["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 10);
    let input = "SELECT order_id AS basket_id, product_id AS item FROM transactions";
    let sql = format!(
        "WITH r AS (SELECT antecedent[1] AS a, consequent[1] AS c, confidence, \
                           CAST(round(antecedent_support * b.n) AS BIGINT) AS n_a, consequent_support * b.n AS n_c, \"count\", b.n \
                    FROM association_rules('{input}', 0.0005, 0.0), \
                         (SELECT count(DISTINCT order_id) AS n FROM transactions) AS b) \
         SELECT a, c, confidence, n_a, (n_c - \"count\") / (n - n_a) AS q FROM r"
    );
    let out = ok(crmlake(&[
        "sql", "--lake", lake, "--format", "json", "-c", &sql,
    ]));
    let rules: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    for pair in pairs {
        let (a, c) = (
            pair["antecedent"].as_str().unwrap(),
            pair["consequent"].as_str().unwrap(),
        );
        let p = pair["probability"].as_f64().unwrap();
        let rule = rules
            .iter()
            .find(|r| r["a"] == a && r["c"] == c)
            .unwrap_or_else(|| panic!("planted rule {a} -> {c} not found"));
        let (conf, n_a, q) = (
            rule["confidence"].as_f64().unwrap(),
            rule["n_a"].as_f64().unwrap(),
            rule["q"].as_f64().unwrap(),
        );
        let expected = p + (1.0 - p) * q;
        let se = (expected * (1.0 - expected) / n_a).sqrt();
        assert!(
            (conf - expected).abs() <= 4.0 * se,
            "{a} -> {c}: confidence {conf}, planted {p} (+ base rate {q}) = {expected}, SE {se}, n_a {n_a}"
        );
    }
}
