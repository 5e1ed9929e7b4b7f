//! A GROUP BY of `rows_agg`s planned in one phase (the physical rule of
//! `rows_agg_plan`) gives the two-phase plan's answers: every query runs in a
//! session with the rule and in one without, over the same rows split into
//! three partitions, and the results must be equal; the rule's plan must
//! aggregate `rows_agg` once (SinglePartitioned) and the plain session's in
//! two phases. A GROUP BY that also sums is left in two phases.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crmlake_udfs::rows_agg_plan::RowsAggOnePhase;

const DAY_US: i64 = 86_400_000_000;
/// 2024-01-01 in µs since the epoch.
const JAN_1: i64 = 19_723 * DAY_US;

/// 40 customers' purchases and returns, 3 partitions.
fn table() -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("amount", DataType::Float64, true),
        Field::new("order_id", DataType::Utf8, true),
    ]));
    let partitions = (0..3)
        .map(|p| {
            let rows: Vec<i64> = (0..120).filter(|i| i % 3 == p).collect();
            let customer: Int64Array = rows.iter().map(|i| Some(i % 40)).collect();
            let ts: TimestampMicrosecondArray = rows
                .iter()
                .map(|i| Some(JAN_1 + (i * 37 % 200) * DAY_US + i))
                .collect();
            // Every seventh line a return of the line's own order.
            let amount: Float64Array = rows
                .iter()
                .map(|i| {
                    Some(if i % 7 == 6 {
                        -5.0
                    } else {
                        10.0 + (i % 11) as f64 * 7.5
                    })
                })
                .collect();
            let order: StringArray = rows.iter().map(|i| Some(format!("o{}", i / 2))).collect();
            vec![RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(customer),
                    Arc::new(ts),
                    Arc::new(amount),
                    Arc::new(order),
                ],
            )
            .unwrap()]
        })
        .collect();
    MemTable::try_new(schema, partitions).unwrap()
}

fn session(with_rule: bool) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(3);
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    if with_rule {
        builder = builder.with_physical_optimizer_rule(Arc::new(RowsAggOnePhase));
    }
    let ctx = SessionContext::new_with_state(builder.build());
    crmlake_udfs::register_all(&ctx).unwrap();
    ctx.register_table("t", Arc::new(table())).unwrap();
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

const RULES: &str = r#"{"earn_rate": 1, "rounding": "floor", "expiry_months": 3, "bonus_periods": [{"from": "2024-03-01", "to": "2024-03-31", "multiplier": 2}], "tiers": {"basis": "amount", "window": "rolling_12_months", "grace_days": 30, "levels": [{"name": "Bronze", "threshold": 0}, {"name": "Silver", "threshold": 100}]}}"#;

fn queries() -> Vec<String> {
    vec![
        // A group's lists in arrival order, which differs between plans:
        // compare them sorted.
        "SELECT customer_id, array_sort(r['amount']) AS a, array_sort(r['order_id']) AS o \
         FROM (SELECT customer_id, rows_agg(amount, order_id) AS r FROM t GROUP BY customer_id) \
         ORDER BY customer_id"
            .to_string(),
        format!(
            "SELECT * FROM points_balance('t', NULL, '{RULES}', '2024-07-31') ORDER BY customer_id"
        ),
        format!(
            "SELECT * FROM points_ledger('t', NULL, '{RULES}', '2024-07-31') \
             ORDER BY customer_id, ts, kind, points, source_id"
        ),
        format!(
            "SELECT * FROM tier_history('t', '{RULES}', NULL, '2024-07-31') \
             ORDER BY customer_id, valid_from"
        ),
        "SELECT customer_id, sum(amount) AS s, array_sort(rows_agg(amount)['amount']) AS a \
         FROM t GROUP BY customer_id ORDER BY customer_id"
            .to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_phase_plans_answer_as_two_phase_plans_do() {
    let (one, two) = (session(true), session(false));
    for sql in queries() {
        let (a, b) = (run(&one, &sql).await, run(&two, &sql).await);
        assert!(
            a.lines().count() > 5,
            "{sql} gave too little to compare:\n{a}"
        );
        assert_eq!(a, b, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_agg_is_aggregated_once_and_a_sum_beside_it_twice() {
    let (one, two) = (session(true), session(false));
    let rows = "EXPLAIN SELECT customer_id, rows_agg(ts, amount) FROM t GROUP BY customer_id";
    let plan = run(&one, rows).await;
    assert!(plan.contains("mode=SinglePartitioned"), "{plan}");
    assert!(!plan.contains("mode=Partial"), "{plan}");
    assert!(
        plan.contains("partitioning=Hash([customer_id@0], 3)"),
        "{plan}"
    );
    let plain = run(&two, rows).await;
    assert!(plain.contains("mode=Partial"), "{plain}");
    assert!(plain.contains("mode=FinalPartitioned"), "{plain}");
    // A sum's partial phase reduces its rows: that plan stays.
    let mixed = "EXPLAIN SELECT customer_id, sum(amount), rows_agg(ts) FROM t GROUP BY customer_id";
    let plan = run(&one, mixed).await;
    assert!(plan.contains("mode=Partial"), "{plan}");
    assert!(!plan.contains("SinglePartitioned"), "{plan}");
}
