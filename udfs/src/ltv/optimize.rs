//! A small BFGS minimiser for the model fits (4 parameters or fewer, smooth
//! log-likelihoods on the log scale).
//!
//! Our own code: linfa's and smartcore's optimisers are tied to their model
//! types, and `argmin` would bring a framework for a 100-line loop. Line search
//! is backtracking with the Armijo condition; the inverse-Hessian update is
//! skipped when the curvature condition fails, which keeps it positive definite.

/// The result of a minimisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Minimise `f`, whose gradient `f_grad(x)` returns `(f(x), ∇f(x))`, from `x0`.
/// Converged means the largest gradient component fell below `gtol`.
pub fn bfgs<F>(mut f_grad: F, x0: &[f64], gtol: f64, max_iter: usize) -> Minimum
where
    F: FnMut(&[f64]) -> (f64, Vec<f64>),
{
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut fx, mut g) = f_grad(&x);
    let mut h = identity(n);
    let mut iterations = 0;
    let norm_inf = |v: &[f64]| v.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    while iterations < max_iter {
        if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
            break;
        }
        if norm_inf(&g) < gtol {
            return Minimum {
                x,
                value: fx,
                iterations,
                converged: true,
            };
        }
        iterations += 1;
        // Search direction d = −H g; fall back to steepest descent if not downhill.
        let mut d: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i][j] * g[j]).sum::<f64>())
            .collect();
        let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 {
            h = identity(n);
            d = g.iter().map(|v| -v).collect();
            slope = -g.iter().map(|v| v * v).sum::<f64>();
        }
        // Keep steps on the log scale moderate: at most a factor e^5 per step.
        let max_step = norm_inf(&d);
        let mut step = if max_step > 5.0 { 5.0 / max_step } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let (fn_, gn) = f_grad(&xn);
            if fn_.is_finite() && fn_ <= fx + 1e-4 * step * slope {
                accepted = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = accepted else {
            // No decrease possible along d: at the optimum to machine precision,
            // or stuck. Converged only if the gradient is small relative to f.
            let converged = norm_inf(&g) < gtol.sqrt();
            return Minimum {
                x,
                value: fx,
                iterations,
                converged,
            };
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-300 {
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| h[i][j] * y[j]).sum())
                .collect();
            let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
            for i in 0..n {
                for j in 0..n {
                    h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        let small_change = (fx - fn_).abs() <= 1e-15 * fx.abs().max(1.0);
        x = xn;
        fx = fn_;
        g = gn;
        if small_change && norm_inf(&g) < gtol.sqrt() {
            return Minimum {
                x,
                value: fx,
                iterations,
                converged: true,
            };
        }
    }
    let converged = fx.is_finite() && norm_inf(&g) < gtol;
    Minimum {
        x,
        value: fx,
        iterations,
        converged,
    }
}

/// A maximum-likelihood estimate of positive parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Mle {
    pub params: Vec<f64>,
    pub log_likelihood: f64,
    pub converged: bool,
    pub iterations: usize,
    /// From the inverse observed information; `None` if it is not positive definite.
    pub std_errors: Option<Vec<f64>>,
    /// The covariance of the parameters' logarithms (the inverse observed
    /// information on the log scale, which the fit optimises on), in
    /// parameter order; `None` with `std_errors`.
    pub log_covariance: Option<Vec<Vec<f64>>>,
}

/// The largest standard error of a parameter's logarithm a converged fit
/// may have (CDNOW's fits: at most 0.53, Pareto/NBD's β).
const MAX_LOG_SE: f64 = 10.0;

/// Maximise `ll_grad(params) -> (log-likelihood, gradient)` over positive
/// parameters from `start`, optimising their logarithms with BFGS. The
/// objective is scaled by `1/n` (n = customers) so one tolerance fits any data size.
pub fn maximize_positive(
    ll_grad: impl Fn(&[f64]) -> (f64, Vec<f64>),
    start: &[f64],
    n: f64,
) -> Mle {
    let scale = 1.0 / n.max(1.0);
    let objective = |theta: &[f64]| {
        let p: Vec<f64> = theta.iter().map(|v| v.exp()).collect();
        let (ll, g) = ll_grad(&p);
        let grad: Vec<f64> = g.iter().zip(&p).map(|(gi, pi)| -gi * pi * scale).collect();
        (-ll * scale, grad)
    };
    let x0: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let mut m = bfgs(objective, &x0, 1e-9, 1000);
    newton_polish(objective, &mut m);
    let params: Vec<f64> = m.x.iter().map(|v| v.exp()).collect();
    let covariance = covariance(|v| ll_grad(v).1, &params);
    let std_errors = covariance
        .as_ref()
        .map(|c| (0..c.len()).map(|i| c[i][i].sqrt()).collect::<Vec<_>>());
    // At a maximum the gradient is zero, so the log-scale information is
    // D·I·D with D = diag(params): Cov(ln p_i, ln p_j) = Cov(p_i, p_j) / (p_i p_j).
    let log_covariance = covariance.as_ref().map(|c| {
        (0..c.len())
            .map(|i| {
                (0..c.len())
                    .map(|j| c[i][j] / (params[i] * params[j]))
                    .collect()
            })
            .collect()
    });
    // A maximum is a point with zero gradient *and* a positive-definite
    // information matrix; a flat or boundary point (a parameter running off
    // to 0 or infinity, unidentified parameters) is reported as not converged.
    // So is a maximum that leaves a parameter undetermined: a standard error
    // of its logarithm (SE / value) above MAX_LOG_SE, i.e. one standard error
    // spanning more than a factor e^10 (one customer, or three who never came
    // back, fit to r = 65,970 with SE 400 times a and b).
    let identified = std_errors.as_ref().is_some_and(|se| {
        se.iter()
            .zip(&params)
            .all(|(s, p)| s.is_finite() && s / p <= MAX_LOG_SE)
    });
    let converged = m.converged && identified;
    Mle {
        params,
        log_likelihood: -m.value / scale,
        converged,
        iterations: m.iterations,
        std_errors,
        log_covariance,
    }
}

/// A few Newton steps from BFGS's end point, with the Hessian from central
/// differences of the gradient. BFGS stops once progress in `f` is lost in
/// rounding, which leaves flat directions (a poorly identified parameter, such
/// as Pareto/NBD's β on CDNOW) a little short of the optimum; Newton's
/// quadratic convergence closes that gap. Steps are kept only if `f` does not
/// rise.
fn newton_polish(f_grad: impl Fn(&[f64]) -> (f64, Vec<f64>), m: &mut Minimum) {
    let k = m.x.len();
    for _ in 0..3 {
        let (fx, g) = f_grad(&m.x);
        if !fx.is_finite() || g.iter().all(|v| v.abs() < 1e-13) {
            break;
        }
        let mut h = vec![vec![0.0; k]; k];
        for j in 0..k {
            let step = 1e-5;
            let mut up = m.x.clone();
            let mut dn = m.x.clone();
            up[j] += step;
            dn[j] -= step;
            let (gu, gd) = (f_grad(&up).1, f_grad(&dn).1);
            for i in 0..k {
                h[i][j] = (gu[i] - gd[i]) / (2.0 * step);
            }
        }
        let Some(inv) = invert(&h) else { break };
        let d: Vec<f64> = (0..k)
            .map(|i| -(0..k).map(|j| inv[i][j] * g[j]).sum::<f64>())
            .collect();
        let downhill: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if downhill >= 0.0 || d.iter().any(|v| v.abs() > 1.0) {
            break;
        }
        let xn: Vec<f64> = m.x.iter().zip(&d).map(|(a, b)| a + b).collect();
        let (fn_, gn) = f_grad(&xn);
        if !(fn_.is_finite() && fn_ <= fx) {
            break;
        }
        m.x = xn;
        m.value = fn_;
        m.converged = gn.iter().all(|v| v.abs() < 1e-9);
    }
}

/// The parameters' covariance from the observed information: the Hessian of
/// −LL by central differences of the analytic gradient, symmetrised and
/// inverted; `None` unless every variance is finite and > 0.
pub fn covariance(grad: impl Fn(&[f64]) -> Vec<f64>, p: &[f64]) -> Option<Vec<Vec<f64>>> {
    let k = p.len();
    let mut h = vec![vec![0.0; k]; k];
    for j in 0..k {
        let step = 1e-5 * p[j].abs().max(1e-8);
        let mut up = p.to_vec();
        let mut down = p.to_vec();
        up[j] += step;
        down[j] -= step;
        let (gu, gd) = (grad(&up), grad(&down));
        for i in 0..k {
            h[i][j] = -(gu[i] - gd[i]) / (2.0 * step);
        }
    }
    for i in 0..k {
        for j in 0..i {
            let avg = 0.5 * (h[i][j] + h[j][i]);
            h[i][j] = avg;
            h[j][i] = avg;
        }
    }
    let mut inv = invert(&h)?;
    for i in 0..k {
        for j in 0..i {
            let avg = 0.5 * (inv[i][j] + inv[j][i]);
            inv[i][j] = avg;
            inv[j][i] = avg;
        }
    }
    let ok = (0..k).all(|i| inv[i][i] > 0.0 && inv[i][i].is_finite())
        && inv.iter().flatten().all(|v| v.is_finite());
    ok.then_some(inv)
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

/// Inverse of a small symmetric positive-definite matrix by Gauss–Jordan
/// elimination with partial pivoting; `None` if singular.
pub fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut a: Vec<Vec<f64>> = m
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        let p = a[col][col];
        for v in a[col].iter_mut() {
            *v /= p;
        }
        for row in 0..n {
            if row != col {
                let factor = a[row][col];
                if factor != 0.0 {
                    for k in 0..2 * n {
                        a[row][k] -= factor * a[col][k];
                    }
                }
            }
        }
    }
    Some(a.into_iter().map(|r| r[n..].to_vec()).collect())
}

/// Test helper: assert that `gradient` (analytic) matches central finite
/// differences of `value` at `p`, to 1e-6 relative (absolute below 1).
#[cfg(test)]
pub(crate) fn assert_gradient(value: impl Fn(&[f64]) -> f64, gradient: &[f64], p: &[f64]) {
    for i in 0..p.len() {
        let h = 1e-6 * p[i];
        let mut up = p.to_vec();
        let mut dn = p.to_vec();
        up[i] += h;
        dn[i] -= h;
        let fd = (value(&up) - value(&dn)) / (2.0 * h);
        assert!(
            (fd - gradient[i]).abs() < 1e-6 * fd.abs().max(1.0),
            "param {i}: {fd} vs {}",
            gradient[i]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let m = bfgs(
            |x| {
                let (a, b) = (x[0], x[1]);
                let f = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
                let g = vec![
                    -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                    200.0 * (b - a * a),
                ];
                (f, g)
            },
            &[-1.2, 1.0],
            1e-10,
            1000,
        );
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6,
            "{m:?}"
        );
    }

    #[test]
    fn inverts() {
        let m = vec![vec![4.0, 1.0], vec![1.0, 3.0]];
        let inv = invert(&m).unwrap();
        let det = 11.0;
        assert!((inv[0][0] - 3.0 / det).abs() < 1e-15 && (inv[0][1] + 1.0 / det).abs() < 1e-15);
        assert!(invert(&[vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
    }
}
