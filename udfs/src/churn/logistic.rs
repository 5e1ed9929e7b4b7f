//! L2-regularised logistic regression on standardised features, fitted by
//! Newton's method.
//!
//! Why our own: linfa-logistic and smartcore match scikit-learn's accuracy,
//! but neither takes row weights together with an unpenalised intercept, and
//! both would need our design matrix copied into their types; the whole fit is
//! ~150 lines here, exact (Newton converges to machine precision in a handful
//! of steps on these small designs), and the reason codes need the
//! standardisation kept in the model anyway.
//!
//! The design: a numeric feature is one column; a categorical feature is one
//! indicator column per training category. Every column is standardised with
//! its mean over rows where it is present and its population standard
//! deviation after missing values are replaced by that mean (scikit-learn's
//! `SimpleImputer(strategy='mean')` then `StandardScaler`); a constant column
//! keeps scale 1. A missing value — NULL, or a category not seen in training —
//! is therefore 0 in standard units: it adds nothing to the log-odds.
//!
//! The objective is `Σ wᵢ·logloss(yᵢ, ηᵢ) + (l2/2)·‖β‖²`, the intercept
//! unpenalised: scikit-learn's `LogisticRegression(C = 1/l2)` with
//! `sample_weight = w`.

use serde::{Deserialize, Serialize};

use super::data::{sigmoid, Feature, Frame};

/// One column of the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Index of the input feature.
    pub feature: usize,
    /// For an indicator column, the category's index in the feature's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<usize>,
    pub mean: f64,
    pub scale: f64,
    /// Coefficient on the standardised column.
    pub coef: f64,
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub intercept: f64,
    pub columns: Vec<Column>,
    pub iterations: usize,
    pub converged: bool,
}

/// Largest design (columns) the Newton fit accepts.
pub const MAX_COLUMNS: usize = 1000;

/// The raw value of design column `c` for an encoded input `x` (NaN: missing).
fn raw(c: &Column, x: f64) -> f64 {
    match c.category {
        _ if x.is_nan() => f64::NAN,
        None => x,
        Some(k) => f64::from(u8::from(x as usize == k)),
    }
}

impl Column {
    /// The standardised value of encoded input `x`; 0 when missing.
    pub fn standard(&self, x: f64) -> f64 {
        let v = raw(self, x);
        if v.is_nan() {
            0.0
        } else {
            (v - self.mean) / self.scale
        }
    }
}

impl Logistic {
    /// The log-odds for encoded inputs `x` (one value per feature).
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        self.intercept
            + self
                .columns
                .iter()
                .map(|c| c.coef * c.standard(x[c.feature]))
                .sum::<f64>()
    }

    /// Per feature, its share of the log-odds (coefficient × standardised
    /// value, summed over a categorical feature's columns); with the
    /// intercept they add up to [`Logistic::log_odds`].
    pub fn contributions(&self, x: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for c in &self.columns {
            out[c.feature] += c.coef * c.standard(x[c.feature]);
        }
    }
}

/// The design columns (without coefficients) for `features`.
fn design(frame: &Frame, features: &[Feature]) -> Vec<Column> {
    let n = frame.rows() as f64;
    let mut cols = Vec::new();
    for (f, feature) in features.iter().enumerate() {
        let categories = feature.categories.as_ref().map(Vec::len);
        let ids: Vec<Option<usize>> = match categories {
            None => vec![None],
            Some(m) => (0..m).map(Some).collect(),
        };
        for category in ids {
            let mut c = Column {
                feature: f,
                category,
                mean: 0.0,
                scale: 1.0,
                coef: 0.0,
            };
            let values: Vec<f64> = frame.columns[f].iter().map(|&x| raw(&c, x)).collect();
            let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            if !present.is_empty() {
                c.mean = present.iter().sum::<f64>() / present.len() as f64;
                let ss: f64 = present.iter().map(|v| (v - c.mean).powi(2)).sum();
                let sd = (ss / n).sqrt();
                if sd > 0.0 {
                    c.scale = sd;
                }
            }
            cols.push(c);
        }
    }
    cols
}

/// Solve `a · x = b` for symmetric positive definite `a` (row-major, p×p) by
/// Cholesky; `None` if `a` is not positive definite.
fn cholesky_solve(a: &[f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * p + k] * l[j * p + k]).sum();
            if i == j {
                let d = a[i * p + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * p + i] = d.sqrt();
            } else {
                l[i * p + j] = (a[i * p + j] - s) / l[j * p + j];
            }
        }
    }
    let mut y = vec![0.0; p];
    for i in 0..p {
        let s: f64 = (0..i).map(|k| l[i * p + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let s: f64 = (i + 1..p).map(|k| l[k * p + i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i * p + i];
    }
    Some(x)
}

/// Fit on `frame` (labels 0/1, row weights). `l2` > 0.
pub fn fit(frame: &Frame, features: &[Feature], l2: f64, max_iter: usize) -> Logistic {
    let mut cols = design(frame, features);
    let n = frame.rows();
    let d = cols.len();
    let p = d + 1; // the intercept is the last coefficient
    let mut x = vec![0.0; n * p];
    for (j, c) in cols.iter().enumerate() {
        for (i, &v) in frame.columns[c.feature].iter().enumerate() {
            x[i * p + j] = c.standard(v);
        }
    }
    for i in 0..n {
        x[i * p + d] = 1.0;
    }
    let objective = |beta: &[f64]| -> f64 {
        let mut total = 0.0;
        for i in 0..n {
            let eta: f64 = x[i * p..(i + 1) * p]
                .iter()
                .zip(beta)
                .map(|(a, b)| a * b)
                .sum();
            // log(1 + e^η) − y·η, stably
            let softplus = if eta > 0.0 {
                eta + (-eta).exp().ln_1p()
            } else {
                eta.exp().ln_1p()
            };
            total += frame.weights[i] * (softplus - frame.labels[i] * eta);
        }
        total + 0.5 * l2 * beta[..d].iter().map(|b| b * b).sum::<f64>()
    };
    let mut beta = vec![0.0; p];
    let mut value = objective(&beta);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        iterations += 1;
        let mut grad = vec![0.0; p];
        let mut hess = vec![0.0; p * p];
        for i in 0..n {
            let row = &x[i * p..(i + 1) * p];
            let eta: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let mu = sigmoid(eta);
            let w = frame.weights[i];
            let r = w * (mu - frame.labels[i]);
            let h = w * mu * (1.0 - mu);
            for a in 0..p {
                grad[a] += r * row[a];
                let ha = h * row[a];
                if ha != 0.0 {
                    for b in 0..=a {
                        hess[a * p + b] += ha * row[b];
                    }
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                hess[b * p + a] = hess[a * p + b];
            }
        }
        for a in 0..d {
            grad[a] += l2 * beta[a];
            hess[a * p + a] += l2;
        }
        let gmax = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        if gmax <= 1e-10 * (n as f64).max(1.0) {
            converged = true;
            break;
        }
        let Some(step) = cholesky_solve(&hess, &grad, p) else {
            break;
        };
        // Newton step with halving until the objective does not increase.
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..50 {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - t * s).collect();
            let v = objective(&trial);
            if v <= value {
                let moved = step.iter().fold(0.0f64, |m, s| m.max((t * s).abs()));
                beta = trial;
                value = v;
                accepted = true;
                if moved <= 1e-12 {
                    converged = true;
                }
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            // No decrease possible at machine precision: at the optimum.
            converged = true;
        }
        if converged {
            break;
        }
    }
    for (c, b) in cols.iter_mut().zip(&beta) {
        c.coef = *b;
    }
    Logistic {
        intercept: beta[d],
        columns: cols,
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&a, &[2.0, 1.0], 2).unwrap();
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(cholesky_solve(&[0.0], &[1.0], 1).is_none());
    }

    #[test]
    fn gradient_vanishes_at_the_fit() {
        // y depends on x; categorical z adds a shift.
        let xs = [0.1, 0.5, 0.9, 1.5, 2.0, 2.2, 3.0, 3.5, 0.3, 2.8];
        let zs = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        let ys = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let frame = Frame {
            columns: vec![xs.to_vec(), zs.to_vec()],
            labels: ys.to_vec(),
            weights: vec![1.0; 10],
        };
        let features = vec![Feature::numeric("x"), Feature::categorical("z", ["a", "b"])];
        let m = fit(&frame, &features, 1.0, 100);
        assert!(m.converged);
        assert_eq!(m.columns.len(), 3);
        // Score equation: Σ (p − y) = 0 for the unpenalised intercept.
        let s: f64 = (0..10)
            .map(|i| sigmoid(m.log_odds(&[xs[i], zs[i]])) - ys[i])
            .sum();
        assert!(s.abs() < 1e-9, "{s}");
        let mut c = vec![0.0; 2];
        m.contributions(&[xs[3], zs[3]], &mut c);
        assert!((m.intercept + c[0] + c[1] - m.log_odds(&[xs[3], zs[3]])).abs() < 1e-12);
    }
}
