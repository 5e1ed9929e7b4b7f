//! Special functions for the lifetime-value models: log-gamma (from `libm`, a
//! port of musl's `lgamma_r`, accurate to about one ulp), digamma and the Gauss
//! hypergeometric series. Our own code for digamma and 2F1 because neither
//! `libm` nor linfa/smartcore have them, and `statrs` would add a dependency
//! for two short functions.

/// ln Γ(x) for x > 0.
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma_r(x).0
}

/// ln B(a, b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ψ(x) = d/dx ln Γ(x) for x > 0: recurrence up to x >= 12, then the asymptotic
/// series (error below 1e-15 there).
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 12.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    acc + x.ln() - 0.5 * inv - series
}

/// c·(2F1(a, b; c; z) − 1) / b by its power series, for 0 <= z < 1 and
/// c > −1 (c ≠ 0 unless the caller wants the c → 0 limit, which this gives).
///
/// Without its leading 1, with b divided out and c multiplied in, callers can
/// form `1 − k·2F1` without cancellation, and the pole of 2F1 at c = 0 (the
/// BG/NBD expectation for x = 0 when a + b = 1) cancels analytically. Terms are
/// summed until they stop changing the sum (relative 1e-17) or 100,000 terms;
/// the callers arrange the arguments (Euler's transformation) so that a few
/// dozen terms suffice.
pub fn hyp2f1_tail_scaled(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut out = [0.0];
    hyp2f1_tail_scaled_many(a, b, c, &[z], &mut out);
    out[0]
}

/// [`hyp2f1_tail_scaled`] at several z with shared coefficients: each term's
/// ratio (a+k)(b+k)/((c+k)(k+1)) is computed once for all z, and each z's
/// series stops where a single call's would (equal to the last bit).
pub fn hyp2f1_tail_scaled_many(a: f64, b: f64, c: f64, zs: &[f64], out: &mut [f64]) {
    const CHUNK: usize = 32; // on the stack: no allocation per customer
    for (zs, out) in zs.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
        let n = zs.len().min(out.len());
        let mut term = [0.0; CHUNK];
        // 1.0 while z's series runs, 0.0 once it has converged: a branch-free
        // inner loop (it vectorises) that leaves finished sums unchanged.
        let mut live = [0.0; CHUNK];
        for j in 0..n {
            term[j] = a * zs[j];
            out[j] = term[j];
            live[j] = 1.0;
        }
        let mut running = n;
        let mut k = 1.0;
        while running > 0 && k < 100_000.0 {
            // Four terms between convergence checks; the schedule depends on k
            // only, so each z's sum is the same alone or in company.
            for _ in 0..4 {
                let ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0));
                for j in 0..n {
                    term[j] *= ratio * zs[j] * live[j];
                    out[j] += term[j];
                }
                k += 1.0;
            }
            running = 0;
            for j in 0..n {
                if live[j] == 1.0 {
                    if term[j] == 0.0 || term[j].abs() < 1e-17 * out[j].abs() {
                        live[j] = 0.0;
                    } else {
                        running += 1;
                    }
                }
            }
        }
    }
}

/// ln(e^a + e^b) without overflow.
pub fn logsumexp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// `(ln(e^a + e^b), e^(a − lse), e^(b − lse))`: the log-sum and the two
/// weights, from one `exp` and one `ln_1p` (the likelihoods' per-customer
/// hot path).
pub fn logsumexp_weights(a: f64, b: f64) -> (f64, f64, f64) {
    if a >= b {
        let e = (b - a).exp();
        let wa = 1.0 / (1.0 + e);
        (a + e.ln_1p(), wa, e * wa)
    } else {
        let e = (a - b).exp();
        let wb = 1.0 / (1.0 + e);
        (b + e.ln_1p(), e * wb, wb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsumexp_weights_match_the_plain_formulas() {
        for (a, b) in [
            (0.0, 0.0),
            (-3.5, 2.25),
            (2.25, -3.5),
            (-800.0, -801.5),
            (10.0, -700.0),
        ] {
            let (lse, wa, wb) = logsumexp_weights(a, b);
            let m = f64::max(a, b);
            let plain = m + ((a - m).exp() + (b - m).exp()).ln();
            // The plain formula's rounding of `plain` (an ulp of |a|) carries
            // into its weights: the tolerance scales with it.
            let tol = 1e-15 * plain.abs().max(1.0);
            assert!((lse - plain).abs() <= tol, "{a} {b}");
            assert!((wa - (a - plain).exp()).abs() <= tol, "{a} {b}");
            assert!((wb - (b - plain).exp()).abs() <= tol, "{a} {b}");
            assert!((wa + wb - 1.0).abs() <= 1e-15);
        }
    }

    #[test]
    fn digamma_known_values() {
        // ψ(1) = −γ (Euler–Mascheroni), ψ(1/2) = −γ − 2 ln 2, ψ(10) = H_9 − γ.
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-14);
        assert!((digamma(0.5) + euler + 2.0 * std::f64::consts::LN_2).abs() < 1e-14);
        let h9: f64 = (1..=9).map(|k| 1.0 / k as f64).sum();
        assert!((digamma(10.0) - (h9 - euler)).abs() < 1e-14);
    }

    #[test]
    fn hyp2f1_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1 − z)/z
        let z = 0.3;
        let exact = -(1.0f64 - z).ln() / z - 1.0;
        assert!((hyp2f1_tail_scaled(1.0, 1.0, 2.0, z) / 2.0 - exact).abs() < 1e-15);
        // 2F1(a, b; b; z) = (1 − z)^−a
        let exact = (1.0f64 - z).powf(-2.5) - 1.0;
        assert!((hyp2f1_tail_scaled(2.5, 0.7, 0.7, z) - exact).abs() < 1e-14);
    }
}
