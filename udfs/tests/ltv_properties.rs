//! Property tests for the lifetime-value models: probabilities stay in [0, 1],
//! expectations are finite, non-negative and grow with the horizon, and models
//! round-trip through their stored form unchanged.

use crmlake_udfs::ltv::bgnbd::BgNbd;
use crmlake_udfs::ltv::gamma_gamma::GammaGamma;
use crmlake_udfs::model::{FitInfo, Model};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = BgNbd> {
    (0.01f64..20.0, 0.01f64..500.0, 0.01f64..20.0, 0.01f64..20.0)
        .prop_map(|(r, alpha, a, b)| BgNbd { r, alpha, a, b })
}

/// (x, t_x, T) with t_x <= T and t_x = 0 when x = 0.
fn summary() -> impl Strategy<Value = (f64, f64, f64)> {
    (0u32..5000, 0.0f64..1.0, 0.0f64..1000.0).prop_map(|(x, frac, t)| {
        let tx = if x == 0 { 0.0 } else { frac * t };
        (x as f64, tx, t)
    })
}

proptest! {
    #[test]
    fn p_alive_is_a_probability(p in params(), (x, tx, t) in summary()) {
        let pa = p.p_alive(x, tx, t);
        prop_assert!((0.0..=1.0).contains(&pa), "{pa}");
    }

    #[test]
    fn expected_purchases_finite_nonnegative_and_monotone(
        p in params().prop_filter("a away from the 2F1 edge", |p| p.a + p.b > 1.05),
        (x, tx, t) in summary(),
        h in 0.1f64..200.0,
    ) {
        let e1 = p.expected_purchases(h, x, tx, t);
        let e2 = p.expected_purchases(2.0 * h, x, tx, t);
        prop_assert!(e1.is_finite() && e1 >= 0.0, "{e1}");
        prop_assert!(e2 >= e1 * (1.0 - 1e-12), "{e1} then {e2}");
    }

    #[test]
    fn expected_spend_between_own_mean_and_population_mean(
        p in 0.1f64..20.0, q in 1.1f64..20.0, gamma in 0.1f64..100.0,
        x in 1u32..1000, m in 0.01f64..1000.0,
    ) {
        let gg = GammaGamma { p, q, gamma };
        let pop = p * gamma / (q - 1.0);
        let e = gg.expected_spend(x as f64, m);
        let (lo, hi) = if m < pop { (m, pop) } else { (pop, m) };
        prop_assert!(e >= lo * (1.0 - 1e-12) && e <= hi * (1.0 + 1e-12), "{e} not in [{lo}, {hi}]");
    }

    #[test]
    fn models_round_trip_unchanged(
        r in any::<f64>().prop_filter("finite", |v| v.is_finite()),
        alpha in any::<f64>().prop_filter("finite", |v| v.is_finite()),
        a in 1e-300f64..1e300, b in 1e-300f64..1e300,
        ll in -1e12f64..0.0, n in 0u32..10_000_000, iterations in 0usize..1000, converged in any::<bool>(),
    ) {
        let model = Model::Bgnbd {
            params: BgNbd { r, alpha, a, b },
            info: FitInfo { log_likelihood: ll, n: n as f64, converged, iterations, std_errors: None, skipped: Default::default() },
        };
        prop_assert_eq!(Model::parse("test", &model.to_json()).unwrap(), model);
    }
}
