//! Confidence intervals on lifetime-value scores (`'interval=0.9'` on
//! `p_alive`, `expected_purchases`, `prob_purchases`, `expected_spend`, `clv`
//! and `customer_ltv`).
//!
//! A score is a function f(θ) of the model's parameters for one customer. Its
//! interval reflects the uncertainty of the fitted parameters, so it is a
//! confidence interval on the customer's *expectation*, not a range for what
//! one customer will do (see [`predictive_counts`] for that).
//!
//! * **Delta method** (default). The fits store the covariance Σ of the
//!   parameters' logarithms (the inverse observed information on the scale the
//!   fit optimises on, full matrix). With g the gradient of a transform of f
//!   with respect to ln θ, by forward differences (step [`STEP`]), the
//!   transform's standard error is √(gᵀΣg) and the interval is the
//!   transform's estimate ± z·se, mapped back: on the log scale for positive
//!   scores (expected purchases, spend, CLV), so bounds stay > 0 and follow
//!   the scores' skew, and on the logit scale for probabilities (P(alive),
//!   P(Y = n)), so bounds stay in [0, 1]. A score that is exactly 0 or 1
//!   whatever the parameters (BG/NBD's P(alive) of a customer with no repeat
//!   purchase) gets a zero-width interval.
//! * **Bootstrap** (`interval_method=bootstrap`), as in CLVTools: the fit
//!   (`'replicates=200, seed=1'`, see [`super::bootstrap`]) refits on
//!   customers resampled with replacement and stores each replicate's
//!   parameters; the interval is the (1 − level)/2 and (1 + level)/2
//!   quantiles (linear interpolation, R's type 7) of the score under the
//!   replicates. The estimate stays the score at the fitted parameters.
//!
//! A fit at the boundary of its parameter space has a singular information
//! matrix and stores no covariance: a delta interval from it is an error,
//! or NULL with `no_covariance=null` (what `customer_ltv` passes).
//!
//! The scorers evaluate a score under a *family* of parameter vectors — the
//! estimate and one step along each log-parameter, or the replicates — one
//! column per member ([`family`]), and [`Combine`] turns each customer's
//! values into (estimate, low, high). A CLV multiplies a purchase model's
//! value by a spend model's; the two fits' likelihoods are separate, so
//! their estimates are independent and the log-scale variances add
//! ([`Combine::delta_product`]).

use crate::error::UdfError;
use crate::normal;
use crate::options::Options;

/// Forward-difference step on the log-parameters.
pub const STEP: f64 = 1e-5;

/// How an interval is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    Delta,
    Bootstrap,
    /// Quantiles of the purchase count itself (`expected_purchases` only).
    Predictive,
}

/// An interval request: its level in (0, 1) and method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalSpec {
    pub level: f64,
    pub method: Method,
    /// `no_covariance=null`: a delta interval from a model without a
    /// covariance (a fit at the boundary of its parameter space, where the
    /// information matrix is singular) is NULL instead of an error.
    pub null_without_covariance: bool,
}

/// The option keys of the scoring functions.
pub const KEYS: &[&str] = &["interval", "interval_method", "no_covariance"];

impl IntervalSpec {
    /// `interval=0.9` (any level in (0, 1)) or `interval=predictive` (0.9,
    /// only where `predictive_ok`), with `interval_method=delta|bootstrap`.
    /// `None` without `interval`.
    pub fn from_options(
        function: &'static str,
        options: &Options,
        predictive_ok: bool,
    ) -> Result<Option<IntervalSpec>, UdfError> {
        let err = |message: String| UdfError::Options { function, message };
        let method = match options.get("interval_method").map(str::to_ascii_lowercase) {
            None => None,
            Some(m) if m == "delta" => Some(Method::Delta),
            Some(m) if m == "bootstrap" => Some(Method::Bootstrap),
            Some(m) => {
                return Err(err(format!(
                    "interval_method must be delta or bootstrap, got '{m}'"
                )))
            }
        };
        let null_without_covariance =
            match options.get("no_covariance").map(str::to_ascii_lowercase) {
                None => false,
                Some(v) if v == "error" => false,
                Some(v) if v == "null" => true,
                Some(v) => {
                    return Err(err(format!(
                        "no_covariance must be error or null, got '{v}'"
                    )))
                }
            };
        if null_without_covariance && method.is_some_and(|m| m != Method::Delta) {
            return Err(err(
                "no_covariance is for the delta method; the bootstrap needs no covariance".into(),
            ));
        }
        let Some(level) = options.get("interval") else {
            if method.is_some() || options.get("no_covariance").is_some() {
                return Err(err(
                    "interval_method needs interval=LEVEL (e.g. interval=0.9)".into(),
                ));
            }
            return Ok(None);
        };
        if level.eq_ignore_ascii_case("predictive") {
            if !predictive_ok {
                return Err(err(
                    "interval=predictive is only for expected_purchases; give a level in (0, 1)"
                        .into(),
                ));
            }
            if method.is_some() {
                return Err(err(
                    "interval=predictive mixes over the model's bootstrap replicates; drop interval_method"
                        .into(),
                ));
            }
            return Ok(Some(IntervalSpec {
                level: 0.9,
                method: Method::Predictive,
                null_without_covariance: false,
            }));
        }
        let level: f64 = level.parse().map_err(|_| {
            err(format!(
                "interval must be a level in (0, 1) such as 0.9, got '{level}'"
            ))
        })?;
        if !(level > 0.0 && level < 1.0) {
            return Err(err(format!(
                "interval must be a level in (0, 1), got {level}"
            )));
        }
        Ok(Some(IntervalSpec {
            level,
            method: method.unwrap_or(Method::Delta),
            null_without_covariance,
        }))
    }
}

/// What a model brings to an interval: its parameters, their log-scale
/// covariance and its bootstrap replicates (either may be missing).
#[derive(Debug, Clone)]
pub struct Uncertainty<'a> {
    pub params: Vec<f64>,
    pub log_covariance: Option<&'a [Vec<f64>]>,
    pub replicates: Option<&'a [Vec<f64>]>,
}

/// The parameter vectors a score is evaluated under: for the delta method the
/// estimate then one forward step along each log-parameter; for the bootstrap
/// the estimate then every replicate. `argument` names the model in errors.
pub fn family(
    function: &'static str,
    argument: &str,
    spec: IntervalSpec,
    u: &Uncertainty<'_>,
) -> Result<Vec<Vec<f64>>, UdfError> {
    let mut out = vec![u.params.clone()];
    match spec.method {
        Method::Delta => {
            if u.log_covariance.is_none() {
                if spec.null_without_covariance {
                    // The estimate alone: its interval is NULL.
                    return Ok(out);
                }
                return Err(UdfError::argument(
                    function,
                    argument,
                    "the model has no covariance (its information matrix was not positive definite: a fit at the boundary, or one made before crmlake stored it): refit it, use interval_method=bootstrap, or add no_covariance=null for NULL intervals",
                ));
            }
            for i in 0..u.params.len() {
                let mut p = u.params.to_vec();
                p[i] *= STEP.exp();
                out.push(p);
            }
        }
        Method::Bootstrap | Method::Predictive => {
            let reps = u.replicates.filter(|r| !r.is_empty()).ok_or_else(|| {
                UdfError::argument(
                    function,
                    argument,
                    "the model has no bootstrap replicates: fit it with the option 'replicates=200, seed=1'",
                )
            })?;
            out.extend(reps.iter().cloned());
        }
    }
    Ok(out)
}

/// The scale an interval is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Positive quantities.
    Log,
    /// Probabilities.
    Logit,
}

impl Scale {
    fn to(self, v: f64) -> f64 {
        match self {
            Scale::Log => v.ln(),
            Scale::Logit => (v / (1.0 - v)).ln(),
        }
    }
    fn from(self, v: f64) -> f64 {
        match self {
            Scale::Log => v.exp(),
            Scale::Logit => 1.0 / (1.0 + (-v).exp()),
        }
    }
}

/// (estimate, low, high).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Turns a customer's values under a [`family`] into an interval.
#[derive(Debug, Clone)]
pub struct Combine {
    method: Method,
    level: f64,
    z: f64,
    scale: Scale,
}

impl Combine {
    pub fn new(spec: IntervalSpec, scale: Scale) -> Self {
        Combine {
            method: spec.method,
            level: spec.level,
            z: normal::two_sided(spec.level),
            scale,
        }
    }

    /// `values[0]` at the estimate, then the family's other members; `None`
    /// where the score does not exist (no interval then if the estimate is
    /// missing; missing members are left out of a bootstrap and make a
    /// delta interval's bounds unknown).
    pub fn interval(
        &self,
        values: &[Option<f64>],
        log_cov: Option<&[Vec<f64>]>,
    ) -> Option<(f64, Option<(f64, f64)>)> {
        let estimate = values[0]?;
        let bounds = match self.method {
            // Without a covariance (no_covariance=null) the bounds are NULL.
            Method::Delta => log_cov.and_then(|cov| {
                let spread = self.delta_spread(estimate, &values[1..], cov);
                self.bounds(estimate, spread)
            }),
            Method::Bootstrap | Method::Predictive => {
                let mut reps: Vec<f64> = values[1..].iter().flatten().copied().collect();
                quantile_pair(&mut reps, self.level)
            }
        };
        Some((estimate, bounds))
    }

    /// The spread of a delta interval, from forward differences.
    fn delta_spread(&self, estimate: f64, steps: &[Option<f64>], cov: &[Vec<f64>]) -> Spread {
        let grad = |t: &dyn Fn(f64) -> f64| -> Vec<f64> {
            let t0 = t(estimate);
            steps
                .iter()
                .map(|s| s.map_or(f64::NAN, |v| (t(v) - t0) / STEP))
                .collect()
        };
        if self.scale.to(estimate).is_finite() {
            return Spread::Transformed(quadratic(&grad(&|v| self.scale.to(v)), cov));
        }
        if steps.iter().all(|s| *s == Some(estimate)) {
            return Spread::Fixed;
        }
        // At a bound of the scale (0, or a probability of 1) but moving
        // with the parameters: the natural scale, clamped.
        Spread::Natural(quadratic(&grad(&|v| v), cov))
    }

    fn bounds(&self, estimate: f64, spread: Spread) -> Option<(f64, f64)> {
        let (lo, hi) = match spread {
            Spread::Fixed => return Some((estimate, estimate)),
            Spread::Transformed(var) => {
                let (t0, half) = (self.scale.to(estimate), self.z * var.sqrt());
                (self.scale.from(t0 - half), self.scale.from(t0 + half))
            }
            Spread::Natural(var) => {
                let half = self.z * var.sqrt();
                let (lo, hi) = (estimate - half, estimate + half);
                match self.scale {
                    Scale::Log => (lo.max(0.0), hi),
                    Scale::Logit => (lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0)),
                }
            }
        };
        (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
    }

    /// A product a·b of a purchase-model value `a` and a spend-model value
    /// `b` from independent fits (CLV): delta on the log scale with the two
    /// variances added, or, for the bootstrap, replicate r of one times
    /// replicate r of the other.
    pub fn product(
        &self,
        a: &[Option<f64>],
        a_cov: Option<&[Vec<f64>]>,
        b: &[Option<f64>],
        b_cov: Option<&[Vec<f64>]>,
    ) -> Option<(f64, Option<(f64, f64)>)> {
        let (ea, eb) = (a[0]?, b[0]?);
        let estimate = ea * eb;
        let bounds = match self.method {
            Method::Delta => {
                if estimate == 0.0 {
                    Some((0.0, 0.0))
                } else if let (Some(ac), Some(bc)) = (a_cov, b_cov) {
                    let va = self.delta_variance_log(ea, &a[1..], ac);
                    let vb = self.delta_variance_log(eb, &b[1..], bc);
                    let var = va + vb;
                    if var.is_finite() {
                        let half = self.z * var.sqrt();
                        Some((estimate * (-half).exp(), estimate * half.exp()))
                    } else {
                        None
                    }
                } else {
                    // A model without a covariance (no_covariance=null).
                    None
                }
            }
            Method::Bootstrap | Method::Predictive => {
                let mut reps: Vec<f64> = a[1..]
                    .iter()
                    .zip(&b[1..])
                    .filter_map(|(x, y)| Some((*x)? * (*y)?))
                    .collect();
                quantile_pair(&mut reps, self.level)
            }
        };
        Some((estimate, bounds))
    }

    fn delta_variance_log(&self, estimate: f64, steps: &[Option<f64>], cov: &[Vec<f64>]) -> f64 {
        let t0 = estimate.ln();
        let g: Vec<f64> = steps
            .iter()
            .map(|s| s.map_or(f64::NAN, |v| (v.ln() - t0) / STEP))
            .collect();
        quadratic(&g, cov)
    }
}

/// How far a delta interval reaches.
#[derive(Debug, Clone, Copy)]
enum Spread {
    /// The score does not move with the parameters at a bound of its scale
    /// (exactly 0 or 1): zero width.
    Fixed,
    /// A variance on the scale's transform.
    Transformed(f64),
    /// A variance on the natural scale (bounds clamped to the range).
    Natural(f64),
}

/// gᵀΣg (NaN when a gradient entry is: a member without the score).
fn quadratic(g: &[f64], cov: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for i in 0..g.len() {
        for j in 0..g.len() {
            s += g[i] * cov[i][j] * g[j];
        }
    }
    if s.is_nan() {
        s
    } else {
        s.max(0.0)
    }
}

/// The (1 − level)/2 and (1 + level)/2 quantiles of `values` (R's type 7:
/// linear between order statistics); `None` when empty.
pub fn quantile_pair(values: &mut [f64], level: f64) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let h = (values.len() - 1) as f64 * p;
        let (lo, frac) = (h.floor() as usize, h - h.floor());
        let hi = (lo + 1).min(values.len() - 1);
        values[lo] + frac * (values[hi] - values[lo])
    };
    Some((q((1.0 - level) / 2.0), q((1.0 + level) / 2.0)))
}

/// The predictive interval of a purchase count: the least n with
/// F(n) >= (1 − level)/2 and the least n with F(n) >= (1 + level)/2, where F
/// is the count's distribution function mixed with equal weight over
/// `pmfs` (one P(Y = n) per parameter vector, e.g. the bootstrap
/// replicates). The mixture is exact; counts are searched up to `max_n`
/// (then `max_n` is returned as the bound).
pub fn predictive_counts(
    level: f64,
    max_n: u32,
    mut pmf: impl FnMut(usize, f64) -> f64,
    members: usize,
) -> (f64, f64) {
    let (lo_p, hi_p) = ((1.0 - level) / 2.0, (1.0 + level) / 2.0);
    let mut cdf = 0.0;
    let mut low = None;
    for n in 0..=max_n {
        let p: f64 = (0..members).map(|m| pmf(m, n as f64)).sum::<f64>() / members as f64;
        cdf += p;
        if low.is_none() && cdf >= lo_p {
            low = Some(n as f64);
        }
        if cdf >= hi_p {
            return (low.unwrap_or(n as f64), n as f64);
        }
    }
    (low.unwrap_or(max_n as f64), max_n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles() {
        let mut v: Vec<f64> = (1..=11).map(f64::from).collect();
        // R: quantile(1:11, c(0.05, 0.95)) = 1.5, 10.5
        assert_eq!(quantile_pair(&mut v, 0.9), Some((1.5, 10.5)));
        assert_eq!(quantile_pair(&mut [], 0.9), None);
    }

    /// f(θ) = θ₀·θ₁ on the log scale: ln f = ln θ₀ + ln θ₁, so the
    /// variance is Σ₀₀ + Σ₁₁ + 2Σ₀₁ exactly.
    #[test]
    fn delta_on_the_log_scale_uses_the_full_covariance() {
        let cov = vec![vec![0.04, 0.01], vec![0.01, 0.09]];
        let params = [2.0, 3.0];
        let u = Uncertainty {
            params: params.to_vec(),
            log_covariance: Some(&cov),
            replicates: None,
        };
        let spec = IntervalSpec {
            level: 0.9,
            method: Method::Delta,
            null_without_covariance: false,
        };
        let fam = family("f", "model", spec, &u).unwrap();
        let values: Vec<Option<f64>> = fam.iter().map(|p| Some(p[0] * p[1])).collect();
        let (est, b) = Combine::new(spec, Scale::Log)
            .interval(&values, Some(&cov))
            .unwrap();
        let (lo, hi) = b.unwrap();
        let sd = (0.04f64 + 0.09 + 0.02).sqrt();
        let z = 1.6448536269514722;
        assert!((est - 6.0).abs() < 1e-12);
        assert!((lo - 6.0 * (-z * sd).exp()).abs() < 1e-6, "{lo}");
        assert!((hi - 6.0 * (z * sd).exp()).abs() < 1e-6, "{hi}");
    }

    #[test]
    fn without_a_covariance_the_delta_interval_is_an_error_or_null() {
        let u = Uncertainty {
            params: vec![0.8, 70.0, 5.6e-7, 9827.0],
            log_covariance: None,
            replicates: None,
        };
        let mut spec = IntervalSpec {
            level: 0.9,
            method: Method::Delta,
            null_without_covariance: false,
        };
        let e = family("p_alive", "model", spec, &u)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no covariance") && e.contains("no_covariance=null"),
            "{e}"
        );
        spec.null_without_covariance = true;
        let fam = family("p_alive", "model", spec, &u).unwrap();
        assert_eq!(fam, vec![u.params.clone()], "the estimate alone");
        let c = Combine::new(spec, Scale::Log);
        // The estimate stays; its bounds are NULL, for a product (CLV) too.
        assert_eq!(c.interval(&[Some(2.5)], None), Some((2.5, None)));
        assert_eq!(
            c.product(
                &[Some(2.5)],
                None,
                &[Some(4.0), Some(4.1)],
                Some(&[vec![0.01]])
            ),
            Some((10.0, None))
        );
    }

    #[test]
    fn a_probability_fixed_at_one_has_no_width() {
        let cov = vec![vec![0.04]];
        let spec = IntervalSpec {
            level: 0.9,
            method: Method::Delta,
            null_without_covariance: false,
        };
        let c = Combine::new(spec, Scale::Logit);
        assert_eq!(
            c.interval(&[Some(1.0), Some(1.0)], Some(&cov)),
            Some((1.0, Some((1.0, 1.0))))
        );
    }

    #[test]
    fn options_are_checked() {
        let parse = |t: &str, p: bool| {
            IntervalSpec::from_options("f", &Options::parse("f", t, KEYS).unwrap(), p)
        };
        assert_eq!(parse("", false).unwrap(), None);
        assert_eq!(
            parse("interval=0.8, interval_method=bootstrap", false).unwrap(),
            Some(IntervalSpec {
                level: 0.8,
                method: Method::Bootstrap,
                null_without_covariance: false,
            })
        );
        assert_eq!(
            parse("interval=0.9, no_covariance=null", false).unwrap(),
            Some(IntervalSpec {
                level: 0.9,
                method: Method::Delta,
                null_without_covariance: true,
            })
        );
        for bad in [
            "interval=1",
            "interval=x",
            "interval_method=delta",
            "no_covariance=null",
            "interval=0.9, no_covariance=maybe",
            "interval=0.9, interval_method=bootstrap, no_covariance=null",
            "interval=0.9, interval_method=jackknife",
        ] {
            assert!(parse(bad, true).is_err(), "{bad}");
        }
        assert!(parse("interval=predictive", false).is_err());
        assert_eq!(
            parse("interval=predictive", true).unwrap().unwrap().method,
            Method::Predictive
        );
    }

    #[test]
    fn predictive_counts_of_a_point_mass_mixture() {
        // Half the mass on 0, half on 3: F = 0.5 at 0..2, 1 at 3.
        let pmf = |m: usize, n: f64| {
            if (m == 0 && n == 0.0) || (m == 1 && n == 3.0) {
                1.0
            } else {
                0.0
            }
        };
        assert_eq!(predictive_counts(0.9, 100, pmf, 2), (0.0, 3.0));
    }
}
