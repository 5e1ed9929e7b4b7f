//! Ranking metrics of one customer's recommendations against the items
//! they then bought (binary relevance), at cut-off k:
//!
//! - precision@k = hits / k (k, not min(k, |relevant|): a list that could
//!   not be filled still counts its empty places);
//! - recall@k = hits / |relevant|;
//! - hit@k = 1 when at least one hit;
//! - NDCG@k = DCG / IDCG with DCG = Σ_{r ≤ k, hit at r} 1 / log2(r + 1) and
//!   IDCG the DCG of min(k, |relevant|) hits at the top;
//! - AP@k = Σ_{r ≤ k, hit at r} precision@r / min(k, |relevant|).
//!
//! Means over customers give precision, recall, hit rate, NDCG and MAP.
//! Repeated items in the recommendations count once (the first place).

/// One customer's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ranking {
    pub precision: f64,
    pub recall: f64,
    pub hit: f64,
    pub ndcg: f64,
    pub ap: f64,
}

/// The metrics of `recommended` (best first) against the set `relevant`
/// (None when nothing is relevant: the customer cannot be scored).
pub fn ranking<T: PartialEq>(recommended: &[T], relevant: &[T], k: usize) -> Option<Ranking> {
    let mut distinct: Vec<&T> = Vec::new();
    for r in recommended {
        if !distinct.contains(&r) {
            distinct.push(r);
        }
    }
    let mut relevant_set: Vec<&T> = Vec::new();
    for r in relevant {
        if !relevant_set.contains(&r) {
            relevant_set.push(r);
        }
    }
    if relevant_set.is_empty() || k == 0 {
        return None;
    }
    let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
    for (r, item) in distinct.iter().take(k).enumerate() {
        if relevant_set.contains(item) {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
            ap += hits as f64 / (r + 1) as f64;
        }
    }
    let ideal = k.min(relevant_set.len());
    let idcg: f64 = (0..ideal).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
    Some(Ranking {
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant_set.len() as f64,
        hit: (hits > 0) as u8 as f64,
        ndcg: dcg / idcg,
        ap: ap / ideal as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: k = 3, hits at ranks 1 and 3 of 3 relevant items.
    #[test]
    fn metrics_by_hand() {
        let m = ranking(&["a", "x", "b"], &["a", "b", "c"], 3).unwrap();
        assert_eq!(m.precision, 2.0 / 3.0);
        assert_eq!(m.recall, 2.0 / 3.0);
        assert_eq!(m.hit, 1.0);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((m.ndcg - dcg / idcg).abs() < 1e-15);
        assert!((m.ap - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-15);
        // One relevant item at rank 2 of k = 10; a short list.
        let m = ranking(&["x", "a"], &["a"], 10).unwrap();
        assert_eq!((m.precision, m.recall, m.ap), (0.1, 1.0, 0.5));
        assert!((m.ndcg - 1.0 / 3f64.log2()).abs() < 1e-15);
        assert_eq!(ranking::<&str>(&["a"], &[], 10), None);
    }
}
