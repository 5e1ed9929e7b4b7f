//! Item–item nearest neighbours (`algorithm=item_knn`), as the `implicit`
//! library's `CosineRecommender`, `TFIDFRecommender` and `BM25Recommender`
//! (0.7) compute them, so their scores can be compared to 1e-9.
//!
//! Each item is a vector over customers, weighted by the similarity scheme
//! (X = the item × customer matrix of summed weights, N = items, df(u) =
//! items customer u bought):
//! - `cosine`: x_iu / ‖x_i‖;
//! - `tfidf`: sqrt(x_iu)·idf(u), then divided by the row's norm, with
//!   idf(u) = ln N − ln(1 + df(u));
//! - `bm25`: x_iu·(K1 + 1) / (K1·len_i + x_iu)·idf(u), len_i = (1 − B) + B ·
//!   Σ_u x_iu / mean over items of Σ_u x_iu; K1 = 1.2, B = 0.75 (implicit's
//!   defaults; options `bm25_k1`, `bm25_b`).
//!
//! The similarity of items i and j is the dot product of their vectors; an
//! item keeps its `neighbours` (K) most similar items, itself included, and
//! of items tied at the cut the same ones implicit keeps
//! ([`first_k_best`]), so the item–item matrix is implicit's. A customer's score for item j is
//! Σ_i w_ci · sim(i, j) over the items i they bought (weights as given, not
//! reweighted) and the neighbours j of each.
//!
//! Why our own code: this is one sparse product per item and a top-K; the
//! work is split over the shared pool in fixed chunks of items (see
//! [`crate::pool`]), each with a dense accumulator of one value per item.

use serde::{Deserialize, Serialize};

use super::interactions::Csr;

/// How item vectors are weighted before their dot products.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    Cosine,
    Tfidf,
    Bm25 { k1: f64, b: f64 },
}

impl Similarity {
    pub fn name(&self) -> &'static str {
        match self {
            Similarity::Cosine => "cosine",
            Similarity::Tfidf => "tfidf",
            Similarity::Bm25 { .. } => "bm25",
        }
    }
}

/// The item × customer matrix `items_by_customer` (the transpose of the
/// customer × item matrix), weighted in place under `scheme`.
pub fn weighted(items_by_customer: Csr, customers: usize, scheme: Similarity) -> Csr {
    let mut x = items_by_customer;
    let n = x.rows() as f64;
    let idf = || {
        let mut df = vec![0u64; customers];
        for &u in &x.indices {
            df[u as usize] += 1;
        }
        df.iter()
            .map(|&d| n.ln() - (d as f64).ln_1p())
            .collect::<Vec<f64>>()
    };
    match scheme {
        Similarity::Cosine => normalize(&mut x),
        Similarity::Tfidf => {
            let idf = idf();
            for (v, &u) in x.values.iter_mut().zip(&x.indices) {
                *v = v.sqrt() * idf[u as usize];
            }
            normalize(&mut x);
        }
        Similarity::Bm25 { k1, b } => {
            let idf = idf();
            let sums: Vec<f64> = (0..x.rows())
                .map(|i| x.row(i).map(|(_, v)| v).sum())
                .collect();
            let mean = sums.iter().sum::<f64>() / n;
            for (i, sum) in sums.iter().enumerate() {
                let len = (1.0 - b) + b * sum / mean;
                for at in x.indptr[i]..x.indptr[i + 1] {
                    let v = x.values[at];
                    x.values[at] = v * (k1 + 1.0) / (k1 * len + v) * idf[x.indices[at] as usize];
                }
            }
        }
    }
    x
}

/// Divide each row by its Euclidean norm. A row of zeros (an item whose
/// weights are all 0) stays zeros, where implicit would divide by 0.
fn normalize(x: &mut Csr) {
    for i in 0..x.rows() {
        let (a, b) = (x.indptr[i], x.indptr[i + 1]);
        let norm = x.values[a..b].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            for v in &mut x.values[a..b] {
                *v /= norm;
            }
        }
    }
}

/// Items per chunk of parallel work (fixed: results do not depend on the
/// pool's size).
const CHUNK: usize = 64;

/// Each item's `k` most similar items (itself included) with their
/// similarity, most similar first (ties by item): row i of the result,
/// whose indices are in that order, not ascending.
pub fn neighbours(weighted_items: &Csr, customers: usize, k: usize) -> Csr {
    let n = weighted_items.rows();
    let by_customer = weighted_items.transpose(customers);
    let chunks = n.div_ceil(CHUNK);
    let parts = crate::pool::map(chunks, |c| {
        let mut acc = vec![0.0f64; n];
        // Which items row i has touched: stamp i + 1 (no clearing needed).
        let mut stamp = vec![0u32; n];
        let mut touched: Vec<u32> = Vec::new();
        let mut out: Vec<Vec<(u32, f64)>> = Vec::with_capacity(CHUNK);
        for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
            for (u, w1) in weighted_items.row(i) {
                for (j, w2) in by_customer.row(u as usize) {
                    if stamp[j as usize] != i as u32 + 1 {
                        stamp[j as usize] = i as u32 + 1;
                        touched.push(j);
                    }
                    acc[j as usize] += w2 * w1;
                }
            }
            // implicit visits the touched items last-touched first.
            let row = first_k_best(touched.iter().rev().map(|&j| (j, acc[j as usize])), k);
            for &j in &touched {
                acc[j as usize] = 0.0;
            }
            touched.clear();
            out.push(row);
        }
        out
    });
    Csr::from_rows(parts.into_iter().flatten())
}

/// The `k` best of `candidates` as implicit's `TopK` keeps them: once `k`
/// are kept, a candidate enters only with a score strictly above the
/// lowest kept, which it replaces (of equal lowest scores, the lower item
/// number leaves first). So of items tied at the cut, those visited first
/// stay. Returned best first, ties by item.
pub fn first_k_best(candidates: impl Iterator<Item = (u32, f64)>, k: usize) -> Vec<(u32, f64)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    struct Key(f64, u32);
    impl PartialEq for Key {
        fn eq(&self, o: &Self) -> bool {
            self.cmp(o).is_eq()
        }
    }
    impl Eq for Key {}
    impl PartialOrd for Key {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Key {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
        }
    }
    let mut heap: BinaryHeap<Reverse<Key>> = BinaryHeap::with_capacity(k + 1);
    for (j, s) in candidates {
        let full = heap.len() >= k;
        if !full || heap.peek().is_some_and(|Reverse(m)| s > m.0) {
            if full {
                heap.pop();
            }
            heap.push(Reverse(Key(s, j)));
        }
    }
    let mut row: Vec<(u32, f64)> = heap.into_iter().map(|Reverse(Key(s, j))| (j, s)).collect();
    top_k(&mut row, k);
    row
}

/// Keep the `k` largest by score (ties by index), sorted that way.
pub fn top_k(row: &mut Vec<(u32, f64)>, k: usize) {
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if row.len() > k {
        row.select_nth_unstable_by(k, order);
        row.truncate(k);
    }
    row.sort_unstable_by(order);
}
