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
