//! Histogram decision trees: the shared builder of the gradient-boosted and
//! random-forest models.
//!
//! Why our own: measured on wa_churn, smartcore's random forest (hard votes)
//! reached ROC-AUC 0.66 at 20 s per fold and linfa-ensemble 0.83 at 26 s, and
//! neither grows second-order (gradient/hessian) trees, which boosting needs;
//! nor do they keep node covers for TreeSHAP.
//!
//! Features are binned once (LightGBM's idea): at most `max_bins` bins per
//! feature from the distinct values (midpoints between them as thresholds) or,
//! with more distinct values, from quantiles; missing values get a bin of
//! their own. A node's histogram holds per bin the sums of gradient `g`,
//! hessian `h` and row count; a split is chosen from the histogram, the
//! missing values trying both sides (the side chosen is the node's default
//! direction). The smaller child's histogram is built from its rows and the
//! larger one's is the parent's minus it.
//!
//! A split's gain is `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` and a leaf's value
//! `−G/(H+λ)`: Newton boosting for `g, h` of the log loss, and a variance-
//! reducing (Gini, for 0/1 labels) tree with the leaf mean when `g = −w·y`,
//! `h = w`, `λ = 0`. Growth is leaf-wise (the leaf with the best gain is split
//! next, LightGBM) or depth-wise (level by level), bounded by `max_leaves`
//! and `max_depth`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::segment::kmeans::Rng;

/// A fitted tree, as flat arrays indexed by node (root 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split feature, or -1 for a leaf.
    pub feature: Vec<i32>,
    /// Rows with `x <= threshold` go left.
    pub threshold: Vec<f64>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Where rows with a missing value go.
    pub default_left: Vec<bool>,
    /// Leaf values (0 at internal nodes).
    pub value: Vec<f64>,
    /// Hessian weight of the training rows reaching the node (for TreeSHAP).
    pub cover: Vec<f64>,
}

impl Tree {
    /// Whether row `x` goes left at split node `n` (a missing value goes
    /// the node's default way).
    #[inline]
    pub fn goes_left(&self, n: usize, x: &[f64]) -> bool {
        let v = x[self.feature[n] as usize];
        if v.is_nan() {
            self.default_left[n]
        } else {
            v <= self.threshold[n]
        }
    }

    /// The leaf `x` (one value per feature, NaN missing) falls in.
    #[inline]
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut n = 0usize;
        while self.feature[n] >= 0 {
            n = if self.goes_left(n, x) {
                self.left[n]
            } else {
                self.right[n]
            } as usize;
        }
        n
    }

    #[inline]
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.value[self.leaf(x)]
    }

    /// The tree's mean output over the training rows (weighted by cover).
    pub fn expected(&self) -> f64 {
        let root = self.cover[0];
        if root <= 0.0 {
            return 0.0;
        }
        (0..self.feature.len())
            .filter(|&n| self.feature[n] < 0)
            .map(|n| self.value[n] * self.cover[n] / root)
            .sum()
    }

    pub fn leaves(&self) -> usize {
        self.feature.iter().filter(|&&f| f < 0).count()
    }

    /// A malformed tree (a corrupted model) would index out of bounds or
    /// loop; check once when the model is read.
    pub fn validate(&self, features: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0 {
            return Err("a tree has no nodes".into());
        }
        for v in [
            self.threshold.len(),
            self.left.len(),
            self.right.len(),
            self.default_left.len(),
            self.value.len(),
            self.cover.len(),
        ] {
            if v != n {
                return Err("a tree's node arrays differ in length".into());
            }
        }
        for i in 0..n {
            let f = self.feature[i];
            if f >= 0 {
                // Children come after their parent: traversal always ends.
                let (l, r) = (self.left[i] as usize, self.right[i] as usize);
                if f as usize >= features || l <= i || r <= i || l >= n || r >= n {
                    return Err(format!("tree node {i} points outside the tree"));
                }
            }
        }
        Ok(())
    }
}

/// Features binned for tree building.
#[derive(Debug, Clone)]
pub struct Bins {
    /// Per feature, the upper bound of each value bin but the last.
    pub thresholds: Vec<Vec<f64>>,
    /// Bin codes, row-major (`features` per row): a histogram reads one
    /// row's codes and signal once for all features.
    codes: Vec<u8>,
}

impl Bins {
    /// Bin `columns` (NaN missing) into at most `max_bins` (2..=255) value bins.
    pub fn new(columns: &[Vec<f64>], max_bins: usize) -> Bins {
        let max_bins = max_bins.clamp(2, 255);
        let d = columns.len();
        let mut codes = vec![0u8; columns.first().map_or(0, Vec::len) * d];
        let mut thresholds = Vec::with_capacity(columns.len());
        for (f, col) in columns.iter().enumerate() {
            let mut present: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
            present.sort_unstable_by(f64::total_cmp);
            let mut distinct = present.clone();
            distinct.dedup();
            let t: Vec<f64> = if distinct.len() <= max_bins {
                distinct
                    .windows(2)
                    .map(|w| w[0] + (w[1] - w[0]) / 2.0)
                    .collect()
            } else {
                let mut t: Vec<f64> = (1..max_bins)
                    .map(|q| present[q * present.len() / max_bins])
                    .collect();
                t.dedup();
                // The largest value would leave the last bin empty.
                if t.last() == present.last() {
                    t.pop();
                }
                t
            };
            let missing = t.len() as u8 + 1;
            for (r, &v) in col.iter().enumerate() {
                codes[r * d + f] = if v.is_nan() {
                    missing
                } else {
                    t.partition_point(|&b| b < v) as u8
                };
            }
            thresholds.push(t);
        }
        Bins { thresholds, codes }
    }

    /// Number of features.
    pub fn features(&self) -> usize {
        self.thresholds.len()
    }

    /// The bin code of row `r`, feature `f`.
    pub fn code(&self, r: usize, f: usize) -> u8 {
        self.codes[r * self.features() + f]
    }

    fn value_bins(&self, f: usize) -> usize {
        self.thresholds[f].len() + 1
    }
}

/// How a tree grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Split the leaf with the largest gain next (LightGBM).
    Leaf,
    /// Split level by level.
    Depth,
}

/// Limits of one tree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TreeParams {
    /// Most leaves; 0 = no limit.
    pub max_leaves: usize,
    /// Deepest split level; 0 = no limit.
    pub max_depth: usize,
    /// Fewest rows (counted with multiplicity) in a leaf.
    pub min_samples_leaf: f64,
    /// Fewest hessian weight in a leaf.
    pub min_hessian: f64,
    /// L2 penalty on leaf values (λ).
    pub lambda: f64,
    /// Features tried per split (random subset); 0 = all.
    pub max_features: usize,
    pub growth: Growth,
}

/// Per-row training signal: gradient, hessian and row count.
pub struct Signal<'a> {
    pub g: &'a [f64],
    pub h: &'a [f64],
    pub count: &'a [f64],
}

#[derive(Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
    c: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.g += o.g;
        self.h += o.h;
        self.c += o.c;
    }
    fn minus(&self, o: &Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
            c: self.c - o.c,
        }
    }
}

#[derive(Clone, Copy)]
struct Split {
    feature: usize,
    bin: usize,
    default_left: bool,
    gain: f64,
    left: Sums,
}

struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    sums: Sums,
    hist: Vec<Sums>,
    split: Option<Split>,
}

/// A tree with the training rows of each leaf: `rows[start..end]` reached
/// leaf node `node`.
pub struct Built {
    pub tree: Tree,
    pub rows: Vec<u32>,
    pub leaves: Vec<(usize, usize, usize)>,
    /// Gain of each split, by feature.
    pub gain: Vec<f64>,
}

struct Builder<'a> {
    bins: &'a Bins,
    signal: &'a Signal<'a>,
    params: &'a TreeParams,
    offsets: Vec<usize>,
    total_bins: usize,
}

impl Builder<'_> {
    /// Per bin sums of the signal of `rows`. Row by row (each row's signal
    /// is read once); each bin still adds its rows in the order given.
    fn histogram(&self, rows: &[u32]) -> Vec<Sums> {
        let mut hist = vec![Sums::default(); self.total_bins];
        let s = self.signal;
        let d = self.bins.features();
        let starts = &self.offsets[..d];
        for &r in rows {
            let r = r as usize;
            let (g, h, c) = (s.g[r], s.h[r], s.count[r]);
            let codes = &self.bins.codes[r * d..(r + 1) * d];
            for (&start, &code) in starts.iter().zip(codes) {
                let b = &mut hist[start + code as usize];
                b.g += g;
                b.h += h;
                b.c += c;
            }
        }
        hist
    }

    fn score(&self, s: &Sums) -> f64 {
        s.g * s.g / (s.h + self.params.lambda)
    }

    fn admissible(&self, s: &Sums) -> bool {
        s.c >= self.params.min_samples_leaf && s.h >= self.params.min_hessian && s.c > 0.0
    }

    fn best_split(&self, leaf: &Leaf, rng: &mut Rng) -> Option<Split> {
        let p = &self.params;
        if p.max_depth > 0 && leaf.depth >= p.max_depth {
            return None;
        }
        let d = self.bins.features();
        let mut candidates: Vec<usize> = (0..d).collect();
        if p.max_features > 0 && p.max_features < d {
            for i in 0..p.max_features {
                let j = i + rng.below(d - i);
                candidates.swap(i, j);
            }
            candidates.truncate(p.max_features);
            candidates.sort_unstable();
        }
        let parent = self.score(&leaf.sums);
        let mut best: Option<Split> = None;
        for &f in &candidates {
            let h = &leaf.hist[self.offsets[f]..self.offsets[f + 1]];
            let vb = self.bins.value_bins(f);
            let missing = h[vb];
            let mut left = Sums::default();
            for (b, bin) in h.iter().enumerate().take(vb) {
                left.add(bin);
                for default_left in [false, true] {
                    if missing.c == 0.0 && default_left {
                        continue;
                    }
                    let mut l = left;
                    if default_left {
                        l.add(&missing);
                    }
                    let r = leaf.sums.minus(&l);
                    if !self.admissible(&l) || !self.admissible(&r) {
                        continue;
                    }
                    let gain = self.score(&l) + self.score(&r) - parent;
                    if gain > 1e-12 && best.is_none_or(|s| gain > s.gain) {
                        best = Some(Split {
                            feature: f,
                            bin: b,
                            default_left,
                            gain,
                            left: l,
                        });
                    }
                }
            }
        }
        best
    }
}

fn push_node(t: &mut Tree, sums: &Sums, lambda: f64) -> usize {
    t.feature.push(-1);
    t.threshold.push(0.0);
    t.left.push(0);
    t.right.push(0);
    t.default_left.push(false);
    t.value.push(-sums.g / (sums.h + lambda));
    t.cover.push(sums.h);
    t.feature.len() - 1
}

/// Grow one tree on `rows` (each row once; multiplicity goes in `count`).
pub fn build(
    bins: &Bins,
    signal: &Signal,
    rows: Vec<u32>,
    params: &TreeParams,
    rng: &mut Rng,
) -> Built {
    let d = bins.features();
    let mut offsets = vec![0usize; d + 1];
    for f in 0..d {
        offsets[f + 1] = offsets[f] + bins.value_bins(f) + 1;
    }
    let builder = Builder {
        bins,
        signal,
        params,
        total_bins: offsets[d],
        offsets,
    };
    let mut rows = rows;
    let mut tree = Tree {
        feature: Vec::new(),
        threshold: Vec::new(),
        left: Vec::new(),
        right: Vec::new(),
        default_left: Vec::new(),
        value: Vec::new(),
        cover: Vec::new(),
    };
    let mut gain = vec![0.0; d];
    let hist = builder.histogram(&rows);
    let mut sums = Sums::default();
    for b in &hist[builder.offsets[0]..builder.offsets.get(1).copied().unwrap_or(0)] {
        sums.add(b);
    }
    let root = push_node(&mut tree, &sums, params.lambda);
    let mut root_leaf = Leaf {
        node: root,
        start: 0,
        end: rows.len(),
        depth: 0,
        sums,
        hist,
        split: None,
    };
    let mut finished = Vec::new();
    root_leaf.split = if d > 0 {
        builder.best_split(&root_leaf, rng)
    } else {
        None
    };
    let mut open: VecDeque<Leaf> = VecDeque::new();
    open.push_back(root_leaf);
    let mut leaves = 1usize;
    let mut right_rows: Vec<u32> = Vec::new();
    loop {
        if params.max_leaves > 0 && leaves >= params.max_leaves {
            break;
        }
        // The next leaf to split: best gain (leaf-wise) or oldest (depth-wise).
        let pick = match params.growth {
            Growth::Depth => open.iter().position(|l| l.split.is_some()),
            Growth::Leaf => open
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.split.map(|s| (i, s.gain)))
                .fold(None, |best: Option<(usize, f64)>, (i, g)| match best {
                    Some((_, bg)) if bg >= g => best,
                    _ => Some((i, g)),
                })
                .map(|(i, _)| i),
        };
        let Some(i) = pick else { break };
        let Some(leaf) = open.remove(i) else { break };
        // Leaves before it in depth order have no split: they are final.
        if params.growth == Growth::Depth {
            for _ in 0..i {
                if let Some(l) = open.pop_front() {
                    finished.push(l);
                }
            }
        }
        let Some(split) = leaf.split else {
            finished.push(leaf);
            continue;
        };
        let f = split.feature;
        let missing = bins.value_bins(f) as u8;
        let goes_left = |r: u32| {
            let c = bins.code(r as usize, f);
            if c == missing {
                split.default_left
            } else {
                (c as usize) <= split.bin
            }
        };
        // Stable partition of the leaf's rows: left ones move forward in
        // place (never past an unread row), right ones wait in `right_rows`.
        let part = &mut rows[leaf.start..leaf.end];
        right_rows.clear();
        let mut left_len = 0;
        for i in 0..part.len() {
            let r = part[i];
            if goes_left(r) {
                part[left_len] = r;
                left_len += 1;
            } else {
                right_rows.push(r);
            }
        }
        part[left_len..].copy_from_slice(&right_rows);
        let mid = leaf.start + left_len;
        let right_sums = leaf.sums.minus(&split.left);
        let (small_hist, small_is_left) = if left_len <= right_rows.len() {
            (builder.histogram(&rows[leaf.start..mid]), true)
        } else {
            (builder.histogram(&rows[mid..leaf.end]), false)
        };
        let large_hist: Vec<Sums> = leaf
            .hist
            .iter()
            .zip(&small_hist)
            .map(|(p, s)| p.minus(s))
            .collect();
        let (left_hist, right_hist) = if small_is_left {
            (small_hist, large_hist)
        } else {
            (large_hist, small_hist)
        };
        let ln = push_node(&mut tree, &split.left, params.lambda);
        let rn = push_node(&mut tree, &right_sums, params.lambda);
        let node = leaf.node;
        tree.feature[node] = f as i32;
        tree.threshold[node] = bins.thresholds[f]
            .get(split.bin)
            .copied()
            .unwrap_or(f64::MAX);
        tree.left[node] = ln as u32;
        tree.right[node] = rn as u32;
        tree.default_left[node] = split.default_left;
        tree.value[node] = 0.0;
        gain[f] += split.gain;
        leaves += 1;
        for (node, start, end, sums, hist) in [
            (ln, leaf.start, mid, split.left, left_hist),
            (rn, mid, leaf.end, right_sums, right_hist),
        ] {
            let mut child = Leaf {
                node,
                start,
                end,
                depth: leaf.depth + 1,
                sums,
                hist,
                split: None,
            };
            child.split = builder.best_split(&child, rng);
            open.push_back(child);
        }
    }
    finished.extend(open);
    let leaves = finished.iter().map(|l| (l.node, l.start, l.end)).collect();
    Built {
        tree,
        rows,
        leaves,
        gain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max_leaves: usize, growth: Growth) -> TreeParams {
        TreeParams {
            max_leaves,
            max_depth: 0,
            min_samples_leaf: 1.0,
            min_hessian: 0.0,
            lambda: 0.0,
            max_features: 0,
            growth,
        }
    }

    #[test]
    fn bins_split_between_distinct_values_and_keep_missing_apart() {
        let bins = Bins::new(&[vec![3.0, 1.0, f64::NAN, 2.0, 1.0]], 255);
        assert_eq!(bins.thresholds[0], vec![1.5, 2.5]);
        let codes: Vec<u8> = (0..5).map(|r| bins.code(r, 0)).collect();
        assert_eq!(codes, vec![2, 0, 3, 1, 0]);
        let many: Vec<f64> = (0..1000).map(f64::from).collect();
        let b = Bins::new(&[many], 10);
        assert!(b.thresholds[0].len() <= 9);
        assert!((0..1000).all(|r| b.code(r, 0) < 10));
    }

    #[test]
    fn a_mean_tree_separates_a_step() {
        // y = 1 exactly when x > 2; missing x are all positives.
        let x = vec![0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN, f64::NAN];
        let y = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let g: Vec<f64> = y.iter().map(|v| -v).collect();
        let ones = vec![1.0; 7];
        let bins = Bins::new(&[x], 255);
        let signal = Signal {
            g: &g,
            h: &ones,
            count: &ones,
        };
        for growth in [Growth::Leaf, Growth::Depth] {
            let b = build(
                &bins,
                &signal,
                (0..7).collect(),
                &params(0, growth),
                &mut Rng::new(1),
            );
            assert_eq!(b.tree.leaves(), 2);
            assert_eq!(b.tree.predict(&[1.5]), 0.0);
            assert_eq!(b.tree.predict(&[2.6]), 1.0);
            assert_eq!(b.tree.predict(&[f64::NAN]), 1.0);
            assert!((b.tree.expected() - 4.0 / 7.0).abs() < 1e-15);
            assert!(b.tree.validate(1).is_ok());
            let covered: usize = b.leaves.iter().map(|&(_, s, e)| e - s).sum();
            assert_eq!(covered, 7);
        }
    }

    #[test]
    fn leaf_limit_is_respected() {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let g: Vec<f64> = (0..100).map(|i| -f64::from((i * 7) % 5)).collect();
        let ones = vec![1.0; 100];
        let bins = Bins::new(&[x], 255);
        let signal = Signal {
            g: &g,
            h: &ones,
            count: &ones,
        };
        let b = build(
            &bins,
            &signal,
            (0..100).collect(),
            &params(5, Growth::Leaf),
            &mut Rng::new(1),
        );
        assert_eq!(b.tree.leaves(), 5);
    }
}
