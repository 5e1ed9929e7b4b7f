//! Criterion benches of the market basket kernels on FIMI retail (88,162
//! baskets, read from data/baskets/retail.dat): FP-growth at the three
//! supports of the issue, on 1 thread and on all cores, and rule generation.
//! `cargo bench --bench basket_kernels`. Side-by-side runs against pyfim and
//! mlxtend, end to end from Parquet, are in `benches/basket_vs_pyfim.py`.

use criterion::{criterion_group, criterion_main, Criterion};
use crmlake_udfs::basket::fpgrowth::{frequent_itemsets, Limits};
use crmlake_udfs::basket::items::{min_count, Baskets};
use crmlake_udfs::basket::rules::{association_rules, RuleFilter};

fn retail() -> (Baskets, usize) {
    let mut n_items = 0;
    let baskets: Vec<Vec<u32>> = include_str!("../data/baskets/retail.dat")
        .lines()
        .map(|l| {
            let mut b: Vec<u32> = l
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect();
            b.sort_unstable();
            b.dedup();
            n_items = n_items.max(b.last().map_or(0, |&i| i as usize + 1));
            b
        })
        .collect();
    (Baskets::from(&baskets[..]), n_items)
}

fn mining(c: &mut Criterion) {
    let (baskets, n_items) = retail();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for support in [0.005, 0.001, 0.0005] {
        let count = min_count(support, baskets.len() as u64);
        for threads in [1, cores] {
            let limits = Limits {
                max_len: 0,
                max_itemsets: usize::MAX,
            };
            c.bench_function(
                &format!("fpgrowth retail {support}, {threads} thread(s)"),
                // The bench loop runs inside a pool of `threads` threads.
                |b| {
                    crmlake_udfs::pool::with_threads(threads, || {
                        b.iter(|| frequent_itemsets(&baskets, n_items, count, limits))
                    })
                },
            );
        }
        let limits = Limits {
            max_len: 0,
            max_itemsets: usize::MAX,
        };
        let sets = frequent_itemsets(&baskets, n_items, count, limits).expect("within the limit");
        let filter = RuleFilter {
            min_confidence: 0.5,
            min_lift: 0.0,
            max_consequent: 1,
        };
        c.bench_function(&format!("rules retail {support}"), |b| {
            b.iter(|| association_rules(&sets, baskets.len() as u64, filter))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = mining
}
criterion_main!(benches);
