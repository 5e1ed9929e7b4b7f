//! Split conformal prediction sets for a binary label from a probability
//! score (Vovk, Gammerman and Shafer 2005; Angelopoulos and Bates 2021 for
//! the split form).
//!
//! The nonconformity of label y for score s is 1 - P(y): 1 - s for `true`,
//! s for `false`. On a calibration set the threshold is the
//! ceil((n + 1)(1 - alpha))-th smallest nonconformity of the true labels
//! (infinite when that rank exceeds n), and the prediction set of a new
//! score holds each label whose nonconformity is at most the threshold:
//! it contains the true label with probability at least 1 - alpha for
//! exchangeable data. Mondrian (class-conditional) conformal computes one
//! threshold per label from that label's rows, so the coverage holds within
//! each class, not only on average; plain split conformal under-covers the
//! majority class when the score is informative.

use serde::{Deserialize, Serialize};

/// A fitted conformal predictor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    pub alpha: f64,
    pub mondrian: bool,
    /// Thresholds on the nonconformity for `false` and for `true` (equal
    /// when not Mondrian); None (no bound: the label is in every set) when
    /// there are too few rows for the rank.
    pub threshold_false: Option<f64>,
    pub threshold_true: Option<f64>,
    /// Calibration rows per label.
    pub n_false: usize,
    pub n_true: usize,
}

/// The ceil((n + 1)(1 - alpha))-th smallest of `values` (sorted in place),
/// None beyond n; alpha in (0, 1), so the rank is at least 1.
fn quantile(values: &mut [f64], alpha: f64) -> Option<f64> {
    let n = values.len();
    let rank = (((n as f64 + 1.0) * (1.0 - alpha)).ceil() as usize).max(1);
    if rank > n {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    Some(values[rank - 1])
}

/// Whether nonconformity `a` is within `threshold`.
fn within(a: f64, threshold: Option<f64>) -> bool {
    threshold.is_none_or(|t| a <= t)
}

fn nonconformity(score: f64, label: bool) -> f64 {
    if label {
        1.0 - score
    } else {
        score
    }
}

impl Conformal {
    /// Fit at miscoverage `alpha` in (0, 1).
    pub fn fit(scores: &[f64], labels: &[bool], alpha: f64, mondrian: bool) -> Conformal {
        let mut by_label: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for (&s, &l) in scores.iter().zip(labels) {
            by_label[usize::from(l)].push(nonconformity(s, l));
        }
        let (n_false, n_true) = (by_label[0].len(), by_label[1].len());
        let (threshold_false, threshold_true) = if mondrian {
            let [mut f, mut t] = by_label;
            (quantile(&mut f, alpha), quantile(&mut t, alpha))
        } else {
            let [mut f, t] = by_label;
            f.extend(t);
            let q = quantile(&mut f, alpha);
            (q, q)
        };
        Conformal {
            alpha,
            mondrian,
            threshold_false,
            threshold_true,
            n_false,
            n_true,
        }
    }

    /// The labels in the prediction set of `score`, `false` first.
    pub fn set(&self, score: f64) -> Vec<bool> {
        let mut out = Vec::with_capacity(2);
        if within(nonconformity(score, false), self.threshold_false) {
            out.push(false);
        }
        if within(nonconformity(score, true), self.threshold_true) {
            out.push(true);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_the_conformal_rank() {
        // 9 positives with nonconformity 0.1..0.9: at alpha 0.2 the rank is
        // ceil(10 * 0.8) = 8, the 8th smallest 0.8.
        let scores: Vec<f64> = (1..=9).map(|i| 1.0 - i as f64 / 10.0).collect();
        let labels = vec![true; 9];
        let c = Conformal::fit(&scores, &labels, 0.2, true);
        assert!((c.threshold_true.unwrap() - 0.8).abs() < 1e-12);
        // No negatives: every set holds `false` (nothing to compare with).
        assert_eq!(c.threshold_false, None);
        assert_eq!(c.set(0.15), vec![false]);
        assert_eq!(c.set(0.25), vec![false, true]);
    }

    #[test]
    fn plain_conformal_pools_the_labels() {
        let scores = [0.9, 0.8, 0.2, 0.1];
        let labels = [true, true, false, false];
        let c = Conformal::fit(&scores, &labels, 0.5, false);
        assert_eq!(c.threshold_false, c.threshold_true);
        // Nonconformities 0.1, 0.2, 0.2, 0.1; rank ceil(5 * 0.5) = 3: 0.2.
        assert!((c.threshold_true.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(c.set(0.85), vec![true]);
        assert_eq!(c.set(0.5), Vec::<bool>::new());
    }
}
