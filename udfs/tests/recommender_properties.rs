//! Property tests for the per-customer recommenders: a model round-trips
//! through its stored form unchanged; it does not depend on row order;
//! item–item similarity is symmetric where both directions are kept and a
//! cosine similarity is at most 1; recommendations are at most k distinct
//! items, best first, leave out what `exclude_seen` and `exclude` say, and
//! ranking metrics stay in [0, 1]. Every algorithm is covered: popular,
//! repeat, item_knn, ALS, EASE and a hybrid.

use crmlake_udfs::model::Model;
use crmlake_udfs::recommender::als::AlsParams;
use crmlake_udfs::recommender::content::Ngrams;
use crmlake_udfs::recommender::interactions::{Collector, ItemFilter};
use crmlake_udfs::recommender::knn::Similarity;
use crmlake_udfs::recommender::metrics::ranking;
use crmlake_udfs::recommender::model::{Ask, Fit, RecommenderModel};
use proptest::prelude::*;

/// Up to 60 (customer, item, weight) rows over 15 customers and 10 items.
fn rows() -> impl Strategy<Value = Vec<(u8, u8, f64)>> {
    prop::collection::vec((0u8..15, 0u8..10, 0.0f64..5.0), 1..60)
}

fn fits() -> impl Strategy<Value = Fit> {
    prop_oneof![
        Just(Fit::Popular),
        Just(Fit::Repeat),
        (1usize..12).prop_map(|k| Fit::ItemKnn {
            similarity: Similarity::Cosine,
            neighbours: k
        }),
        (1usize..12).prop_map(|k| Fit::ItemKnn {
            similarity: Similarity::Tfidf,
            neighbours: k
        }),
        (1usize..12).prop_map(|k| Fit::ItemKnn {
            similarity: Similarity::Bm25 { k1: 1.2, b: 0.75 },
            neighbours: k
        }),
        (1usize..5, 0u64..100).prop_map(|(f, seed)| Fit::Als(AlsParams {
            factors: f,
            iterations: 3,
            seed,
            regularization: 0.1,
            ..AlsParams::default()
        })),
        (0usize..6, 0.1f64..20.0).prop_map(|(k, lambda)| Fit::Ease {
            lambda,
            neighbours: k
        }),
        (0.1f64..1.0).prop_map(|w| Fit::Hybrid(vec![
            (w, Fit::Repeat),
            (
                1.0 - w + 0.01,
                Fit::ItemKnn {
                    similarity: Similarity::Cosine,
                    neighbours: 5
                }
            ),
            (
                0.5,
                Fit::Ease {
                    lambda: 1.0,
                    neighbours: 0
                }
            ),
        ])),
    ]
}

/// Whether the algorithm's scores are never negative (ALS and EASE weights
/// can be).
fn non_negative(how: &Fit) -> bool {
    matches!(how, Fit::Popular | Fit::Repeat | Fit::ItemKnn { .. })
}

fn fit(rows: &[(u8, u8, f64)], how: Fit) -> RecommenderModel {
    fit_with(rows, how, true)
}

fn fit_with(rows: &[(u8, u8, f64)], how: Fit, histories: bool) -> RecommenderModel {
    let mut c = Collector::default();
    for &(u, i, w) in rows {
        c.add(&format!("c{u}"), &format!("i{i}"), w);
    }
    let data = c.build(ItemFilter {
        min_item_customers: 1,
        max_items: None,
    });
    let mut m = RecommenderModel::fit(data, how, histories);
    m.fit_seconds = 0.0;
    m
}

proptest! {
    /// content_fit's model: stored and read back unchanged; cosines in
    /// [0, 1] (1 + rounding) and symmetric where both directions are kept.
    #[test]
    fn a_content_model_round_trips_and_its_cosines_are_symmetric(
        texts in prop::collection::vec("[a-d ]{0,12}", 1..8), k in 1usize..10,
    ) {
        let items: Vec<String> = (0..texts.len()).map(|i| format!("i{i}")).collect();
        let mut m = RecommenderModel::content(items, &texts, Ngrams::Both, 1, k);
        m.fit_seconds = 0.0;
        let model = Model::Recommender { params: serde_json::Map::new(), model: m.clone() };
        prop_assert_eq!(Model::parse("test", &model.to_json()).unwrap(), model);
        for i in 0..texts.len() as u32 {
            for (j, s) in m.similar(i, 10).unwrap() {
                prop_assert!((0.0..=1.0 + 1e-12).contains(&s));
                if let Some(back) = m.similar(j, 10).unwrap().iter().find(|p| p.0 == i) {
                    prop_assert!((back.1 - s).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn a_model_round_trips_through_its_stored_form(rows in rows(), how in fits(), histories in any::<bool>()) {
        let model = Model::Recommender { params: serde_json::Map::new(), model: fit_with(&rows, how, histories) };
        let back = Model::parse("test", &model.to_json()).unwrap();
        prop_assert_eq!(back, model);
    }

    #[test]
    fn row_order_does_not_change_the_model(rows in rows(), how in fits(), seed in 0u64..1000) {
        let mut shuffled = rows.clone();
        // A deterministic shuffle.
        let n = shuffled.len();
        for i in 0..n {
            let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) % n as u64) as usize;
            shuffled.swap(i, j);
        }
        let (a, b) = (fit(&rows, how.clone()), fit(&shuffled, how));
        // Sums of one (customer, item) may differ in the last bit when
        // rows arrive in another order; the canonical order makes them equal.
        prop_assert_eq!(a, b);
    }

    #[test]
    fn recommendations_are_k_distinct_items_best_first(
        rows in rows(), how in fits(), k in 1usize..8, customer in 0u8..17,
        exclude_seen in any::<bool>(), excluded in prop::collection::vec(0u8..10, 0..3),
    ) {
        let positive = non_negative(&how);
        let m = fit(&rows, how);
        let mut exclude: Vec<u32> = excluded.iter().filter_map(|i| m.item(&format!("i{i}"))).collect();
        exclude.sort_unstable();
        exclude.dedup();
        let row = m.customer(&format!("c{customer}"));
        let got = m.recommend(row, &Ask { k, exclude_seen, exclude: &exclude });
        prop_assert!(got.len() <= k);
        let mut items: Vec<u32> = got.iter().map(|p| p.0).collect();
        items.sort_unstable();
        items.dedup();
        prop_assert_eq!(items.len(), got.len());
        for w in got.windows(2) {
            prop_assert!(w[0].1 >= w[1].1);
        }
        for (i, s) in &got {
            prop_assert!(s.is_finite() && (*s >= 0.0 || !positive));
            prop_assert!(exclude.binary_search(i).is_err());
            if let (Some(r), true) = (row, exclude_seen) {
                prop_assert!(m.history.row(r).all(|(j, _)| j != *i));
            }
        }
    }

    /// A customer's items given as a list score as the customer does, with
    /// or without the histories in the model (weights of 1 per row).
    #[test]
    fn a_history_list_scores_as_the_stored_history(
        rows in rows(), how in fits(), k in 1usize..8, exclude_seen in any::<bool>(),
    ) {
        let ones: Vec<(u8, u8, f64)> = rows.iter().map(|&(c, i, _)| (c, i, 1.0)).collect();
        let (with, without) = (fit_with(&ones, how.clone(), true), fit_with(&ones, how, false));
        for c in 0u8..15 {
            let items: Vec<String> = ones.iter().filter(|r| r.0 == c).map(|r| format!("i{}", r.1)).collect();
            let ask = Ask { k, exclude_seen, exclude: &[] };
            let by_id = with.recommend(with.customer(&format!("c{c}")), &ask);
            let history = without.history_of(items.iter().map(String::as_str));
            prop_assert_eq!(&by_id, &without.recommend_from(Some(&history), &ask));
        }
    }

    #[test]
    fn cosine_similarity_is_at_most_one_and_symmetric(rows in rows()) {
        // All neighbours kept: the matrix is the full symmetric one.
        let m = fit(&rows, Fit::ItemKnn { similarity: Similarity::Cosine, neighbours: 100 });
        for i in 0..m.items.len() as u32 {
            for (j, s) in m.similar(i, 100).unwrap() {
                prop_assert!(s <= 1.0 + 1e-12);
                let back = m.similar(j, 100).unwrap();
                let r = back.iter().find(|p| p.0 == i).map(|p| p.1);
                prop_assert!(r.is_some_and(|r| (r - s).abs() <= 1e-12), "{} {} {} {:?}", i, j, s, r);
            }
        }
    }

    #[test]
    fn ranking_metrics_are_in_0_1(
        recs in prop::collection::vec(0u8..12, 0..12),
        relevant in prop::collection::vec(0u8..12, 0..6),
        k in 1usize..12,
    ) {
        if let Some(m) = ranking(&recs, &relevant, k) {
            for v in [m.precision, m.recall, m.hit, m.ndcg, m.ap] {
                prop_assert!((0.0..=1.0 + 1e-12).contains(&v), "{:?}", m);
            }
            prop_assert!(m.hit == 0.0 || m.precision > 0.0);
        } else {
            prop_assert!(relevant.is_empty());
        }
    }
}
