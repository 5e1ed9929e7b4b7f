//! Property tests for k-means: every point counted once, inertia equals the
//! sum of squared distances to the nearest centre (Lloyd's fixed point), the
//! fit is the same on any thread count, stable ids are a permutation when k
//! is unchanged, and models round-trip through their stored form unchanged.

use crmlake_udfs::model::Model;
use crmlake_udfs::segment::kmeans::{fit, nearest, stable_ids, Params};
use crmlake_udfs::segment::kmeans::{KMeansModel, KMeansParams};
use proptest::prelude::*;

fn points() -> impl Strategy<Value = (Vec<f64>, usize)> {
    (1usize..4)
        .prop_flat_map(|d| {
            (
                prop::collection::vec(-100.0f64..100.0, d..(60 * d)),
                Just(d),
            )
        })
        .prop_map(|(mut v, d)| {
            v.truncate(v.len() / d * d);
            (v, d)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn fit_invariants((p, d) in points(), k in 1usize..6, seed in any::<u64>()) {
        let n = p.len() / d;
        let params = Params { k, n_init: 2, max_iter: 100, tol: 1e-6, seed };
        let f = crmlake_udfs::pool::with_threads(2, || fit(&p, d, &params));
        prop_assert_eq!(f.sizes.iter().sum::<u64>(), n as u64);
        prop_assert!(f.sizes.len() == k.min(n));
        let direct: f64 = (0..n).map(|i| nearest(&f.centroids, d, &p[i * d..i * d + d]).1).sum();
        prop_assert!((direct - f.inertia).abs() <= 1e-9 * direct.max(1.0));
        prop_assert_eq!(crmlake_udfs::pool::with_threads(1, || fit(&p, d, &params)), f);
    }

    #[test]
    fn stable_ids_are_a_permutation(c in prop::collection::vec(-10.0f64..10.0, 2..24), shift in 0usize..12) {
        let d = 2;
        let k = c.len() / d;
        let prev = &c[..k * d];
        // The same centres rotated, slightly moved.
        let mut new = Vec::new();
        for i in 0..k {
            let j = (i + shift) % k;
            new.extend(prev[j * d..j * d + d].iter().map(|x| x + 1e-3));
        }
        let mut ids = stable_ids(&new, prev, d);
        for (i, &id) in ids.iter().enumerate() {
            // Each moved centre gets its original's id unless two originals coincide.
            let j = (i + shift) % k;
            prop_assert!(id == j || prev[id * d..id * d + d] == prev[j * d..j * d + d]);
        }
        ids.sort_unstable();
        prop_assert_eq!(ids, (0..k).collect::<Vec<_>>());
    }

    #[test]
    fn kmeans_models_round_trip(
        centroids in prop::collection::vec(prop::collection::vec(-1e9f64..1e9, 3), 1..8),
        inertia in 0.0f64..1e12,
        seed in any::<u64>(),
    ) {
        let k = centroids.len();
        let model = Model::Kmeans {
            params: KMeansParams { k, n_init: 10, max_iter: 300, tol: 1e-4, seed },
            model: KMeansModel {
                features: vec!["recency".into(), "frequency \"x\"".into(), "é".into()],
                mean: vec![0.1 + 0.2, -3.5, 1e-300],
                scale: vec![1.0 / 3.0, 2.0, 7.5],
                centroids,
                sizes: (0..k as u64).collect(),
                inertia,
                iterations: 17,
                converged: true,
                n: 1_000_000,
                skipped: 3,
                relabelled: seed % 2 == 0,
            },
        };
        let text = model.to_json();
        prop_assert_eq!(Model::parse("t", &text).unwrap(), model);
    }
}

/// `rfm` over rows (customer, days before as_of, amount), each row order given.
fn rfm_scores(rows: &[(i64, i32, f64)]) -> std::collections::BTreeMap<i64, [f64; 6]> {
    use datafusion::arrow::array::{AsArray, Date32Array, Float64Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use std::sync::Arc;

    // 2024-03-31 is day 19813 since 1970-01-01.
    const AS_OF: i32 = 19813;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("ts", DataType::Date32, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| AS_OF - r.1),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        crmlake_udfs::register_all(&ctx).unwrap();
        let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let batches = ctx
            .sql(
                "SELECT customer_id, CAST(recency_days AS DOUBLE), CAST(frequency AS DOUBLE), monetary, \
                        CAST(r_score AS DOUBLE), CAST(f_score AS DOUBLE), CAST(m_score AS DOUBLE) \
                 FROM rfm('t', '2024-03-31')",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut out = std::collections::BTreeMap::new();
        for b in &batches {
            let id = b.column(0).as_primitive::<Int64Type>();
            let col = |i: usize| {
                b.column(i)
                    .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .clone()
            };
            let cols: Vec<_> = (1..7).map(col).collect();
            for row in 0..b.num_rows() {
                let v = std::array::from_fn(|k| cols[k].value(row));
                out.insert(id.value(row), v);
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// RFM scores are 1-5, monotone in their value (better never scores
    /// lower, equal always scores equal, so a tie never sits below strictly
    /// worse values), and do not depend on row order; a column where every
    /// customer is tied scores 3.
    #[test]
    fn rfm_scores_are_monotone_tie_fair_and_order_free(
        rows in prop::collection::vec((0i64..12, 0i32..6, 1u8..5), 1..60),
        rotate in 0usize..60,
    ) {
        let rows: Vec<(i64, i32, f64)> = rows.into_iter().map(|(c, d, a)| (c, d, f64::from(a) * 10.0)).collect();
        let got = rfm_scores(&rows);
        let mut shuffled = rows.clone();
        shuffled.reverse();
        let k = rotate % shuffled.len();
        shuffled.rotate_left(k);
        prop_assert_eq!(&rfm_scores(&shuffled), &got);

        // (value column, score column, better is higher)
        for (value, score, higher_better) in [(0, 3, false), (1, 4, true), (2, 5, true)] {
            let all_tied = got.values().all(|v| v[value] == got.values().next().unwrap()[value]);
            for a in got.values() {
                prop_assert!((1.0..=5.0).contains(&a[score]));
                if all_tied {
                    prop_assert_eq!(a[score], 3.0);
                }
                for b in got.values() {
                    let better = if higher_better { a[value] > b[value] } else { a[value] < b[value] };
                    if better {
                        prop_assert!(a[score] >= b[score], "{:?} scores below {:?}", a, b);
                    }
                    if a[value] == b[value] {
                        prop_assert_eq!(a[score], b[score]);
                    }
                }
            }
        }
    }
}
