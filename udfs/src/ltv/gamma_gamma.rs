//! Gamma-Gamma spend model: Fader, Hardie & Lee (2005), "RFM and CLV: Using
//! Iso-Value Curves for Customer Base Analysis", JMR 42(4), 415–430, and
//! Fader & Hardie's note "The Gamma-Gamma Model of Monetary Value" (2013).
//!
//! Each transaction's value z ~ Gamma(p, ν), with ν ~ Gamma(q, γ) across
//! customers. Fitted on repeat buyers only (x >= 1) from x and the mean
//! repeat-transaction value m.

use super::bgnbd::Fit;
use super::optimize::maximize_positive;
use super::special::{digamma, ln_gamma};

/// Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// Weighted (x, m) pairs of repeat buyers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendData {
    pub rows: Vec<(f64, f64, f64)>,
}

impl SpendData {
    pub fn add(&mut self, x: f64, m: f64, weight: f64) {
        self.rows.push((x, m, weight));
    }
    pub fn customers(&self) -> f64 {
        self.rows.iter().map(|r| r.2).sum()
    }
}

impl GammaGamma {
    pub fn to_vec(&self) -> Vec<f64> {
        vec![self.p, self.q, self.gamma]
    }
    pub fn from_slice(v: &[f64]) -> Self {
        GammaGamma {
            p: v[0],
            q: v[1],
            gamma: v[2],
        }
    }

    /// Log density of the mean m of x transactions, and its gradient.
    pub fn ll_one(&self, x: f64, m: f64) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, gamma } = *self;
        let px = p * x;
        let lg = (gamma + m * x).ln();
        let ll = ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * gamma.ln()
            + (px - 1.0) * m.ln()
            + px * x.ln()
            - (px + q) * lg;
        let dpsi = digamma(px + q);
        let g = [
            x * (dpsi - digamma(px) + m.ln() + x.ln() - lg),
            dpsi - digamma(q) + gamma.ln() - lg,
            q / gamma - (px + q) / (gamma + m * x),
        ];
        (ll, g)
    }

    pub fn log_likelihood(&self, data: &SpendData) -> (f64, [f64; 3]) {
        let mut ll = 0.0;
        let mut g = [0.0; 3];
        for &(x, m, w) in &data.rows {
            let (l, gi) = self.ll_one(x, m);
            ll += w * l;
            for i in 0..3 {
                g[i] += w * gi[i];
            }
        }
        (ll, g)
    }

    /// E[M | x, m]: the expected mean transaction value of a customer with x
    /// repeat purchases averaging m, p(γ + x·m)/(px + q − 1) (a weighted mean
    /// of m and the population mean pγ/(q−1)). With x = 0 it is the
    /// population mean.
    ///
    /// The posterior mean exists only when px + q > 1 (the population mean
    /// only when q > 1): a fit with q ≤ 1 says spend is so heavy-tailed that
    /// a customer with few purchases has no finite expected value. Then this
    /// is None (NULL in SQL), never the negative or infinite number the
    /// formula would give (lifetimes returns those).
    pub fn expected_spend(&self, x: f64, m: f64) -> Option<f64> {
        let GammaGamma { p, q, gamma } = *self;
        let denominator = p * x + q - 1.0;
        if denominator.is_nan() || denominator <= 0.0 {
            return None;
        }
        let e = p * (gamma + x * m) / denominator;
        e.is_finite().then_some(e)
    }

    /// The fewest repeat purchases with a finite expected spend: 0 when
    /// q > 1, else the least whole x with px + q > 1.
    pub fn min_frequency_with_spend(&self) -> f64 {
        if self.q > 1.0 {
            0.0
        } else {
            ((1.0 - self.q) / self.p).floor() + 1.0
        }
    }
}

/// Maximum-likelihood Gamma-Gamma fit on the log scale.
pub fn fit(data: &SpendData) -> Fit<GammaGamma> {
    // Start from p = q = 1, γ = mean spend.
    let mean_m = data.rows.iter().map(|r| r.1 * r.2).sum::<f64>() / data.customers().max(1.0);
    fit_from(data, &[1.0, 1.0, mean_m.max(1e-6)])
}

/// [`fit`] from a given start.
pub fn fit_from(data: &SpendData, start: &[f64]) -> Fit<GammaGamma> {
    let n = data.customers();
    let mle = maximize_positive(
        |v| {
            let (ll, g) = GammaGamma::from_slice(v).log_likelihood(data);
            (ll, g.to_vec())
        },
        start,
        n,
    );
    Fit::from_mle(GammaGamma::from_slice(&mle.params), mle, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let (_, g) = gg.ll_one(4.0, 35.2);
        let value = |v: &[f64]| GammaGamma::from_slice(v).ll_one(4.0, 35.2).0;
        crate::ltv::optimize::assert_gradient(value, &g, &gg.to_vec());
    }

    #[test]
    fn expected_spend_shrinks_towards_population_mean() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let pop = 6.25 * 15.44 / 2.74;
        assert!((gg.expected_spend(0.0, 0.0).unwrap() - pop).abs() < 1e-12);
        let e = gg.expected_spend(10.0, 50.0).unwrap();
        assert!(e < 50.0 && e > pop);
    }
}
