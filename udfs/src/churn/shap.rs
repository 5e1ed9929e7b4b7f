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
    let go_left = |node: usize| {
        let value = x[tree.feature[node] as usize];
        if value.is_nan() {
            tree.default_left[node]
        } else {
            value <= tree.threshold[node]
        }
    };
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

/// Trees with at most this many splits get a [`ShapTable`] (2^8 = 256
/// patterns; gbt's trees have 7 by default).
pub const TABLE_MAX_SPLITS: usize = 8;

/// A small tree's SHAP values for every row it can see, computed once.
///
/// A row enters TreeSHAP only through the side it takes at each split, so a
/// tree of `k` splits has at most `2^k` distinct answers. The table holds
/// them, keyed by the bit pattern of the row's decisions (bit `i` set when
/// the row goes left at the `i`-th split); explaining a row is then `k`
/// comparisons and a few additions instead of a walk of the tree's paths,
/// which is what makes `churn_explain` affordable on millions of rows.
/// Answers are sparse: only the features the tree splits on.
pub struct ShapTable {
    splits: Vec<u32>,
    /// `entries[offsets[p]..offsets[p + 1]]` is pattern `p`'s (feature, φ).
    offsets: Vec<u32>,
    entries: Vec<(u32, f64)>,
}

impl ShapTable {
    /// The table of `tree`, or `None` when it has more than
    /// [`TABLE_MAX_SPLITS`] splits.
    pub fn new(tree: &Tree, features: usize, scratch: &mut ShapScratch) -> Option<ShapTable> {
        let splits: Vec<u32> = (0..tree.feature.len())
            .filter(|&n| tree.feature[n] >= 0)
            .map(|n| n as u32)
            .collect();
        if splits.len() > TABLE_MAX_SPLITS {
            return None;
        }
        let mut bit = vec![0u32; tree.feature.len()];
        for (i, &n) in splits.iter().enumerate() {
            bit[n as usize] = 1 << i;
        }
        let patterns = 1usize << splits.len();
        let mut offsets = Vec::with_capacity(patterns + 1);
        let mut entries = Vec::new();
        let mut phi = vec![0.0; features];
        offsets.push(0);
        for pattern in 0..patterns as u32 {
            phi.iter_mut().for_each(|v| *v = 0.0);
            let go_left = |node: usize| pattern & bit[node] != 0;
            recurse(
                tree,
                &go_left,
                &mut phi,
                0,
                &mut scratch.arena,
                0,
                0,
                1.0,
                1.0,
                -1,
            );
            let mut used: Vec<u32> = splits
                .iter()
                .map(|&n| tree.feature[n as usize] as u32)
                .collect();
            used.sort_unstable();
            used.dedup();
            entries.extend(used.into_iter().map(|f| (f, phi[f as usize])));
            offsets.push(entries.len() as u32);
        }
        Some(ShapTable {
            splits,
            offsets,
            entries,
        })
    }

    /// Add the tree's SHAP values for row `x` to `phi`; the same values as
    /// [`add_tree_shap`] (up to the order of additions).
    #[inline]
    pub fn add(&self, tree: &Tree, x: &[f64], phi: &mut [f64]) {
        let mut pattern = 0usize;
        for (i, &n) in self.splits.iter().enumerate() {
            let n = n as usize;
            let value = x[tree.feature[n] as usize];
            let left = if value.is_nan() {
                tree.default_left[n]
            } else {
                value <= tree.threshold[n]
            };
            pattern |= (left as usize) << i;
        }
        let range = self.offsets[pattern] as usize..self.offsets[pattern + 1] as usize;
        for &(f, v) in &self.entries[range] {
            phi[f as usize] += v;
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
        for x in [
            [0.0, 0.0, 0.0],
            [0.0, 2.0, 1.0],
            [1.0, 0.0, -1.0],
            [1.0, 5.0, 1.0],
            [3.0, 0.0, 0.0],
            [f64::NAN, 2.0, f64::NAN],
        ] {
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

    #[test]
    fn the_table_gives_the_walks_values() {
        let tree = sample_tree();
        let mut scratch = ShapScratch::default();
        let table = ShapTable::new(&tree, 3, &mut scratch).expect("4 splits fit a table");
        for x in [
            [0.0, 0.0, 0.0],
            [0.0, 2.0, 1.0],
            [1.0, 0.0, -1.0],
            [1.0, 5.0, 1.0],
            [3.0, 0.0, 0.0],
            [f64::NAN, 2.0, f64::NAN],
            [0.5, 1.0, 0.0],
        ] {
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
