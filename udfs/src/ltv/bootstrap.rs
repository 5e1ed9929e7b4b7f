//! Bootstrap replicates of the lifetime-value fits (`'replicates=200,
//! seed=1'` on `bgnbd_fit`, `paretonbd_fit`, `mbgnbd_fit` and
//! `gamma_gamma_fit`), as CLVTools does: each replicate draws as many
//! customers as were fitted, uniformly with replacement, and refits from the
//! full fit's estimate. The fits hold distinct summaries with weights, so a
//! draw is a multinomial count per distinct summary (sequential binomials),
//! which costs per distinct summary, not per customer.
//!
//! Deterministic for a seed: replicate r draws from its own stream, seeded
//! from (seed, r), so the replicates do not depend on the number of threads
//! they run on (the shared pool, [`crate::pool`]).

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};

use crate::error::UdfError;
use crate::options::Options;

/// The most replicates a fit may be asked for.
pub const MAX_REPLICATES: usize = 10_000;

/// The option keys of the fits.
pub const KEYS: &[&str] = &["replicates", "seed"];

/// `replicates=R, seed=S` of a fit; `None` without `replicates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapSpec {
    pub replicates: usize,
    pub seed: u64,
}

impl BootstrapSpec {
    pub fn from_options(
        function: &'static str,
        options: &Options,
    ) -> Result<Option<BootstrapSpec>, UdfError> {
        let seed = options.parse_or("seed", 1u64)?;
        let Some(text) = options.get("replicates") else {
            if options.get("seed").is_some() {
                return Err(UdfError::Options {
                    function,
                    message: "seed needs replicates=N (e.g. 'replicates=200, seed=1')".into(),
                });
            }
            return Ok(None);
        };
        let replicates: usize = text
            .parse()
            .ok()
            .filter(|r| (1..=MAX_REPLICATES).contains(r))
            .ok_or_else(|| UdfError::Options {
                function,
                message: format!(
                    "replicates must be a whole number from 1 to {MAX_REPLICATES}, got '{text}'"
                ),
            })?;
        Ok(Some(BootstrapSpec { replicates, seed }))
    }
}

/// The stream of replicate `r`: SplitMix64 of the seed and index.
fn stream(seed: u64, r: usize) -> StdRng {
    let mut z = seed
        ^ (r as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Counts of a draw of sum(`weights`) customers with replacement, as many
/// per distinct row as the multinomial gives (weights are whole customer
/// counts).
pub fn resample(weights: &[f64], rng: &mut StdRng) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut left_n = total.round() as u64;
    let mut left_w = total;
    let mut out = Vec::with_capacity(weights.len());
    for &w in weights {
        let c = if left_n == 0 || left_w <= 0.0 {
            0
        } else {
            let p = (w / left_w).clamp(0.0, 1.0);
            Binomial::new(left_n, p).map_or(0, |b| b.sample(rng))
        };
        out.push(c as f64);
        left_n -= c.min(left_n);
        left_w -= w;
    }
    out
}

/// `spec.replicates` refits: replicate r resamples `weights` and calls
/// `refit(counts)`, whose results come back on the shared pool, in
/// replicate order.
pub fn replicates<T: Send>(
    spec: BootstrapSpec,
    weights: &[f64],
    refit: impl Fn(&[f64]) -> T + Sync + Send,
) -> Vec<T> {
    crate::pool::map(spec.replicates, |r| {
        let counts = resample(weights, &mut stream(spec.seed, r));
        refit(&counts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resample_keeps_the_customer_count_and_follows_the_weights() {
        let weights = [5.0, 1.0, 0.0, 994.0];
        let mut totals = [0.0; 4];
        for r in 0..200 {
            let c = resample(&weights, &mut stream(7, r));
            assert_eq!(c.iter().sum::<f64>(), 1000.0);
            assert_eq!(c[2], 0.0);
            for (t, v) in totals.iter_mut().zip(&c) {
                *t += v;
            }
        }
        // Mean count of the first row 5 (sd of the mean 2.2 / √200 = 0.16).
        assert!((totals[0] / 200.0 - 5.0).abs() < 0.6, "{totals:?}");
    }

    #[test]
    fn replicates_are_deterministic_for_a_seed() {
        let spec = BootstrapSpec {
            replicates: 8,
            seed: 3,
        };
        let weights = [3.0, 4.0, 5.0];
        let a = replicates(spec, &weights, |c| c.to_vec());
        let b = replicates(spec, &weights, |c| c.to_vec());
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        let other = replicates(BootstrapSpec { seed: 4, ..spec }, &weights, |c| c.to_vec());
        assert_ne!(a, other);
    }
}
