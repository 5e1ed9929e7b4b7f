//! Property tests for churn: metric invariants (bounds, label flip, order
//! independence), scores in [0, 1], contributions adding up to the raw
//! output for every algorithm, models round-tripping through their stored
//! form with identical scores, and corrupted model values giving errors or
//! scores, never a panic (fuzzing the stored JSON).

use crmlake_udfs::churn::data::{Feature, Frame};
use crmlake_udfs::churn::metrics;
use crmlake_udfs::churn::model::{ChurnModel, TrainOptions};
use crmlake_udfs::churn::score_sql::prepared;
use crmlake_udfs::model::Model;
use proptest::prelude::*;

/// Rows of (x, category, label) with churn more likely for large x and
/// category 2.
fn rows() -> impl Strategy<Value = Vec<(f64, Option<u8>, bool)>> {
    prop::collection::vec(
        (
            prop_oneof![9 => (-50.0f64..50.0).prop_map(|v| v.round()), 1 => Just(f64::NAN)],
            prop::option::weighted(0.9, 0u8..3),
            0.0f64..1.0,
        ),
        20..120,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(x, c, u)| {
                let base = if x.is_nan() { 0.0 } else { x / 100.0 };
                let p = 0.3 + base + if c == Some(2) { 0.2 } else { 0.0 };
                (x, c, u < p)
            })
            .collect()
    })
}

fn frame(rows: &[(f64, Option<u8>, bool)]) -> (Frame, Vec<Feature>) {
    let frame = Frame {
        columns: vec![
            rows.iter().map(|r| r.0).collect(),
            rows.iter()
                .map(|r| r.1.map_or(f64::NAN, f64::from))
                .collect(),
        ],
        labels: rows.iter().map(|r| f64::from(u8::from(r.2))).collect(),
        weights: vec![1.0; rows.len()],
    };
    let features = vec![
        Feature::numeric("x"),
        Feature::categorical("c", ["a", "b", "c"]),
    ];
    (frame, features)
}

const ALGORITHMS: [&str; 3] = [
    "algorithm=logistic",
    "algorithm=gbt, min_samples_leaf=3, max_iter=30",
    "algorithm=random_forest, n_trees=5, seed=2",
];

fn train(rows: &[(f64, Option<u8>, bool)], options: &str) -> ChurnModel {
    let (frame, features) = frame(rows);
    let o = TrainOptions::parse("test", options, 2).unwrap();
    ChurnModel::train(frame, features, &o, 0).unwrap()
}

fn stored(m: &ChurnModel) -> String {
    Model::Churn {
        params: Default::default(),
        model: m.clone(),
    }
    .to_json()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn metric_invariants(pairs in prop::collection::vec(((0u8..20).prop_map(|s| f64::from(s) / 19.0), any::<bool>()), 1..200)) {
        let mut p = pairs.clone();
        let auc = metrics::roc_auc(&mut p);
        let mut flipped: Vec<(f64, bool)> = pairs.iter().map(|&(s, y)| (-s, y)).collect();
        let flipped_auc = metrics::roc_auc(&mut flipped);
        let mut reversed: Vec<(f64, bool)> = pairs.iter().rev().copied().collect();
        prop_assert_eq!(auc, metrics::roc_auc(&mut reversed));
        if let (Some(a), Some(b)) = (auc, flipped_auc) {
            prop_assert!((0.0..=1.0).contains(&a));
            prop_assert!((a + b - 1.0).abs() < 1e-12);
        }
        let mut q = pairs.clone();
        if let Some(ap) = metrics::pr_auc(&mut q) {
            prop_assert!((0.0..=1.0 + 1e-12).contains(&ap));
        }
        let mut q = pairs.clone();
        if let Some(l) = metrics::lift_at(&mut q, 1.0) {
            prop_assert!((l - 1.0).abs() < 1e-9, "lift at 100 % is 1, got {}", l);
        }
        prop_assert!(metrics::log_loss(&pairs).is_some_and(|l| l >= 0.0 && l.is_finite()));
    }

    #[test]
    fn scores_are_probabilities_and_contributions_add_up(rows in rows(), which in 0usize..3) {
        let m = train(&rows, ALGORITHMS[which]);
        let mut s = m.scorer();
        let mut phi = vec![0.0; 2];
        for probe in [[-60.0, 0.0], [0.0, 2.0], [49.0, 1.0], [f64::NAN, f64::NAN], [3.0, 9.0]] {
            let p = s.probability(&probe);
            prop_assert!((0.0..=1.0).contains(&p), "{}", p);
            s.contributions(&probe, &mut phi);
            let raw = s.raw(&probe);
            prop_assert!((m.expected_value + phi[0] + phi[1] - raw).abs() < 1e-9 * raw.abs().max(1.0),
                "{}: {} + {:?} != {}", ALGORITHMS[which], m.expected_value, phi, raw);
        }
    }

    #[test]
    fn batch_scores_equal_row_by_row_scores(rows in rows(), which in 0usize..3) {
        let options = ALGORITHMS[which];
        let m = train(&rows, options);
        let p = prepared("test", &stored(&m)).unwrap();
        // Encoded as churn_score encodes: category codes, NaN for NULL or
        // unseen.
        let columns = vec![
            vec![-60.0, 0.0, 49.0, f64::NAN, 3.0, 12.5, -7.0],
            vec![0.0, 2.0, 1.0, f64::NAN, f64::NAN, 1.0, 2.0],
        ];
        let batch = p.probabilities(&columns);
        let mut s = m.scorer();
        for (i, &b) in batch.iter().enumerate() {
            let want = s.probability(&[columns[0][i], columns[1][i]]);
            if which == 0 {
                // Logistic terms are regrouped per feature: equal up to rounding.
                prop_assert!((b - want).abs() <= 1e-12, "{}: {} vs {}", options, b, want);
            } else {
                prop_assert_eq!(b.to_bits(), want.to_bits(), "{}: {} vs {}", options, b, want);
            }
        }
    }

    #[test]
    fn models_round_trip_unchanged(rows in rows(), which in 0usize..3) {
        let m = train(&rows, ALGORITHMS[which]);
        let text = stored(&m);
        let back = prepared("test", &text).unwrap();
        prop_assert_eq!(&back.model, &m);
        let (mut a, mut b) = (m.scorer(), back.model.scorer());
        for probe in [[-1.0, 0.0], [12.0, 2.0], [f64::NAN, 1.0]] {
            prop_assert_eq!(a.probability(&probe).to_bits(), b.probability(&probe).to_bits());
        }
    }

    #[test]
    fn corrupted_models_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![
            "", "0", "9", "-", "1e308", "99999", "[", "]", "{", "}", ",", "\"", "null", "-1", "true",
        ])), 1..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let rows: Vec<(f64, Option<u8>, bool)> = (0..60)
            .map(|i| (f64::from(i % 17), Some((i % 3) as u8), i % 4 == 0 || i % 17 > 12))
            .collect();
        let mut text = stored(&train(&rows, ALGORITHMS[which]));
        for (at, with) in edits {
            let i = at.index(text.len());
            if text.is_char_boundary(i) && text.is_char_boundary(i + 1) {
                text.replace_range(i..i + 1, with);
            }
        }
        if let Some(c) = cut {
            let i = c.index(text.len());
            if text.is_char_boundary(i) {
                text.truncate(i);
            }
        }
        if let Ok(p) = prepared("test", &text) {
            let mut s = p.model.scorer();
            let mut phi = vec![0.0; p.model.features.len()];
            let probe = vec![1.0; p.model.features.len()];
            let _ = s.probability(&probe);
            s.contributions(&probe, &mut phi);
            // The batch path: mask tables or the block walk.
            let columns = vec![vec![1.0, f64::NAN, 0.0, 2.0]; p.model.features.len()];
            let _ = p.probabilities(&columns);
            let _ = Model::Churn { params: Default::default(), model: p.model.clone() }.info_json();
        }
    }
}
