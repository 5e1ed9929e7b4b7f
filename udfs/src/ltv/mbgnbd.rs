//! MBG/NBD: the modified BG/NBD of Batislam, Denizel & Filiztekin (2007),
//! "Empirical validation and comparison of models for customer base analysis",
//! IJRM 24(3), 201–209.
//!
//! As BG/NBD, but a customer may also drop out at time zero, so customers with
//! no repeat purchase are not all alive: P(alive | x=0) < 1. The likelihood is
//! B(a, b+x+1)/B(a, b)·Γ(r+x)α^r/Γ(r)·[(α+T)^−(r+x) + a/(b+x)·(α+t_x)^−(r+x)],
//! written as a log-sum-exp with its analytic gradient. The conditional
//! expectation is BG/NBD's bracket with b+1 for b, so it shares the Euler-
//! transformed 2F1 that keeps heavy buyers finite (lifetimes returns inf there).

use super::bgnbd::{
    expected_if_alive, expected_if_alive_many, p_alive_given, p_alive_rows, pmf, Fit, XTerms,
};
use super::data::RfmData;
use super::optimize::maximize_positive;
use super::special::{digamma, ln_gamma, logsumexp_weights};

/// MBG/NBD parameters (named as BG/NBD's).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MbgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl MbgNbd {
    pub fn to_vec(&self) -> Vec<f64> {
        vec![self.r, self.alpha, self.a, self.b]
    }

    pub fn from_slice(v: &[f64]) -> Self {
        MbgNbd {
            r: v[0],
            alpha: v[1],
            a: v[2],
            b: v[3],
        }
    }

    /// The x-only part of one customer's log-likelihood and its gradient
    /// (computed once per distinct x by [`Self::log_likelihood`]).
    pub fn x_terms(&self, x: f64) -> XTerms {
        let MbgNbd { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x + 1.0) - ln_gamma(b) - ln_gamma(a + b + x + 1.0);
        let dab = digamma(a + b) - digamma(a + b + x + 1.0);
        XTerms {
            value: a1 + a2,
            grad: [
                digamma(r + x) - digamma(r) + alpha.ln(),
                r / alpha,
                dab,
                dab + digamma(b + x + 1.0) - digamma(b),
            ],
            ln_odds: a.ln() - (b + x).ln(),
        }
    }

    /// Log-likelihood of one customer and its gradient in (r, α, a, b).
    pub fn ll_one(&self, x: f64, tx: f64, t: f64) -> (f64, [f64; 4]) {
        self.ll_given(&self.x_terms(x), x, tx, t)
    }

    /// [`Self::ll_one`] with the x-only terms given.
    pub fn ll_given(&self, xt: &XTerms, x: f64, tx: f64, t: f64) -> (f64, [f64; 4]) {
        let MbgNbd { r, alpha, a, b } = *self;
        let (l3, l4) = ((alpha + t).ln(), (alpha + tx).ln());
        let a3 = -(r + x) * l3;
        let a4 = xt.ln_odds - (r + x) * l4;
        let (lse, w3, w4) = logsumexp_weights(a3, a4);
        let mut g = xt.grad;
        g[0] -= w3 * l3 + w4 * l4;
        g[1] -= (r + x) * (w3 / (alpha + t) + w4 / (alpha + tx));
        g[2] += w4 / a;
        g[3] -= w4 / (b + x);
        (xt.value + lse, g)
    }

    /// Total weighted log-likelihood and gradient.
    pub fn log_likelihood(&self, data: &RfmData) -> (f64, [f64; 4]) {
        XTerms::sum(
            data,
            |x| self.x_terms(x),
            |xt, x, tx, t| self.ll_given(xt, x, tx, t),
        )
    }

    /// P(alive | x, t_x, T) = 1 / (1 + a/(b+x)·((α+T)/(α+t_x))^(r+x)).
    pub fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        p_alive_given(self.r, self.alpha, self.ln_ab(x), x, tx, t)
    }

    /// ln(a / (b + x)): the odds factor of P(alive).
    fn ln_ab(&self, x: f64) -> f64 {
        (self.a / (self.b + x)).ln()
    }

    crate::wide_kernel! {
        /// [`Self::p_alive`] for many customers, bit for bit the same values
        /// (as BG/NBD's [`super::bgnbd::BgNbd::p_alive_many`]).
        pub fn p_alive_many(&self, x: &[f64], tx: &[f64], t: &[f64], out: &mut Vec<f64>)
            = p_alive_many_avx512, p_alive_many_avx2, p_alive_many_body;
    }

    #[inline(always)]
    fn p_alive_many_body(&self, x: &[f64], tx: &[f64], t: &[f64], out: &mut Vec<f64>) {
        p_alive_rows(
            self.r,
            self.alpha,
            |x| self.ln_ab(x),
            false,
            (x, tx, t),
            out,
        );
    }

    /// E[Y(horizon) | x, t_x, T].
    pub fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        self.expected_alive(horizon, x, t) * self.p_alive(x, tx, t)
    }

    /// E[Y(horizon) | x, T, alive at T]: BG/NBD's with b + 1 for b.
    pub fn expected_alive(&self, horizon: f64, x: f64, t: f64) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        expected_if_alive(r, alpha, a, b + 1.0, x, t, horizon)
    }

    /// [`Self::expected_alive`] for several horizons.
    pub fn expected_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]) {
        let MbgNbd { r, alpha, a, b } = *self;
        expected_if_alive_many(r, alpha, a, b + 1.0, x, t, horizons, out)
    }

    /// P(Y(horizon) = n | x, t_x, T): an alive customer's future is a BG/NBD
    /// process (drop-out only after purchases) with posterior p ~ Beta(a, b+x+1).
    pub fn prob_purchases(&self, n: f64, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        let pa = self.p_alive(x, tx, t);
        let dead = if n == 0.0 { 1.0 - pa } else { 0.0 };
        dead + pa * pmf(r + x, alpha + t, a, b + x + 1.0, n, horizon)
    }
}

/// Maximum-likelihood MBG/NBD fit on the log scale with analytic gradients;
/// returns its best point with `converged = false` rather than failing.
pub fn fit(data: &RfmData) -> Fit<MbgNbd> {
    fit_from(data, &[1.0, data.time_per_purchase(), 1.0, 1.0])
}

/// [`fit`] from a given start.
pub fn fit_from(data: &RfmData, start: &[f64]) -> Fit<MbgNbd> {
    let n = data.customers();
    let mle = maximize_positive(
        |v| {
            let (ll, g) = MbgNbd::from_slice(v).log_likelihood(data);
            (ll, g.to_vec())
        },
        start,
        n,
    );
    Fit::from_mle(MbgNbd::from_slice(&mle.params), mle, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ltv::data::tests::cdnow;

    #[test]
    fn p_alive_many_equals_p_alive_bit_for_bit() {
        let m = MbgNbd {
            r: 0.525,
            alpha: 6.183,
            a: 0.891,
            b: 1.614,
        };
        crate::ltv::data::tests::assert_batch_matches_rows(
            |x, tx, t, out| m.p_alive_many(x, tx, t, out),
            |x, tx, t| m.p_alive(x, tx, t),
        );
    }

    /// Batislam, Denizel & Filiztekin (2007) on the CDNOW sample:
    /// r = 0.525, α = 6.183, a = 0.891, b = 1.614.
    #[test]
    fn cdnow_published_estimates() {
        let fit = fit(&cdnow());
        assert!(fit.converged, "{fit:?}");
        let p = fit.params;
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        assert_eq!(
            [round3(p.r), round3(p.alpha), round3(p.a), round3(p.b)],
            [0.525, 6.183, 0.891, 1.614],
            "{p:?}"
        );
        assert_eq!(fit.std_errors.as_ref().map(|s| s.len()), Some(4));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let m = MbgNbd {
            r: 0.525,
            alpha: 6.183,
            a: 0.891,
            b: 1.614,
        };
        for (x, tx, t) in [(3.0, 20.0, 35.0), (0.0, 0.0, 30.0)] {
            let (_, g) = m.ll_one(x, tx, t);
            let value = |v: &[f64]| MbgNbd::from_slice(v).ll_one(x, tx, t).0;
            crate::ltv::optimize::assert_gradient(value, &g, &m.to_vec());
        }
    }
}
