//! Inductive Venn–Abers calibration (Vovk and Petej 2014, "Venn–Abers
//! predictors"; Vovk, Petej and Fedorova 2015 for the large-scale form).
//!
//! For a new score s, the calibration set is fitted twice by isotonic
//! regression, once with (s, 0) added and once with (s, 1): the two fitted
//! values at s are p0 <= p1, an interval that is valid (one of the two is a
//! calibrated probability) whatever the score's distribution. The single
//! probability is p1 / (1 - p0 + p1), the one that minimises the worst
//! log loss over the pair.
//!
//! p0 and p1 depend only on where s falls among the calibration set's
//! distinct scores (below the first, equal to one, between two, above the
//! last), so all 2k + 1 cases are computed when fitting. Each case starts
//! from the pool-adjacent-violators blocks of the scores left of s and of
//! those right of it (kept for every prefix and suffix as linked stacks,
//! O(k) in all) and pools the new point with its neighbouring blocks while
//! they violate the order: the same fit as pooling from scratch, since
//! pooling adjacent violators in any order ends at the one isotonic fit.
//! The model keeps one entry per run of equal (p0, p1).

use serde::{Deserialize, Serialize};

use super::isotonic::{Block, Groups};

/// Where a run of equal (p0, p1) starts: scores above `from`, or from
/// `from` on when `inclusive`; every score when `from` is None (the first).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub from: Option<f64>,
    pub inclusive: bool,
    pub p0: f64,
    pub p1: f64,
}

impl Segment {
    fn admits(&self, score: f64) -> bool {
        match self.from {
            None => true,
            Some(from) => score > from || (self.inclusive && score == from),
        }
    }
}

/// A fitted Venn–Abers calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VennAbers {
    /// In increasing order of where they start; the first admits every score.
    pub segments: Vec<Segment>,
}

/// A linked stack of blocks: `nodes[i]` lies on `prev[i]`.
#[derive(Default)]
struct Stacks {
    blocks: Vec<Block>,
    below: Vec<Option<usize>>,
}

impl Stacks {
    /// Push `block` on the stack topped by `top`, pooling it with the
    /// blocks it violates by `violates(existing, new)`; the new top.
    fn push(
        &mut self,
        mut top: Option<usize>,
        mut block: Block,
        violates: impl Fn(&Block, &Block) -> bool,
    ) -> usize {
        while let Some(t) = top {
            if !violates(&self.blocks[t], &block) {
                break;
            }
            block = self.blocks[t].merge(block);
            top = self.below[t];
        }
        self.blocks.push(block);
        self.below.push(top);
        self.blocks.len() - 1
    }
}

/// Left of a point, a block violates when its mean is at least the point's
/// block's; right of it, when at most.
fn left_violates(existing: &Block, new: &Block) -> bool {
    existing.mean() >= new.mean()
}

fn right_violates(existing: &Block, new: &Block) -> bool {
    existing.mean() <= new.mean()
}

impl VennAbers {
    /// Fit on `scores` (finite) and `labels`; at least one row.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Result<VennAbers, String> {
        if scores.is_empty() {
            return Err("Venn-Abers calibration needs at least one row".into());
        }
        let g = Groups::new(scores, labels);
        let k = g.scores.len();
        let group = |j: usize| Block {
            weight: g.counts[j],
            sum: g.positives[j],
        };
        // left_top[i]: the fit of groups 0..i; right_top[i]: of groups i..k.
        let mut left = Stacks::default();
        let mut left_top = vec![None; k + 1];
        for j in 0..k {
            left_top[j + 1] = Some(left.push(left_top[j], group(j), left_violates));
        }
        let mut right = Stacks::default();
        let mut right_top = vec![None; k + 1];
        for j in (0..k).rev() {
            right_top[j] = Some(right.push(right_top[j + 1], group(j), right_violates));
        }
        // The fitted value of `middle` between the two stacks.
        let fit = |mut middle: Block, mut l: Option<usize>, mut r: Option<usize>| -> f64 {
            loop {
                if let Some(i) = l.filter(|&i| left_violates(&left.blocks[i], &middle)) {
                    middle = left.blocks[i].merge(middle);
                    l = left.below[i];
                } else if let Some(i) = r.filter(|&i| right_violates(&right.blocks[i], &middle)) {
                    middle = middle.merge(right.blocks[i]);
                    r = right.below[i];
                } else {
                    return middle.mean();
                }
            }
        };
        let point = |label: f64| Block {
            weight: 1.0,
            sum: label,
        };
        let mut segments: Vec<Segment> = Vec::new();
        let mut add = |from: Option<f64>, inclusive: bool, p0: f64, p1: f64| {
            if let Some(last) = segments.last() {
                if last.p0 == p0 && last.p1 == p1 {
                    return;
                }
            }
            segments.push(Segment {
                from,
                inclusive,
                p0,
                p1,
            });
        };
        for i in 0..=k {
            // Strictly between groups i - 1 and i.
            let (from, inclusive) = if i == 0 {
                (None, true)
            } else {
                (Some(g.scores[i - 1]), false)
            };
            add(
                from,
                inclusive,
                fit(point(0.0), left_top[i], right_top[i]),
                fit(point(1.0), left_top[i], right_top[i]),
            );
            // Equal to group i.
            if i < k {
                let with = |label: f64| group(i).merge(point(label));
                add(
                    Some(g.scores[i]),
                    true,
                    fit(with(0.0), left_top[i], right_top[i + 1]),
                    fit(with(1.0), left_top[i], right_top[i + 1]),
                );
            }
        }
        Ok(VennAbers { segments })
    }

    /// (p0, p1) for `score`.
    pub fn interval(&self, score: f64) -> (f64, f64) {
        let n = self.segments.partition_point(|s| s.admits(score));
        let s = &self.segments[n.saturating_sub(1)];
        (s.p0, s.p1)
    }

    /// The single probability p1 / (1 - p0 + p1).
    pub fn probability(&self, score: f64) -> f64 {
        let (p0, p1) = self.interval(score);
        p1 / (1.0 - p0 + p1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::isotonic::pava;
    use super::*;
    use proptest::prelude::*;

    /// (p0, p1) by pooling from scratch with the point added.
    fn naive(scores: &[f64], labels: &[bool], s: f64) -> (f64, f64) {
        let at = |label: bool| {
            let mut sc = scores.to_vec();
            let mut la = labels.to_vec();
            sc.push(s);
            la.push(label);
            let g = Groups::new(&sc, &la);
            let blocks = pava(
                g.counts
                    .iter()
                    .zip(&g.positives)
                    .map(|(&w, &p)| Block { weight: w, sum: p }),
            );
            let i = g.scores.iter().position(|&x| x == s).unwrap();
            let mut seen = 0;
            for (b, n) in blocks {
                seen += n;
                if i < seen {
                    return b.mean();
                }
            }
            unreachable!()
        };
        (at(false), at(true))
    }

    proptest! {
        #[test]
        fn equals_pooling_from_scratch(
            rows in proptest::collection::vec((0u8..12, any::<bool>()), 1..60),
            probe in 0u8..26,
        ) {
            let scores: Vec<f64> = rows.iter().map(|r| r.0 as f64).collect();
            let labels: Vec<bool> = rows.iter().map(|r| r.1).collect();
            let va = VennAbers::fit(&scores, &labels).unwrap();
            // Probes on, between and outside the scores.
            let s = probe as f64 / 2.0 - 0.5;
            let (p0, p1) = va.interval(s);
            let (n0, n1) = naive(&scores, &labels, s);
            prop_assert!((p0 - n0).abs() < 1e-12 && (p1 - n1).abs() < 1e-12,
                "s={} got ({}, {}) naive ({}, {})", s, p0, p1, n0, n1);
            prop_assert!(p0 <= p1);
            let p = va.probability(s);
            prop_assert!((0.0..=1.0).contains(&p));
        }
    }
}
