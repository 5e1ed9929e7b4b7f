//! The standard normal distribution: its distribution function and its
//! quantile, for confidence intervals.

use std::f64::consts::{PI, SQRT_2};

/// P(Z <= x).
pub fn cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / SQRT_2)
}

/// The x with P(Z <= x) = p, for p in (0, 1) (NaN outside): Acklam's
/// rational approximation (relative error 1.15e-9), refined by one Halley
/// step on [`cdf`] to full double precision.
pub fn quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = cdf(x) - p;
    let u = e * (2.0 * PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The two-sided quantile of a confidence level in (0, 1): 1.96 for 0.95.
pub fn two_sided(confidence: f64) -> f64 {
    quantile(0.5 + confidence / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from published normal tables (R's qnorm to 16 digits).
    #[test]
    fn quantiles_of_the_tables() {
        for (p, x) in [
            (0.975, 1.959963984540054),
            (0.95, 1.6448536269514722),
            (0.995, 2.5758293035489004),
            (0.5, 0.0),
            (0.01, -2.3263478740408408),
            (1e-10, -6.361340902404056),
        ] {
            assert!(
                (quantile(p) - x).abs() < 1e-12 * x.abs().max(1.0),
                "{p}: {}",
                quantile(p)
            );
        }
        assert!(quantile(0.0).is_nan() && quantile(1.0).is_nan() && quantile(f64::NAN).is_nan());
        assert!((two_sided(0.95) - 1.959963984540054).abs() < 1e-12);
        assert!((cdf(1.959963984540054) - 0.975).abs() < 1e-15);
    }
}
