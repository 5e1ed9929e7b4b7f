//! BG/NBD: the beta-geometric / negative binomial purchase model of Fader,
//! Hardie & Lee (2005), "Counting Your Customers the Easy Way", Marketing
//! Science 24(2), 275–284.
//!
//! While alive a customer buys at Poisson rate λ ~ Gamma(r, α); after each
//! repeat purchase they drop out with probability p ~ Beta(a, b). Data per
//! customer: x repeat purchases, the last at t_x, observed for T.
//!
//! Everything here is plain Rust on f64. The likelihood and its analytic
//! gradient follow the paper's equation (6) written as a log-sum-exp; the
//! conditional expectation (paper eq. 10) is evaluated through Euler's
//! transformation of 2F1, which turns the x-dependent parameters into
//! x-independent ones: no overflow for heavy buyers and no cancellation.

use super::vecmath;

use super::data::RfmData;
use super::optimize::{maximize_positive, Mle};
use super::special::{digamma, hyp2f1_tail_scaled_many, ln_beta, ln_gamma, logsumexp_weights};

/// BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// The x-only part of a customer's log-likelihood and its gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XTerms {
    pub value: f64,
    pub grad: [f64; 4],
    /// The log of the "dropped out after the last purchase" odds factor,
    /// ln(a / (b + x − 1)) for BG/NBD (x > 0), ln(a / (b + x)) for MBG/NBD.
    pub ln_odds: f64,
}

impl XTerms {
    /// Σ over `data` of `ll_given(terms(x), x, t_x, T)`, with `terms` computed
    /// once per run of equal x (the fits sort their rows by x, so once per
    /// distinct x and chunk): the weighted log-likelihood and gradient of a
    /// model split as BG/NBD and MBG/NBD are.
    pub fn sum(
        data: &RfmData,
        terms: impl Fn(f64) -> XTerms + Sync,
        ll_given: impl Fn(&XTerms, f64, f64, f64) -> (f64, [f64; 4]) + Sync,
    ) -> (f64, [f64; 4]) {
        super::data::par_sum_with(
            data.rows(),
            || None::<(u64, XTerms)>,
            |last, row| {
                let key = row.x.to_bits();
                let xt = match last {
                    Some((k, xt)) if *k == key => *xt,
                    _ => {
                        let xt = terms(row.x);
                        *last = Some((key, xt));
                        xt
                    }
                };
                ll_given(&xt, row.x, row.tx, row.t)
            },
        )
    }
}

/// A fitted model with its diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit<P> {
    pub params: P,
    pub log_likelihood: f64,
    pub n: f64,
    pub converged: bool,
    pub iterations: usize,
    /// Standard errors from the inverse observed information, in parameter order;
    /// `None` when the Hessian is not positive definite.
    pub std_errors: Option<Vec<f64>>,
    /// Covariance of the parameters' logarithms, for intervals
    /// ([`super::interval`]); `None` with `std_errors`.
    pub log_covariance: Option<Vec<Vec<f64>>>,
}

impl BgNbd {
    pub fn to_vec(&self) -> Vec<f64> {
        vec![self.r, self.alpha, self.a, self.b]
    }

    pub fn from_slice(v: &[f64]) -> Self {
        BgNbd {
            r: v[0],
            alpha: v[1],
            a: v[2],
            b: v[3],
        }
    }

    /// The part of one customer's log-likelihood that depends on x alone (all
    /// the log-gamma and digamma terms) with its gradient. A data set has few
    /// distinct x, so [`Self::log_likelihood`] computes these once per x.
    pub fn x_terms(&self, x: f64) -> XTerms {
        let BgNbd { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let dab = digamma(a + b) - digamma(a + b + x);
        XTerms {
            value: a1 + a2,
            grad: [
                digamma(r + x) - digamma(r) + alpha.ln(),
                r / alpha,
                dab,
                dab + digamma(b + x) - digamma(b),
            ],
            ln_odds: if x > 0.0 {
                a.ln() - (b + x - 1.0).ln()
            } else {
                0.0
            },
        }
    }

    /// Log-likelihood of one customer and its gradient in (r, α, a, b).
    pub fn ll_one(&self, x: f64, tx: f64, t: f64) -> (f64, [f64; 4]) {
        self.ll_given(&self.x_terms(x), x, tx, t)
    }

    /// [`Self::ll_one`] with the x-only terms given.
    pub fn ll_given(&self, xt: &XTerms, x: f64, tx: f64, t: f64) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *self;
        let l3 = (alpha + t).ln();
        let a3 = -(r + x) * l3;
        let mut g = xt.grad;
        if x > 0.0 {
            let l4 = (alpha + tx).ln();
            let a4 = xt.ln_odds - (r + x) * l4;
            let (lse, w3, w4) = logsumexp_weights(a3, a4);
            g[0] -= w3 * l3 + w4 * l4;
            g[1] -= (r + x) * (w3 / (alpha + t) + w4 / (alpha + tx));
            g[2] += w4 / a;
            g[3] -= w4 / (b + x - 1.0);
            (xt.value + lse, g)
        } else {
            g[0] -= l3;
            g[1] -= (r + x) / (alpha + t);
            (xt.value + a3, g)
        }
    }

    /// Total weighted log-likelihood and gradient.
    pub fn log_likelihood(&self, data: &RfmData) -> (f64, [f64; 4]) {
        XTerms::sum(
            data,
            |x| self.x_terms(x),
            |xt, x, tx, t| self.ll_given(xt, x, tx, t),
        )
    }

    /// P(alive | x, t_x, T).
    pub fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        p_alive_given(self.r, self.alpha, self.ln_ab(x), x, tx, t)
    }

    /// ln(a / (b + x − 1)): the odds factor of a repeat buyer's P(alive).
    fn ln_ab(&self, x: f64) -> f64 {
        (self.a / (self.b + x - 1.0)).ln()
    }

    crate::wide_kernel! {
        /// [`Self::p_alive`] for many customers, bit for bit the same values
        /// ([`p_alive_rows`], for the widest vectors the CPU has:
        /// [`crate::simd`]).
        pub fn p_alive_many(&self, x: &[f64], tx: &[f64], t: &[f64], out: &mut Vec<f64>)
            = p_alive_many_avx512, p_alive_many_avx2, p_alive_many_body;
    }

    #[inline(always)]
    fn p_alive_many_body(&self, x: &[f64], tx: &[f64], t: &[f64], out: &mut Vec<f64>) {
        let ln_ab = |x: f64| if x == 0.0 { 0.0 } else { self.ln_ab(x) };
        p_alive_rows(self.r, self.alpha, ln_ab, true, (x, tx, t), out);
    }

    /// E[Y(horizon) | x, t_x, T]: expected repeat purchases in the next `horizon`.
    pub fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        self.expected_alive(horizon, x, t) * self.p_alive(x, tx, t)
    }

    /// E[Y(horizon) | x, T, alive at T].
    pub fn expected_alive(&self, horizon: f64, x: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        expected_if_alive(r, alpha, a, b, x, t, horizon)
    }

    /// [`Self::expected_alive`] for several horizons.
    pub fn expected_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]) {
        let BgNbd { r, alpha, a, b } = *self;
        expected_if_alive_many(r, alpha, a, b, x, t, horizons, out)
    }

    /// P(Y(horizon) = n | x, t_x, T): the probability of exactly n purchases in
    /// the next `horizon` (Fader, Hardie & Lee's conditional PMF: the model's
    /// unconditional PMF with the posterior parameters, weighted by P(alive)).
    pub fn prob_purchases(&self, n: f64, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let pa = self.p_alive(x, tx, t);
        let dead = if n == 0.0 { 1.0 - pa } else { 0.0 };
        dead + pa * pmf(r + x, alpha + t, a, b + x, n, horizon)
    }
}

/// P(alive) = 1 / (1 + exp(ln_ab + (r + x)·ln((α + T) / (α + t_x)))), the
/// form BG/NBD (for x > 0) and MBG/NBD share, with the vectorisable `exp`
/// and `ln_1p` of [`super::vecmath`]. The ratio is taken as
/// ln1p((T − t_x) / (α + t_x)): one logarithm, exact as t_x → T.
#[inline(always)]
pub(super) fn p_alive_given(r: f64, alpha: f64, ln_ab: f64, x: f64, tx: f64, t: f64) -> f64 {
    let log_term = ln_ab + (r + x) * vecmath::ln_1p((t - tx) / (alpha + tx));
    1.0 / (1.0 + vecmath::exp(log_term))
}

/// [`p_alive_given`] for the rows `(x, t_x, T)`, appended to `out`, in two
/// passes per block of rows: `ln_ab(x)` looked up per row (computed once
/// per whole frequency below 4,096: frequencies are small whole numbers,
/// repeated across customers), then the rest as one branch-free loop the
/// compiler vectorises. Rows with x = 0 get 1 when `zero_is_alive` (BG/NBD:
/// no repeat purchase, no chance to drop out).
#[inline(always)]
pub(super) fn p_alive_rows(
    r: f64,
    alpha: f64,
    ln_ab: impl Fn(f64) -> f64,
    zero_is_alive: bool,
    (x, tx, t): (&[f64], &[f64], &[f64]),
    out: &mut Vec<f64>,
) {
    const BLOCK: usize = 256;
    let mut cache = vec![f64::NAN; 4096];
    let mut ln_abs = [0.0; BLOCK];
    let start = out.len();
    out.resize(start + x.len(), 0.0);
    let blocks = out[start..]
        .chunks_mut(BLOCK)
        .zip(x.chunks(BLOCK).zip(tx.chunks(BLOCK)).zip(t.chunks(BLOCK)));
    for (o, ((x, tx), t)) in blocks {
        for (l, &x) in ln_abs.iter_mut().zip(x) {
            let slot = x as usize;
            *l = if slot < cache.len() && slot as f64 == x {
                if cache[slot].is_nan() {
                    cache[slot] = ln_ab(x);
                }
                cache[slot]
            } else {
                ln_ab(x)
            };
        }
        for ((o, &l), ((&x, &tx), &t)) in o.iter_mut().zip(&ln_abs).zip(x.iter().zip(tx).zip(t)) {
            let p = p_alive_given(r, alpha, l, x, tx, t);
            *o = if zero_is_alive && x == 0.0 { 1.0 } else { p };
        }
    }
}

/// The bracket of the BG/NBD conditional expectation for a customer alive at T
/// (Fader, Hardie & Lee 2005, eq. 10 without the P(alive) factor):
/// C/(a−1)·[1 − ((α+T)/(α+T+h))^(r+x) 2F1(r+x, b+x; C; z)], C = a+b+x−1,
/// z = h/(α+T+h). MBG/NBD shares it with b+1 for b.
///
/// Evaluated through Euler's transformation 2F1(A, B; C; z) = (1−z)^(C−A−B)
/// 2F1(C−A, C−B; C; z), which turns the x-dependent parameters into
/// x-independent ones: no overflow for heavy buyers, no cancellation, and the
/// pole at C = 0 (x = 0 with a + b = 1) cancels inside
/// [`super::special::hyp2f1_tail_scaled`].
pub fn expected_if_alive(r: f64, alpha: f64, a: f64, b: f64, x: f64, t: f64, horizon: f64) -> f64 {
    let mut out = [0.0];
    expected_if_alive_many(r, alpha, a, b, x, t, &[horizon], &mut out);
    out[0]
}

/// [`expected_if_alive`] for several horizons at once (CLV's months): the 2F1
/// coefficients depend on x only, so each series term costs one division for
/// all horizons. Each horizon's series stops where its own would, so the
/// values equal single calls to the last bit.
#[allow(clippy::too_many_arguments)] // the model's parameters and the customer
pub fn expected_if_alive_many(
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    x: f64,
    t: f64,
    horizons: &[f64],
    out: &mut [f64],
) {
    const CHUNK: usize = 32; // on the stack: no allocation per customer
    if horizons.len() > CHUNK {
        for (h, o) in horizons.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            expected_if_alive_many(r, alpha, a, b, x, t, h, o);
        }
        return;
    }
    let n = horizons.len().min(out.len());
    let am1 = a - 1.0;
    let c = a + b + x - 1.0;
    let mut z = [0.0; CHUNK];
    let mut by_integral = [false; CHUNK];
    let mut ks = [0.0; CHUNK];
    for j in 0..n {
        let k = horizons[j] / (alpha + t);
        ks[j] = k;
        // Where the series' terms would pass e^SERIES_LOG_LIMIT (then
        // overflow, with (1−z)^(a−1) underflowing: NaN) or need too many
        // terms, the integral form takes over; z = 0 keeps the series idle.
        by_integral[j] =
            am1 >= 1.0 && (am1 * k.ln_1p() > SERIES_LOG_LIMIT || am1 * k > SERIES_MAX_PEAK);
        z[j] = if by_integral[j] {
            0.0
        } else {
            horizons[j] / (alpha + t + horizons[j])
        };
    }
    let mut sum = [0.0; CHUNK];
    hyp2f1_tail_scaled_many(a + b - 1.0 - r, am1, c, &z[..n], &mut sum[..n]);
    for j in 0..n {
        if horizons[j] == 0.0 {
            out[j] = 0.0;
            continue;
        }
        if by_integral[j] {
            out[j] = expected_if_alive_integral(r + x, a, b + x, ks[j]);
            continue;
        }
        let log1mz = (-z[j]).ln_1p();
        // C/(a−1)·(1 − (1−z)^(a−1) 2F1(a+b−1−r, a−1; C; z)) written as
        // C·(−expm1((a−1) ln(1−z))/(a−1)) − (1−z)^(a−1)·C(2F1 − 1)/(a−1).
        let u = am1 * log1mz;
        let e1 = if u.abs() < 1e-8 {
            -log1mz * (1.0 + 0.5 * u)
        } else {
            -u.exp_m1() / am1
        };
        out[j] = c * e1 - (am1 * log1mz).exp() * sum[j];
    }
}

/// The series of [`expected_if_alive_many`] is used while its largest term
/// stays under e^600 (f64 ends near e^709) ...
const SERIES_LOG_LIMIT: f64 = 600.0;
/// ... and its terms peak before about 20,000 terms (the peak is near
/// (a−1)·h/(α+T)).
const SERIES_MAX_PEAK: f64 = 20_000.0;

/// The bracket of [`expected_if_alive`] as the expectation it is: a customer
/// alive with rate λ and dropout probability p buys (1/p)(1 − e^(−λph)) times
/// in h on average; λ ~ Gamma(s, α+T) gives (1/p)(1 − (1 + pk)^(−s)), k =
/// h/(α+T), and p ~ Beta(a, β) (β = b + x) then gives
/// (a+β−1)/(a−1) · E[1 − (1 + pk)^(−s)] with p ~ Beta(a−1, β).
///
/// For a ≥ 2, where the closed form's series overflows (large a with long
/// horizons): the expectation is integrated over u = logit(p), where the
/// density p^(a−1)(1−p)^β/B(a−1, β) is a smooth bell around ln((a−1)/β) with
/// exponential tails, by Gauss–Legendre panels doubling outwards from it. For
/// β < 1 the integrand φ(p) = 1 − (1 + pk)^(−s) is taken as φ(1) − (φ(1) −
/// φ(p)), whose tail towards p = 1 then falls like (1−p)^(β+1).
fn expected_if_alive_integral(s: f64, a: f64, beta: f64, k: f64) -> f64 {
    use super::quadrature::integrate_doubling;
    let am1 = a - 1.0;
    let phi = |p: f64| -(-s * (p * k).ln_1p()).exp_m1();
    let ln_norm = ln_beta(am1, beta);
    let subtract = beta < 1.0;
    let phi1 = phi(1.0);
    // ln σ(u) and ln σ(−u) without overflow.
    let ln_sigmoid = |u: f64| -> f64 {
        if u >= 0.0 {
            -(-u).exp().ln_1p()
        } else {
            u - u.exp().ln_1p()
        }
    };
    let f = |u: f64| -> f64 {
        let (lp, lq) = (ln_sigmoid(u), ln_sigmoid(-u));
        let dens = (am1 * lp + beta * lq - ln_norm).exp();
        let p = lp.exp();
        let g = if subtract { phi1 - phi(p) } else { phi(p) };
        g * dens
    };
    let centre = (am1 / beta).ln();
    let width = 0.25 * (1.0 / am1 + 1.0 / beta).sqrt();
    let reach = 100.0 + 1000.0 / am1.min(beta);
    let right = integrate_doubling(|v| f(centre + v), 0.0, reach, width);
    let left = integrate_doubling(|v| f(centre - v), 0.0, reach, width);
    let mean = if subtract {
        phi1 - (left + right)
    } else {
        left + right
    };
    (am1 + beta) / am1 * mean
}

/// The BG/NBD probability of exactly n purchases in (0, t] for a customer alive
/// at 0 (Fader, Hardie & Lee 2005, eq. 8):
/// B(a, b+n)/B(a, b)·NBD(n) + [n>0]·B(a+1, b+n−1)/B(a, b)·P(NBD >= n),
/// with NBD(j) = Γ(r+j)/(Γ(r) j!)·(α/(α+t))^r (t/(α+t))^j. The tail
/// P(NBD >= n) is summed directly when it is small, so no cancellation.
pub fn pmf(r: f64, alpha: f64, a: f64, b: f64, n: f64, t: f64) -> f64 {
    let lb = ln_beta(a, b);
    let ln_nbd = |j: f64| {
        ln_gamma(r + j) - ln_gamma(r) - ln_gamma(j + 1.0)
            + r * (alpha / (alpha + t)).ln()
            + if j > 0.0 {
                j * (t / (alpha + t)).ln()
            } else {
                0.0
            }
    };
    let first = (ln_beta(a, b + n) - lb + ln_nbd(n)).exp();
    if n == 0.0 {
        return first;
    }
    first + (ln_beta(a + 1.0, b + n - 1.0) - lb).exp() * nbd_tail(r, alpha, t, n)
}

/// P(N >= n) for N ~ NBD(r, α) over a window t (gamma-mixed Poisson).
pub fn nbd_tail(r: f64, alpha: f64, t: f64, n: f64) -> f64 {
    if t == 0.0 {
        return if n <= 0.0 { 1.0 } else { 0.0 };
    }
    let p = t / (alpha + t);
    let ln_pmf0 = r * (alpha / (alpha + t)).ln();
    let mean = r * t / alpha;
    // ln pmf(j+1) = ln pmf(j) + ln((r+j)/(j+1)·p); terms are summed from logs
    // so heavy buyers (huge r) underflow term by term, not all at once.
    let ln_p = p.ln();
    if n <= mean {
        // The tail is large: 1 − P(N < n).
        let mut ln_pmf = ln_pmf0;
        let mut below = 0.0;
        let mut j = 0.0;
        while j < n {
            below += ln_pmf.exp();
            ln_pmf += ((r + j) / (j + 1.0)).ln() + ln_p;
            j += 1.0;
        }
        (1.0 - below).max(0.0)
    } else {
        // The tail is small and its terms decrease: sum it from n upward.
        let mut ln_pmf = ln_gamma(r + n) - ln_gamma(r) - ln_gamma(n + 1.0) + ln_pmf0 + n * ln_p;
        let mut sum = 0.0;
        let mut j = n;
        for _ in 0..10_000_000 {
            let pmf = ln_pmf.exp();
            sum += pmf;
            if pmf == 0.0 || pmf <= 1e-17 * sum {
                break;
            }
            ln_pmf += ((r + j) / (j + 1.0)).ln() + ln_p;
            j += 1.0;
        }
        sum.min(1.0)
    }
}

/// Maximum-likelihood BG/NBD fit, optimised on the log scale with analytic
/// gradients. Never errors on a hard data set: it returns its best point with
/// `converged = false`.
pub fn fit(data: &RfmData) -> Fit<BgNbd> {
    fit_from(data, &[1.0, data.time_per_purchase(), 1.0, 1.0])
}

/// [`fit`] from a given start (a bootstrap replicate starts at the full
/// data's estimate).
pub fn fit_from(data: &RfmData, start: &[f64]) -> Fit<BgNbd> {
    let n = data.customers();
    let mle = maximize_positive(
        |v| {
            let (ll, g) = BgNbd::from_slice(v).log_likelihood(data);
            (ll, g.to_vec())
        },
        start,
        n,
    );
    Fit::from_mle(BgNbd::from_slice(&mle.params), mle, n)
}

impl<P> Fit<P> {
    /// Wrap an estimate with its typed parameters.
    pub fn from_mle(params: P, mle: Mle, n: f64) -> Self {
        Fit {
            params,
            log_likelihood: mle.log_likelihood,
            n,
            converged: mle.converged,
            iterations: mle.iterations,
            std_errors: mle.std_errors,
            log_covariance: mle.log_covariance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_alive_many_equals_p_alive_bit_for_bit() {
        let m = PAPER;
        crate::ltv::data::tests::assert_batch_matches_rows(
            |x, tx, t, out| m.p_alive_many(x, tx, t, out),
            |x, tx, t| m.p_alive(x, tx, t),
        );
    }

    use crate::ltv::data::tests::cdnow;

    const PAPER: BgNbd = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    /// Fader, Hardie & Lee (2005), Table/figures for CDNOW: r = 0.243,
    /// α = 4.414, a = 0.793, b = 2.426, LL = −9582.4.
    #[test]
    fn cdnow_published_estimates() {
        let fit = fit(&cdnow());
        assert!(fit.converged, "{fit:?}");
        let p = fit.params;
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        assert_eq!(
            [round3(p.r), round3(p.alpha), round3(p.a), round3(p.b)],
            [0.243, 4.414, 0.793, 2.426],
            "{p:?}"
        );
        assert_eq!((fit.log_likelihood * 10.0).round() / 10.0, -9582.4);
        assert_eq!(fit.n, 2357.0);
        assert_eq!(fit.std_errors.as_ref().map(|s| s.len()), Some(4));
    }

    /// Hardie's worked example: x = 2, t_x = 30.43, T = 38.86 → E[Y(39)] =
    /// 1.226 and P(alive) = 0.7266 with the published parameters.
    #[test]
    fn hardie_customer() {
        let e = PAPER.expected_purchases(39.0, 2.0, 30.43, 38.86);
        assert_eq!((e * 1000.0).round() / 1000.0, 1.226, "{e}");
        let pa = PAPER.p_alive(2.0, 30.43, 38.86);
        assert_eq!((pa * 10000.0).round() / 10000.0, 0.7266, "{pa}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (_, g) = PAPER.ll_one(3.0, 20.0, 35.0);
        let value = |v: &[f64]| BgNbd::from_slice(v).ll_one(3.0, 20.0, 35.0).0;
        crate::ltv::optimize::assert_gradient(value, &g, &PAPER.to_vec());
    }

    /// No repeat purchases at all: the likelihood rises towards r → 0 without a
    /// maximum, so the optimiser cannot converge. The fit says so and returns
    /// its best (finite) point instead of failing.
    #[test]
    fn unidentified_data_reports_not_converged() {
        let mut d = RfmData::new();
        for t in [10.0, 20.0, 30.0] {
            d.add(0.0, 0.0, t, 100.0);
        }
        let f = fit(&d);
        assert!(!f.converged, "{f:?}");
        assert!(f.log_likelihood.is_finite(), "{f:?}");
        assert!(
            f.params.to_vec().iter().all(|v| v.is_finite() && *v > 0.0),
            "{f:?}"
        );
    }

    /// One customer: the likelihood has a maximum, but it leaves the
    /// parameters undetermined (r = 65,970 with standard errors hundreds of
    /// times a and b): not converged.
    #[test]
    fn one_customer_is_not_a_converged_fit() {
        let mut d = RfmData::new();
        d.add(3.0, 30.0, 38.86, 1.0);
        let f = fit(&d);
        assert!(!f.converged, "{f:?}");
        let cdnow = fit(&crate::ltv::data::tests::cdnow());
        assert!(cdnow.converged, "{cdnow:?}");
    }

    /// CLV's shared-coefficient series gives exactly the single-call values.
    #[test]
    fn many_horizons_equal_single_calls() {
        let horizons: Vec<f64> = (1..=40).map(|m| m as f64 * 4.345).chain([0.0]).collect();
        let mut out = vec![0.0; horizons.len()];
        for (x, t) in [(0.0, 38.86), (2.0, 38.86), (500.0, 100.0)] {
            PAPER.expected_alive_many(&horizons, x, t, &mut out);
            for (h, e) in horizons.iter().zip(&out) {
                assert_eq!(
                    e.to_bits(),
                    PAPER.expected_alive(*h, x, t).to_bits(),
                    "h={h} x={x}"
                );
            }
        }
    }

    #[test]
    fn heavy_buyers_stay_finite() {
        for x in [100.0, 1000.0, 5000.0] {
            let e = PAPER.expected_purchases(39.0, x, 38.0, 38.86);
            let pa = PAPER.p_alive(x, 38.0, 38.86);
            assert!(
                e.is_finite() && e > 0.0 && (0.0..=1.0).contains(&pa),
                "x={x}: {e} {pa}"
            );
        }
    }
}
