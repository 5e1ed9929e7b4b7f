//! Isotonic calibration: the non-decreasing step function of the score
//! closest to the labels in squared error, by pool-adjacent-violators
//! (Ayer et al. 1955; Zadrozny and Elkan 2002 for calibration), then linear
//! interpolation between the fitted points and clipping outside them, as
//! scikit-learn's `IsotonicRegression(out_of_bounds="clip")` (what
//! `CalibratedClassifierCV(method="isotonic")` uses) predicts.

use serde::{Deserialize, Serialize};

/// Scores grouped by value: each distinct score with its row count and
/// number of positives, in increasing score order.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    pub scores: Vec<f64>,
    pub counts: Vec<f64>,
    pub positives: Vec<f64>,
}

impl Groups {
    /// Group `scores` (finite) with their `labels`.
    pub fn new(scores: &[f64], labels: &[bool]) -> Groups {
        let mut pairs: Vec<(f64, bool)> =
            scores.iter().copied().zip(labels.iter().copied()).collect();
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut g = Groups {
            scores: Vec::new(),
            counts: Vec::new(),
            positives: Vec::new(),
        };
        for (s, l) in pairs {
            if g.scores.last() != Some(&s) {
                g.scores.push(s);
                g.counts.push(0.0);
                g.positives.push(0.0);
            }
            let last = g.scores.len() - 1;
            g.counts[last] += 1.0;
            if l {
                g.positives[last] += 1.0;
            }
        }
        g
    }
}

/// A block of pooled points: total weight and total weighted label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    pub weight: f64,
    pub sum: f64,
}

impl Block {
    pub fn mean(&self) -> f64 {
        self.sum / self.weight
    }

    pub fn merge(self, other: Block) -> Block {
        Block {
            weight: self.weight + other.weight,
            sum: self.sum + other.sum,
        }
    }
}

/// Pool-adjacent-violators over `points` in order: the blocks of the
/// non-decreasing fit, each with how many points it covers.
pub fn pava(points: impl IntoIterator<Item = Block>) -> Vec<(Block, usize)> {
    let mut stack: Vec<(Block, usize)> = Vec::new();
    for p in points {
        let mut block = (p, 1);
        while let Some(&(top, n)) = stack.last() {
            if top.mean() < block.0.mean() {
                break;
            }
            stack.pop();
            block = (top.merge(block.0), n + block.1);
        }
        stack.push(block);
    }
    stack
}

/// A fitted isotonic calibration: the fit at its breakpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    /// Increasing scores (the first and last of each run of equal fitted
    /// values: the interpolation between them is unchanged).
    pub scores: Vec<f64>,
    /// The fitted probability at each.
    pub probabilities: Vec<f64>,
}

impl Isotonic {
    /// Fit on `scores` (finite) and `labels`; at least one row.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Result<Isotonic, String> {
        if scores.is_empty() {
            return Err("isotonic calibration needs at least one row".into());
        }
        let g = Groups::new(scores, labels);
        let blocks = pava(
            g.counts
                .iter()
                .zip(&g.positives)
                .map(|(&w, &s)| Block { weight: w, sum: s }),
        );
        let mut fitted = Vec::with_capacity(g.scores.len());
        for (b, n) in &blocks {
            fitted.extend(std::iter::repeat_n(b.mean(), *n));
        }
        // Keep the ends of each run of equal fitted values.
        let mut out = Isotonic {
            scores: Vec::new(),
            probabilities: Vec::new(),
        };
        for i in 0..fitted.len() {
            let same_before = i > 0 && fitted[i - 1] == fitted[i];
            let same_after = i + 1 < fitted.len() && fitted[i + 1] == fitted[i];
            if !(same_before && same_after) {
                out.scores.push(g.scores[i]);
                out.probabilities.push(fitted[i]);
            }
        }
        Ok(out)
    }

    /// The calibrated probability of `score`: linear between breakpoints,
    /// the end values outside them.
    pub fn probability(&self, score: f64) -> f64 {
        let xs = &self.scores;
        let ys = &self.probabilities;
        let last = xs.len() - 1;
        if score <= xs[0] {
            return ys[0];
        }
        if score >= xs[last] {
            return ys[last];
        }
        // The first breakpoint above the score (xs[0] < score < xs[last]).
        let hi = xs.partition_point(|&x| x <= score);
        let lo = hi - 1;
        if xs[lo] == score {
            return ys[lo];
        }
        let t = (score - xs[lo]) / (xs[hi] - xs[lo]);
        ys[lo] + t * (ys[hi] - ys[lo])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violators_are_pooled_and_the_fit_is_monotone() {
        let scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let labels = [false, true, false, false, true, true];
        let iso = Isotonic::fit(&scores, &labels).unwrap();
        // 0.2..0.4 pool to 1/3; 0.1 stays 0; 0.5, 0.6 are 1.
        assert_eq!(iso.probability(0.1), 0.0);
        assert!((iso.probability(0.3) - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(iso.probability(0.6), 1.0);
        assert_eq!(iso.probability(-5.0), 0.0);
        assert_eq!(iso.probability(5.0), 1.0);
        // Linear between 0.4 (1/3) and 0.5 (1).
        assert!((iso.probability(0.45) - (1.0 / 3.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn tied_scores_are_one_point_with_their_mean() {
        let iso = Isotonic::fit(&[0.5, 0.5, 0.5, 0.9], &[true, false, false, true]).unwrap();
        assert!((iso.probability(0.5) - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(iso.probability(0.9), 1.0);
    }
}
