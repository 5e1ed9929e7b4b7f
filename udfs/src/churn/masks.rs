//! Tree ensembles scored by leaf bit masks: the QuickScorer idea (Lucchese
//! et al., SIGIR 2015), with the masks combined ahead of time per feature bin.
//!
//! Why not walk the trees: a leaf-wise boosted tree of 15 leaves is often 8 to
//! 12 levels deep, and a walk is a chain of dependent loads per level. Walking
//! the 83 trees of the wa_churn gbt model for 1,000,000 rows took 1.2 s on
//! this 2-core machine ([`super::ensemble::Compiled`], which stays as the
//! fallback for trees of more than 256 leaves, and for tables past
//! [`MAX_TABLE_BYTES`]). Trees of up to 64 leaves take one machine word per
//! mask; up to 128 and 256 leaves, two and four ([`Words`]).
//!
//! How: the leaves of each tree are numbered left to right. When a row fails
//! a split's test (it goes right) no leaf of that split's left subtree can be
//! its leaf; the row's leaf is the leftmost leaf no failed test ruled out.
//! Which tests a row fails on feature `f` depends only on where its value
//! falls among the distinct thresholds the ensemble uses on `f` (its bin),
//! or on its being missing. So for every feature and bin the masks of all
//! trees are ANDed once, when the model is read (features with few bins
//! share one table, indexed by the combination of their bins); scoring a
//! row finds its bin per feature (comparisons, or a table for a category),
//! ANDs one row of `T` masks per table (a vectorised loop), and adds each
//! tree's lowest set bit's leaf value, in tree order: the same additions in
//! the same order as the tree walk, so the same bits.
//!
//! Cost on the wa_churn random forest (100 trees of up to 64 leaves, 19
//! features in 7 tables of 1.3 MB), one core, dev profile (this crate at
//! opt-level 2), 1,000,000 rows (`benches/churn_kernels.rs`): 350–380 ns
//! per row on the 2026-12-02 machine, of which the ANDs take about 150, the
//! leaf sums about 80 and binning the rest (the three many-threshold numeric
//! features cost 40 ns each by the two-round search, about 20 by the
//! [`Grid`]). The ANDs are bound by reading the tables from the caches.
//! `raw` runs these loops compiled for AVX-512F or AVX2 where the CPU has
//! them ([`crate::simd`]; the same bits): 7–13 % less CPU for the forest
//! through SQL on the 2026-12-03 machine, no measurable change for gbt.
//!
//! Wider trees cost more per row (each table row is `T` masks of
//! `leaves / 8` bytes) but less than the walk: through SQL, 1,000,000 rows
//! from Parquet, on the tenth session's machine, 51 gbt trees of 127 leaves
//! took 0.25–0.27 s (walked: 1.33–1.53 s), 100 forest trees of depth 7
//! 0.26–0.30 s (0.75–0.99 s), of depth 8 0.41–0.53 s (0.87–1.17 s).

use super::ensemble::Ensemble;

/// Leaf masks of one tree: bit `i` is the `i`-th leaf from the left.
pub trait Mask:
    Copy + Send + Sync + std::ops::BitAndAssign + std::ops::BitAnd<Output = Self>
{
    const BITS: usize;
    const ONES: Self;
    /// All ones but bits `lo..hi`.
    fn without(lo: usize, hi: usize) -> Self;
    fn lowest(self) -> usize;
}

macro_rules! mask {
    ($t:ty) => {
        impl Mask for $t {
            const BITS: usize = <$t>::BITS as usize;
            const ONES: Self = <$t>::MAX;
            fn without(lo: usize, hi: usize) -> Self {
                let width = hi - lo;
                let run = if width >= <Self as Mask>::BITS {
                    <$t>::MAX
                } else {
                    ((1 as $t) << width) - 1
                };
                !(run << lo)
            }
            fn lowest(self) -> usize {
                self.trailing_zeros() as usize
            }
        }
    };
}
mask!(u16);
mask!(u32);
mask!(u64);

/// `N` words of leaf bits, for trees of 65 to `64 * N` leaves: leaf `i` is
/// bit `i % 64` of word `i / 64`. Arrays of words rather than `u128`: the
/// AND loops over a table row stay loops over `u64`s, which the compiler
/// vectorises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words<const N: usize>([u64; N]);

impl<const N: usize> std::ops::BitAnd for Words<N> {
    type Output = Self;
    #[inline(always)]
    fn bitand(mut self, other: Self) -> Self {
        self &= other;
        self
    }
}

impl<const N: usize> std::ops::BitAndAssign for Words<N> {
    #[inline(always)]
    fn bitand_assign(&mut self, other: Self) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a &= b;
        }
    }
}

impl<const N: usize> Mask for Words<N> {
    const BITS: usize = 64 * N;
    const ONES: Self = Words([u64::MAX; N]);
    fn without(lo: usize, hi: usize) -> Self {
        let mut words = [u64::MAX; N];
        for (i, w) in words.iter_mut().enumerate() {
            let (start, end) = (64 * i, 64 * i + 64);
            let (a, b) = (lo.clamp(start, end), hi.clamp(start, end));
            if a < b {
                *w = <u64 as Mask>::without(a - start, b - start);
            }
        }
        Words(words)
    }
    /// Without branches (a select per word, from the last): which word
    /// holds a tree's leaf varies from row to row, and a mispredicted
    /// branch per tree would cost more than the look-up itself.
    #[inline(always)]
    fn lowest(self) -> usize {
        let mut lowest = Self::BITS;
        for (i, &w) in self.0.iter().enumerate().rev() {
            let here = 64 * i + w.trailing_zeros() as usize;
            lowest = if w != 0 { here } else { lowest };
        }
        lowest
    }
}

/// The mask tables take at most this many bytes; larger ensembles are walked.
const MAX_TABLE_BYTES: usize = 64 << 20;

/// A group of features shares one table of at most this many bytes (or one
/// feature's own rows, if larger), so tables stay in the core's cache.
const GROUP_BYTES: usize = 512 << 10;

/// Rows binned together.
const CHUNK: usize = 512;

/// Rows whose tree sums are added together (a divisor of `CHUNK`).
const GROUP: usize = 8;

/// Mask rows are padded to a multiple of this many trees, so the loops
/// that AND them take whole vector steps.
const ROW_MULTIPLE: usize = 4;

/// A numeric feature with at most this many thresholds is binned by
/// comparing with all of them; one with more, by its [`Grid`].
const FEW: usize = 4;

/// Thresholds compared in one cell of a feature's [`Grid`].
const CELL: usize = 4;

/// Most cells a feature's grid may have (4 bytes each).
const MAX_CELLS: usize = 1 << 14;

/// A uniform grid over a numeric feature's thresholds, so that a value's
/// bin costs one multiplication, one look-up and `CELL` comparisons instead
/// of a search: the grid is made fine enough that no cell holds more than
/// `CELL` thresholds, and each cell records how many thresholds lie in the
/// cells below it. Exact for every value, because a value's cell never
/// decreases as the value grows (one subtraction, one multiplication by a
/// positive number, a truncation and a clamp, each monotone): a threshold
/// in a lower cell than the value's is below the value, one in a higher
/// cell is above it, and only the value's own cell needs comparing.
#[derive(Debug, Clone)]
struct Grid {
    lo: f64,
    scale: f64,
    last: i64,
    /// Per cell, how many thresholds lie in the cells below it.
    below: Vec<u32>,
}

impl Grid {
    fn cell(&self, v: f64) -> usize {
        // `as` saturates (NaN to 0), and the clamp keeps any value in range.
        (((v - self.lo) * self.scale) as i64).clamp(0, self.last) as usize
    }

    /// `None` when no grid of at most `MAX_CELLS` cells keeps every cell to
    /// `CELL` thresholds (thresholds crowded in a small part of a wide
    /// range), or the range is not a finite positive number.
    fn new(thresholds: &[f64]) -> Option<Grid> {
        let (&lo, &hi) = (thresholds.first()?, thresholds.last()?);
        let mut cells = (2 * thresholds.len()).next_power_of_two();
        while cells <= MAX_CELLS {
            let scale = cells as f64 / (hi - lo);
            if !(scale.is_finite() && scale > 0.0) {
                return None;
            }
            let mut grid = Grid {
                lo,
                scale,
                last: cells as i64 - 1,
                below: Vec::new(),
            };
            let mut per_cell = vec![0u32; cells];
            for &t in thresholds {
                per_cell[grid.cell(t)] += 1;
            }
            if per_cell.iter().all(|&n| n as usize <= CELL) {
                let mut below = 0;
                grid.below = per_cell
                    .iter()
                    .map(|&n| {
                        below += n;
                        below - n
                    })
                    .collect();
                return Some(grid);
            }
            cells *= 2;
        }
        None
    }
}

/// One feature the ensemble splits on.
#[derive(Debug, Clone)]
struct FeatureBins {
    /// The feature's position in the model.
    column: usize,
    /// How many distinct split thresholds the ensemble uses on it.
    count: usize,
    /// Those thresholds ascending (tree-input units), padded with +inf to
    /// 17 segments of `step` and at least `CELL` past the last.
    padded: Vec<f64>,
    step: usize,
    /// The last threshold of each of the first 16 segments.
    coarse: [f64; 16],
    /// For a categorical feature: the bin of each category code.
    code_bins: Option<Vec<u32>>,
    /// For a numeric feature with more than four thresholds, when one fits.
    grid: Option<Grid>,
    /// The feature's step in its group's table.
    stride: u32,
}

impl FeatureBins {
    fn new(column: usize, thresholds: &[f64]) -> FeatureBins {
        let step = thresholds.len().div_ceil(16).max(1);
        let mut padded = thresholds.to_vec();
        padded.resize((17 * step).max(thresholds.len() + CELL), f64::INFINITY);
        let mut coarse = [f64::INFINITY; 16];
        for (s, c) in coarse.iter_mut().enumerate() {
            *c = padded[(s + 1) * step - 1];
        }
        FeatureBins {
            column,
            count: thresholds.len(),
            padded,
            step,
            coarse,
            code_bins: None,
            grid: (thresholds.len() > FEW)
                .then(|| Grid::new(thresholds))
                .flatten(),
            stride: 1,
        }
    }

    /// Bins 0..=thresholds, then missing.
    fn bins(&self) -> usize {
        self.count + 2
    }

    fn missing(&self) -> u32 {
        (self.count + 1) as u32
    }

    /// How many thresholds are below `v` (0 for NaN), counted in two fixed
    /// rounds of comparisons (which vectorise and never mispredict): first
    /// against the last threshold of each of 16 segments, then within the
    /// one segment that holds the answer. (A binary search without branches
    /// took three times as long here: each of its steps waits for the last.)
    fn bin(&self, v: f64) -> u32 {
        let (coarse, fine, step) = (&self.coarse, &self.padded, self.step);
        let c: usize = coarse.iter().map(|&x| usize::from(x < v)).sum();
        let fine = &fine[c * step..(c + 1) * step];
        (c * step + fine.iter().map(|&x| usize::from(x < v)).sum::<usize>()) as u32
    }

    /// Adds the bin × stride of encoded values (category codes for a
    /// categorical feature, NaN missing) to `out`. Each kind of feature has
    /// its own loop: a table for categories, four comparisons (which
    /// vectorise) for at most four thresholds, the grid for more, and the
    /// search where no grid fits.
    #[inline(always)]
    fn add_rows(&self, values: &[f64], out: &mut [u32]) {
        let (stride, missing) = (self.stride, self.missing() * self.stride);
        let few = self
            .padded
            .first_chunk::<FEW>()
            .filter(|_| self.count <= FEW);
        match (&self.code_bins, few, &self.grid) {
            (Some(bins), _, _) => {
                for (o, &v) in out.iter_mut().zip(values) {
                    *o += if v.is_nan() {
                        missing
                    } else {
                        bins.get(v as usize).map_or(missing, |b| b * stride)
                    };
                }
            }
            (None, Some(few), _) => {
                for (o, &v) in out.iter_mut().zip(values) {
                    let b: u32 = few.iter().map(|&x| u32::from(x < v)).sum();
                    *o += if v.is_nan() { missing } else { b * stride };
                }
            }
            (None, None, Some(grid)) => {
                for (o, &v) in out.iter_mut().zip(values) {
                    let below = grid.below[grid.cell(v)];
                    // `padded` runs `CELL` past the last threshold, and the
                    // thresholds of later cells compare false.
                    let at = below as usize;
                    let near = &self.padded[at..at + CELL];
                    let b = below + near.iter().map(|&x| u32::from(x < v)).sum::<u32>();
                    *o += if v.is_nan() { missing } else { b * stride };
                }
            }
            (None, None, None) => {
                for (o, &v) in out.iter_mut().zip(values) {
                    let b = self.bin(v);
                    *o += if v.is_nan() { missing } else { b * stride };
                }
            }
        }
    }
}

/// Features whose bins index one table together: its row for a row of data
/// is `first_row + Σ bin × stride`, the AND of the features' own rows.
#[derive(Debug, Clone)]
struct Group {
    first_row: u32,
    features: Vec<FeatureBins>,
}

/// An ensemble compiled to mask tables with `M` bits per tree.
#[derive(Debug, Clone)]
pub struct Masks<M> {
    groups: Vec<Group>,
    /// Mask rows of `width` masks each: `trees` rounded up to a multiple of
    /// `ROW_MULTIPLE`, the padding all ones.
    width: usize,
    rows: Vec<M>,
    /// `M::BITS` leaf values per tree, in leaf order.
    values: Vec<f64>,
    base: f64,
    scale: f64,
}

/// Per node of a tree: whether a walk from the root can reach it, the
/// leaf's number left to right (leaves), and the numbers `first..end` of the
/// leaves of its left subtree (splits).
struct LeafNumbers {
    reached: Vec<bool>,
    leaf_of: Vec<usize>,
    left: Vec<(usize, usize)>,
}

/// `None` if some node is reached twice or the tree has more than `max`
/// leaves.
fn leaf_ranges(t: &super::tree::Tree, max: usize) -> Option<LeafNumbers> {
    let n = t.feature.len();
    let mut leaf_of = vec![usize::MAX; n];
    // Leaves below each node: [first, end).
    let mut span = vec![(0usize, 0usize); n];
    let mut seen = vec![false; n];
    let mut next = 0usize;
    // Depth-first, left before right; a split is finished after its children.
    let mut stack = vec![(0usize, false)];
    while let Some((node, done)) = stack.pop() {
        if t.feature[node] < 0 {
            if seen[node] {
                return None;
            }
            seen[node] = true;
            leaf_of[node] = next;
            span[node] = (next, next + 1);
            next += 1;
            if next > max {
                return None;
            }
        } else if done {
            let (l, r) = (t.left[node] as usize, t.right[node] as usize);
            span[node] = (span[l].0, span[r].1);
        } else {
            if seen[node] {
                return None;
            }
            seen[node] = true;
            stack.push((node, true));
            stack.push((t.right[node] as usize, false));
            stack.push((t.left[node] as usize, false));
        }
    }
    let left = (0..n)
        .map(|i| {
            if t.feature[i] < 0 {
                (0, 0)
            } else {
                span[t.left[i] as usize]
            }
        })
        .collect();
    Some(LeafNumbers {
        reached: seen,
        leaf_of,
        left,
    })
}

/// One feature's own mask rows: bins 0..=thresholds (every split with a
/// threshold below the value failed), then missing (the splits whose
/// default is right failed).
fn feature_rows<M: Mask>(
    splits: &[(f64, usize, M, bool)],
    thresholds: &[f64],
    trees: usize,
) -> Vec<M> {
    let mut rows = Vec::with_capacity((thresholds.len() + 2) * trees);
    let mut current = vec![M::ONES; trees];
    rows.extend_from_slice(&current);
    let mut at = 0;
    for &th in thresholds {
        while at < splits.len() && splits[at].0 == th {
            current[splits[at].1] &= splits[at].2;
            at += 1;
        }
        rows.extend_from_slice(&current);
    }
    let mut missing = vec![M::ONES; trees];
    for &(_, k, m, default_left) in splits {
        if !default_left {
            missing[k] &= m;
        }
    }
    rows.extend_from_slice(&missing);
    rows
}

impl<M: Mask> Masks<M> {
    /// `None` if a tree has more than `M::BITS` leaves, a threshold is NaN,
    /// the tables would be too large, or the ensemble is malformed.
    pub fn new(e: &Ensemble, features: usize) -> Option<Masks<M>> {
        if e.validate(features).is_err() {
            return None;
        }
        let trees = e.trees.len();
        let mut values = vec![0.0; trees * M::BITS];
        // Per feature: (threshold, tree, mask if failed, default_left).
        let mut splits: Vec<Vec<(f64, usize, M, bool)>> = vec![Vec::new(); features];
        for (k, t) in e.trees.iter().enumerate() {
            let LeafNumbers {
                reached,
                leaf_of,
                left,
            } = leaf_ranges(t, M::BITS)?;
            // A node no walk reaches (only in a hand-edited model) plays no
            // part, as in the walk.
            for i in (0..t.feature.len()).filter(|&i| reached[i]) {
                if t.feature[i] < 0 {
                    values[k * M::BITS + leaf_of[i]] = t.value[i];
                } else {
                    if t.threshold[i].is_nan() {
                        return None;
                    }
                    let (lo, hi) = left[i];
                    splits[t.feature[i] as usize].push((
                        t.threshold[i],
                        k,
                        M::without(lo, hi),
                        t.default_left[i],
                    ));
                }
            }
        }
        // Each split feature with its own rows.
        let mut used: Vec<(FeatureBins, Vec<M>)> = Vec::new();
        for (column, mut s) in splits.into_iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            s.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut thresholds: Vec<f64> = s.iter().map(|x| x.0).collect();
            thresholds.dedup();
            let rows = feature_rows(&s, &thresholds, trees);
            let mut f = FeatureBins::new(column, &thresholds);
            f.code_bins = e
                .category_rank
                .get(column)
                .and_then(|r| r.as_ref())
                .map(|ranks| {
                    ranks
                        .iter()
                        .map(|&r| if r.is_nan() { f.missing() } else { f.bin(r) })
                        .collect()
                });
            used.push((f, rows));
        }
        // First-fit decreasing: the features with most bins first, each
        // into the first group whose table stays within GROUP_BYTES.
        let width = trees.div_ceil(ROW_MULTIPLE).max(1) * ROW_MULTIPLE;
        let row_bytes = width * std::mem::size_of::<M>();
        let max_rows = (GROUP_BYTES / row_bytes).max(1);
        used.sort_by_key(|(f, _)| std::cmp::Reverse(f.bins()));
        let mut members: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, (f, _)) in used.iter().enumerate() {
            match members.iter_mut().find(|(n, _)| n * f.bins() <= max_rows) {
                Some((n, list)) => {
                    *n *= f.bins();
                    list.push(i);
                }
                None => members.push((f.bins(), vec![i])),
            }
        }
        let total: usize = members.iter().map(|(n, _)| n).sum();
        if total * row_bytes > MAX_TABLE_BYTES || total > u32::MAX as usize {
            return None;
        }
        let mut rows: Vec<M> = Vec::with_capacity(total * width);
        let mut groups = Vec::with_capacity(members.len());
        for (n, list) in members {
            let first_row = (rows.len() / width) as u32;
            let mut stride = 1u32;
            let mut features = Vec::with_capacity(list.len());
            for &i in &list {
                let mut f = used[i].0.clone();
                f.stride = stride;
                stride *= f.bins() as u32;
                features.push(f);
            }
            // Row j of the table: the AND of each member's row for its digit
            // of j (the first member varies fastest).
            for j in 0..n {
                let start = rows.len();
                rows.extend(std::iter::repeat_n(M::ONES, width));
                for (f, &i) in features.iter().zip(&list) {
                    let bin = (j / f.stride as usize) % f.bins();
                    let own = &used[i].1[bin * trees..(bin + 1) * trees];
                    for (a, &m) in rows[start..].iter_mut().zip(own) {
                        *a &= m;
                    }
                }
            }
            groups.push(Group {
                first_row,
                features,
            });
        }
        Some(Masks {
            groups,
            width,
            rows,
            values,
            base: e.base,
            scale: e.scale,
        })
    }

    crate::wide_kernel! {
        /// Raw outputs of the rows of encoded `columns` (one per model
        /// feature, category codes for categorical ones, NaN missing).
        pub fn raw(&self, columns: &[&[f64]], out: &mut [f64]) = raw_avx512, raw_avx2, raw_body;
    }

    #[inline(always)]
    fn raw_body(&self, columns: &[&[f64]], out: &mut [f64]) {
        let (ng, w) = (self.groups.len(), self.width);
        let mut index = vec![0u32; CHUNK * ng];
        let mut acc = vec![M::ONES; GROUP * w];
        let mut offsets = vec![0usize; ng];
        for (c, out) in out.chunks_mut(CHUNK).enumerate() {
            let start = c * CHUNK;
            let n = out.len();
            for (k, g) in self.groups.iter().enumerate() {
                let rows = &mut index[k * CHUNK..k * CHUNK + n];
                rows.fill(g.first_row);
                for f in &g.features {
                    f.add_rows(&columns[f.column][start..start + n], rows);
                }
            }
            for (g, out) in out.chunks_mut(GROUP).enumerate() {
                for (i, acc) in acc.chunks_mut(w).enumerate().take(out.len()) {
                    for (k, o) in offsets.iter_mut().enumerate() {
                        *o = index[k * CHUNK + g * GROUP + i] as usize * w;
                    }
                    // The first two groups' rows ANDed into `acc`, then the
                    // others ANDed in: loops over whole rows, which the
                    // compiler vectorises (16 masks kept in registers
                    // across groups were not, and took half as long again).
                    match offsets.as_slice() {
                        [] => acc.fill(M::ONES),
                        [o] => acc.copy_from_slice(&self.rows[*o..*o + w]),
                        [o1, o2, rest @ ..] => {
                            let (r1, r2) = (&self.rows[*o1..*o1 + w], &self.rows[*o2..*o2 + w]);
                            for ((a, &m1), &m2) in acc.iter_mut().zip(r1).zip(r2) {
                                *a = m1 & m2;
                            }
                            let mut pairs = rest.chunks_exact(2);
                            for p in pairs.by_ref() {
                                let (r1, r2) =
                                    (&self.rows[p[0]..p[0] + w], &self.rows[p[1]..p[1] + w]);
                                for ((a, &m1), &m2) in acc.iter_mut().zip(r1).zip(r2) {
                                    *a &= m1 & m2;
                                }
                            }
                            for &o in pairs.remainder() {
                                for (a, &m) in acc.iter_mut().zip(&self.rows[o..o + w]) {
                                    *a &= m;
                                }
                            }
                        }
                    }
                }
                // Tree by tree for the whole group: the rows' sums are
                // independent additions the CPU overlaps. Rows past the end
                // of a short group keep earlier masks; their sums are unused.
                let mut sums = [0.0f64; GROUP];
                for (k, leaves) in self.values.chunks_exact(M::BITS).enumerate() {
                    for (i, s) in sums.iter_mut().enumerate() {
                        // A valid tree always leaves its row's own leaf set.
                        *s += leaves[acc[i * w + k].lowest() & (M::BITS - 1)];
                    }
                }
                for (o, s) in out.iter_mut().zip(sums) {
                    *o = self.base + self.scale * s;
                }
            }
        }
    }
}

#[cfg(test)]
impl<M> Masks<M> {
    /// Features per table group.
    fn group_sizes(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.features.len()).collect()
    }
}

/// Mask tables of the narrowest width that holds every tree's leaves.
#[derive(Debug, Clone)]
pub enum MaskScorer {
    W16(Masks<u16>),
    W32(Masks<u32>),
    W64(Masks<u64>),
    W128(Masks<Words<2>>),
    W256(Masks<Words<4>>),
}

impl MaskScorer {
    /// `None` when the ensemble does not suit mask tables (see [`Masks::new`]).
    pub fn new(e: &Ensemble, features: usize) -> Option<MaskScorer> {
        let leaves = e.trees.iter().map(|t| t.leaves()).max().unwrap_or(0);
        if leaves <= 16 {
            Masks::new(e, features).map(MaskScorer::W16)
        } else if leaves <= 32 {
            Masks::new(e, features).map(MaskScorer::W32)
        } else if leaves <= 64 {
            Masks::new(e, features).map(MaskScorer::W64)
        } else if leaves <= 128 {
            Masks::new(e, features).map(MaskScorer::W128)
        } else {
            Masks::new(e, features).map(MaskScorer::W256)
        }
    }

    pub fn raw(&self, columns: &[&[f64]], out: &mut [f64]) {
        match self {
            MaskScorer::W16(m) => m.raw(columns, out),
            MaskScorer::W32(m) => m.raw(columns, out),
            MaskScorer::W64(m) => m.raw(columns, out),
            MaskScorer::W128(m) => m.raw(columns, out),
            MaskScorer::W256(m) => m.raw(columns, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::data::{Feature, Frame};
    use crate::churn::ensemble::{fit_forest, fit_gbt, ForestParams, GbtParams};
    use crate::churn::tree::{Growth, TreeParams};
    use crate::segment::kmeans::Rng;

    /// Two numeric features (one with missing values and repeated values)
    /// and a categorical one with three categories.
    fn data(n: usize, seed: u64) -> (Frame, Vec<Feature>) {
        let mut rng = Rng::new(seed);
        let mut cols = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut y = Vec::new();
        for i in 0..n {
            let x = rng.uniform();
            let z = if i % 9 == 0 {
                f64::NAN
            } else {
                (rng.uniform() * 20.0).floor()
            };
            let c = rng.below(3) as f64;
            let p = 0.5 * x + 0.02 * z.max(0.0) * 0.5 + if c == 1.0 { 0.2 } else { 0.0 };
            cols[0].push(x);
            cols[1].push(z);
            cols[2].push(c);
            y.push(f64::from(u8::from(rng.uniform() < p)));
        }
        let features = vec![
            Feature::numeric("x"),
            Feature::numeric("z"),
            Feature::categorical("c", ["a", "b", "c"]),
        ];
        (
            Frame {
                columns: cols,
                labels: y,
                weights: vec![1.0; n],
            },
            features,
        )
    }

    fn tree_params(leaves: usize) -> TreeParams {
        TreeParams {
            max_leaves: leaves,
            max_depth: 0,
            min_samples_leaf: 3.0,
            min_hessian: 1e-3,
            lambda: 1.0,
            max_features: 0,
            growth: Growth::Leaf,
        }
    }

    fn gbt_params(leaves: usize, max_iter: usize) -> GbtParams {
        GbtParams {
            max_iter,
            learning_rate: 0.1,
            tree: tree_params(leaves),
            max_bins: 255,
            validation_fraction: 0.0,
            early_stopping_rounds: 10,
            seed: 2,
        }
    }

    /// Inputs that hit thresholds exactly, fall outside the range, are
    /// missing, or are unseen categories.
    fn probes(e: &Ensemble, rng: &mut Rng, n: usize) -> Vec<Vec<f64>> {
        let mut thresholds: Vec<f64> = e.trees.iter().flat_map(|t| t.threshold.clone()).collect();
        thresholds.push(f64::INFINITY);
        thresholds.push(f64::NEG_INFINITY);
        let mut cols = vec![Vec::new(), Vec::new(), Vec::new()];
        for i in 0..n {
            let pick = |rng: &mut Rng| match i % 4 {
                0 => thresholds[rng.below(thresholds.len())],
                1 => f64::NAN,
                _ => rng.uniform() * 25.0 - 2.0,
            };
            cols[0].push(if i % 4 == 2 { rng.uniform() } else { pick(rng) });
            cols[1].push(pick(rng));
            cols[2].push(match i % 5 {
                0 => f64::NAN,
                1 => 7.0,
                _ => rng.below(3) as f64,
            });
        }
        cols
    }

    fn assert_same_as_walk(e: &Ensemble, scorer: &MaskScorer, cols: &[Vec<f64>]) {
        let n = cols[0].len();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let mut out = vec![0.0; n];
        let mut t = vec![0.0; 3];
        // On every vector path this CPU has (crate::simd).
        crate::simd::each_path(|path| {
            scorer.raw(&refs, &mut out);
            for i in 0..n {
                e.tree_input(&[cols[0][i], cols[1][i], cols[2][i]], &mut t);
                let want = e.raw(&t).to_bits();
                assert_eq!(out[i].to_bits(), want, "row {i}, {path:?}: {t:?}");
            }
        });
    }

    #[test]
    fn masks_equal_the_tree_walk_at_every_width() {
        let (frame, features) = data(3000, 1);
        let mut seen_groups = Vec::new();
        for (leaves, width) in [(12, 16), (31, 32), (60, 64), (120, 128), (250, 256)] {
            let (e, _, _) = fit_gbt(&frame, &features, &gbt_params(leaves, 30));
            assert!(e.trees.iter().any(|t| t.leaves() > width / 2), "{leaves}");
            let scorer = MaskScorer::new(&e, 3).expect("fits in masks");
            let (got, groups) = match &scorer {
                MaskScorer::W16(m) => (16, m.group_sizes()),
                MaskScorer::W32(m) => (32, m.group_sizes()),
                MaskScorer::W64(m) => (64, m.group_sizes()),
                MaskScorer::W128(m) => (128, m.group_sizes()),
                MaskScorer::W256(m) => (256, m.group_sizes()),
            };
            assert_eq!(got, width);
            assert_eq!(groups.iter().sum::<usize>(), 3, "{groups:?}");
            seen_groups.push(groups);
            let cols = probes(&e, &mut Rng::new(leaves as u64), 2 * CHUNK + 37);
            assert_same_as_walk(&e, &scorer, &cols);
        }
        // Both a shared table and separate ones were exercised.
        assert!(seen_groups.iter().any(|g| g.len() > 1), "{seen_groups:?}");
        assert!(
            seen_groups.iter().any(|g| g.iter().any(|&n| n > 1)),
            "{seen_groups:?}"
        );
    }

    #[test]
    fn no_trees_and_single_leaf_trees_give_the_base() {
        let (frame, features) = data(300, 6);
        let p = gbt_params(4, 3);
        let (mut e, _, _) = fit_gbt(&frame, &features, &p);
        let mut rng = Rng::new(3);
        let cols = probes(&e, &mut rng, 50);
        for t in e.trees.iter_mut() {
            t.feature.truncate(1);
            t.feature[0] = -1;
            for v in [&mut t.threshold, &mut t.value, &mut t.cover] {
                v.truncate(1);
            }
            t.left.truncate(1);
            t.right.truncate(1);
            t.default_left.truncate(1);
            t.value[0] = 0.25;
        }
        assert_same_as_walk(&e, &MaskScorer::new(&e, 3).unwrap(), &cols);
        e.trees.clear();
        assert_same_as_walk(&e, &MaskScorer::new(&e, 3).unwrap(), &cols);
    }

    #[test]
    fn nodes_no_walk_reaches_are_ignored() {
        let (frame, features) = data(800, 7);
        let (mut e, _, _) = fit_gbt(&frame, &features, &gbt_params(6, 3));
        let cols = probes(&e, &mut Rng::new(4), 300);
        // Tree 0's root takes over the children of a child that splits: that
        // child and the root's other subtree are no longer reached, and no
        // node is reached twice.
        let t = &mut e.trees[0];
        let (l, r) = (t.left[0] as usize, t.right[0] as usize);
        let c = if t.feature[l] >= 0 { l } else { r };
        assert!(t.feature[c] >= 0, "a child of the root splits");
        t.left[0] = t.left[c];
        t.right[0] = t.right[c];
        assert!(e.validate(3).is_ok());
        assert_same_as_walk(&e, &MaskScorer::new(&e, 3).expect("a valid tree"), &cols);
    }

    #[test]
    fn bins_count_the_thresholds_below() {
        let values = [
            -1.0,
            0.0,
            0.5,
            2.0,
            3.0,
            6.0,
            7.0,
            77.0,
            597.0,
            598.0,
            599.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for n in 1..300 {
            let thresholds: Vec<f64> = (0..n).map(|i| f64::from(i) * 2.0).collect();
            let mut f = FeatureBins::new(0, &thresholds);
            f.stride = 3;
            let mut got = vec![1u32; values.len()];
            f.add_rows(&values, &mut got);
            for (&v, got) in values.iter().zip(got) {
                let want = if v.is_nan() {
                    n + 1
                } else {
                    thresholds.iter().filter(|&&th| th < v).count() as u32
                };
                assert_eq!(got, 1 + 3 * want, "{n} thresholds, value {v}");
            }
        }
    }

    /// Skewed, random and crowded thresholds: the grid (where one fits) and
    /// the search give the count of thresholds below every value, at and
    /// next to each threshold too.
    #[test]
    fn grid_bins_count_the_thresholds_below() {
        let mut rng = Rng::new(11);
        let mut random: Vec<f64> = (0..150).map(|_| rng.uniform() * 1e4 - 5e3).collect();
        random.sort_by(f64::total_cmp);
        random.dedup();
        let crowded: Vec<f64> = (0..40)
            .map(|i| f64::from(i) * 1e-9)
            .chain([1.0, 10.0, 1000.0])
            .collect();
        let cases: [(Vec<f64>, bool); 6] = [
            ((0..200).map(|i| 1.02f64.powi(i) - 1.0).collect(), true),
            // Too skewed for a grid of MAX_CELLS.
            ((0..200).map(|i| 1.07f64.powi(i) - 1.0).collect(), false),
            (random, true),
            ((0..90).map(|i| f64::from(i * i) - 300.5).collect(), true),
            (crowded, false),
            (vec![-1.5e308, -1.0, 0.0, 1.0, 2.0, 1.5e308], false),
        ];
        for (thresholds, fits) in cases {
            let mut f = FeatureBins::new(0, &thresholds);
            assert_eq!(f.grid.is_some(), fits, "{thresholds:?}");
            f.stride = 3;
            let mut values = vec![
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                -0.0,
                f64::MAX,
                f64::MIN,
            ];
            for &t in &thresholds {
                values.extend([t, t.next_up(), t.next_down()]);
            }
            let (lo, hi) = (thresholds[0], thresholds[thresholds.len() - 1]);
            values.extend((0..2000).map(|_| lo + (hi - lo) * (rng.uniform() * 1.2 - 0.1)));
            let mut got = vec![1u32; values.len()];
            f.add_rows(&values, &mut got);
            for (&v, got) in values.iter().zip(got) {
                let below = thresholds.iter().filter(|&&th| th < v).count() as u32;
                let want = if v.is_nan() {
                    thresholds.len() as u32 + 1
                } else {
                    below
                };
                assert_eq!(got, 1 + 3 * want, "value {v} among {thresholds:?}");
                if !v.is_nan() {
                    assert_eq!(f.bin(v), below, "search, value {v}");
                }
            }
        }
    }

    #[test]
    fn forests_of_small_trees_use_masks_and_deep_ones_do_not() {
        let (frame, features) = data(2000, 4);
        let small = ForestParams {
            n_trees: 9,
            tree: TreeParams {
                max_depth: 5,
                max_features: 2,
                ..tree_params(0)
            },
            max_bins: 255,
            seed: 3,
        };
        let (e, _) = fit_forest(&frame, &features, &small);
        let scorer = MaskScorer::new(&e, 3).expect("32 leaves at most");
        assert_same_as_walk(&e, &scorer, &probes(&e, &mut Rng::new(8), 700));
        let deep = ForestParams {
            tree: TreeParams {
                max_depth: 0,
                min_samples_leaf: 1.0,
                ..small.tree
            },
            ..small
        };
        let (e, _) = fit_forest(&frame, &features, &deep);
        assert!(e.trees.iter().any(|t| t.leaves() > 256));
        assert!(MaskScorer::new(&e, 3).is_none());
    }

    #[test]
    fn a_node_reached_twice_is_refused() {
        let (frame, features) = data(500, 5);
        let p = gbt_params(4, 2);
        let (mut e, _, _) = fit_gbt(&frame, &features, &p);
        let t = &mut e.trees[0];
        let split = (0..t.feature.len())
            .find(|&i| t.feature[i] >= 0)
            .expect("a split");
        // Both branches lead to the same node: the tree checks still pass.
        t.right[split] = t.left[split];
        assert!(e.validate(3).is_ok());
        assert!(MaskScorer::new(&e, 3).is_none());
    }
}
