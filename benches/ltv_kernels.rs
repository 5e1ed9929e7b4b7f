//! Criterion benches of the lifetime-value kernels on the CDNOW summary
//! (2,357 customers, weeks): the three purchase-model fits, the Gamma-Gamma
//! fit, and scoring every customer. `cargo bench --bench ltv_kernels`.
//! Side-by-side runs against lifetimes are in `benches/ltv_vs_lifetimes.py`.

use criterion::{criterion_group, criterion_main, Criterion};
use crmlake_udfs::ltv::bgnbd::{self, BgNbd};
use crmlake_udfs::ltv::clv::clv;
use crmlake_udfs::ltv::data::RfmData;
use crmlake_udfs::ltv::gamma_gamma::GammaGamma;
use crmlake_udfs::ltv::summary_sql::Period;
use crmlake_udfs::ltv::{mbgnbd, paretonbd, PurchaseModel};

fn cdnow() -> Vec<(f64, f64, f64)> {
    include_str!("../data/cdnow/cdnow_customers_summary.csv")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<f64> = l.split(',').filter_map(|s| s.trim().parse().ok()).collect();
            (f.len() == 4).then(|| (f[1], f[2], f[3]))
        })
        .collect()
}

fn fits(c: &mut Criterion) {
    let rows = cdnow();
    let mut data = RfmData::new();
    for &(x, tx, t) in &rows {
        data.add(x, tx, t, 1.0);
    }
    c.bench_function("bgnbd fit, CDNOW", |b| b.iter(|| bgnbd::fit(&data)));
    c.bench_function("mbgnbd fit, CDNOW", |b| b.iter(|| mbgnbd::fit(&data)));
    c.bench_function("paretonbd fit, CDNOW", |b| b.iter(|| paretonbd::fit(&data)));
}

fn scores(c: &mut Criterion) {
    let rows = cdnow();
    let bg = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    let gg = GammaGamma {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };
    c.bench_function("bgnbd p_alive + expected, 2,357 customers", |b| {
        b.iter(|| {
            rows.iter()
                .map(|&(x, tx, t)| bg.p_alive(x, tx, t) + bg.expected_purchases(39.0, x, tx, t))
                .sum::<f64>()
        })
    });
    c.bench_function("clv 12 months, 2,357 customers", |b| {
        b.iter(|| {
            rows.iter()
                .map(|&(x, tx, t)| {
                    let spend = gg
                        .expected_spend(x, if x > 0.0 { 30.0 } else { 0.0 })
                        .unwrap_or(0.0);
                    clv(
                        &bg as &dyn PurchaseModel,
                        spend,
                        x,
                        tx,
                        t,
                        12.0,
                        0.01,
                        Period::Week,
                    )
                })
                .sum::<f64>()
        })
    });
}

criterion_group!(benches, fits, scores);
criterion_main!(benches);
