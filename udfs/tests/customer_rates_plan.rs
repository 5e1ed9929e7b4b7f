//! `repurchase_rate`, `churn_rate` and `complaint_rate` planned as GROUP BY plans (the
//! optimizer rule of `kpi::customer_rates_plan`) give the accumulators'
//! answers: every query runs in a session with the rule (`register_all`) and
//! in one with the functions alone, and the two results must be equal; the
//! rule's plans must hold no rate aggregate and the plain session's must.
//! Hand-computed values of the same shapes are pinned in
//! `tests/sql/kpi.slt`.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

const DATA: &str = "CREATE VIEW t AS SELECT * FROM (VALUES \
    ('x', 1, 'a', DATE '2024-02-10', 5.0), \
    ('x', 1, 'a', DATE '2024-03-15', 1.0), \
    ('x', 1, 'b', DATE '2024-03-15', 2.0), \
    ('x', 2, 'c', DATE '2024-02-20', 3.0), \
    ('x', 3, 'd', NULL, 1.5), \
    ('y', 3, 'e', DATE '2024-03-20', 4.0), \
    ('y', 4, NULL, DATE '2024-02-02', 1.0), \
    ('y', NULL, 'f', DATE '2024-02-03', 9.0), \
    (NULL, 5, 'g', DATE '2024-02-05', 2.0), \
    (NULL, 5, 'h', DATE '2024-03-29', 2.0), \
    ('z', NULL, 'i', DATE '2024-03-01', 1.0), \
    ('z', NULL, NULL, NULL, 1.0)) AS v(g, c, o, d, amount)";

const QUERIES: &[&str] = &[
    "SELECT repurchase_rate(c, o) AS r FROM t",
    "SELECT churn_rate(c, d, '2024-03-31', 30) AS r FROM t",
    "SELECT repurchase_rate(c, o) AS r, churn_rate(c, d, DATE '2024-03-31', 30) AS q FROM t",
    "SELECT g, repurchase_rate(c, o) AS r, churn_rate(c, d, '2024-03-31', 30) AS q FROM t GROUP BY g ORDER BY g NULLS FIRST",
    "SELECT g, count(DISTINCT c) AS n, sum(amount) AS s, repurchase_rate(c, o) AS r FROM t GROUP BY g ORDER BY g NULLS FIRST",
    "SELECT count(DISTINCT c) AS n, sum(amount) AS s, repurchase_rate(c, o) AS r, churn_rate(c, d, '2024-03-31', 45) AS q FROM t",
    "SELECT g, repurchase_rate(c, o) FILTER (WHERE amount > 1.2) AS r FROM t GROUP BY g ORDER BY g NULLS FIRST",
    "SELECT repurchase_rate(c, o) AS by_customer, repurchase_rate(g, o) AS by_group, churn_rate(g, d, '2024-03-31', 30) AS q FROM t",
    "SELECT g FROM t GROUP BY g HAVING repurchase_rate(c, o) > 0.1 ORDER BY g",
    "SELECT repurchase_rate(c, o) AS r FROM t WHERE false",
    "SELECT g, repurchase_rate(c, o) AS r FROM t WHERE false GROUP BY g",
    "SELECT date_trunc('month', d) AS m, repurchase_rate(c, o) AS r FROM t GROUP BY date_trunc('month', d) ORDER BY m NULLS FIRST",
    "SELECT churn_rate(c, CAST(d AS TIMESTAMP) + INTERVAL '23 hours', '2024-03-31', 30) AS r FROM t",
    "SELECT complaint_rate(c, amount > 2.5) AS k FROM t",
    "SELECT g, complaint_rate(c, amount > 2.5) AS k, repurchase_rate(c, o) AS r FROM t GROUP BY g ORDER BY g NULLS FIRST",
    "SELECT g, complaint_rate(c, o = 'a') AS k FROM t GROUP BY g ORDER BY g NULLS FIRST",
    "SELECT g, complaint_rate(c, amount > 2.5) FILTER (WHERE d IS NOT NULL) AS k, sum(amount) AS s FROM t GROUP BY g ORDER BY g NULLS FIRST",
];

async fn run(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Whether the logical or physical plan of `sql` aggregates with a rate's
/// accumulator.
async fn aggregates_a_rate(ctx: &SessionContext, sql: &str) -> bool {
    run(ctx, &format!("EXPLAIN {sql}"))
        .await
        .lines()
        .filter(|l| l.contains("Aggregate"))
        .any(|l| {
            l.contains("repurchase_rate(")
                || l.contains("churn_rate(")
                || l.contains("complaint_rate(")
        })
}

/// A session with the rule, and one with the functions only.
async fn sessions() -> (SessionContext, SessionContext) {
    let with_rule = SessionContext::new();
    crmlake_udfs::register_all(&with_rule).unwrap();
    let plain = SessionContext::new();
    for entry in crmlake_udfs::catalog() {
        entry.register(&plain);
    }
    for ctx in [&with_rule, &plain] {
        ctx.sql(DATA).await.unwrap();
    }
    (with_rule, plain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_plans_answer_as_the_accumulators_do() {
    let (with_rule, plain) = sessions().await;
    for sql in QUERIES {
        assert_eq!(run(&with_rule, sql).await, run(&plain, sql).await, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rates_leave_the_plan() {
    let (with_rule, plain) = sessions().await;
    for sql in QUERIES {
        assert!(!aggregates_a_rate(&with_rule, sql).await, "{sql}");
        // (A grouped query over nothing plans as an empty relation.)
        if !sql.contains("WHERE false GROUP BY") {
            assert!(aggregates_a_rate(&plain, sql).await, "{sql}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_the_rule_cannot_plan_keep_the_accumulator() {
    let (with_rule, _) = sessions().await;
    // Not constant: the accumulator words the error.
    let err = with_rule
        .sql("SELECT churn_rate(c, d, '2024-03-31', 0) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("window_days") && err.contains("whole number"),
        "{err}"
    );
    // Registering twice adds the rule once.
    crmlake_udfs::register_all(&with_rule).unwrap();
    let rules = with_rule
        .state()
        .optimizers()
        .iter()
        .filter(|r| r.name() == crmlake_udfs::kpi::customer_rates_plan::RULE_NAME)
        .count();
    assert_eq!(rules, 1);
}
