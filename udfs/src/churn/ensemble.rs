//! Tree ensembles for churn: gradient-boosted trees (`gbt`) and random
//! forests (`random_forest`), both on [`super::tree`]'s histogram trees.
//!
//! Categorical features enter the trees as the rank of their category by
//! training churn rate (smoothed towards the overall rate), so one threshold
//! splits the categories into a low-risk and a high-risk set — the order
//! LightGBM sorts categories by at each node, computed once here. A category
//! not seen in training is missing and follows the node's default direction.
//!
//! `gbt`: Newton boosting of the log loss from the log-odds of the weighted
//! churn rate; each round fits a tree to the gradients and hessians of the
//! training rows and adds `learning_rate ×` its leaf values. With
//! `validation_fraction > 0` a stratified, seeded share of the rows is held
//! out; training stops when its log loss has not improved for
//! `early_stopping_rounds` rounds and keeps the rounds up to the best one.
//! The output is log-odds.
//!
//! `random_forest`: `n_trees` trees, each on a bootstrap sample (row
//! multiplicities drawn with the tree's own seeded generator, so the forest
//! does not depend on the thread count) with `max_features` features tried
//! per split; each leaf holds the weighted churn rate of its rows and the
//! forest averages them (soft voting). The output is a probability.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::data::{sigmoid, Feature, Frame};
use super::metrics;
use super::shap::{add_tree_shap, ShapScratch, ShapTable};
use super::tree::{build, Bins, Signal, Tree, TreeParams};
use crate::segment::kmeans::Rng;

/// A fitted ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// Raw output before the trees (log-odds for gbt, 0 for a forest).
    pub base: f64,
    /// Each tree's weight in the sum (learning rate, or 1/n_trees).
    pub scale: f64,
    pub trees: Vec<Tree>,
    /// Per categorical feature, the tree input of each category (its rank).
    pub category_rank: Vec<Option<Vec<f64>>>,
}

impl Ensemble {
    /// Encoded inputs as the trees read them (categories as ranks).
    pub fn tree_input(&self, x: &[f64], out: &mut [f64]) {
        for ((o, &v), rank) in out.iter_mut().zip(x).zip(&self.category_rank) {
            *o = match rank {
                None => v,
                Some(_) if v.is_nan() => f64::NAN,
                Some(r) => r.get(v as usize).copied().unwrap_or(f64::NAN),
            };
        }
    }

    /// Raw output for tree inputs `t`.
    pub fn raw(&self, t: &[f64]) -> f64 {
        self.base + self.scale * self.trees.iter().map(|tree| tree.predict(t)).sum::<f64>()
    }

    /// The expected raw output over the training rows.
    pub fn expected(&self) -> f64 {
        self.base + self.scale * self.trees.iter().map(Tree::expected).sum::<f64>()
    }

    /// SHAP values of the raw output for tree inputs `t`: from the trees'
    /// tables (see [`Ensemble::explainer`]) where `explainer` has one, else
    /// by walking the tree.
    pub fn shap(
        &self,
        explainer: Option<&Explainer>,
        t: &[f64],
        phi: &mut [f64],
        scratch: &mut ShapScratch,
    ) {
        phi.iter_mut().for_each(|v| *v = 0.0);
        for (i, tree) in self.trees.iter().enumerate() {
            match explainer
                .and_then(|e| e.tables.get(i))
                .and_then(Option::as_ref)
            {
                Some(table) => table.add(tree, t, phi),
                None => add_tree_shap(tree, t, phi, scratch),
            }
        }
        phi.iter_mut().for_each(|v| *v *= self.scale);
    }

    /// SHAP values for many rows at once: `inputs` and `phis` hold one row
    /// of `d` values after another. Tree by tree over all the rows, so one
    /// tree's tables stay in cache while every row looks them up (row by
    /// row, all trees' tables — megabytes for hundreds of trees with deep
    /// paths — were read for each row and most look-ups missed the cache).
    /// Each row's values are added in tree order, as in [`Ensemble::shap`],
    /// so the results are the same.
    pub fn shap_rows(
        &self,
        explainer: Option<&Explainer>,
        inputs: &[f64],
        phis: &mut [f64],
        d: usize,
        scratch: &mut ShapScratch,
    ) {
        if d == 0 {
            return;
        }
        phis.iter_mut().for_each(|v| *v = 0.0);
        for (i, tree) in self.trees.iter().enumerate() {
            let table = explainer
                .and_then(|e| e.tables.get(i))
                .and_then(Option::as_ref);
            for (t, phi) in inputs.chunks(d).zip(phis.chunks_mut(d)) {
                match table {
                    Some(table) => table.add(tree, t, phi),
                    None => add_tree_shap(tree, t, phi, scratch),
                }
            }
        }
        phis.iter_mut().for_each(|v| *v *= self.scale);
    }

    /// The ensemble's TreeSHAP tables (see [`ShapTable`]), built once per
    /// model for explaining many rows.
    pub fn explainer(&self) -> Explainer {
        let mut scratch = ShapScratch::default();
        Explainer {
            tables: self
                .trees
                .iter()
                .map(|t| ShapTable::new(t, &mut scratch))
                .collect(),
        }
    }

    pub fn validate(&self, features: usize) -> Result<(), String> {
        if self.category_rank.len() != features {
            return Err("category ranks do not match the features".into());
        }
        self.trees.iter().try_for_each(|t| t.validate(features))
    }
}

/// Per tree of an [`Ensemble`], its [`ShapTable`] when it is small enough.
pub struct Explainer {
    tables: Vec<Option<ShapTable>>,
}

/// Per feature, the tree input of each category (None: numeric).
type CategoryRanks = Vec<Option<Vec<f64>>>;

/// Per feature, the trees' input column: numeric columns borrowed from the
/// frame, ranked categories computed.
type TreeColumns<'a> = Vec<Cow<'a, [f64]>>;

/// Category ranks by smoothed churn rate weighted by `weights` (ties by
/// category index), and the columns with categories replaced by their ranks.
/// Rows of weight 0 (gbt's validation rows) do not move the ranks, so the
/// held-out labels stay out of training.
fn rank_categories<'a>(
    frame: &'a Frame,
    features: &[Feature],
    weights: &[f64],
) -> (CategoryRanks, TreeColumns<'a>) {
    let total_w: f64 = weights.iter().sum();
    let prior = if total_w > 0.0 {
        frame
            .labels
            .iter()
            .zip(weights)
            .map(|(y, w)| y * w)
            .sum::<f64>()
            / total_w
    } else {
        0.0
    };
    let mut ranks = Vec::with_capacity(features.len());
    let mut columns = Vec::with_capacity(features.len());
    for (f, feature) in features.iter().enumerate() {
        let col = &frame.columns[f];
        match &feature.categories {
            // Numeric columns are read in place; only ranked categories
            // are new columns.
            None => {
                ranks.push(None);
                columns.push(Cow::Borrowed(&col[..]));
            }
            Some(cats) => {
                let m = cats.len();
                let (mut pos, mut w) = (vec![0.0; m], vec![0.0; m]);
                for (i, &v) in col.iter().enumerate() {
                    if !v.is_nan() {
                        let c = v as usize;
                        pos[c] += frame.labels[i] * weights[i];
                        w[c] += weights[i];
                    }
                }
                let rate: Vec<f64> = (0..m).map(|c| (pos[c] + prior) / (w[c] + 1.0)).collect();
                let mut order: Vec<usize> = (0..m).collect();
                order.sort_by(|&a, &b| rate[a].total_cmp(&rate[b]).then(a.cmp(&b)));
                let mut rank = vec![0.0; m];
                for (r, &c) in order.iter().enumerate() {
                    rank[c] = r as f64;
                }
                columns.push(Cow::Owned(
                    col.iter()
                        .map(|&v| if v.is_nan() { v } else { rank[v as usize] })
                        .collect(),
                ));
                ranks.push(Some(rank));
            }
        }
    }
    (ranks, columns)
}

/// Options of the boosted trees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbtParams {
    pub max_iter: usize,
    pub learning_rate: f64,
    pub tree: TreeParams,
    pub max_bins: usize,
    pub validation_fraction: f64,
    pub early_stopping_rounds: usize,
    pub seed: u64,
}

/// What boosting reports besides the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbtReport {
    pub rounds: usize,
    pub validation_rows: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_log_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_auc: Option<f64>,
    /// Lift of each tenth of the validation rows, highest scores first
    /// ([`metrics::decile_lift`]): the report's lift and gains charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_decile_lift: Option<Vec<f64>>,
}

/// A stratified, seeded split: (training rows, validation rows).
pub(crate) fn stratified_split(
    labels: &[f64],
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len())
            .filter(|&i| (labels[i] > 0.5) == class)
            .collect();
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.below(i + 1));
        }
        let k = (fraction * idx.len() as f64).round() as usize;
        valid.extend_from_slice(&idx[..k.min(idx.len())]);
        train.extend_from_slice(&idx[k.min(idx.len())..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    (train, valid)
}

fn weighted_log_loss(raw: &[f64], labels: &[f64], weights: &[f64]) -> f64 {
    let (mut total, mut w) = (0.0, 0.0);
    for ((&f, &y), &wi) in raw.iter().zip(labels).zip(weights) {
        let softplus = if f > 0.0 {
            f + (-f).exp().ln_1p()
        } else {
            f.exp().ln_1p()
        };
        total += wi * (softplus - y * f);
        w += wi;
    }
    if w > 0.0 {
        total / w
    } else {
        0.0
    }
}

/// Fit gradient-boosted trees; also returns the split gain per feature.
pub fn fit_gbt(
    frame: &Frame,
    features: &[Feature],
    p: &GbtParams,
) -> (Ensemble, GbtReport, Vec<f64>) {
    let (train, valid) = if p.validation_fraction > 0.0 {
        stratified_split(&frame.labels, p.validation_fraction, p.seed)
    } else {
        ((0..frame.rows()).collect(), Vec::new())
    };
    // Categories are ranked on the training rows only.
    let mut rank_weights = frame.weights.clone();
    for &i in &valid {
        rank_weights[i] = 0.0;
    }
    let (category_rank, columns) = rank_categories(frame, features, &rank_weights);
    let bins = Bins::new(&columns, p.max_bins);
    let (mut pos, mut tw) = (0.0, 0.0);
    for &i in &train {
        pos += frame.labels[i] * frame.weights[i];
        tw += frame.weights[i];
    }
    let rate = if tw > 0.0 { pos / tw } else { 0.5 };
    let base = (rate.clamp(1e-12, 1.0 - 1e-12) / (1.0 - rate).clamp(1e-12, 1.0)).ln();
    let n = frame.rows();
    let mut raw = vec![base; n];
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
    let mut trees = Vec::new();
    let mut gain = vec![0.0; features.len()];
    let mut gains: Vec<Vec<f64>> = Vec::new();
    let mut rng = Rng::new(p.seed);
    let valid_labels: Vec<f64> = valid.iter().map(|&i| frame.labels[i]).collect();
    let valid_weights: Vec<f64> = valid.iter().map(|&i| frame.weights[i]).collect();
    let mut valid_raw: Vec<f64> = vec![base; valid.len()];
    let mut best = (f64::INFINITY, 0usize);
    let mut row = vec![0.0; features.len()];
    for round in 0..p.max_iter {
        // Every row's gradient (held-out rows' are never read), in pieces
        // on the pool: each row's value does not depend on the others.
        crate::pool::for_each_chunk_mut2(&mut g, &mut h, ROW_CHUNK, |start, g, h| {
            for (k, (g, h)) in g.iter_mut().zip(h).enumerate() {
                let i = start + k;
                let mu = sigmoid(raw[i]);
                *g = frame.weights[i] * (mu - frame.labels[i]);
                *h = frame.weights[i] * mu * (1.0 - mu);
            }
        });
        let signal = Signal {
            g: &g,
            h: &h,
            count: None,
        };
        let rows: Vec<u32> = train.iter().map(|&i| i as u32).collect();
        let built = build(&bins, &signal, rows, &p.tree, &mut rng);
        let mut tree = built.tree;
        tree.value.iter_mut().for_each(|v| *v *= p.learning_rate);
        for &(node, start, end) in &built.leaves {
            let v = tree.value[node];
            for &r in &built.rows[start..end] {
                raw[r as usize] += v;
            }
        }
        crate::pool::for_each_chunk_mut(&mut valid_raw, ROW_CHUNK, |start, part| {
            let mut row = vec![0.0; columns.len()];
            for (k, v) in part.iter_mut().enumerate() {
                let i = valid[start + k];
                for (f, col) in columns.iter().enumerate() {
                    row[f] = col[i];
                }
                *v += tree.predict(&row);
            }
        });
        gains.push(built.gain);
        trees.push(tree);
        if valid.is_empty() {
            continue;
        }
        let loss = weighted_log_loss(&valid_raw, &valid_labels, &valid_weights);
        if loss < best.0 - 1e-12 {
            best = (loss, round + 1);
        } else if round + 1 - best.1 >= p.early_stopping_rounds.max(1) {
            break;
        }
    }
    if !valid.is_empty() {
        trees.truncate(best.1);
        gains.truncate(best.1);
    }
    for gs in &gains {
        for (a, b) in gain.iter_mut().zip(gs) {
            *a += b;
        }
    }
    // Trees store learning-rate-scaled values: the ensemble's scale is 1.
    let ensemble = Ensemble {
        base,
        scale: 1.0,
        trees,
        category_rank,
    };
    let mut report = GbtReport {
        rounds: ensemble.trees.len(),
        validation_rows: valid.len(),
        validation_log_loss: None,
        validation_auc: None,
        validation_decile_lift: None,
    };
    if !valid.is_empty() {
        let mut pairs: Vec<(f64, bool)> = valid
            .iter()
            .map(|&i| {
                for (f, col) in columns.iter().enumerate() {
                    row[f] = col[i];
                }
                (ensemble.raw(&row), frame.labels[i] > 0.5)
            })
            .collect();
        let raws: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        report.validation_log_loss = Some(weighted_log_loss(&raws, &valid_labels, &valid_weights));
        report.validation_auc = metrics::roc_auc(&mut pairs);
        report.validation_decile_lift = metrics::decile_lift(&mut pairs);
    }
    (ensemble, report, gain)
}

/// Rows per piece of the per-row loops of `fit_gbt` on the pool.
const ROW_CHUNK: usize = 1 << 14;

/// Options of the random forest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub n_trees: usize,
    pub tree: TreeParams,
    pub max_bins: usize,
    pub seed: u64,
}

/// Fit a random forest, its trees grown on the kernels' pool
/// ([`crate::pool`]); also returns the split gain per feature.
pub fn fit_forest(frame: &Frame, features: &[Feature], p: &ForestParams) -> (Ensemble, Vec<f64>) {
    let (category_rank, columns) = rank_categories(frame, features, &frame.weights);
    let bins = Bins::new(&columns, p.max_bins);
    let n = frame.rows();
    let grow = |t: usize| -> (Tree, Vec<f64>) {
        let mut rng = Rng::new(p.seed.wrapping_add((t as u64).wrapping_mul(0x9E37_79B9)));
        let mut mult = vec![0.0; n];
        for _ in 0..n {
            mult[rng.below(n)] += 1.0;
        }
        let h: Vec<f64> = (0..n).map(|i| mult[i] * frame.weights[i]).collect();
        let g: Vec<f64> = (0..n).map(|i| -h[i] * frame.labels[i]).collect();
        let rows: Vec<u32> = (0..n as u32).filter(|&i| mult[i as usize] > 0.0).collect();
        let signal = Signal {
            g: &g,
            h: &h,
            count: Some(&mult),
        };
        let built = build(&bins, &signal, rows, &p.tree, &mut rng);
        (built.tree, built.gain)
    };
    let grown = crate::pool::map(p.n_trees, grow);
    let mut gain = vec![0.0; features.len()];
    let mut trees = Vec::with_capacity(p.n_trees);
    for (tree, gs) in grown {
        for (a, b) in gain.iter_mut().zip(&gs) {
            *a += b;
        }
        trees.push(tree);
    }
    let scale = 1.0 / trees.len().max(1) as f64;
    (
        Ensemble {
            base: 0.0,
            scale,
            trees,
            category_rank,
        },
        gain,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::tree::Growth;

    fn tree_params(min_leaf: f64) -> TreeParams {
        TreeParams {
            max_leaves: 8,
            max_depth: 0,
            min_samples_leaf: min_leaf,
            min_hessian: 1e-3,
            lambda: 0.0,
            max_features: 0,
            growth: Growth::Leaf,
        }
    }

    /// x in [0, 1): churn probability x; category "b" adds churn.
    fn frame(n: usize) -> (Frame, Vec<Feature>) {
        let mut rng = Rng::new(9);
        let (mut x, mut c, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let xi = rng.uniform();
            let ci = rng.below(2) as f64;
            let p = (xi * 0.8 + 0.2 * ci).min(1.0);
            x.push(xi);
            c.push(ci);
            y.push(f64::from(u8::from(rng.uniform() < p)));
        }
        let features = vec![Feature::numeric("x"), Feature::categorical("c", ["a", "b"])];
        (
            Frame {
                columns: vec![x, c],
                labels: y,
                weights: vec![1.0; n],
            },
            features,
        )
    }

    #[test]
    fn boosting_learns_and_shap_adds_up() {
        let (frame, features) = frame(4000);
        let p = GbtParams {
            max_iter: 100,
            learning_rate: 0.1,
            tree: tree_params(20.0),
            max_bins: 255,
            validation_fraction: 0.2,
            early_stopping_rounds: 10,
            seed: 1,
        };
        let (m, report, gain) = fit_gbt(&frame, &features, &p);
        assert!(report.validation_auc.unwrap() > 0.7, "{report:?}");
        assert!(gain[0] > gain[1] && gain[1] > 0.0, "{gain:?}");
        let mut t = vec![0.0; 2];
        let mut phi = vec![0.0; 2];
        let explainer = m.explainer();
        for x in [[0.1, 0.0], [0.9, 1.0], [f64::NAN, 1.0], [0.5, 7.0]] {
            m.tree_input(&x, &mut t);
            m.shap(None, &t, &mut phi, &mut ShapScratch::default());
            let total = m.expected() + phi[0] + phi[1];
            assert!((total - m.raw(&t)).abs() < 1e-9, "{x:?}");
            let mut tabled = vec![0.0; 2];
            m.shap(
                Some(&explainer),
                &t,
                &mut tabled,
                &mut ShapScratch::default(),
            );
            for (a, b) in phi.iter().zip(&tabled) {
                assert!((a - b).abs() < 1e-9, "{x:?}: {phi:?} vs {tabled:?}");
            }
        }
        assert!(m.validate(2).is_ok());
    }

    #[test]
    fn gbt_ranks_categories_without_the_validation_labels() {
        // In the training rows category "a" churns a little more than "b"
        // (55 % of rows follow the label). Every validation row is then put
        // in the category its label contradicts: ranked on all rows (the old
        // code) those 600 rows make "b" the high-churn category; ranked on
        // the training rows alone, "a" stays above "b".
        let n = 3000;
        let mut rng = Rng::new(5);
        let labels: Vec<f64> = (0..n)
            .map(|_| f64::from(u8::from(rng.uniform() < 0.5)))
            .collect();
        let p = GbtParams {
            max_iter: 5,
            learning_rate: 0.1,
            tree: tree_params(20.0),
            max_bins: 255,
            validation_fraction: 0.2,
            early_stopping_rounds: 10,
            seed: 1,
        };
        let (_, valid) = stratified_split(&labels, p.validation_fraction, p.seed);
        let mut is_valid = vec![false; n];
        for &i in &valid {
            is_valid[i] = true;
        }
        // Code 0 = "a", 1 = "b".
        let category = |i: usize, contradict: bool| -> f64 {
            let churned = labels[i] > 0.5;
            let a = if contradict {
                !churned
            } else {
                churned == (i % 20 < 11)
            };
            if a {
                0.0
            } else {
                1.0
            }
        };
        let features = vec![Feature::numeric("x"), Feature::categorical("c", ["a", "b"])];
        let fit = |contradict: bool| {
            let c: Vec<f64> = (0..n)
                .map(|i| category(i, contradict && is_valid[i]))
                .collect();
            let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
            let frame = Frame {
                columns: vec![x, c],
                labels: labels.clone(),
                weights: vec![1.0; n],
            };
            fit_gbt(&frame, &features, &p).0.category_rank
        };
        let honest = fit(false);
        let flipped = fit(true);
        assert_eq!(honest, flipped, "validation rows moved the category ranks");
        assert_eq!(
            honest[1],
            Some(vec![1.0, 0.0]),
            "'a' churns more in training"
        );
    }

    #[test]
    fn forest_is_thread_count_independent() {
        let (frame, features) = frame(500);
        let p = ForestParams {
            n_trees: 7,
            tree: TreeParams {
                max_features: 1,
                ..tree_params(1.0)
            },
            max_bins: 255,
            seed: 3,
        };
        let (a, _) = crate::pool::with_threads(1, || fit_forest(&frame, &features, &p));
        let (b, _) = crate::pool::with_threads(3, || fit_forest(&frame, &features, &p));
        assert_eq!(a, b);
        let mut t = vec![0.0; 2];
        a.tree_input(&[0.95, 1.0], &mut t);
        let high = a.raw(&t);
        a.tree_input(&[0.05, 0.0], &mut t);
        assert!(high > a.raw(&t) && (0.0..=1.0).contains(&high));
    }
}

/// An ensemble laid out for scoring many rows: all trees' nodes in one array
/// of 24-byte records, a leaf turned into a node that points to itself, so a
/// row walks every tree for exactly the tree's depth without a branch, and
/// blocks of rows walk a tree together (independent walks overlap in the CPU
/// and the tree stays in cache).
#[derive(Debug, Clone)]
pub struct Compiled {
    nodes: Vec<Node>,
    values: Vec<f64>,
    /// Per tree: root index and depth.
    roots: Vec<(u32, u32)>,
    base: f64,
    scale: f64,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    /// Index of the left child; the right child is the next node.
    left: u32,
    default_left: bool,
}

/// Rows walked through a tree together.
const BLOCK: usize = 64;

impl Compiled {
    /// `None` unless every split's right child directly follows its left one
    /// (as [`super::tree::build`] lays trees out) and the trees are valid.
    pub fn new(e: &Ensemble, features: usize) -> Option<Compiled> {
        if features == 0 || e.validate(features).is_err() {
            return None;
        }
        let mut nodes = Vec::new();
        let mut values = Vec::new();
        let mut roots = Vec::with_capacity(e.trees.len());
        for t in &e.trees {
            let offset = nodes.len() as u32;
            let n = t.feature.len();
            let mut depth = vec![0u32; n];
            for i in 0..n {
                if t.feature[i] < 0 {
                    nodes.push(Node {
                        threshold: f64::INFINITY,
                        feature: 0,
                        left: offset + i as u32,
                        default_left: true,
                    });
                } else {
                    if t.right[i] != t.left[i] + 1 {
                        return None;
                    }
                    let (l, r) = (t.left[i] as usize, t.right[i] as usize);
                    depth[l] = depth[i] + 1;
                    depth[r] = depth[i] + 1;
                    nodes.push(Node {
                        threshold: t.threshold[i],
                        feature: t.feature[i] as u32,
                        left: offset + t.left[i],
                        default_left: t.default_left[i],
                    });
                }
                values.push(t.value[i]);
            }
            roots.push((offset, depth.iter().copied().max().unwrap_or(0)));
        }
        Some(Compiled {
            nodes,
            values,
            roots,
            base: e.base,
            scale: e.scale,
        })
    }

    /// Raw outputs of the rows of `x` (tree inputs, row-major, `d` per row).
    pub fn raw(&self, x: &[f64], d: usize, out: &mut [f64]) {
        let mut idx = [0u32; BLOCK];
        let mut acc = [0f64; BLOCK];
        for (rows, out) in x.chunks(BLOCK * d).zip(out.chunks_mut(BLOCK)) {
            let b = out.len();
            acc[..b].iter_mut().for_each(|a| *a = 0.0);
            for &(root, depth) in &self.roots {
                idx[..b].iter_mut().for_each(|i| *i = root);
                for _ in 0..depth {
                    for (r, i) in idx[..b].iter_mut().enumerate() {
                        let node = self.nodes[*i as usize];
                        let v = rows[r * d + node.feature as usize];
                        let left = (v <= node.threshold) | (v.is_nan() & node.default_left);
                        *i = node.left + u32::from(!left);
                    }
                }
                for (a, &i) in acc[..b].iter_mut().zip(&idx[..b]) {
                    *a += self.values[i as usize];
                }
            }
            for (o, a) in out.iter_mut().zip(&acc[..b]) {
                *o = self.base + self.scale * a;
            }
        }
    }
}

#[cfg(test)]
mod compiled_tests {
    use super::*;
    use crate::churn::tree::{Growth, TreeParams};

    #[test]
    fn compiled_walk_equals_the_tree_walk() {
        let mut rng = Rng::new(5);
        let n = 700;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let z: Vec<f64> = (0..n)
            .map(|i| if i % 7 == 0 { f64::NAN } else { rng.uniform() })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| f64::from(u8::from(rng.uniform() < 0.5 * x[i] + 0.3 * z[i].max(0.0))))
            .collect();
        let frame = Frame {
            columns: vec![x.clone(), z.clone()],
            labels: y,
            weights: vec![1.0; n],
        };
        let features = vec![Feature::numeric("x"), Feature::numeric("z")];
        let p = GbtParams {
            max_iter: 40,
            learning_rate: 0.1,
            tree: TreeParams {
                max_leaves: 12,
                max_depth: 0,
                min_samples_leaf: 5.0,
                min_hessian: 1e-3,
                lambda: 1.0,
                max_features: 0,
                growth: Growth::Leaf,
            },
            max_bins: 255,
            validation_fraction: 0.0,
            early_stopping_rounds: 10,
            seed: 1,
        };
        let (e, _, _) = fit_gbt(&frame, &features, &p);
        let c = Compiled::new(&e, 2).unwrap();
        let rows: Vec<f64> = (0..n).flat_map(|i| [x[i], z[i]]).collect();
        let mut out = vec![0.0; n];
        c.raw(&rows, 2, &mut out);
        for i in 0..n {
            assert_eq!(out[i].to_bits(), e.raw(&rows[2 * i..2 * i + 2]).to_bits());
        }
    }
}
