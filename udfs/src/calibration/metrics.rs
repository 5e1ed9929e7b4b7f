//! How well probabilities are calibrated: the Brier score, the expected
//! calibration error and the reliability table behind a calibration plot.
//!
//! Bins are equal-width over [0, 1] with edges `j / bins` computed as
//! NumPy's `linspace` does (`j * (1 / bins)`), and a score on an inner edge
//! falls in the lower bin, as scikit-learn's `calibration_curve` assigns
//! it (`searchsorted` on the inner edges).

/// Mean squared difference between score and label (0 best).
pub fn brier(pairs: &[(f64, bool)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let sum: f64 = pairs
        .iter()
        .map(|&(s, l)| {
            let d = s - if l { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    Some(sum / pairs.len() as f64)
}

/// One bin of a reliability table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub rows: u64,
    /// Sum of scores and of positive labels in the bin.
    pub score_sum: f64,
    pub positives: f64,
}

impl Bin {
    pub fn mean_score(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.score_sum / self.rows as f64)
    }

    pub fn observed_rate(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.positives / self.rows as f64)
    }
}

/// The lower edge of bin `j` of `bins`.
fn edge(j: usize, bins: usize) -> f64 {
    if j == bins {
        1.0
    } else {
        j as f64 * (1.0 / bins as f64)
    }
}

/// The bin of `score` in [0, 1].
pub fn bin_of(score: f64, bins: usize) -> usize {
    // Inner edges 1..bins-1 strictly below the score.
    let (mut lo, mut hi) = (1, bins);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if edge(mid, bins) < score {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo - 1
}

/// The reliability table of `pairs` (scores in [0, 1]) in `bins` bins,
/// empty bins included.
pub fn reliability(pairs: &[(f64, bool)], bins: usize) -> Vec<Bin> {
    let mut out: Vec<Bin> = (0..bins)
        .map(|j| Bin {
            lower: edge(j, bins),
            upper: edge(j + 1, bins),
            rows: 0,
            score_sum: 0.0,
            positives: 0.0,
        })
        .collect();
    for &(s, l) in pairs {
        let b = &mut out[bin_of(s, bins)];
        b.rows += 1;
        b.score_sum += s;
        if l {
            b.positives += 1.0;
        }
    }
    out
}

/// Expected calibration error: the rows' share of each bin times the gap
/// between its observed rate and its mean score, summed.
pub fn calibration_error(pairs: &[(f64, bool)], bins: usize) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    Some(
        reliability(pairs, bins)
            .iter()
            .filter(|b| b.rows > 0)
            .map(|b| b.rows as f64 / n * (b.positives - b.score_sum).abs() / b.rows as f64)
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_go_to_the_lower_bin_as_numpy_puts_them() {
        assert_eq!(bin_of(0.0, 10), 0);
        assert_eq!(bin_of(0.05, 10), 0);
        assert_eq!(bin_of(0.1, 10), 0);
        assert_eq!(bin_of(0.10000001, 10), 1);
        // 3 * 0.1 = 0.30000000000000004 > 0.3: 0.3 is in bin 2.
        assert_eq!(bin_of(0.3, 10), 2);
        assert_eq!(bin_of(1.0, 10), 9);
    }

    #[test]
    fn brier_and_ece_by_hand() {
        let pairs = [(0.9, true), (0.8, false), (0.2, false), (0.1, true)];
        // (0.01 + 0.64 + 0.04 + 0.81) / 4
        assert!((brier(&pairs).unwrap() - 0.375).abs() < 1e-12);
        // Two bins: [0, 0.5] holds 0.2 (no), 0.1 (yes): rate 0.5, mean 0.15;
        // (0.5, 1] holds 0.9 (yes), 0.8 (no): rate 0.5, mean 0.85.
        let ece = calibration_error(&pairs, 2).unwrap();
        assert!((ece - (0.5 * 0.35 + 0.5 * 0.35)).abs() < 1e-12);
        assert!(brier(&[]).is_none());
    }
}
