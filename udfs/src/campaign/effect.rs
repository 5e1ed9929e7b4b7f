//! The effect of a campaign on an outcome, treated against control
//! (`campaign_effect`): the difference of means with its confidence
//! interval and two-sided p-value.
//!
//! * A BOOLEAN outcome (a rate): the two-proportion z-test. The p-value uses
//!   the pooled proportion (statsmodels' `proportions_ztest`), the interval
//!   the unpooled Wald standard error (statsmodels'
//!   `confint_proportions_2indep(method='wald')`).
//! * A numeric outcome: Welch's t-test (scipy's `ttest_ind(equal_var=False)`),
//!   Welch–Satterthwaite degrees of freedom, interval from the t quantile.
//! * With a pre-period covariate X (CUPED, Deng et al. 2013): the outcome is
//!   replaced by Y − θ(X − X̄) with θ = Cov(X, Y) / Var(X) over all rows of
//!   both groups, then Welch's test. The adjustment keeps the difference's
//!   expectation and removes the variance X explains.
//!
//! Sums are kept as per-group moments merged by Chan's formulas, so
//! partitions merge without cancellation.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::normal;

/// Running moments of (y, x) for one group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub n: f64,
    /// Σy (exact for counts: a rate's numerator).
    pub sum_y: f64,
    pub mean_y: f64,
    pub m2_y: f64,
    pub mean_x: f64,
    pub m2_x: f64,
    /// Σ(x − x̄)(y − ȳ).
    pub c_xy: f64,
}

impl Moments {
    /// Add one row (x = 0 when there is no covariate).
    pub fn add(&mut self, y: f64, x: f64) {
        self.merge(&Moments {
            n: 1.0,
            sum_y: y,
            mean_y: y,
            m2_y: 0.0,
            mean_x: x,
            m2_x: 0.0,
            c_xy: 0.0,
        });
    }

    /// Chan et al.'s pairwise update.
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let (dy, dx) = (o.mean_y - self.mean_y, o.mean_x - self.mean_x);
        let f = self.n * o.n / n;
        self.m2_y += o.m2_y + dy * dy * f;
        self.m2_x += o.m2_x + dx * dx * f;
        self.c_xy += o.c_xy + dx * dy * f;
        self.mean_y += dy * o.n / n;
        self.mean_x += dx * o.n / n;
        self.sum_y += o.sum_y;
        self.n = n;
    }

    fn var_y(&self) -> f64 {
        self.m2_y / (self.n - 1.0)
    }
}

/// The test a readout used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    TwoProportionZ,
    WelchT,
    WelchTCuped,
}

impl Test {
    pub fn name(self) -> &'static str {
        match self {
            Test::TwoProportionZ => "two_proportion_z",
            Test::WelchT => "welch_t",
            Test::WelchTCuped => "welch_t_cuped",
        }
    }
}

/// A readout. Statistics that do not exist (a group with fewer than two
/// rows, no variance) are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub treated_n: u64,
    pub control_n: u64,
    pub treated_mean: Option<f64>,
    pub control_mean: Option<f64>,
    pub difference: Option<f64>,
    pub relative_lift: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub p_value: Option<f64>,
    pub test: Test,
}

/// The readout of `treated` against `control` at confidence `level`.
pub fn effect(treated: &Moments, control: &Moments, test: Test, level: f64) -> Effect {
    let mean = |m: &Moments| (m.n > 0.0).then(|| m.sum_y / m.n);
    let mut e = Effect {
        treated_n: treated.n as u64,
        control_n: control.n as u64,
        treated_mean: mean(treated),
        control_mean: mean(control),
        difference: None,
        relative_lift: None,
        low: None,
        high: None,
        p_value: None,
        test,
    };
    match test {
        Test::TwoProportionZ => z_test(&mut e, treated, control, level),
        Test::WelchT => {
            let (m1, m0) = (treated.mean_y, control.mean_y);
            welch(
                &mut e,
                (m1, treated.var_y(), treated.n),
                (m0, control.var_y(), control.n),
                level,
            )
        }
        Test::WelchTCuped => {
            let mut all = *treated;
            all.merge(control);
            let theta = if all.m2_x > 0.0 {
                all.c_xy / all.m2_x
            } else {
                0.0
            };
            let adjusted = |g: &Moments| {
                let mean = g.mean_y - theta * (g.mean_x - all.mean_x);
                let m2 = g.m2_y - 2.0 * theta * g.c_xy + theta * theta * g.m2_x;
                (mean, m2.max(0.0) / (g.n - 1.0), g.n)
            };
            let (t, c) = (adjusted(treated), adjusted(control));
            e.treated_mean = (treated.n > 0.0).then_some(t.0);
            e.control_mean = (control.n > 0.0).then_some(c.0);
            welch(&mut e, t, c, level)
        }
    }
    if let (Some(d), Some(c)) = (e.difference, e.control_mean) {
        e.relative_lift = (c != 0.0).then(|| d / c);
    }
    e
}

fn z_test(e: &mut Effect, t: &Moments, c: &Moments, level: f64) {
    if t.n == 0.0 || c.n == 0.0 {
        return;
    }
    let (p1, p0) = (t.sum_y / t.n, c.sum_y / c.n);
    let d = p1 - p0;
    e.difference = Some(d);
    let pooled = (t.sum_y + c.sum_y) / (t.n + c.n);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / t.n + 1.0 / c.n)).sqrt();
    if se0 > 0.0 {
        e.p_value = Some(2.0 * normal::cdf(-(d / se0).abs()));
    }
    let se = (p1 * (1.0 - p1) / t.n + p0 * (1.0 - p0) / c.n).sqrt();
    let z = normal::two_sided(level);
    e.low = Some(d - z * se);
    e.high = Some(d + z * se);
}

/// Welch's test from (mean, sample variance, n) of each group.
fn welch(e: &mut Effect, t: (f64, f64, f64), c: (f64, f64, f64), level: f64) {
    let ((m1, v1, n1), (m0, v0, n0)) = (t, c);
    if n1 < 1.0 || n0 < 1.0 {
        return;
    }
    let d = m1 - m0;
    e.difference = Some(d);
    if n1 < 2.0 || n0 < 2.0 {
        return;
    }
    let (a, b) = (v1 / n1, v0 / n0);
    let se = (a + b).sqrt();
    if se.is_nan() || se <= 0.0 {
        return;
    }
    let df = (a + b).powi(2) / (a * a / (n1 - 1.0) + b * b / (n0 - 1.0));
    let Ok(dist) = StudentsT::new(0.0, 1.0, df) else {
        return;
    };
    e.p_value = Some(2.0 * dist.cdf(-(d / se).abs()));
    let q = dist.inverse_cdf(0.5 + level / 2.0);
    e.low = Some(d - q * se);
    e.high = Some(d + q * se);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(ys: &[f64], xs: &[f64]) -> Moments {
        let mut m = Moments::default();
        for (y, x) in ys.iter().zip(xs) {
            m.add(*y, *x);
        }
        m
    }

    #[test]
    fn merging_equals_adding_in_one_go() {
        let ys = [3.0, 1.5, 8.0, 2.25, 7.0, 4.0];
        let xs = [1.0, 0.5, 4.0, 1.0, 3.0, 2.0];
        let all = moments(&ys, &xs);
        let mut parts = moments(&ys[..2], &xs[..2]);
        parts.merge(&moments(&ys[2..], &xs[2..]));
        for (a, b) in [
            (all.mean_y, parts.mean_y),
            (all.m2_y, parts.m2_y),
            (all.c_xy, parts.c_xy),
            (all.m2_x, parts.m2_x),
        ] {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    /// A covariate that explains nothing leaves Welch's answer as it is;
    /// one that explains the outcome exactly leaves no variance.
    #[test]
    fn cuped_keeps_the_difference_and_removes_explained_variance() {
        let (yt, yc) = ([5.0, 7.0, 6.0, 9.0], [4.0, 5.0, 3.0, 6.0]);
        let plain = effect(
            &moments(&yt, &[0.0; 4]),
            &moments(&yc, &[0.0; 4]),
            Test::WelchT,
            0.95,
        );
        let flat = effect(
            &moments(&yt, &[1.0; 4]),
            &moments(&yc, &[1.0; 4]),
            Test::WelchTCuped,
            0.95,
        );
        assert_eq!(plain.difference, flat.difference);
        assert_eq!(plain.p_value, flat.p_value);
        let exact = effect(
            &moments(&yt, &yt),
            &moments(&yc, &yc),
            Test::WelchTCuped,
            0.95,
        );
        assert_eq!(exact.p_value, None, "no variance left");
    }
}
