//! The cluster (issue 9): `crmlake scheduler` and two `crmlake executor`
//! processes on loopback. A query of every function family over a generated
//! lake of several Parquet files, and the whole demo job, give the embedded
//! engine's answers: counts, itemsets and ids exactly, numbers to 1e-9
//! (relative). Killing an executor mid-query and rerunning gives the same
//! answer. Both executors must have run tasks (their work folders hold
//! shuffle files), so work really spread.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crmlake::cluster::SchedulerAddress;
use crmlake::session::{lake_session, SessionOptions};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

use crate::common::*;
use crate::local_server::{free_port, free_ports};

/// One executor process and its work folder.
struct Executor {
    child: Child,
    work_dir: PathBuf,
}

/// A scheduler and its executors, killed when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Executor>,
    address: String,
    /// The scheduler's stderr lines, as they come.
    events: Receiver<String>,
    dir: PathBuf,
}

impl Cluster {
    /// Start a scheduler and `n` executors of one task slot each; wait until
    /// every executor has joined. Executors beat every second; one silent for
    /// `timeout_seconds` is dead (short only where a test kills one: other
    /// tests on the same cores could delay a heartbeat).
    fn start(dir: &Path, n: usize, timeout_seconds: u64) -> Cluster {
        let port = free_port();
        let mut scheduler = Command::new(env!("CARGO_BIN_EXE_crmlake"))
            .args([
                "scheduler",
                "--port",
                &port.to_string(),
                "--executor-timeout-seconds",
                &timeout_seconds.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crmlake scheduler starts");
        let (tx, events) = channel();
        let stderr = scheduler.stderr.take().unwrap();
        let log = dir.join("scheduler.log");
        std::thread::spawn(move || {
            let mut file = fs::File::create(log).unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                let _ = tx.send(line);
            }
        });
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            address: format!("df://127.0.0.1:{port}"),
            events,
            dir: dir.to_path_buf(),
        };
        cluster.wait_for("listening on", Duration::from_secs(30));
        for i in 0..n {
            cluster.add_executor(i);
        }
        for _ in 0..n {
            cluster.wait_for("joined", Duration::from_secs(60));
        }
        cluster
    }

    fn add_executor(&mut self, i: usize) {
        let work_dir = self.dir.join(format!("executor-{i}"));
        fs::create_dir_all(&work_dir).unwrap();
        let log = fs::File::create(self.dir.join(format!("executor-{i}.log"))).unwrap();
        let ports = free_ports::<2>();
        let child = Command::new(env!("CARGO_BIN_EXE_crmlake"))
            .args([
                "executor",
                "--scheduler",
                &self.address,
                "--port",
                &ports[0].to_string(),
                "--grpc-port",
                &ports[1].to_string(),
                "--concurrent-tasks",
                "1",
                "--heartbeat-seconds",
                "1",
                "--work-dir",
                work_dir.to_str().unwrap(),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("crmlake executor starts");
        self.executors.push(Executor { child, work_dir });
    }

    /// Wait for a scheduler line containing `needle`.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!(
                    "no scheduler line with '{needle}' within {limit:?}; logs:\n{}",
                    self.logs()
                ),
            }
        }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in fs::read_dir(&self.dir).unwrap().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "log") {
                text += &format!(
                    "== {}\n{}\n",
                    p.display(),
                    fs::read_to_string(&p).unwrap_or_default()
                );
            }
        }
        text
    }

    fn address(&self) -> SchedulerAddress {
        SchedulerAddress::parse("--cluster", &self.address).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for e in &mut self.executors {
            let _ = e.child.kill();
            let _ = e.child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                files_under(&p)
            } else {
                1
            }
        })
        .sum()
}

/// One value of a result, as compared between the engines.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Number(f64),
    Json(serde_json::Value),
    Text(String),
}

/// Rows of `batches`: floats as numbers, JSON text (models, model_info) as
/// JSON, everything else (ids, counts, lists of items) as its display text.
fn cells(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    for batch in batches {
        let options = FormatOptions::default().with_null("NULL");
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..batch.num_rows() {
            let mut row = Vec::new();
            for (c, column) in batch.columns().iter().enumerate() {
                if column.is_null(r) {
                    row.push(Cell::Null);
                    continue;
                }
                let text = formatters[c].value(r).to_string();
                row.push(match column.data_type() {
                    DataType::Float64 | DataType::Float32 => {
                        Cell::Number(text.parse().expect("a float displays as a number"))
                    }
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                        if text.starts_with('{') =>
                    {
                        Cell::Json(serde_json::from_str(&text).expect("model text is JSON"))
                    }
                    _ => Cell::Text(text),
                });
            }
            rows.push(row);
        }
    }
    rows
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Compare two JSON values: numbers to 1e-9 relative, the rest exactly. A
/// model's own timing or a seed-free field would show up here as a mismatch.
fn same_json(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if close(x, y) {
                Ok(())
            } else {
                Err(format!("{path}: {x} vs {y}"))
            }
        }
        (V::Array(x), V::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (x, y))| same_json(x, y, &format!("{path}[{i}]"))),
        (V::Object(x), V::Object(y)) if x.len() == y.len() => x.iter().try_for_each(|(k, v)| {
            let w = y.get(k).ok_or_else(|| format!("{path}.{k} missing"))?;
            same_json(v, w, &format!("{path}.{k}"))
        }),
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} vs {b}")),
    }
}

fn assert_same(what: &str, local: &[Vec<Cell>], cluster: &[Vec<Cell>]) {
    assert_eq!(
        local.len(),
        cluster.len(),
        "{what}: {} rows locally, {} on the cluster",
        local.len(),
        cluster.len()
    );
    assert!(!local.is_empty(), "{what}: no rows to compare");
    for (r, (a, b)) in local.iter().zip(cluster).enumerate() {
        assert_eq!(a.len(), b.len(), "{what}: row {r} width");
        for (c, (x, y)) in a.iter().zip(b).enumerate() {
            let at = format!("{what}: row {r} column {c}");
            match (x, y) {
                (Cell::Null, Cell::Null) => {}
                (Cell::Number(x), Cell::Number(y)) => {
                    assert!(close(*x, *y), "{at}: {x} locally, {y} on the cluster")
                }
                (Cell::Json(x), Cell::Json(y)) => {
                    if let Err(e) = same_json(x, y, "") {
                        panic!("{at}: model differs at {e}")
                    }
                }
                (Cell::Text(x), Cell::Text(y)) => {
                    assert_eq!(x, y, "{at}")
                }
                _ => panic!("{at}: {x:?} locally, {y:?} on the cluster"),
            }
        }
    }
}

async fn session(lake: &Path, cluster: Option<SchedulerAddress>) -> SessionContext {
    let opts = SessionOptions {
        lake: Some(lake.display().to_string()),
        target_partitions: Some(4),
        memory_limit: None,
        cluster,
    };
    lake_session(&opts).await.unwrap().0
}

async fn run(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}

const BASKETS: &str = "SELECT order_id AS basket_id, product_id AS item FROM transactions";

/// One query per function family, each ordered so rows line up.
fn family_queries() -> Vec<(&'static str, String)> {
    vec![
        (
            "calibration and holdout",
            "WITH s AS (SELECT customer_id, CAST(customer_id % 97 AS DOUBLE) / 97.0 AS score, \
                               customer_id % 3 = 0 AS label FROM customers), \
                  m AS (SELECT calibrate_fit(score, label, 'method=isotonic') AS iso, \
                               calibrate_fit(score, label, 'method=venn_abers') AS va, \
                               calibrate_fit(score, label) AS platt, \
                               conformal_fit(score, label, 0.1) AS cf FROM s) \
             SELECT count(*) FILTER (WHERE holdout_assign(s.customer_id, 'spring', 0.1)) AS held, \
                    sum(calibrate(m.iso, s.score)) AS iso_sum, \
                    sum(calibrate(m.va, s.score)) AS va_sum, sum(calibrate(m.platt, s.score)) AS platt_sum, \
                    sum(cardinality(conformal_set(m.cf, s.score))) AS set_sizes, \
                    brier(s.score, s.label) AS brier, calibration_error(s.score, s.label) AS ece \
             FROM s CROSS JOIN m"
                .into(),
        ),
        (
            "calibration models",
            "SELECT calibrate_fit(score, label, 'method=isotonic') AS iso, \
                    calibrate_fit(score, label, 'method=venn_abers') AS va, \
                    calibrate_fit(score, label) AS platt, conformal_fit(score, label, 0.1) AS cf \
             FROM (SELECT CAST(customer_id % 97 AS DOUBLE) / 97.0 AS score, customer_id % 3 = 0 AS label \
                   FROM customers)"
                .into(),
        ),
        (
            "reliability",
            "SELECT * FROM reliability('SELECT CAST(customer_id % 97 AS DOUBLE) / 97.0 AS score, \
                                              customer_id % 3 = 0 AS label FROM customers', 10) \
             ORDER BY bin"
                .into(),
        ),
        (
            "kpi",
            "SELECT count(*) AS lines, count(DISTINCT order_id) AS orders, \
                    repurchase_rate(customer_id, order_id) AS repurchase, \
                    churn_rate(customer_id, ts, '2024-06-30', 90) AS churn_90 \
             FROM transactions"
                .into(),
        ),
        (
            "cohort_retention",
            "SELECT * FROM cohort_retention('transactions', 'month') ORDER BY cohort, period_number"
                .into(),
        ),
        (
            "kpi_series",
            "SELECT * FROM kpi_series('transactions', '2024-01-01', '2024-07-01', 'month', 'feedback=feedback') \
             ORDER BY period"
                .into(),
        ),
        (
            "kpi_series by segment",
            "SELECT * FROM kpi_series('SELECT *, CASE WHEN amount > 20 THEN ''big'' ELSE ''small'' END AS size FROM transactions', \
                                      '2024-01-01', '2024-07-01', 'week', 'by=size') \
             ORDER BY segment, period"
                .into(),
        ),
        (
            "rfm",
            "SELECT segment, count(*) AS customers, sum(monetary) AS monetary, min(rfm_cell) AS cell \
             FROM rfm('transactions', '2024-06-30') GROUP BY segment ORDER BY segment"
                .into(),
        ),
        (
            "kmeans",
            "WITH f AS (SELECT customer_id, named_struct('recency', CAST(recency_days AS DOUBLE), \
                          'frequency', ln(1 + frequency), 'monetary', ln(1 + monetary)) AS features \
                        FROM rfm('transactions', '2024-06-30')), \
                  m AS (SELECT kmeans_fit(features, 4, 'n_init=3, seed=1') AS model FROM f) \
             SELECT model_info(m.model) AS info, kmeans_assign(m.model, f.features) AS segment, \
                    count(*) AS customers, sum(kmeans_distance(m.model, f.features)) AS distance \
             FROM f CROSS JOIN m GROUP BY 1, 2 ORDER BY 2"
                .into(),
        ),
        (
            "ltv fits",
            "SELECT model_info(bgnbd_fit(frequency, recency, t)) AS bgnbd, \
                    model_info(mbgnbd_fit(frequency, recency, t)) AS mbgnbd, \
                    model_info(gamma_gamma_fit(frequency, monetary)) AS gamma_gamma \
             FROM customer_summary('transactions', '2024-06-30', 'week')"
                .into(),
        ),
        (
            "customer_ltv",
            "SELECT count(*) AS customers, sum(p_alive) AS p_alive, \
                    sum(expected_purchases) AS purchases, sum(expected_spend) AS spend, \
                    sum(clv) AS clv, max(clv) AS top_clv \
             FROM customer_ltv('transactions', '2024-06-30', 180)"
                .into(),
        ),
        (
            "ltv intervals",
            "WITH s AS (SELECT * FROM customer_summary('transactions', '2024-06-30')), \
                  m AS (SELECT bgnbd_fit(frequency, recency, t, 'replicates=20, seed=3') AS pm FROM s) \
             SELECT sum(p_alive_low) AS pa_low, sum(clv_high) AS clv_high, \
                    sum(expected_purchases_low) AS ep_low, \
                    (SELECT sum(expected_purchases(m.pm, 90, s.frequency, s.recency, s.t, \
                                'interval=0.9, interval_method=bootstrap')['high']) \
                     FROM s CROSS JOIN m) AS boot_high \
             FROM customer_ltv('transactions', '2024-06-30', 180, 'interval=0.8')"
                .into(),
        ),
        (
            "loyalty",
            format!(
                "WITH b AS (SELECT count(*) AS members, sum(balance) AS points, sum(expired) AS expired, \
                                   sum(expiring_90) AS soon FROM points_balance('transactions', NULL, {r}, '2024-06-30')), \
                      l AS (SELECT count(*) AS entries, sum(points) AS net FROM points_ledger('transactions', NULL, {r}, '2024-06-30')), \
                      t AS (SELECT count(*) AS intervals, sum(CASE WHEN tier = 'Gold' THEN 1 ELSE 0 END) AS gold \
                            FROM tier_history('transactions', {r}, NULL, '2024-06-30')), \
                      k AS (SELECT sum(points_earned) AS earned, max(liability_points) AS liability \
                            FROM loyalty_kpis('transactions', NULL, {r}, '2024-01-01', '2024-06-30')), \
                      m AS (SELECT sum(CASE WHEN from_tier IS NOT NULL THEN customers ELSE 0 END) AS moves \
                            FROM loyalty_kpis('transactions', NULL, {r}, '2024-01-01', '2024-06-30', 'view=migration')), \
                      v AS (SELECT sum(members) AS tier_months, sum(revenue) AS tier_revenue \
                            FROM loyalty_kpis('transactions', NULL, {r}, '2024-04-01', '2024-06-30', 'view=tiers')) \
                 SELECT * FROM b CROSS JOIN l CROSS JOIN t CROSS JOIN k CROSS JOIN m CROSS JOIN v",
                r = "'{\"earn_rate\": 1, \"expiry_months\": 6, \"point_value\": 0.01, \
                      \"bonus_periods\": [{\"from\": \"2024-03-01\", \"to\": \"2024-03-31\", \"multiplier\": 2}], \
                      \"tiers\": {\"basis\": \"amount\", \"window\": \"rolling_12_months\", \"grace_days\": 30, \
                      \"levels\": [{\"name\": \"Bronze\", \"threshold\": 0}, {\"name\": \"Silver\", \"threshold\": 300}, \
                                 {\"name\": \"Gold\", \"threshold\": 1000}]}}'"
            ),
        ),
        (
            "loyalty rules table",
            {
                // Rules read from a query's one row (a scalar subquery on the cluster).
                let json = "{\"earn_rate\": 1, \"expiry_months\": 6, \"point_value\": 0.01}";
                let r = format!("'SELECT ''{json}'' AS rules'");
                format!(
                    "WITH b AS (SELECT count(*) AS members, sum(balance) AS points \
                                FROM points_balance('transactions', NULL, {r}, '2024-06-30')), \
                          k AS (SELECT max(liability_value) AS liability_value \
                                FROM loyalty_kpis('transactions', NULL, {r}, '2024-01-01', '2024-06-30')) \
                     SELECT * FROM b CROSS JOIN k"
                )
            },
        ),
        (
            "frequent_itemsets",
            format!(
                "SELECT items, size, count, support FROM frequent_itemsets('{BASKETS}', 0.01) \
                 ORDER BY size, count DESC, items"
            ),
        ),
        (
            "association_rules",
            format!(
                "SELECT antecedent, consequent, count, support, confidence, lift \
                 FROM association_rules('{BASKETS}', 0.002, 0.05) \
                 ORDER BY lift DESC, antecedent, consequent"
            ),
        ),
        (
            "basket_fit and recommend",
            "WITH b AS (SELECT order_id, array_agg(product_id ORDER BY product_id) AS items \
                        FROM transactions GROUP BY order_id), \
                  m AS (SELECT basket_fit(items, 0.002, 0.05) AS model FROM b) \
             SELECT b.order_id, recommend(m.model, b.items, 3) AS next \
             FROM b CROSS JOIN m ORDER BY b.order_id LIMIT 200"
                .into(),
        ),
        (
            "feedback_features",
            "SELECT count(*) AS customers, sum(messages_365) AS messages, \
                    sum(complaints_90) AS complaints, sum(last_nps) AS nps, \
                    sum(mean_sentiment_90) AS sentiment, sum(negative_share) AS negative, \
                    sum(open_complaints) AS open, sum(median_resolution_hours) AS hours \
             FROM feedback_features('feedback', '2024-03-31')"
                .into(),
        ),
        (
            "feedback_topics and feedback_summary",
            "SELECT period, channel, topic, messages, customers, nps, csat, complaint_rate, \
                    mean_sentiment, negative_share, resolution_hours_median, open_complaints \
             FROM feedback_summary('feedback', '2024-06-30', 'month', 'taxonomy=feedback_taxonomy') \
             ORDER BY period, channel, topic"
                .into(),
        ),
        (
            "keywords and sentiment_train",
            "WITH k AS (SELECT kind, rank, term, count, count_rest, log_odds, z \
                        FROM keywords('feedback', 'kind', 5)), \
                  m AS (SELECT sentiment_train(text, nps_score >= 9, 'hash_bits=14') AS model \
                        FROM feedback WHERE nps_score IS NOT NULL) \
             SELECT k.*, sentiment_score(m.model, k.term) AS term_score \
             FROM k CROSS JOIN m ORDER BY k.kind, k.rank"
                .into(),
        ),
        (
            "recommender_fit, recommend_for and similar_items",
            "WITH m AS (SELECT recommender_fit(customer_id, product_id, 1, 'neighbours=20') AS model \
                        FROM transactions WHERE ts < TIMESTAMP '2024-04-01 00:00:00'), \
                  c AS (SELECT DISTINCT customer_id, product_id FROM transactions \
                        ORDER BY customer_id, product_id LIMIT 300) \
             SELECT c.customer_id, c.product_id, recommend_for(m.model, c.customer_id, 5) AS next, \
                    recommend_for(m.model, c.customer_id, 5, 'exclude_seen=true') AS new, \
                    similar_items(m.model, c.product_id, 3) AS similar \
             FROM c CROSS JOIN m ORDER BY c.customer_id, c.product_id"
                .into(),
        ),
        (
            "recommender_fit als, ease and hybrid, content_fit and hybrid_fit",
            "WITH m AS (SELECT recommender_fit(customer_id, product_id, 1, 'algorithm=als, factors=8, iterations=3') AS als, \
                               recommender_fit(customer_id, product_id, 1, 'algorithm=ease, lambda=50') AS ease, \
                               recommender_fit(customer_id, product_id, 1, 'algorithm=hybrid, parts=repeat:0.5+ease:0.5') AS hybrid \
                        FROM transactions WHERE ts < TIMESTAMP '2024-04-01 00:00:00'), \
                  t AS (SELECT content_fit(product_id, description, 'ngrams=word') AS content FROM transactions), \
                  c AS (SELECT DISTINCT customer_id, product_id FROM transactions \
                        ORDER BY customer_id, product_id LIMIT 200) \
             SELECT c.customer_id, c.product_id, recommend_for(m.als, c.customer_id, 5) AS als, \
                    recommend_for(m.ease, c.customer_id, 5) AS ease, \
                    recommend_for(m.hybrid, c.customer_id, 5, 'exclude_seen=true') AS hybrid, \
                    similar_items(t.content, c.product_id, 3) AS content, \
                    recommend_for(hybrid_fit([m.ease, t.content], [0.8, 0.2]), c.customer_id, 5) AS blended \
             FROM c CROSS JOIN m CROSS JOIN t ORDER BY c.customer_id, c.product_id"
                .into(),
        ),
        (
            "recommendations",
            "SELECT * FROM recommendations('SELECT recommender_fit(customer_id, product_id, 1, ''neighbours=20'') AS model FROM transactions', \
                                           'SELECT DISTINCT customer_id FROM transactions', 5) \
             ORDER BY customer_id LIMIT 500"
                .into(),
        ),
        (
            "recommender_eval",
            "SELECT * FROM recommender_eval('SELECT customer_id, product_id AS item, ts FROM transactions', \
                                            '2024-04-01', 10, 'neighbours=20') \
             ORDER BY algorithm, exclude_seen"
                .into(),
        ),
        (
            "churn",
            "WITH f AS (SELECT customer_id, churned, \
                          named_struct('recency_days', recency_days, 'frequency', frequency, \
                                       'monetary', monetary, 'tenure_days', tenure_days, \
                                       'gap_mean_days', gap_mean_days, 'trend_90', trend_90) AS features \
                        FROM churn_features('transactions', '2024-03-31', 90) WHERE churned IS NOT NULL), \
                  m AS (SELECT churn_train(features, churned, 'algorithm=gbt, seed=42') AS model FROM f) \
             SELECT count(*) AS customers, sum(churn_score(m.model, f.features)) AS score_sum, \
                    roc_auc(churn_score(m.model, f.features), f.churned) AS auc, \
                    max(churn_score(m.model, f.features)) AS top \
             FROM f CROSS JOIN m"
                .into(),
        ),
    ]
}

/// A generated lake of `customers` in files of `per_file` customers.
fn generated_lake(dir: &Path, customers: u64, per_file: u64) -> PathBuf {
    let lake = dir.join("lake");
    ok(crmlake(&[
        "generate",
        "--customers",
        &customers.to_string(),
        "--customers-per-file",
        &per_file.to_string(),
        "--seed",
        "9",
        "--out",
        lake.to_str().unwrap(),
    ]));
    lake
}

#[test]
fn every_function_family_gives_the_embedded_answer_on_two_executors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path(), 12_000, 2_000);
    assert_eq!(
        fs::read_dir(lake.join("transactions")).unwrap().count(),
        6,
        "the lake should have 6 transaction files"
    );
    let cluster = Cluster::start(dir.path(), 2, 60);
    let rt = runtime();
    rt.block_on(async {
        let local = session(&lake, None).await;
        let remote = session(&lake, Some(cluster.address())).await;
        // Shuffle files are cleaned up some minutes after a job ends: look
        // after every query.
        let mut worked = vec![false; cluster.executors.len()];
        for (family, sql) in family_queries() {
            let a = cells(
                &run(&local, &sql)
                    .await
                    .unwrap_or_else(|e| panic!("{family} locally: {e}")),
            );
            let b =
                cells(&run(&remote, &sql).await.unwrap_or_else(|e| {
                    panic!("{family} on the cluster: {e}\n{}", cluster.logs())
                }));
            assert_same(family, &a, &b);
            for (w, e) in worked.iter_mut().zip(&cluster.executors) {
                *w |= files_under(&e.work_dir) > 0;
            }
        }
        for (i, w) in worked.iter().enumerate() {
            assert!(
                w,
                "executor {i} ran no task (no shuffle files in its work folder)"
            );
        }
    });
}

#[test]
fn a_killed_executor_loses_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path(), 60_000, 10_000);
    let mut cluster = Cluster::start(dir.path(), 2, 8);
    let sql = format!(
        "SELECT items, count FROM frequent_itemsets('{BASKETS}', 0.002) ORDER BY size, count DESC, items"
    );
    let rt = runtime();
    let expected = rt.block_on(async {
        let local = session(&lake, None).await;
        cells(&run(&local, &sql).await.unwrap())
    });
    let victim_dir = cluster.executors[1].work_dir.clone();
    let before = files_under(&victim_dir);
    let remote = rt.block_on(session(&lake, Some(cluster.address())));
    let query = {
        let remote = remote.clone();
        let sql = sql.clone();
        rt.spawn(async move { run(&remote, &sql).await })
    };
    // Kill executor 1 as soon as it has written shuffle output for this query.
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_under(&victim_dir) == before {
        assert!(
            !query.is_finished(),
            "the query ended before executor 1 ran a task; logs:\n{}",
            cluster.logs()
        );
        assert!(Instant::now() < deadline, "executor 1 never ran a task");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !query.is_finished(),
        "the query ended before the kill: the test needs more data"
    );
    cluster.executors[1].child.kill().unwrap();
    cluster.executors[1].child.wait().unwrap();
    // The interrupted query either recovers (its tasks rerun on executor 0)
    // or fails; whichever it does, a rerun gives the embedded answer.
    let first = rt.block_on(query).unwrap();
    if let Ok(batches) = &first {
        assert_same("query interrupted by the kill", &expected, &cells(batches));
    }
    cluster.wait_for("left", Duration::from_secs(60));
    let again = rt
        .block_on(run(&remote, &sql))
        .unwrap_or_else(|e| panic!("rerun after the kill: {e}\n{}", cluster.logs()));
    assert_same("rerun after the kill", &expected, &cells(&again));
    eprintln!(
        "interrupted query {}",
        if first.is_ok() { "recovered" } else { "failed" }
    );
}

#[test]
fn the_command_line_runs_sql_on_the_cluster_and_refuses_what_cannot_be_sent() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path(), 2_000, 1_000);
    let cluster = Cluster::start(dir.path(), 1, 60);
    let count = "SELECT count(*) AS n, sum(amount) AS revenue FROM transactions";
    let on_cluster = ["--cluster", cluster.address.as_str()];
    let local = ok(lake_sql(&lake, &[], count));
    let remote = ok(lake_sql(&lake, &on_cluster, count));
    // The count exactly, the revenue (a DOUBLE sum) to 1e-9.
    let row = |csv: &str| -> (String, f64) {
        let line = csv.lines().nth(1).expect("a result row");
        let (n, revenue) = line.split_once(',').expect("two columns");
        (n.to_string(), revenue.parse().expect("revenue is a number"))
    };
    assert_eq!(local.lines().next(), remote.lines().next());
    let ((local_n, local_revenue), (remote_n, remote_revenue)) = (row(&local), row(&remote));
    assert_eq!(local_n, remote_n);
    assert!(
        close(local_revenue, remote_revenue),
        "{local_revenue} vs {remote_revenue}"
    );

    // A table held in this process's memory cannot reach the executors.
    user_error(
        lake_sql(
            &lake,
            &on_cluster,
            "CREATE TABLE t AS VALUES (1), (2); SELECT count(*) FROM t",
        ),
        &["table 't'", "memory", "COPY", "--cluster"],
    );
    // No scheduler there, or not a scheduler address.
    let nobody = format!("df://127.0.0.1:{}", free_port());
    user_error(
        lake_sql(&lake, &["--cluster", &nobody], count),
        &[
            "cluster scheduler df://127.0.0.1:",
            "not reachable",
            "crmlake scheduler",
        ],
    );
    user_error(
        crmlake(&["sql", "--cluster", "127.0.0.1:50050", "-c", count]),
        &["--cluster '127.0.0.1:50050'", "df://host:port"],
    );
}

/// The demo job run by `crmlake run --cluster` writes the same tables as a
/// local run: every step of every family, read back and compared row by row.
#[test]
fn the_demo_job_on_the_cluster_writes_what_a_local_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 2, 60);
    let job = root().join("jobs/demo.toml");
    let lake = sample_lake();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "run",
            job.to_str().unwrap(),
            "--lake",
            &lake,
            "--out",
            out.to_str().unwrap(),
            "--run-date",
            "2011-12-09",
        ];
        args.extend_from_slice(extra);
        ok(crmlake(&args))
    };
    let local_out = dir.path().join("local");
    let cluster_out = dir.path().join("cluster");
    run(&local_out, &[]);
    run(&cluster_out, &["--cluster", &cluster.address]);
    // Per table: what to compare, ordered by the columns that identify a row.
    let tables: &[(&str, &str)] = &[
        (
            "clean_transactions",
            "SELECT * FROM t ORDER BY customer_id, ts, order_id, product_id, quantity, amount, description",
        ),
        ("customer_overview", "SELECT * FROM t ORDER BY customer_id"),
        ("kpis", "SELECT * FROM t"),
        ("ltv", "SELECT * FROM t ORDER BY customer_id"),
        ("basket_rules", "SELECT * FROM t ORDER BY antecedent, consequent"),
        ("basket_recommendations", "SELECT * FROM t ORDER BY customer_id"),
        ("recommendations", "SELECT * FROM t ORDER BY customer_id"),
        ("rfm_segments", "SELECT * FROM t ORDER BY customer_id"),
        ("cohort_retention", "SELECT * FROM t ORDER BY cohort, period_number"),
        ("kmeans_segments", "SELECT * FROM t ORDER BY customer_id"),
        (
            // Reasons as columns, so contributions compare as numbers; the
            // run_id differs between the runs by design.
            "churn_scores",
            "SELECT customer_id, churn_probability, model_version, \
                    reasons[1]['feature'], reasons[1]['contribution'], \
                    reasons[2]['feature'], reasons[2]['contribution'], \
                    reasons[3]['feature'], reasons[3]['contribution'] \
             FROM t ORDER BY customer_id",
        ),
        ("kpi_month", "SELECT * FROM t ORDER BY period"),
        (
            "churn_watchlist",
            "SELECT customer_id, churn_probability, previous_probability, why, clv, value_at_risk, \
                    open_complaints, last_negative_topics, last_negative_at FROM t ORDER BY customer_id",
        ),
        ("outreach_queue", "SELECT * FROM t ORDER BY customer_id"),
        ("models", "SELECT name, version, metrics, model FROM t"),
    ];
    let rt = runtime();
    rt.block_on(async {
        for (table, sql) in tables {
            let read = |out: PathBuf| async move {
                let ctx = SessionContext::new();
                let path = if *table == "models" {
                    out.join("models/")
                } else {
                    out.join(table).join("run_date=2011-12-09/")
                };
                ctx.register_parquet("t", path.to_str().unwrap(), Default::default())
                    .await
                    .unwrap();
                cells(&query(&ctx, sql).await)
            };
            let a = read(local_out.clone()).await;
            let b = read(cluster_out.clone()).await;
            assert_same(table, &a, &b);
        }
    });
    for (i, e) in cluster.executors.iter().enumerate() {
        assert!(files_under(&e.work_dir) > 0, "executor {i} ran no task");
    }
}
