//! Property tests for market basket mining: FP-growth finds exactly the
//! itemsets an exhaustive count of every basket's subsets finds; support is
//! anti-monotone; rule metrics follow from the itemset counts; results do not
//! depend on basket order, item order or the number of threads; a rules model
//! round-trips through its stored form unchanged; the streaming table
//! functions give the rows of the aggregates behind them at any batch size.

use std::collections::BTreeMap;

use crmlake_udfs::basket::fpgrowth::{frequent_itemsets, Itemsets, Limits};
use crmlake_udfs::basket::items::{Baskets, Values};
use crmlake_udfs::basket::recommend::{BasketRules, RulesParams, StoredRule};
use crmlake_udfs::basket::rules::{association_rules, RuleFilter};
use crmlake_udfs::model::Model;
use proptest::prelude::*;

/// Up to 40 baskets of up to 8 items drawn from 12 (duplicates allowed:
/// the miner must count them once).
fn baskets() -> impl Strategy<Value = Vec<Vec<u32>>> {
    prop::collection::vec(prop::collection::vec(0u32..12, 0..8), 0..40)
}

fn dedup(baskets: &[Vec<u32>]) -> Vec<Vec<u32>> {
    baskets
        .iter()
        .map(|b| {
            let mut b = b.clone();
            b.sort_unstable();
            b.dedup();
            b
        })
        .collect()
}

/// Every itemset of at most `max_len` items (0: any) in at least `min_count`
/// baskets, by enumerating each basket's subsets.
fn enumerate(baskets: &[Vec<u32>], min_count: u64, max_len: usize) -> BTreeMap<Vec<u32>, u64> {
    let mut all = BTreeMap::new();
    for b in dedup(baskets) {
        for mask in 1u32..(1 << b.len()) {
            let set: Vec<u32> = (0..b.len())
                .filter(|k| mask >> k & 1 == 1)
                .map(|k| b[k])
                .collect();
            if max_len == 0 || set.len() <= max_len {
                *all.entry(set).or_insert(0) += 1;
            }
        }
    }
    all.retain(|_, c| *c >= min_count);
    all
}

fn as_map(s: &Itemsets) -> BTreeMap<Vec<u32>, u64> {
    (0..s.len())
        .map(|i| (s.get(i).0.to_vec(), s.get(i).1))
        .collect()
}

fn mine(baskets: &[Vec<u32>], min_count: u64, max_len: usize, threads: usize) -> Itemsets {
    let limits = Limits {
        max_len,
        max_itemsets: usize::MAX,
    };
    crmlake_udfs::pool::with_threads(threads, || {
        frequent_itemsets(&Baskets::from(&dedup(baskets)[..]), 12, min_count, limits)
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn fpgrowth_equals_exhaustive_counting(
        b in baskets(),
        min_count in 1u64..6,
        max_len in 0usize..4,
        threads in 1usize..4,
    ) {
        let got = mine(&b, min_count, max_len, threads);
        prop_assert_eq!(as_map(&got), enumerate(&b, min_count, max_len));
    }

    #[test]
    fn support_is_anti_monotone(b in baskets(), min_count in 1u64..4) {
        let got = as_map(&mine(&b, min_count, 0, 2));
        for (set, count) in &got {
            for drop in 0..set.len() {
                if set.len() == 1 { break; }
                let mut subset = set.clone();
                subset.remove(drop);
                let sub = got.get(&subset);
                prop_assert!(sub.is_some(), "subset {:?} of {:?} missing", subset, set);
                prop_assert!(*sub.unwrap() >= *count);
            }
        }
    }

    #[test]
    fn output_is_invariant_to_basket_item_and_thread_order(
        b in baskets(),
        min_count in 1u64..4,
        seed in any::<u64>(),
    ) {
        // A deterministic shuffle of the baskets and of each basket's items.
        let mut shuffled = b.clone();
        let mut state = seed | 1;
        let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        for i in (1..shuffled.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        for basket in &mut shuffled {
            for i in (1..basket.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                basket.swap(i, j);
            }
        }
        let a = mine(&b, min_count, 0, 1);
        let c = mine(&shuffled, min_count, 0, 3);
        // Same itemsets in the same canonical order.
        prop_assert_eq!(a, c);
    }

    #[test]
    fn rule_metrics_follow_from_itemset_counts(
        b in baskets(),
        min_count in 1u64..4,
        min_confidence in 0.0f64..1.0,
        max_consequent in 1usize..3,
    ) {
        let n = b.len() as u64;
        let sets = mine(&b, min_count, 0, 2);
        let counts = as_map(&sets);
        let filter = RuleFilter { min_confidence, min_lift: 0.0, max_consequent };
        let rules = association_rules(&sets, n, filter);
        let mut expected = 0;
        for (set, _) in counts.iter().filter(|(s, _)| s.len() >= 2) {
            // Every split into antecedent and a consequent of allowed size.
            for mask in 1u32..(1 << set.len()) - 1 {
                let cons: Vec<u32> = (0..set.len()).filter(|k| mask >> k & 1 == 1).map(|k| set[k]).collect();
                let ante: Vec<u32> = (0..set.len()).filter(|k| mask >> k & 1 == 0).map(|k| set[k]).collect();
                if cons.len() <= max_consequent
                    && counts[set] as f64 / counts[&ante] as f64 >= min_confidence
                {
                    expected += 1;
                }
            }
        }
        prop_assert_eq!(rules.len(), expected);
        for r in rules.iter() {
            let union: Vec<u32> = {
                let mut u = r.antecedent.iter().chain(r.consequent).copied().collect::<Vec<_>>();
                u.sort_unstable();
                u
            };
            let m = r.metrics(n);
            let (s, sa, sc) = (counts[&union] as f64 / n as f64, counts[r.antecedent] as f64 / n as f64, counts[r.consequent] as f64 / n as f64);
            prop_assert!((m.support - s).abs() < 1e-15);
            prop_assert!((m.confidence - s / sa).abs() < 1e-12);
            prop_assert!(m.confidence >= min_confidence && m.confidence <= 1.0);
            prop_assert!((m.lift - s / (sa * sc)).abs() <= 1e-12 * m.lift);
            prop_assert!((m.leverage - (s - sa * sc)).abs() < 1e-12);
            prop_assert!(m.conviction.is_infinite() || (m.conviction - (1.0 - sc) / (1.0 - m.confidence)).abs() <= 1e-9 * m.conviction.abs());
        }
        // Best lift first.
        for i in 1..rules.len() {
            prop_assert!(rules.get(i - 1).metrics(n).lift >= rules.get(i).metrics(n).lift);
        }
    }

    #[test]
    fn rules_models_round_trip_unchanged(
        confidences in prop::collection::vec(0.0f64..=1.0, 0..20),
        lift in 0.0f64..1e6,
        ints in any::<bool>(),
    ) {
        let rules: Vec<StoredRule> = confidences.iter().enumerate().map(|(i, &c)| StoredRule {
            antecedent: vec![i as u32, i as u32 + 1],
            consequent: vec![i as u32 + 2],
            count: i as u64 * 7,
            confidence: c,
            lift: lift / (i as f64 + 1.0),
        }).collect();
        let k = confidences.len() + 2;
        let items = if ints {
            Values::Int((0..k as i64).map(|i| i * -31).collect())
        } else {
            Values::Str((0..k).map(|i| format!("item \"{i}\" é")).collect())
        };
        let model = Model::BasketRules {
            params: RulesParams {
                min_support: 0.1 + 0.2,
                min_confidence: 1.0 / 3.0,
                max_len: 0,
                min_lift: 1.2,
                max_consequent: 1,
                max_rules: 100_000,
                max_basket_items: 0,
            },
            rules: BasketRules {
                baskets: 88_162,
                min_count: 89,
                itemsets: 7_589,
                rule_count: rules.len() as u64,
                rules_before_cap: None,
                skipped_baskets: 0,
                items,
                item_counts: (0..k as u64).rev().collect(),
                rules,
            },
        };
        let text = model.to_json();
        prop_assert_eq!(Model::parse("t", &text).unwrap(), model);
    }
}

/// The rows of `sql` in `ctx`, concatenated, with how many batches came.
async fn rows_of(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> (datafusion::arrow::array::RecordBatch, usize) {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let schema = ctx.sql(sql).await.unwrap().schema().inner().clone();
    let n = batches.len();
    (
        datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap(),
        n,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The streaming table functions give the rows of the aggregates behind
    /// them, in the same order, at any batch size and partitioning, in
    /// batches of at most `batch_size` rows.
    #[test]
    fn streamed_rows_equal_the_aggregate_rows(
        b in baskets(),
        batch_size in 1usize..20,
        partitions in 1usize..4,
    ) {
        use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::datasource::MemTable;
        use datafusion::prelude::{SessionConfig, SessionContext};
        use std::sync::Arc;

        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let config = SessionConfig::new()
                .with_target_partitions(partitions)
                .with_batch_size(batch_size);
            let ctx = SessionContext::new_with_config(config);
            crmlake_udfs::register_all(&ctx).unwrap();
            let (ids, items): (Vec<i64>, Vec<i64>) = b
                .iter()
                .enumerate()
                .flat_map(|(id, items)| items.iter().map(move |&i| (id as i64, i as i64)))
                .unzip();
            let schema = Arc::new(Schema::new(vec![
                Field::new("basket_id", DataType::Int64, false),
                Field::new("item", DataType::Int64, false),
            ]));
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(ids)), Arc::new(Int64Array::from(items))],
            )
            .unwrap();
            // One part per partition, so partial baskets merge.
            let parts: Vec<Vec<RecordBatch>> = (0..partitions)
                .map(|p| {
                    let len = batch.num_rows();
                    let (from, to) = (len * p / partitions, len * (p + 1) / partitions);
                    vec![batch.slice(from, to - from)]
                })
                .collect();
            ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
                .unwrap();
            for (table, aggregate) in [
                (
                    "association_rules('t', 0.1, 0.0, 'max_consequent=2')",
                    "association_rules_agg(basket_id, item, 0.1, 0.0, 'max_consequent=2')",
                ),
                ("frequent_itemsets('t', 0.1)", "frequent_itemsets_agg(basket_id, item, 0.1)"),
            ] {
                let (streamed, batches) = rows_of(&ctx, &format!("SELECT * FROM {table}")).await;
                let (whole, _) = rows_of(
                    &ctx,
                    &format!("SELECT unnest(r) AS s FROM (SELECT {aggregate} AS r FROM t)"),
                )
                .await;
                let whole = whole.column(0).as_struct();
                prop_assert_eq!(whole.len(), streamed.num_rows(), "{}", table);
                prop_assert!(batches <= streamed.num_rows().div_ceil(batch_size).max(1));
                for (c, column) in whole.columns().iter().enumerate() {
                    prop_assert_eq!(column, streamed.column(c), "{} column {}", table, c);
                }
            }
            Ok(())
        })?;
    }
}
