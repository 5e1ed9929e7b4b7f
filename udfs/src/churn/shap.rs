//! TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent individualized feature
//! attribution for tree ensembles", Algorithm 2): exact Shapley values of one
//! tree's output for one row in polynomial time, with the tree's node covers
//! as the background distribution ("path-dependent" TreeSHAP).
//!
//! For every row the values add up: `Σ φ_f = tree(x) − E[tree]`, with
//! `E[tree]` = [`Tree::expected`]. Summed over an ensemble's trees they
//! explain the ensemble's raw output (log-odds for boosting).

use super::tree::Tree;

#[derive(Clone, Copy, Default)]
struct PathElement {
    feature: i32,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Working memory of [`add_tree_shap`]: every level's copy of the path, one
/// after another in one buffer (no allocation per node once it has grown to
/// the deepest tree's (depth + 1)(depth + 2)/2 elements).
#[derive(Default)]
pub struct ShapScratch {
    arena: Vec<PathElement>,
}

/// Append an element to the path `path[..l]` (it becomes `path[..l + 1]`).
fn extend(path: &mut [PathElement], l: usize, zero: f64, one: f64, feature: i32) {
    path[l] = PathElement {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    };
    let lf = (l + 1) as f64;
    for i in (0..l).rev() {
        let w = path[i].weight;
        path[i + 1].weight += one * w * (i + 1) as f64 / lf;
        path[i].weight = zero * w * (l - i) as f64 / lf;
    }
}

/// Remove element `i` from the path `path` (its length drops by one).
fn unwind(path: &mut [PathElement], i: usize) {
    let l = path.len() - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let lf = (l + 1) as f64;
    let mut n = path[l].weight;
    for j in (0..l).rev() {
        if one != 0.0 {
            let t = path[j].weight;
            path[j].weight = n * lf / ((j + 1) as f64 * one);
            n = t - path[j].weight * zero * (l - j) as f64 / lf;
        } else {
            path[j].weight = path[j].weight * lf / (zero * (l - j) as f64);
        }
    }
    for j in i..l {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// The total weight of the path with element `i` unwound, without changing it.
fn unwound_sum(path: &[PathElement], i: usize) -> f64 {
    let l = path.len() - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let lf = (l + 1) as f64;
    let mut n = path[l].weight;
    let mut total = 0.0;
    for j in (0..l).rev() {
        if one != 0.0 {
            let t = n * lf / ((j + 1) as f64 * one);
            total += t;
            n = path[j].weight - t * zero * (l - j) as f64 / lf;
        } else {
            total += path[j].weight * lf / (zero * (l - j) as f64);
        }
    }
    total
}

/// One node of the walk; the node's path is `arena[start..start + len]`
/// (its parent's path, copied), extended here by the split that led to it.
#[allow(clippy::too_many_arguments)]
fn recurse<G: Fn(usize) -> bool>(
    tree: &Tree,
    go_left: &G,
    phi: &mut [f64],
    node: usize,
    arena: &mut Vec<PathElement>,
    start: usize,
    len: usize,
    zero: f64,
    one: f64,
    feature: i32,
) {
    if arena.len() < start + len + 1 {
        arena.resize(start + len + 1, PathElement::default());
    }
    extend(&mut arena[start..], len, zero, one, feature);
    let mut len = len + 1;
    let f = tree.feature[node];
    if f < 0 {
        let v = tree.value[node];
        let path = &arena[start..start + len];
        for i in 1..len {
            let w = unwound_sum(path, i);
            let e = path[i];
            phi[e.feature as usize] += w * (e.one - e.zero) * v;
        }
        return;
    }
    let (hot, cold) = if go_left(node) {
        (tree.left[node] as usize, tree.right[node] as usize)
    } else {
        (tree.right[node] as usize, tree.left[node] as usize)
    };
    let (mut iz, mut io) = (1.0, 1.0);
    let seen = arena[start + 1..start + len]
        .iter()
        .position(|e| e.feature == f);
    if let Some(k) = seen {
        let k = k + 1;
        iz = arena[start + k].zero;
        io = arena[start + k].one;
        unwind(&mut arena[start..start + len], k);
        len -= 1;
    }
    let cover = tree.cover[node];
    if cover <= 0.0 {
        return;
    }
    // Each child gets its own copy of this path, just after it.
    let child = start + len;
    for (next, z, o) in [
        (hot, iz * tree.cover[hot] / cover, io),
        (cold, iz * tree.cover[cold] / cover, 0.0),
    ] {
        if arena.len() < child + len {
            arena.resize(child + len, PathElement::default());
        }
        arena.copy_within(start..start + len, child);
        recurse(tree, go_left, phi, next, arena, child, len, z, o, f);
    }
}

/// Add the tree's SHAP values for row `x` to `phi` (one slot per feature).
pub fn add_tree_shap(tree: &Tree, x: &[f64], phi: &mut [f64], scratch: &mut ShapScratch) {
    let go_left = |node: usize| tree.goes_left(node, x);
    recurse(
        tree,
        &go_left,
        phi,
        0,
        &mut scratch.arena,
        0,
        0,
        1.0,
        1.0,
        -1,
    );
}

/// Largest number of distinct features on one leaf's path for which a
/// [`ShapTable`] is built (a leaf's table has 2^d rows of d values).
pub const TABLE_MAX_PATH_FEATURES: usize = 10;

/// A tree's SHAP values as per-leaf tables, computed once per model.
///
/// TreeSHAP's answer is a sum over leaves, and a leaf's share depends on
/// the row only through which of the distinct features on the leaf's path
/// the row satisfies (goes the path's way at every split on that feature;
/// the "one" fractions of Algorithm 2; the "zero" fractions are covers and
/// do not depend on the row). A leaf with `d` distinct features therefore
/// has `2^d` possible shares, tabulated here; explaining a row is then one
/// comparison per split and a look-up per leaf instead of a walk of every
/// path with its unwinding (the idea of Yang 2021, "Fast TreeSHAP", v2).
/// It is what makes `churn_explain` affordable on millions of rows.
pub struct ShapTable {
    /// Bit `i` of a row's decisions is set when it goes left at `splits[i]`.
    splits: Vec<u32>,
    leaves: Vec<LeafTable>,
}

struct LeafTable {
    /// Per distinct feature on the path: the feature, the decision bits of
    /// its splits on the path, and the bits the path takes.
    features: Vec<(u32, u64, u64)>,
    /// `shares[s * d + j]`: feature `j`'s share when the row satisfies
    /// exactly the features of bit set `s`.
    shares: Vec<f64>,
}

impl ShapTable {
    /// The table of `tree`, or `None` when it has more than 64 splits or a
    /// leaf with more than [`TABLE_MAX_PATH_FEATURES`] distinct features on
    /// its path (then the walk, [`add_tree_shap`], is used).
    pub fn new(tree: &Tree, scratch: &mut ShapScratch) -> Option<ShapTable> {
        let splits: Vec<u32> = (0..tree.feature.len())
            .filter(|&n| tree.feature[n] >= 0)
            .map(|n| n as u32)
            .collect();
        if splits.len() > 64 {
            return None;
        }
        let mut bit = vec![0u64; tree.feature.len()];
        for (i, &n) in splits.iter().enumerate() {
            bit[n as usize] = 1 << i;
        }
        let mut leaves = Vec::new();
        // Depth-first over (node, the path's splits as (node, went left)).
        let mut stack: Vec<(usize, Vec<(usize, bool)>)> = vec![(0, Vec::new())];
        while let Some((node, path)) = stack.pop() {
            if tree.feature[node] >= 0 {
                // The walk stops below a split no training row reached.
                if tree.cover[node] <= 0.0 {
                    continue;
                }
                for (child, left) in [(tree.left[node], true), (tree.right[node], false)] {
                    let mut p = path.clone();
                    p.push((node, left));
                    stack.push((child as usize, p));
                }
                continue;
            }
            // (feature, zero fraction, decision mask, wanted bits)
            let mut features: Vec<(u32, f64, u64, u64)> = Vec::new();
            for (k, &(n, left)) in path.iter().enumerate() {
                let child = path.get(k + 1).map_or(node, |&(c, _)| c);
                let f = tree.feature[n] as u32;
                let ratio = tree.cover[child] / tree.cover[n];
                let want = if left { bit[n] } else { 0 };
                match features.iter_mut().find(|e| e.0 == f) {
                    Some(e) => {
                        e.1 *= ratio;
                        e.2 |= bit[n];
                        e.3 |= want;
                    }
                    None => features.push((f, ratio, bit[n], want)),
                }
            }
            let d = features.len();
            if d > TABLE_MAX_PATH_FEATURES {
                return None;
            }
            let value = tree.value[node];
            let mut shares = Vec::with_capacity(d << d);
            let arena = &mut scratch.arena;
            if arena.len() < d + 1 {
                arena.resize(d + 1, PathElement::default());
            }
            for set in 0..1usize << d {
                let path = &mut arena[..d + 1];
                extend(path, 0, 1.0, 1.0, -1);
                for (j, &(f, zero, _, _)) in features.iter().enumerate() {
                    let one = ((set >> j) & 1) as f64;
                    extend(path, j + 1, zero, one, f as i32);
                }
                for j in 1..=d {
                    let e = path[j];
                    shares.push(unwound_sum(path, j) * (e.one - e.zero) * value);
                }
            }
            leaves.push(LeafTable {
                features: features.iter().map(|&(f, _, m, w)| (f, m, w)).collect(),
                shares,
            });
        }
        Some(ShapTable { splits, leaves })
    }

    /// Add the tree's SHAP values for row `x` to `phi`; the values of
    /// [`add_tree_shap`] up to rounding.
    #[inline]
    pub fn add(&self, tree: &Tree, x: &[f64], phi: &mut [f64]) {
        let mut decisions = 0u64;
        for (i, &n) in self.splits.iter().enumerate() {
            decisions |= (tree.goes_left(n as usize, x) as u64) << i;
        }
        for leaf in &self.leaves {
            let d = leaf.features.len();
            let mut set = 0usize;
            for (j, &(_, mask, want)) in leaf.features.iter().enumerate() {
                set |= ((decisions & mask == want) as usize) << j;
            }
            let shares = &leaf.shares[set * d..(set + 1) * d];
            for (&(f, _, _), &v) in leaf.features.iter().zip(shares) {
                phi[f as usize] += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact Shapley values by enumerating feature subsets, with
    /// `v(S) = E[tree | x_S]` (features outside `S` averaged by cover).
    fn brute_force(tree: &Tree, x: &[f64], d: usize) -> Vec<f64> {
        fn cond(tree: &Tree, x: &[f64], node: usize, set: u32) -> f64 {
            let f = tree.feature[node];
            if f < 0 {
                return tree.value[node];
            }
            let (l, r) = (tree.left[node] as usize, tree.right[node] as usize);
            if set & (1 << f) != 0 {
                let v = x[f as usize];
                let left = if v.is_nan() {
                    tree.default_left[node]
                } else {
                    v <= tree.threshold[node]
                };
                cond(tree, x, if left { l } else { r }, set)
            } else {
                (tree.cover[l] * cond(tree, x, l, set) + tree.cover[r] * cond(tree, x, r, set))
                    / tree.cover[node]
            }
        }
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let mut phi = vec![0.0; d];
        for (i, p) in phi.iter_mut().enumerate() {
            for set in 0u32..(1 << d) {
                if set & (1 << i) != 0 {
                    continue;
                }
                let s = set.count_ones() as usize;
                let w = fact(s) * fact(d - s - 1) / fact(d);
                *p += w * (cond(tree, x, 0, set | (1 << i)) - cond(tree, x, 0, set));
            }
        }
        phi
    }

    /// Rows for [`sample_tree`]: each side of every split, missing values,
    /// and values on the thresholds.
    const SAMPLE_ROWS: [[f64; 3]; 7] = [
        [0.0, 0.0, 0.0],
        [0.0, 2.0, 1.0],
        [1.0, 0.0, -1.0],
        [1.0, 5.0, 1.0],
        [3.0, 0.0, 0.0],
        [f64::NAN, 2.0, f64::NAN],
        [0.5, 1.0, 0.0],
    ];

    /// A tree that splits on feature 0 twice and on features 1 and 2.
    fn sample_tree() -> Tree {
        // node: 0 f0<=0.5 -> 1,2 ; 1 f1<=1 -> 3,4 ; 2 f0<=2 -> 5,6 ; 5 f2<=0 -> 7,8
        Tree {
            feature: vec![0, 1, 0, -1, -1, 2, -1, -1, -1],
            threshold: vec![0.5, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            left: vec![1, 3, 5, 0, 0, 7, 0, 0, 0],
            right: vec![2, 4, 6, 0, 0, 8, 0, 0, 0],
            default_left: vec![true, false, false, false, false, true, false, false, false],
            value: vec![0.0, 0.0, 0.0, 1.0, -2.0, 0.0, 3.5, 0.25, -1.0],
            cover: vec![20.0, 8.0, 12.0, 5.0, 3.0, 7.0, 5.0, 4.0, 3.0],
        }
    }

    #[test]
    fn matches_brute_force_shapley_values() {
        let tree = sample_tree();
        for x in SAMPLE_ROWS {
            let mut phi = vec![0.0; 3];
            add_tree_shap(&tree, &x, &mut phi, &mut ShapScratch::default());
            let exact = brute_force(&tree, &x, 3);
            for (a, b) in phi.iter().zip(&exact) {
                assert!((a - b).abs() < 1e-12, "{x:?}: {phi:?} vs {exact:?}");
            }
            let total: f64 = phi.iter().sum();
            assert!((total + tree.expected() - tree.predict(&x)).abs() < 1e-12);
        }
    }

    /// A full binary tree of `depth` levels over `features` features, with
    /// thresholds, covers and values drawn from `rng`.
    fn random_tree(depth: u32, features: usize, rng: &mut crate::segment::kmeans::Rng) -> Tree {
        let internal = (1usize << depth) - 1;
        let n = 2 * internal + 1;
        let mut t = Tree {
            feature: vec![-1; n],
            threshold: vec![0.0; n],
            left: vec![0; n],
            right: vec![0; n],
            default_left: vec![false; n],
            value: vec![0.0; n],
            cover: vec![0.0; n],
        };
        fn cover(
            t: &mut Tree,
            node: usize,
            internal: usize,
            rng: &mut crate::segment::kmeans::Rng,
        ) -> f64 {
            if node >= internal {
                t.value[node] = rng.uniform() * 4.0 - 2.0;
                t.cover[node] = 1.0 + (rng.uniform() * 20.0).floor();
            } else {
                let (l, r) = (2 * node + 1, 2 * node + 2);
                t.left[node] = l as u32;
                t.right[node] = r as u32;
                t.cover[node] = cover(t, l, internal, rng) + cover(t, r, internal, rng);
            }
            t.cover[node]
        }
        for node in 0..internal {
            t.feature[node] = rng.below(features) as i32;
            t.threshold[node] = rng.uniform();
            t.default_left[node] = rng.uniform() < 0.5;
        }
        cover(&mut t, 0, internal, rng);
        t
    }

    /// Trees with features repeated along paths, rows with missing values:
    /// the tables give the walk's values.
    #[test]
    fn tables_of_random_trees_give_the_walks_values() {
        let mut rng = crate::segment::kmeans::Rng::new(7);
        let mut scratch = ShapScratch::default();
        for depth in 1..=5 {
            for features in [1usize, 2, 3, 6] {
                let tree = random_tree(depth, features, &mut rng);
                let table = ShapTable::new(&tree, &mut scratch).expect("a small tree has a table");
                for _ in 0..50 {
                    let x: Vec<f64> = (0..features)
                        .map(|_| {
                            if rng.uniform() < 0.1 {
                                f64::NAN
                            } else {
                                rng.uniform()
                            }
                        })
                        .collect();
                    let mut walk = vec![0.0; features];
                    add_tree_shap(&tree, &x, &mut walk, &mut scratch);
                    let mut looked_up = vec![0.0; features];
                    table.add(&tree, &x, &mut looked_up);
                    for (a, b) in walk.iter().zip(&looked_up) {
                        assert!(
                            (a - b).abs() < 1e-9,
                            "depth {depth}: {walk:?} vs {looked_up:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_table_gives_the_walks_values() {
        let tree = sample_tree();
        let mut scratch = ShapScratch::default();
        let table = ShapTable::new(&tree, &mut scratch).expect("a small tree has a table");
        for x in SAMPLE_ROWS {
            let mut walk = vec![0.0; 3];
            add_tree_shap(&tree, &x, &mut walk, &mut scratch);
            let mut looked_up = vec![0.0; 3];
            table.add(&tree, &x, &mut looked_up);
            let exact = brute_force(&tree, &x, 3);
            for ((a, b), c) in walk.iter().zip(&looked_up).zip(&exact) {
                assert!(
                    (a - b).abs() < 1e-12 && (b - c).abs() < 1e-12,
                    "{x:?}: {walk:?} vs {looked_up:?}"
                );
            }
        }
    }
}
