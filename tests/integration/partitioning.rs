//! Table functions whose outputs feed model fits give the same bits on any
//! partitioning, and so do the models fitted on them: a nightly retrain on
//! unchanged data, or the same query on a cluster, gives the same model.
//!
//! Before sums of amounts were made exact, `churn_train` over
//! `churn_features` gave a different model on every run at 8 partitions: the
//! features' last bits depended on the order partial sums merged in, and the
//! training's canonical row order is keyed on exact values.

use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::common::*;

const SALES: &str = "SELECT * FROM transactions WHERE customer_id IS NOT NULL AND amount > 0";
const FEATURES: &str = "named_struct('recency_days', recency_days, 'frequency', frequency, \
     'monetary', monetary, 'monetary_90', monetary_90, 'avg_basket_value', avg_basket_value, \
     'gap_std_days', gap_std_days, 'trend_90', trend_90)";

fn queries() -> Vec<String> {
    vec![
        format!("SELECT * FROM rfm('{SALES}', '2011-12-09') ORDER BY customer_id"),
        format!("SELECT * FROM customer_summary('{SALES}', '2011-12-09') ORDER BY customer_id"),
        format!(
            "SELECT * FROM customer_summary_holdout('{SALES}', '2011-06-30', '2011-12-09', 'week') \
             ORDER BY customer_id"
        ),
        format!("SELECT * FROM churn_features('{SALES}', '2011-09-10', 90) ORDER BY customer_id"),
        format!(
            "SELECT churn_train({FEATURES}, churned, 'algorithm=gbt, seed=42') AS model \
             FROM churn_features('{SALES}', '2011-06-12', 90) WHERE churned IS NOT NULL"
        ),
        format!(
            "SELECT gamma_gamma_fit(frequency, monetary) AS model \
             FROM customer_summary('{SALES}', '2011-12-09')"
        ),
    ]
}

/// Every query's result as text; floats print as their shortest round-trip
/// form, so equal text means equal bits.
fn results(partitions: usize) -> Vec<String> {
    let rt = runtime();
    rt.block_on(async {
        let ctx = udf_session(partitions);
        let path = root().join("data/lake/transactions/");
        ctx.register_parquet("transactions", path.to_str().unwrap(), Default::default())
            .await
            .unwrap();
        let mut out = Vec::new();
        for sql in queries() {
            let batches = query(&ctx, &sql).await;
            out.push(pretty_format_batches(&batches).unwrap().to_string());
        }
        out
    })
}

#[test]
fn features_summaries_and_models_have_the_same_bits_on_any_partitioning() {
    let reference = results(1);
    for partitions in [3, 8, 8] {
        let got = results(partitions);
        for (i, (a, b)) in reference.iter().zip(&got).enumerate() {
            assert!(
                a == b,
                "query {i} ({}) differs between 1 and {partitions} partitions",
                queries()[i]
            );
        }
    }
}
