//! Evaluation metrics of a binary classifier: ROC-AUC, PR-AUC (average
//! precision), log loss and lift in the top fraction. Plain functions over
//! `(score, label)` pairs; labels are `true` for the positive class (churned).
//!
//! Definitions (the ones scikit-learn uses where it has the metric):
//! - `roc_auc`: the area under the ROC curve with tied scores joined by a
//!   straight segment, i.e. the probability that a random positive scores
//!   above a random negative, ties counting one half (Mann–Whitney U).
//!   `None` when only one class is present.
//! - `pr_auc`: average precision, `Σ (R_k − R_{k−1}) · P_k` over the distinct
//!   score thresholds from the highest down (no interpolation; scikit-learn's
//!   `average_precision_score`). `None` without positives.
//! - `log_loss`: the mean of `−(y ln p + (1 − y) ln(1 − p))` with `p` clipped
//!   to `[ε, 1 − ε]`, `ε` = `f64::EPSILON` (as scikit-learn does for float64).
//! - `lift_at(fraction)`: the positive rate among the `fraction · n`
//!   highest-scored rows divided by the positive rate of all rows. Rows tied
//!   at the cut share it pro rata (the expected value over random tie
//!   breaking), and a fractional row counts by its fraction, so the result
//!   does not depend on row order. `None` without positives or rows.

use std::cmp::Ordering;

/// Sort pairs by score, highest first, and return the groups of tied scores
/// as (positives, count) in that order.
fn tie_groups(pairs: &mut [(f64, bool)]) -> Vec<(f64, f64)> {
    pairs.sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    let mut groups: Vec<(f64, f64)> = Vec::new();
    let mut last = f64::NAN;
    for &(s, y) in pairs.iter() {
        if groups.is_empty() || s != last {
            groups.push((0.0, 0.0));
            last = s;
        }
        if let Some(g) = groups.last_mut() {
            g.0 += f64::from(u8::from(y));
            g.1 += 1.0;
        }
    }
    groups
}

/// Area under the ROC curve; `None` unless both classes are present.
pub fn roc_auc(pairs: &mut [(f64, bool)]) -> Option<f64> {
    let groups = tie_groups(pairs);
    let pos: f64 = groups.iter().map(|g| g.0).sum();
    let neg: f64 = groups.iter().map(|g| g.1 - g.0).sum();
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Walking from the highest score: each negative in a group beats the
    // positives seen in earlier groups, and ties with the group's positives.
    let mut above = 0.0;
    let mut u = 0.0;
    for &(p, c) in &groups {
        let n = c - p;
        u += n * (above + 0.5 * p);
        above += p;
    }
    Some(u / (pos * neg))
}

/// Average precision; `None` without positives.
pub fn pr_auc(pairs: &mut [(f64, bool)]) -> Option<f64> {
    let groups = tie_groups(pairs);
    let pos: f64 = groups.iter().map(|g| g.0).sum();
    if pos == 0.0 {
        return None;
    }
    let (mut tp, mut seen, mut ap) = (0.0, 0.0, 0.0);
    for &(p, c) in &groups {
        tp += p;
        seen += c;
        if p > 0.0 {
            ap += (p / pos) * (tp / seen);
        }
    }
    Some(ap)
}

/// Mean log loss; `None` without rows.
pub fn log_loss(pairs: &[(f64, bool)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let eps = f64::EPSILON;
    let total: f64 = pairs
        .iter()
        .map(|&(s, y)| {
            let p = s.clamp(eps, 1.0 - eps);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    Some(total / pairs.len() as f64)
}

/// Lift in the top `fraction` (0 < fraction <= 1) of rows by score.
pub fn lift_at(pairs: &mut [(f64, bool)], fraction: f64) -> Option<f64> {
    let n = pairs.len() as f64;
    let groups = tie_groups(pairs);
    let pos: f64 = groups.iter().map(|g| g.0).sum();
    if n == 0.0 || pos == 0.0 {
        return None;
    }
    let cut = fraction * n;
    let (mut taken, mut captured) = (0.0, 0.0);
    for &(p, c) in &groups {
        if taken >= cut {
            break;
        }
        let share = ((cut - taken) / c).min(1.0);
        captured += p * share;
        taken += c * share;
    }
    Some((captured / cut) / (pos / n))
}

/// The lift of each tenth of the rows by score, highest scores first: the
/// positive rate among those rows over the positive rate of all rows (tied
/// scores shared across a boundary as [`lift_at`] shares them). The mean of
/// the ten is 1; the cumulative gain of the top k tenths is the sum of the
/// first k lifts over 10.
pub fn decile_lift(pairs: &mut [(f64, bool)]) -> Option<Vec<f64>> {
    let mut captured_before = 0.0;
    let mut lifts = Vec::with_capacity(10);
    for k in 1..=10 {
        let f = k as f64 / 10.0;
        // lift_at(f) · f is the share of positives in the top f of rows.
        let captured = lift_at(pairs, f)? * f;
        lifts.push((captured - captured_before) * 10.0);
        captured_before = captured;
    }
    Some(lifts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decile_lift_by_hand() {
        // 20 rows, 4 positives: the top two rows (the first tenth) are both
        // positive (rate 1 over a base rate of 0.2: lift 5), the next tenth
        // holds one positive and one negative (lift 2.5), one more positive
        // is in the last tenth (lift 2.5), the rest none.
        let mut pairs: Vec<(f64, bool)> = (0..20)
            .map(|i| (20.0 - i as f64, matches!(i, 0 | 1 | 2 | 19)))
            .collect();
        let lifts = decile_lift(&mut pairs).unwrap();
        let want = [5.0, 2.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.5];
        for (got, want) in lifts.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{lifts:?}");
        }
        assert!((lifts.iter().sum::<f64>() / 10.0 - 1.0).abs() < 1e-12);
        assert_eq!(decile_lift(&mut [(0.5, false)]), None);
    }

    #[test]
    fn perfect_and_reversed_rankings() {
        let mut good = vec![(0.9, true), (0.8, true), (0.2, false), (0.1, false)];
        assert_eq!(roc_auc(&mut good), Some(1.0));
        assert_eq!(pr_auc(&mut good), Some(1.0));
        assert_eq!(lift_at(&mut good, 0.5), Some(2.0));
        let mut bad = vec![(0.1, true), (0.2, true), (0.8, false), (0.9, false)];
        assert_eq!(roc_auc(&mut bad), Some(0.0));
    }

    #[test]
    fn all_tied_scores_are_chance() {
        let mut tied = vec![(0.5, true), (0.5, false), (0.5, false), (0.5, true)];
        assert_eq!(roc_auc(&mut tied), Some(0.5));
        assert_eq!(pr_auc(&mut tied), Some(0.5));
        assert_eq!(lift_at(&mut tied, 0.25), Some(1.0));
    }

    #[test]
    fn one_class_has_no_auc() {
        let mut only = vec![(0.3, false), (0.6, false)];
        assert_eq!(roc_auc(&mut only), None);
        assert_eq!(pr_auc(&mut only), None);
        assert_eq!(lift_at(&mut only, 0.5), None);
        assert!(log_loss(&only).is_some_and(|l| l > 0.0));
        assert_eq!(log_loss(&[]), None);
    }
}
