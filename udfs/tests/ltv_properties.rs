//! Property tests for the lifetime-value models: probabilities stay in [0, 1],
//! expectations are finite, non-negative and grow with the horizon, and models
//! round-trip through their stored form unchanged.

use crmlake_udfs::ltv::bgnbd::BgNbd;
use crmlake_udfs::ltv::gamma_gamma::GammaGamma;
use crmlake_udfs::ltv::interval::{self, Combine, IntervalSpec, Method, Scale, Uncertainty};
use crmlake_udfs::ltv::mbgnbd::MbgNbd;
use crmlake_udfs::ltv::paretonbd::ParetoNbd;
use crmlake_udfs::ltv::PurchaseModel;
use crmlake_udfs::model::{Bootstrap, FitInfo, Model};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = BgNbd> {
    (0.01f64..20.0, 0.01f64..500.0, 0.01f64..20.0, 0.01f64..20.0)
        .prop_map(|(r, alpha, a, b)| BgNbd { r, alpha, a, b })
}

/// Any of the three purchase models with parameters over a wide range.
fn purchase_model() -> impl Strategy<Value = Box<dyn PurchaseModel>> {
    let p4 = || (0.01f64..20.0, 0.01f64..500.0, 0.01f64..20.0, 0.01f64..500.0);
    prop_oneof![
        p4().prop_map(|(r, alpha, a, b)| Box::new(BgNbd {
            r,
            alpha,
            a,
            b: b / 25.0
        }) as Box<dyn PurchaseModel>),
        p4().prop_map(
            |(r, alpha, s, beta)| Box::new(ParetoNbd { r, alpha, s, beta })
                as Box<dyn PurchaseModel>
        ),
        p4().prop_map(|(r, alpha, a, b)| Box::new(MbgNbd {
            r,
            alpha,
            a,
            b: b / 25.0
        }) as Box<dyn PurchaseModel>),
    ]
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
        p in params(),
        (x, tx, t) in summary(),
        h in 0.1f64..200.0,
    ) {
        let e1 = p.expected_purchases(h, x, tx, t);
        let e2 = p.expected_purchases(2.0 * h, x, tx, t);
        prop_assert!(e1.is_finite() && e1 >= 0.0, "{e1}");
        prop_assert!(e2 >= e1 * (1.0 - 1e-12), "{e1} then {e2}");
    }

    /// Large dropout parameters (a up to 10^4) and horizons up to 10^3 times
    /// alpha + T: the region where the closed form's series overflowed.
    #[test]
    fn expected_purchases_finite_for_large_a(
        r in 0.05f64..5.0, alpha in 0.1f64..100.0, a in 1.0f64..10_000.0, b_ratio in 0.01f64..10.0,
        (x, tx, t) in summary(),
        ln_k in -7.0f64..7.0,
    ) {
        let p = BgNbd { r, alpha, a, b: a * b_ratio };
        let h = ln_k.exp() * (alpha + t);
        let e1 = p.expected_purchases(h, x, tx, t);
        let e2 = p.expected_purchases(2.0 * h, x, tx, t);
        prop_assert!(e1.is_finite() && e1 >= 0.0, "{e1}");
        prop_assert!(e2 >= e1 * (1.0 - 1e-9), "{e1} then {e2}");
        let m = MbgNbd { r, alpha, a, b: a * b_ratio };
        let em = m.expected_purchases(h, x, tx, t);
        prop_assert!(em.is_finite() && em >= 0.0, "{em}");
    }

    /// Any q, heavy-tailed fits (q <= 1) included: an expected spend is
    /// finite and positive, or absent exactly where p x + q <= 1.
    #[test]
    fn expected_spend_is_positive_or_absent(
        p in 0.01f64..20.0, q in 0.01f64..5.0, gamma in 0.1f64..100.0,
        x in 0u32..50, m in 0.01f64..1000.0,
    ) {
        let gg = GammaGamma { p, q, gamma };
        let x = x as f64;
        match gg.expected_spend(x, if x > 0.0 { m } else { 0.0 }) {
            Some(e) => prop_assert!(e.is_finite() && e > 0.0, "{e}"),
            None => {
                prop_assert!(p * x + q <= 1.0);
                prop_assert!(x < gg.min_frequency_with_spend());
            }
        }
    }

    #[test]
    fn expected_spend_between_own_mean_and_population_mean(
        p in 0.1f64..20.0, q in 1.1f64..20.0, gamma in 0.1f64..100.0,
        x in 1u32..1000, m in 0.01f64..1000.0,
    ) {
        let gg = GammaGamma { p, q, gamma };
        let pop = p * gamma / (q - 1.0);
        let e = gg.expected_spend(x as f64, m).unwrap();
        let (lo, hi) = if m < pop { (m, pop) } else { (pop, m) };
        prop_assert!(e >= lo * (1.0 - 1e-12) && e <= hi * (1.0 + 1e-12), "{e} not in [{lo}, {hi}]");
    }

    #[test]
    fn every_purchase_model_gives_probabilities_and_finite_expectations(
        m in purchase_model(),
        (x, tx, t) in summary(),
        h in 0.1f64..200.0,
        n in 0u32..50,
    ) {
        let pa = m.p_alive(x, tx, t);
        prop_assert!((0.0..=1.0).contains(&pa), "p_alive {pa}");
        let e1 = m.expected_purchases(h, x, tx, t);
        let e2 = m.expected_purchases(2.0 * h, x, tx, t);
        prop_assert!(e1.is_finite() && e1 >= 0.0, "expected {e1}");
        prop_assert!(e2 >= e1 * (1.0 - 1e-9), "{e1} then {e2}");
        let pn = m.prob_purchases(n as f64, h, x, tx, t);
        prop_assert!(pn.is_finite() && (-1e-12..=1.0 + 1e-12).contains(&pn), "P(n = {n}) = {pn}");
    }

    #[test]
    fn every_model_kind_round_trips_unchanged(
        v in proptest::collection::vec(1e-300f64..1e300, 4),
        cov in proptest::collection::vec(-1e300f64..1e300, 16),
        reps in proptest::collection::vec(1e-300f64..1e300, 0..12),
        ll in -1e12f64..0.0, kind in 0usize..4, seed in any::<u64>(),
    ) {
        // Covariance and bootstrap replicates sized to the kind's parameters.
        let k = if kind == 3 { 3 } else { 4 };
        let log_covariance = Some((0..k).map(|i| cov[i * 4..i * 4 + k].to_vec()).collect());
        let bootstrap = Some(Bootstrap {
            seed,
            replicates: reps.chunks_exact(k).map(<[f64]>::to_vec).collect(),
            not_converged: reps.len() % 3,
        });
        let info = FitInfo { log_likelihood: ll, n: 1.0, converged: true, iterations: 3, std_errors: None, log_covariance, bootstrap, skipped: Default::default() };
        let model = match kind {
            0 => Model::Bgnbd { params: BgNbd { r: v[0], alpha: v[1], a: v[2], b: v[3] }, info },
            1 => Model::Paretonbd { params: ParetoNbd { r: v[0], alpha: v[1], s: v[2], beta: v[3] }, info },
            2 => Model::Mbgnbd { params: MbgNbd { r: v[0], alpha: v[1], a: v[2], b: v[3] }, info },
            _ => Model::GammaGamma { params: GammaGamma { p: v[0], q: v[1], gamma: v[2] }, info },
        };
        prop_assert_eq!(Model::parse("test", &model.to_json()).unwrap(), model);
    }

    /// Interval bounds bracket the estimate and stay in range: P(alive) in
    /// [0, 1] (logit scale), expected purchases >= 0 (log scale), for any
    /// summary, under the CDNOW fit's covariance.
    #[test]
    fn interval_bounds_bracket_the_estimate(
        (x, tx, t) in summary(),
        h in 0.0f64..400.0,
        level in 0.5f64..0.999,
    ) {
        let m = BgNbd { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 };
        let cov = vec![
            vec![0.00268, 0.00346, -0.00046, 0.00011],
            vec![0.00346, 0.00734, -0.00082, 0.00098],
            vec![-0.00046, -0.00082, 0.0549, 0.0641],
            vec![0.00011, 0.00098, 0.0641, 0.0845],
        ];
        let u = Uncertainty { params: m.to_vec(), log_covariance: Some(&cov), replicates: None };
        let spec = IntervalSpec { level, method: Method::Delta, null_without_covariance: false };
        let family = interval::family("test", "model", spec, &u).unwrap();
        let members: Vec<BgNbd> = family.iter().map(|p| BgNbd::from_slice(p)).collect();
        let pa: Vec<Option<f64>> = members.iter().map(|m| Some(m.p_alive(x, tx, t))).collect();
        let (e, b) = Combine::new(spec, Scale::Logit).interval(&pa, Some(&cov)).unwrap();
        let (lo, hi) = b.unwrap();
        prop_assert!(0.0 <= lo && lo <= e * (1.0 + 1e-12) && e <= hi * (1.0 + 1e-12) && hi <= 1.0, "p_alive {lo} {e} {hi}");
        let ex: Vec<Option<f64>> = members.iter().map(|m| Some(m.expected_purchases(h, x, tx, t))).collect();
        let (e, b) = Combine::new(spec, Scale::Log).interval(&ex, Some(&cov)).unwrap();
        let (lo, hi) = b.unwrap();
        prop_assert!(0.0 <= lo && lo <= e * (1.0 + 1e-12) && e <= hi * (1.0 + 1e-12), "expected {lo} {e} {hi}");
    }

    #[test]
    fn models_round_trip_unchanged(
        r in 1e-300f64..1e300,
        alpha in 1e-300f64..1e300,
        a in 1e-300f64..1e300, b in 1e-300f64..1e300,
        bad in prop_oneof![Just(0.0), Just(-0.0), -1e300f64..0.0],
        ll in -1e12f64..0.0, n in 0u32..10_000_000, iterations in 0usize..1000, converged in any::<bool>(),
    ) {
        let model = Model::Bgnbd {
            params: BgNbd { r, alpha, a, b },
            info: FitInfo { log_likelihood: ll, n: n as f64, converged, iterations, std_errors: None, log_covariance: None, bootstrap: None, skipped: Default::default() },
        };
        prop_assert_eq!(Model::parse("test", &model.to_json()).unwrap(), model);
        // A parameter that is not a number > 0 is refused.
        let broken = Model::Bgnbd {
            params: BgNbd { r: bad, alpha, a, b },
            info: FitInfo { log_likelihood: ll, n: n as f64, converged, iterations, std_errors: None, log_covariance: None, bootstrap: None, skipped: Default::default() },
        };
        prop_assert!(Model::parse("test", &broken.to_json()).is_err());
    }
}
