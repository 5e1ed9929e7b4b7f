//! Separately fitted recommenders blended into one hybrid model
//! (`hybrid_fit`, in [`super::hybrid_sql`]): e.g. a collaborative model from
//! the purchases and a content model from the product texts.
//!
//! The parts may know different items (a content model knows every
//! described product, a collaborative one only the bought ones), so the
//! blend's catalogue is the union of theirs, in sorted order, and each
//! part's item numbers are renumbered into it: a part scores nothing for an
//! item it does not know (an empty neighbour row, a zero factor vector).
//! Customers, their histories and item popularity come from the first part
//! that was fitted on customers (a content model was not): every part then
//! scores that one history, a content part as its customer profile.
//! Scoring is [`Algorithm::Hybrid`]'s: each part's scores divided by its
//! largest, summed with the part's weight.

use super::interactions::Csr;
use super::model::{Algorithm, RecommenderModel};

/// The parts' models, each with its weight (finite, ≥ 0, checked by the
/// caller), blended into one model.
pub fn blend(parts: Vec<(f64, RecommenderModel)>) -> RecommenderModel {
    let mut items: Vec<String> = parts
        .iter()
        .flat_map(|(_, m)| m.items.iter().cloned())
        .collect();
    items.sort_unstable();
    items.dedup();
    let n = items.len();
    // Old item number -> new, per part (ascending: both lists are sorted).
    let map_of = |m: &RecommenderModel| -> Vec<u32> {
        let mut at = 0usize;
        m.items
            .iter()
            .map(|i| {
                while items[at] != *i {
                    at += 1;
                }
                at as u32
            })
            .collect()
    };
    let base = parts.iter().position(|(_, m)| m.fitted_customers > 0);
    let mut out = RecommenderModel {
        algorithm: Algorithm::Popular,
        items: Vec::new(),
        popularity: vec![0; n],
        customers: Vec::new(),
        history: Csr::default(),
        fit_seconds: parts.iter().map(|(_, m)| m.fit_seconds).sum(),
        histories: false,
        fitted_customers: 0,
        fitted_pairs: 0,
        skipped: serde_json::Map::new(),
    };
    let mut blended = Vec::with_capacity(parts.len());
    for (p, (weight, m)) in parts.into_iter().enumerate() {
        let map = map_of(&m);
        if Some(p) == base {
            for (old, &new) in map.iter().enumerate() {
                out.popularity[new as usize] = m.popularity[old];
            }
            out.history = columns(&m.history, &map);
            out.customers = m.customers;
            out.histories = m.histories;
            out.fitted_customers = m.fitted_customers;
            out.fitted_pairs = m.fitted_pairs;
            out.skipped = m.skipped;
        }
        let mut algorithm = m.algorithm;
        renumber(&mut algorithm, &map, n);
        blended.push((weight, algorithm));
    }
    out.algorithm = Algorithm::Hybrid { parts: blended };
    out.items = items;
    out
}

/// Renumber `algorithm`'s items by `map` into a catalogue of `n`.
fn renumber(algorithm: &mut Algorithm, map: &[u32], n: usize) {
    match algorithm {
        Algorithm::Popular | Algorithm::Repeat => {}
        Algorithm::ItemKnn { matrix, .. }
        | Algorithm::Ease { matrix, .. }
        | Algorithm::Content { matrix, .. } => *matrix = square(matrix, map, n),
        Algorithm::Als {
            params,
            item_factors,
            ..
        } => {
            // An item the part does not know gets a zero vector: it scores
            // 0 and adds nothing to YᵀY, which stays as fitted.
            let f = params.factors;
            let mut factors = vec![0.0f32; n * f];
            for (old, &new) in map.iter().enumerate() {
                let new = new as usize;
                factors[new * f..(new + 1) * f]
                    .copy_from_slice(&item_factors[old * f..(old + 1) * f]);
            }
            *item_factors = factors;
        }
        Algorithm::Hybrid { parts } => {
            for (_, part) in parts {
                renumber(part, map, n);
            }
        }
    }
}

/// `m` with its columns renumbered by `map` (rows unchanged).
fn columns(m: &Csr, map: &[u32]) -> Csr {
    Csr::from_rows((0..m.rows()).map(|r| m.row(r).map(|(j, v)| (map[j as usize], v))))
}

/// An item × item matrix renumbered by `map` on both sides, into `n` rows
/// (the rows of items the part does not know are empty).
fn square(m: &Csr, map: &[u32], n: usize) -> Csr {
    let mut old_of: Vec<Option<usize>> = vec![None; n];
    for (old, &new) in map.iter().enumerate() {
        old_of[new as usize] = Some(old);
    }
    Csr::from_rows(old_of.into_iter().map(|old| {
        old.into_iter()
            .flat_map(|o| m.row(o).map(|(j, v)| (map[j as usize], v)))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommender::interactions::{Interactions, ItemFilter};
    use crate::recommender::model::{Ask, Fit};

    fn model(rows: &[(&str, &str)], fit: Fit) -> RecommenderModel {
        let mut c = crate::recommender::interactions::Collector::default();
        for (cu, it) in rows {
            c.add(cu, it, 1.0);
        }
        let data: Interactions = c.build(ItemFilter {
            min_item_customers: 1,
            max_items: None,
        });
        RecommenderModel::fit(data, fit, true)
    }

    /// Each kind of part, blended with a content model of weight 0 that
    /// knows other items too, ranks the customer's items as it does alone,
    /// its scores divided by its largest (the blend drops scores <= 0).
    #[test]
    fn a_part_keeps_its_scores_under_the_union_numbering() {
        let rows = [
            ("1", "b"),
            ("1", "d"),
            ("2", "b"),
            ("2", "d"),
            ("2", "e"),
            ("3", "d"),
            ("3", "e"),
            ("4", "e"),
        ];
        let content = RecommenderModel::content(
            vec!["a".into(), "b".into(), "c".into()],
            &["red mug".into(), "red cup".into(), "tea".into()],
            crate::recommender::content::Ngrams::Word,
            1,
            10,
        );
        let fits = [
            Fit::Repeat,
            Fit::ItemKnn {
                similarity: crate::recommender::knn::Similarity::Cosine,
                neighbours: 10,
            },
            Fit::Als(crate::recommender::als::AlsParams {
                factors: 2,
                regularization: 0.1,
                alpha: 1.0,
                iterations: 5,
                seed: 1,
                cg_steps: 3,
                linear: false,
            }),
            Fit::Ease {
                lambda: 1.0,
                neighbours: 0,
            },
        ];
        let ask = Ask {
            k: 5,
            ..Ask::default()
        };
        let named = |m: &RecommenderModel, list: Vec<(u32, f64)>| -> Vec<(String, f64)> {
            list.into_iter()
                .map(|(i, s)| (m.items[i as usize].clone(), s))
                .collect()
        };
        for fit in fits {
            let alone = model(&rows, fit.clone());
            let b = blend(vec![(1.0, alone.clone()), (0.0, content.clone())]);
            assert_eq!(b.items, ["a", "b", "c", "d", "e"]);
            assert_eq!(b.popularity, [0, 2, 0, 3, 3]);
            for customer in ["1", "3", "4"] {
                let own = named(&alone, alone.recommend(alone.customer(customer), &ask));
                let top = own.iter().map(|(_, s)| *s).fold(0.0, f64::max);
                let expected: Vec<(String, f64)> = own
                    .into_iter()
                    .filter(|(_, s)| *s > 0.0)
                    .map(|(i, s)| (i, s / top))
                    .collect();
                let blended = named(&b, b.recommend(b.customer(customer), &ask));
                assert_eq!(blended, expected, "{fit:?}, customer {customer}");
            }
        }
    }
}
