//! Lifetime value: the BG/NBD, Pareto/NBD and MBG/NBD purchase models, the
//! Gamma-Gamma spend model, CLV, and the numerical pieces they share.
//! Algorithm code in `bgnbd`, `paretonbd`, `mbgnbd`, `gamma_gamma`, `clv`,
//! `special`, `quadrature`, `optimize`, `data`, and their uncertainty in
//! `interval` (delta method, bootstrap) and `bootstrap` (refits); the SQL wrappers in
//! `summary_sql` (customer_summary table functions), `fit_sql` (aggregates),
//! `score_sql` and `clv_sql` (scalars) and `ltv_sql` (customer_ltv).

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod bgnbd;
pub mod bootstrap;
pub mod clv;
pub mod clv_sql;
pub mod data;
pub mod fit_sql;
pub mod gamma_gamma;
pub mod interval;
pub mod interval_sql;
pub mod ltv_sql;
pub mod mbgnbd;
pub mod optimize;
pub mod paretonbd;
pub mod quadrature;
pub mod score_sql;
pub mod special;
pub mod summary_sql;
pub mod vecmath;

/// What every purchase model answers for a customer with summary (x, t_x, T).
pub trait PurchaseModel: std::fmt::Debug {
    /// P(alive | x, t_x, T).
    fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64;
    /// E[Y(horizon) | x, t_x, T] = E[Y(horizon) | x, T, alive] · P(alive).
    fn expected_purchases(&self, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
        self.expected_alive(horizon, x, t) * self.p_alive(x, tx, t)
    }
    /// E[Y(horizon) | x, T, alive at T] (no t_x: it matters only through P(alive)).
    fn expected_alive(&self, horizon: f64, x: f64, t: f64) -> f64;
    /// [`Self::expected_alive`] for several horizons into `out`, equal to
    /// single calls (models share work between horizons where they can).
    fn expected_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]);
    /// P(Y(horizon) = n | x, t_x, T).
    fn prob_purchases(&self, n: f64, horizon: f64, x: f64, tx: f64, t: f64) -> f64;
}

macro_rules! purchase_model {
    ($t:ty) => {
        impl PurchaseModel for $t {
            fn p_alive(&self, x: f64, tx: f64, t: f64) -> f64 {
                <$t>::p_alive(self, x, tx, t)
            }
            fn expected_alive(&self, horizon: f64, x: f64, t: f64) -> f64 {
                <$t>::expected_alive(self, horizon, x, t)
            }
            fn expected_alive_many(&self, horizons: &[f64], x: f64, t: f64, out: &mut [f64]) {
                <$t>::expected_alive_many(self, horizons, x, t, out)
            }
            fn prob_purchases(&self, n: f64, horizon: f64, x: f64, tx: f64, t: f64) -> f64 {
                <$t>::prob_purchases(self, n, horizon, x, tx, t)
            }
        }
    };
}
purchase_model!(bgnbd::BgNbd);
purchase_model!(paretonbd::ParetoNbd);
purchase_model!(mbgnbd::MbgNbd);
