//! Criterion benches of the churn scoring kernels on wa_churn (IBM telco,
//! 7,043 customers, read from data/churn/wa_churn.csv): the default random
//! forest and gbt models trained on all rows, then 1,000,000 encoded rows
//! drawn from the data set scored on one thread by the leaf-mask kernel
//! (`MaskScorer::raw`). `cargo bench --bench churn_kernels`. End-to-end
//! runs through SQL against scikit-learn and LightGBM are in
//! `benches/churn_vs_sklearn.py`.

use criterion::{criterion_group, criterion_main, Criterion};
use crmlake_udfs::churn::data::{CategoryColumn, Feature, Frame};
use crmlake_udfs::churn::masks::MaskScorer;
use crmlake_udfs::churn::model::{ChurnModel, Learner, TrainOptions};

const ROWS: usize = 1_000_000;

/// The wa_churn rows as a training frame: numeric features first, then the
/// categorical ones, each in the CSV's order. The file quotes strings and
/// not numbers, which tells the two kinds apart.
fn wa_churn() -> (Frame, Vec<Feature>) {
    let mut lines = include_str!("../data/churn/wa_churn.csv").lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim_matches('"'))
        .collect();
    let records: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect())
        .filter(|r: &Vec<&str>| r.len() == header.len())
        .collect();
    let churn = header
        .iter()
        .position(|&h| h == "churn")
        .expect("a churn column");
    let quoted = |i: usize| records.first().is_some_and(|r| r[i].starts_with('"'));
    let inputs = (0..header.len()).filter(|&i| i != churn);
    let mut columns = Vec::new();
    let mut features = Vec::new();
    for i in inputs.clone().filter(|&i| !quoted(i)) {
        columns.push(
            records
                .iter()
                .map(|r| r[i].trim().parse().unwrap_or(f64::NAN))
                .collect(),
        );
        features.push(Feature::numeric(header[i]));
    }
    for i in inputs.filter(|&i| quoted(i)) {
        let mut c = CategoryColumn::default();
        for r in &records {
            c.push(Some(r[i].trim_matches('"')));
        }
        let (categories, values) = c.finish();
        columns.push(values);
        features.push(Feature::categorical(header[i], categories));
    }
    let labels: Vec<f64> = records
        .iter()
        .map(|r| f64::from(u8::from(r[churn] == "\"Yes\"")))
        .collect();
    let weights = vec![1.0; labels.len()];
    let frame = Frame {
        columns,
        labels,
        weights,
    };
    (frame, features)
}

/// `ROWS` rows drawn with replacement (a fixed linear congruential
/// sequence), column by column.
fn draw(frame: &Frame) -> Vec<Vec<f64>> {
    let n = frame.rows() as u64;
    let mut state = 1u64;
    let picks: Vec<usize> = (0..ROWS)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % n) as usize
        })
        .collect();
    frame
        .columns
        .iter()
        .map(|c| picks.iter().map(|&i| c[i]).collect())
        .collect()
}

fn scoring(c: &mut Criterion) {
    let (frame, features) = wa_churn();
    let big = draw(&frame);
    let columns: Vec<&[f64]> = big.iter().map(Vec::as_slice).collect();
    let mut out = vec![0.0; ROWS];
    for (name, options) in [
        ("random_forest", "algorithm=random_forest, seed=42"),
        ("gbt", "algorithm=gbt, seed=42"),
    ] {
        let opts = TrainOptions::parse("churn_train", options, features.len()).expect("options");
        let model = ChurnModel::train(frame.clone(), features.clone(), &opts, 0).expect("training");
        let ensemble = match &model.learner {
            Learner::RandomForest(e) | Learner::Gbt(e) => e,
            Learner::Logistic(_) => unreachable!("a tree model was asked for"),
        };
        let scorer = MaskScorer::new(ensemble, features.len()).expect("mask tables");
        let label = format!(
            "{name} mask scoring, 1M rows, 1 thread, {:?}",
            crmlake_udfs::simd::widest()
        );
        c.bench_function(&label, |b| b.iter(|| scorer.raw(&columns, &mut out)));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = scoring
}
criterion_main!(benches);
