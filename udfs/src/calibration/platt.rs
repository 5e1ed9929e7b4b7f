//! Platt scaling (Platt 1999, "Probabilistic outputs for support vector
//! machines"): P(y = 1 | s) = 1 / (1 + exp(A s + B)), fitted by maximum
//! likelihood against Platt's regularised targets, (N+ + 1) / (N+ + 2) for
//! positives and 1 / (N- + 2) for negatives, which keep a separable
//! calibration set from driving A to infinity. The likelihood is concave in
//! (A, B), so Newton's method with a backtracking line search (the
//! numerically careful form of Lin, Lin and Weng 2007) reaches its one
//! maximum; scikit-learn's `CalibratedClassifierCV(method="sigmoid")` fits
//! the same objective with L-BFGS.

use serde::{Deserialize, Serialize};

/// A fitted Platt scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope: negative when a higher score means a likelier positive.
    pub a: f64,
    pub b: f64,
}

/// `ln(1 + exp(x))` without overflow.
fn log1p_exp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The negative log-likelihood of (a, b) against targets `t`.
fn objective(scores: &[f64], targets: &[f64], a: f64, b: f64) -> f64 {
    scores
        .iter()
        .zip(targets)
        .map(|(&s, &t)| {
            // -[t ln p + (1 - t) ln(1 - p)] with p = 1 / (1 + exp(z)).
            let z = a * s + b;
            t * z + log1p_exp(-z)
        })
        .sum()
}

impl Platt {
    /// Fit on `scores` and their `labels`; at least one of each label.
    /// Returns the fit and the Newton iterations taken.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Result<(Platt, usize), String> {
        let positives = labels.iter().filter(|&&l| l).count() as f64;
        let negatives = labels.len() as f64 - positives;
        if positives == 0.0 || negatives == 0.0 {
            return Err(format!(
                "Platt scaling needs both labels; got {positives} positive and {negatives} negative rows"
            ));
        }
        let hi = (positives + 1.0) / (positives + 2.0);
        let lo = 1.0 / (negatives + 2.0);
        let targets: Vec<f64> = labels.iter().map(|&l| if l { hi } else { lo }).collect();
        let (mut a, mut b) = (0.0, ((negatives + 1.0) / (positives + 1.0)).ln());
        let mut f = objective(scores, &targets, a, b);
        let n = scores.len() as f64;
        let mut iterations = 0;
        for it in 1..=200 {
            iterations = it;
            // Gradient and Hessian of the objective in (a, b).
            let (mut g1, mut g2, mut h11, mut h22, mut h21) = (0.0, 0.0, 1e-12, 1e-12, 0.0);
            for (&s, &t) in scores.iter().zip(&targets) {
                let z = a * s + b;
                // p = P(y = 1) = 1 / (1 + e^z), q = 1 - p, computed stably.
                let (p, q) = if z >= 0.0 {
                    let e = (-z).exp();
                    (e / (1.0 + e), 1.0 / (1.0 + e))
                } else {
                    let e = z.exp();
                    (1.0 / (1.0 + e), e / (1.0 + e))
                };
                let d1 = t - p;
                let d2 = p * q;
                g1 += s * d1;
                g2 += d1;
                h11 += s * s * d2;
                h22 += d2;
                h21 += s * d2;
            }
            if g1.abs() < 1e-12 * n.max(1.0) && g2.abs() < 1e-12 * n.max(1.0) {
                break;
            }
            let det = h11 * h22 - h21 * h21;
            let da = -(h22 * g1 - h21 * g2) / det;
            let db = -(-h21 * g1 + h11 * g2) / det;
            let slope = g1 * da + g2 * db;
            // Near the optimum a Newton step changes the objective by less
            // than its rounding: such a step is taken (it still shrinks the
            // gradient, quadratically), not refused.
            let rounding = 8.0 * f64::EPSILON * f.abs().max(1.0);
            let mut step = 1.0;
            let mut moved = false;
            while step >= 1e-12 {
                let (na, nb) = (a + step * da, b + step * db);
                let nf = objective(scores, &targets, na, nb);
                if nf <= f + 1e-4 * step * slope + rounding {
                    moved = na != a || nb != b;
                    a = na;
                    b = nb;
                    f = nf;
                    break;
                }
                step /= 2.0;
            }
            if !moved {
                break;
            }
        }
        Ok((Platt { a, b }, iterations))
    }

    /// The calibrated probability of `score`.
    pub fn probability(&self, score: f64) -> f64 {
        let z = self.a * score + self.b;
        if z >= 0.0 {
            let e = (-z).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + z.exp())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_higher_score_gives_a_higher_probability_and_the_gradient_vanishes() {
        let scores: Vec<f64> = (0..200).map(|i| i as f64 / 200.0).collect();
        // Positives more frequent at high scores, not separable.
        let labels: Vec<bool> = (0..200).map(|i| (i * 7919) % 200 < i).collect();
        let (p, _) = Platt::fit(&scores, &labels).unwrap();
        assert!(p.a < 0.0, "{p:?}");
        assert!(p.probability(0.9) > p.probability(0.1));
        // At the optimum a small move in either direction does not lower
        // the objective.
        let pos = labels.iter().filter(|&&l| l).count() as f64;
        let neg = 200.0 - pos;
        let t: Vec<f64> = labels
            .iter()
            .map(|&l| {
                if l {
                    (pos + 1.0) / (pos + 2.0)
                } else {
                    1.0 / (neg + 2.0)
                }
            })
            .collect();
        let f = objective(&scores, &t, p.a, p.b);
        for (da, db) in [(1e-4, 0.0), (-1e-4, 0.0), (0.0, 1e-4), (0.0, -1e-4)] {
            assert!(objective(&scores, &t, p.a + da, p.b + db) >= f);
        }
    }

    #[test]
    fn separable_data_stays_finite() {
        let scores = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
        let labels = [false, false, false, true, true, true];
        let (p, _) = Platt::fit(&scores, &labels).unwrap();
        assert!(p.a.is_finite() && p.b.is_finite());
        let top = p.probability(0.9);
        assert!(top > 0.5 && top < 1.0, "{top}");
    }

    #[test]
    fn one_label_is_an_error() {
        assert!(Platt::fit(&[0.1, 0.2], &[true, true]).is_err());
    }
}
