//! Frequent itemset mining with FP-growth (Han, Pei & Yin 2000), on both cores.
//!
//! Why our own code: the Rust FP-growth crates we looked at (`fp-growth`)
//! are single-threaded, build the tree with a child search per item, and have
//! neither a length limit nor a cap on output. This implementation:
//! - keeps the tree in flat arrays (item, count, parent per node) and builds
//!   it from lexicographically sorted transactions, so inserting a
//!   transaction never searches children: it shares the prefix it has in
//!   common with the previous one;
//! - builds each conditional tree from its pattern base with the items
//!   renumbered densely (order kept), and enumerates a single-path tree's
//!   subsets directly instead of recursing;
//! - mines the top-level items on every core (dynamic scheduling; the tree is
//!   shared read-only) and sorts the result, so output does not depend on
//!   thread timing.
//!
//! Items are `u32` ids; a basket lists each id at most once. An itemset's
//! items come out in ascending id order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::items::Baskets;

/// Frequent itemsets, flat: itemset `i` is `items[offsets[i]..offsets[i+1]]`
/// (ascending ids) with `counts[i]` baskets containing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Itemsets {
    pub items: Vec<u32>,
    pub offsets: Vec<usize>,
    pub counts: Vec<u64>,
}

impl Itemsets {
    pub fn new() -> Self {
        Itemsets {
            items: Vec::new(),
            offsets: vec![0],
            counts: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Itemset `i` and its count.
    pub fn get(&self, i: usize) -> (&[u32], u64) {
        (
            &self.items[self.offsets[i]..self.offsets[i + 1]],
            self.counts[i],
        )
    }

    fn push(&mut self, items: &[u32], count: u64) {
        self.items.extend_from_slice(items);
        self.offsets.push(self.items.len());
        self.counts.push(count);
    }

    /// Sort into the canonical order: by size, then count descending, then
    /// items ascending.
    fn sort(&mut self) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let (ia, ca) = self.get(a);
            let (ib, cb) = self.get(b);
            ia.len()
                .cmp(&ib.len())
                .then(cb.cmp(&ca))
                .then_with(|| ia.cmp(ib))
        });
        let mut sorted = Itemsets::new();
        for i in order {
            let (items, count) = self.get(i);
            sorted.push(items, count);
        }
        *self = sorted;
    }
}

/// Bounds on a mining run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest itemset size (0: no limit).
    pub max_len: usize,
    /// Stop with [`TooMany`] past this many itemsets.
    pub max_itemsets: usize,
}

/// More frequent itemsets than [`Limits::max_itemsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany {
    pub limit: usize,
}

/// Every itemset contained in at least `min_count` (>= 1) of `baskets`.
pub fn frequent_itemsets(
    baskets: &Baskets,
    n_items: usize,
    min_count: u64,
    limits: Limits,
) -> Result<Itemsets, TooMany> {
    frequent_itemsets_counted(baskets, &baskets.item_counts(n_items), min_count, limits)
}

/// [`frequent_itemsets`] given the number of baskets containing each item
/// (`counts[i]` for ids `0..counts.len()`).
pub fn frequent_itemsets_counted(
    baskets: &Baskets,
    counts: &[u64],
    min_count: u64,
    limits: Limits,
) -> Result<Itemsets, TooMany> {
    let n_items = counts.len();
    let min_count = min_count.max(1);
    let max_len = if limits.max_len == 0 {
        usize::MAX
    } else {
        limits.max_len
    };
    // Frequent single items, ranked by descending count (ties by id): the
    // tree order that keeps FP-trees small.
    let mut frequent: Vec<u32> = (0..n_items as u32)
        .filter(|&i| counts[i as usize] >= min_count)
        .collect();
    frequent.sort_unstable_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    let mut rank = vec![u32::MAX; n_items];
    for (r, &i) in frequent.iter().enumerate() {
        rank[i as usize] = r as u32;
    }

    // Transactions as ascending ranks of their frequent items.
    let mut paths = Paths::default();
    paths.items.reserve(baskets.pairs());
    paths.ends.reserve(baskets.len());
    for b in baskets.iter() {
        // Every rank written, the cursor moved past frequent ones only: no
        // branch to mispredict on whether an item is frequent.
        let start = paths.items.len();
        paths.items.resize(start + b.len(), 0);
        let out = &mut paths.items[start..];
        let mut n = 0;
        for &i in b {
            let r = rank[i as usize];
            out[n] = r;
            n += usize::from(r != u32::MAX);
        }
        out[..n].sort_unstable();
        paths.items.truncate(start + n);
        paths.end_path(start, 1);
    }
    let tree = Tree::build(&paths, frequent.len());
    drop(paths);

    let miner = Miner {
        min_count,
        max_len,
        limit: limits.max_itemsets,
        emitted: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        original: &frequent,
    };
    // One worker per thread of the kernels' pool (crate::pool), each taking
    // the next item until none is left; the itemsets are sorted at the end,
    // so the result does not depend on the thread count.
    let next = AtomicUsize::new(0);
    let m = tree.n_items();
    let workers = crate::pool::threads().clamp(1, 64).min(m.max(1));
    let results = crate::pool::map(workers, |_| {
        let mut out = Itemsets::new();
        let mut scratch = Scratch::default();
        let mut prefix = Vec::new();
        loop {
            // Least frequent items first: their conditional bases are the
            // deepest, so the long jobs start early.
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= m || miner.stop.load(Ordering::Relaxed) {
                break;
            }
            let j = (m - 1 - k) as u32;
            miner.mine_item(&tree, j, &[], &mut prefix, &mut out, &mut scratch);
        }
        out
    });
    if miner.stop.load(Ordering::Relaxed) {
        return Err(TooMany {
            limit: limits.max_itemsets,
        });
    }
    let mut all = Itemsets::new();
    for part in results {
        for i in 0..part.len() {
            let (items, count) = part.get(i);
            all.push(items, count);
        }
    }
    all.sort();
    Ok(all)
}

/// Weighted paths of ascending local ids, one after another: path `k` is
/// `items[ends[k - 1]..ends[k]]` with weight `weights[k]` (1 for every path
/// while `weights` is empty).
#[derive(Debug, Default)]
struct Paths {
    items: Vec<u32>,
    ends: Vec<usize>,
    weights: Vec<u64>,
}

impl Paths {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, k: usize) -> &[u32] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.items[start..self.ends[k]]
    }

    fn weight(&self, k: usize) -> u64 {
        self.weights.get(k).copied().unwrap_or(1)
    }

    /// Ends the path begun at `start` (the items pushed since), with
    /// `weight`; an empty path is dropped.
    fn end_path(&mut self, start: usize, weight: u64) {
        if self.items.len() > start {
            self.ends.push(self.items.len());
            if weight != 1 || !self.weights.is_empty() {
                self.weights.resize(self.ends.len() - 1, 1);
                self.weights.push(weight);
            }
        }
    }
}

/// The paths' numbers in lexicographic order of the paths (a shorter path
/// before the longer ones it begins).
///
/// Each path is keyed by its first items packed into a `u64` (rank + 1 in
/// as few bits as the ranks need, 0 past the end: 8 items of up to 255
/// ranks, 5 of up to 4,095); the keys are sorted by radix, and only paths
/// with equal keys compare the rest of their items. Comparing slices item
/// by item, the whole sort had taken 6 ms of a 47 ms query (82,000 paths).
fn sort_paths(paths: &Paths, n_items: usize) -> Vec<u32> {
    let bits = (usize::BITS - n_items.leading_zeros()).clamp(1, 32) as usize;
    let lanes = 64 / bits;
    let key = |p: &[u32]| {
        (0..lanes).fold(0u64, |k, l| {
            (k << bits) | p.get(l).map_or(0, |&r| u64::from(r) + 1)
        })
    };
    let mut keyed: Vec<(u64, u32)> = (0..paths.len())
        .map(|k| (key(paths.get(k)), k as u32))
        .collect();
    if keyed.len() < 256 {
        keyed.sort_unstable_by_key(|k| k.0);
    } else {
        radix_sort(&mut keyed, (lanes * bits).div_ceil(8));
    }
    // Equal keys: the same first items; the rest decides.
    let rest = |k: u32| paths.get(k as usize).get(lanes..).unwrap_or(&[]);
    for same_key in keyed.chunk_by_mut(|a, b| a.0 == b.0) {
        if same_key.len() > 1 {
            same_key.sort_unstable_by(|a, b| rest(a.1).cmp(rest(b.1)));
        }
    }
    keyed.into_iter().map(|(_, k)| k).collect()
}

/// LSD radix sort by the low `bytes` bytes of the key, a byte per pass;
/// passes where every key has the same byte are skipped.
fn radix_sort(v: &mut Vec<(u64, u32)>, bytes: usize) {
    let mut other = vec![(0u64, 0u32); v.len()];
    for pass in 0..bytes.min(8) {
        let shift = 8 * pass;
        let mut at = [0usize; 257];
        for &(k, _) in v.iter() {
            at[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        if at.contains(&v.len()) {
            continue;
        }
        for b in 1..257 {
            at[b] += at[b - 1];
        }
        for &x in v.iter() {
            let slot = &mut at[((x.0 >> shift) & 0xff) as usize];
            other[*slot] = x;
            *slot += 1;
        }
        std::mem::swap(v, &mut other);
    }
}

/// An FP-tree in flat arrays. Node 0 is the root. Items are local ids
/// `0..n_items`, ascending along every path from the root.
struct Tree {
    item: Vec<u32>,
    count: Vec<u64>,
    parent: Vec<u32>,
    /// The nodes of item `i` are `nodes[node_start[i]..node_start[i + 1]]`,
    /// in creation order.
    node_start: Vec<usize>,
    nodes: Vec<u32>,
    /// Total count of each item in the tree.
    item_count: Vec<u64>,
}

impl Tree {
    /// Build from weighted paths of ascending local ids `< n_items`.
    fn build(paths: &Paths, n_items: usize) -> Tree {
        let order = sort_paths(paths, n_items);
        // At most one node per path item: room for all, so the arrays never
        // grow (and only the pages used are touched).
        let most = 1 + paths.items.len();
        let mut t = Tree {
            item: Vec::with_capacity(most),
            count: Vec::with_capacity(most),
            parent: Vec::with_capacity(most),
            node_start: Vec::new(),
            nodes: Vec::new(),
            item_count: vec![0; n_items],
        };
        t.item.push(u32::MAX);
        t.count.push(0);
        t.parent.push(0);
        // The nodes of the previous path; a sorted path shares its common
        // prefix with the previous one, so no child search is needed.
        let mut stack: Vec<u32> = Vec::new();
        let mut previous: &[u32] = &[];
        for k in order {
            let (path, weight) = (paths.get(k as usize), paths.weight(k as usize));
            let common = path
                .iter()
                .zip(previous)
                .take_while(|(a, b)| a == b)
                .count();
            stack.truncate(common);
            for &node in &stack {
                t.count[node as usize] += weight;
            }
            for &item in &path[common..] {
                let parent = stack.last().copied().unwrap_or(0);
                let node = t.item.len() as u32;
                t.item.push(item);
                t.count.push(weight);
                t.parent.push(parent);
                stack.push(node);
            }
            for &item in path {
                t.item_count[item as usize] += weight;
            }
            previous = path;
        }
        // Each item's nodes, by a counting sort of the nodes on item.
        let mut start = vec![0usize; n_items + 1];
        for &i in &t.item[1..] {
            start[i as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut next = start.clone();
        let mut nodes = vec![0u32; t.item.len() - 1];
        for (node, &i) in t.item.iter().enumerate().skip(1) {
            let at = &mut next[i as usize];
            nodes[*at] = node as u32;
            *at += 1;
        }
        t.node_start = start;
        t.nodes = nodes;
        t
    }

    /// The nodes of item `i`.
    fn nodes_of(&self, i: u32) -> &[u32] {
        &self.nodes[self.node_start[i as usize]..self.node_start[i as usize + 1]]
    }

    fn n_items(&self) -> usize {
        self.item_count.len()
    }

    /// Whether the tree is one chain from the root (nodes 1, 2, ... each the
    /// child of the one before).
    fn is_single_path(&self) -> bool {
        self.parent
            .iter()
            .enumerate()
            .skip(1)
            .all(|(i, &p)| p as usize == i - 1)
    }
}

#[derive(Default)]
struct Scratch {
    counts: Vec<u64>,
}

struct Miner<'a> {
    min_count: u64,
    max_len: usize,
    limit: usize,
    emitted: AtomicUsize,
    stop: AtomicBool,
    /// Original item id of each top-level rank.
    original: &'a [u32],
}

impl Miner<'_> {
    fn emit(&self, prefix: &[u32], out: &mut Itemsets, count: u64) {
        let start = out.items.len();
        out.items
            .extend(prefix.iter().map(|&r| self.original[r as usize]));
        out.items[start..].sort_unstable();
        out.offsets.push(out.items.len());
        out.counts.push(count);
        if self.emitted.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Emit every frequent itemset of `tree` (local ids mapped to top-level
    /// ranks by `to_rank`; empty means the identity) extended by `prefix`.
    fn mine(
        &self,
        tree: &Tree,
        to_rank: &[u32],
        prefix: &mut Vec<u32>,
        out: &mut Itemsets,
        scratch: &mut Scratch,
    ) {
        if tree.is_single_path() {
            self.mine_path(tree, to_rank, prefix, out);
            return;
        }
        for j in (0..tree.n_items() as u32).rev() {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            self.mine_item(tree, j, to_rank, prefix, out, scratch);
        }
    }

    /// Emit `prefix + j` and recurse into `j`'s conditional tree.
    fn mine_item(
        &self,
        tree: &Tree,
        j: u32,
        to_rank: &[u32],
        prefix: &mut Vec<u32>,
        out: &mut Itemsets,
        scratch: &mut Scratch,
    ) {
        let rank = if to_rank.is_empty() {
            j
        } else {
            to_rank[j as usize]
        };
        prefix.push(rank);
        self.emit(prefix, out, tree.item_count[j as usize]);
        if prefix.len() < self.max_len {
            if let Some((cond, cond_rank)) = self.conditional(tree, j, to_rank, scratch) {
                self.mine(&cond, &cond_rank, prefix, out, scratch);
            }
        }
        prefix.pop();
    }

    /// The conditional tree of item `j`: the paths above its nodes, weighted
    /// by their counts, keeping the items frequent among them. Returns the
    /// tree and its local-id to top-level-rank map; None if no item qualifies.
    fn conditional(
        &self,
        tree: &Tree,
        j: u32,
        to_rank: &[u32],
        scratch: &mut Scratch,
    ) -> Option<(Tree, Vec<u32>)> {
        let nodes = tree.nodes_of(j);
        let counts = &mut scratch.counts;
        counts.clear();
        counts.resize(j as usize, 0);
        for &n in nodes {
            let w = tree.count[n as usize];
            let mut p = tree.parent[n as usize];
            while p != 0 {
                counts[tree.item[p as usize] as usize] += w;
                p = tree.parent[p as usize];
            }
        }
        // New dense ids for the frequent items, in the same order.
        let mut new_id = vec![u32::MAX; j as usize];
        let mut cond_rank = Vec::new();
        for (i, &c) in counts.iter().enumerate() {
            if c >= self.min_count {
                new_id[i] = cond_rank.len() as u32;
                cond_rank.push(if to_rank.is_empty() {
                    i as u32
                } else {
                    to_rank[i]
                });
            }
        }
        if cond_rank.is_empty() {
            return None;
        }
        let mut paths = Paths::default();
        for &n in nodes {
            let start = paths.items.len();
            let mut p = tree.parent[n as usize];
            while p != 0 {
                let id = new_id[tree.item[p as usize] as usize];
                if id != u32::MAX {
                    paths.items.push(id);
                }
                p = tree.parent[p as usize];
            }
            paths.items[start..].reverse();
            paths.end_path(start, tree.count[n as usize]);
        }
        Some((Tree::build(&paths, cond_rank.len()), cond_rank))
    }

    /// A single-path tree: every non-empty subset of the path is frequent,
    /// with the count of its deepest node.
    fn mine_path(&self, tree: &Tree, to_rank: &[u32], prefix: &mut Vec<u32>, out: &mut Itemsets) {
        let path: Vec<(u32, u64)> = (1..tree.item.len())
            .map(|n| {
                let local = tree.item[n];
                let rank = if to_rank.is_empty() {
                    local
                } else {
                    to_rank[local as usize]
                };
                (rank, tree.count[n])
            })
            .collect();
        let room = self.max_len.saturating_sub(prefix.len());
        self.subsets(&path, room, prefix, out);
    }

    /// Emit `prefix` + each non-empty subset of `path` of at most `room`
    /// items, choosing the deepest item first so its count is the subset's.
    fn subsets(&self, path: &[(u32, u64)], room: usize, prefix: &mut Vec<u32>, out: &mut Itemsets) {
        if room == 0 || self.stop.load(Ordering::Relaxed) {
            return;
        }
        for (d, &(rank, count)) in path.iter().enumerate().rev() {
            prefix.push(rank);
            self.emit(prefix, out, count);
            self.extend_above(&path[..d], room - 1, prefix, out, count);
            prefix.pop();
        }
    }

    /// Add any subset of `above` (at most `room` items) to `prefix`; the
    /// count stays that of the deepest item already chosen.
    fn extend_above(
        &self,
        above: &[(u32, u64)],
        room: usize,
        prefix: &mut Vec<u32>,
        out: &mut Itemsets,
        count: u64,
    ) {
        if room == 0 || self.stop.load(Ordering::Relaxed) {
            return;
        }
        for (d, &(rank, _)) in above.iter().enumerate().rev() {
            prefix.push(rank);
            self.emit(prefix, out, count);
            self.extend_above(&above[..d], room - 1, prefix, out, count);
            prefix.pop();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn paths_sort_as_a_slice_sort_would() {
        let mut rng = crate::segment::kmeans::Rng::new(3);
        // Item counts giving 8, 5, 3 and 2 items per key; paths up to 12
        // items, so many share their key and are told apart by the rest.
        for (n_items, count, max_len) in [
            (40, 150_000, 6),
            (40, 3_000, 12),
            (300, 20_000, 12),
            (5_000, 20_000, 9),
            (70_000, 5_000, 9),
            (70_000, 100, 9),
            (5, 7, 3),
        ] {
            let mut data: Vec<Vec<u32>> = (0..count)
                .map(|_| {
                    let len = rng.below(max_len + 1);
                    // Few distinct items at the front, so prefixes repeat.
                    let mut p: Vec<u32> = (0..len)
                        .map(|k| rng.below(if k < 4 { 6.min(n_items) } else { n_items }) as u32)
                        .collect();
                    p.sort_unstable();
                    p.dedup();
                    p
                })
                .collect();
            // Skewed: a third of the paths start with item 0.
            for p in data.iter_mut().step_by(3) {
                p.insert(0, 0);
                p.dedup();
            }
            let mut paths = Paths::default();
            for p in data.iter().filter(|p| !p.is_empty()) {
                let start = paths.items.len();
                paths.items.extend_from_slice(p);
                paths.end_path(start, 1);
            }
            let mut want: Vec<&[u32]> = data
                .iter()
                .map(Vec::as_slice)
                .filter(|p| !p.is_empty())
                .collect();
            want.sort_unstable();
            let got: Vec<&[u32]> = sort_paths(&paths, n_items)
                .into_iter()
                .map(|k| paths.get(k as usize))
                .collect();
            assert_eq!(got, want, "{n_items} items, {count} paths");
        }
    }

    /// Every itemset with its count by enumerating each basket's subsets: an
    /// oracle for small baskets, independent of FP-growth.
    pub(crate) fn brute_force(
        baskets: &[Vec<u32>],
        min_count: u64,
        max_len: usize,
    ) -> BTreeMap<Vec<u32>, u64> {
        let mut all = BTreeMap::new();
        for b in baskets {
            let mut b = b.clone();
            b.sort_unstable();
            b.dedup();
            for mask in 1u64..(1u64 << b.len()) {
                let set: Vec<u32> = (0..b.len())
                    .filter(|k| mask >> k & 1 == 1)
                    .map(|k| b[k])
                    .collect();
                if max_len == 0 || set.len() <= max_len {
                    *all.entry(set).or_insert(0) += 1;
                }
            }
        }
        all.retain(|_, c| *c >= min_count);
        all
    }

    pub(crate) fn as_map(s: &Itemsets) -> BTreeMap<Vec<u32>, u64> {
        (0..s.len())
            .map(|i| (s.get(i).0.to_vec(), s.get(i).1))
            .collect()
    }

    fn limits(max_len: usize) -> Limits {
        Limits {
            max_len,
            max_itemsets: usize::MAX,
        }
    }

    #[test]
    fn matches_enumeration_on_a_textbook_example() {
        // Han, Pei & Yin's example, items renamed f=0 c=1 a=2 b=3 m=4 p=5 and others 6..
        let baskets = vec![
            vec![0, 2, 1, 7, 8, 9, 4, 5],
            vec![2, 3, 1, 0, 10, 4, 11],
            vec![3, 0, 12, 13, 11],
            vec![3, 1, 14, 15, 5],
            vec![2, 0, 1, 16, 10, 5, 4, 17],
        ];
        for threads in [1, 2, 3] {
            let got = crate::pool::with_threads(threads, || {
                frequent_itemsets(&Baskets::from(&baskets[..]), 18, 3, limits(0))
            })
            .unwrap();
            assert_eq!(as_map(&got), brute_force(&baskets, 3, 0));
        }
        let got = frequent_itemsets(&Baskets::from(&baskets[..]), 18, 3, limits(0)).unwrap();
        // {f, c, a, m} (ids 0, 1, 2, 4) is in 3 baskets.
        assert_eq!(as_map(&got).get(&vec![0, 1, 2, 4]), Some(&3));
        assert_eq!(got.len(), 18);
    }

    #[test]
    fn max_len_and_limit() {
        let baskets: Vec<Vec<u32>> = vec![(0..12).collect(); 3];
        let got = frequent_itemsets(&Baskets::from(&baskets[..]), 12, 2, limits(2)).unwrap();
        assert_eq!(got.len(), 12 + 66);
        let all = frequent_itemsets(&Baskets::from(&baskets[..]), 12, 2, limits(0)).unwrap();
        assert_eq!(all.len(), 4095);
        let capped = frequent_itemsets(
            &Baskets::from(&baskets[..]),
            12,
            2,
            Limits {
                max_len: 0,
                max_itemsets: 100,
            },
        );
        assert_eq!(capped, Err(TooMany { limit: 100 }));
    }

    #[test]
    fn empty_and_sorted() {
        let got = frequent_itemsets(&Baskets::default(), 0, 1, limits(0)).unwrap();
        assert!(got.is_empty());
        let baskets = [vec![3, 1], vec![1], vec![3, 1, 2]];
        let got = frequent_itemsets(&Baskets::from(&baskets[..]), 4, 1, limits(0)).unwrap();
        // size, then count descending, then items
        let order: Vec<(Vec<u32>, u64)> = (0..got.len())
            .map(|i| (got.get(i).0.to_vec(), got.get(i).1))
            .collect();
        assert_eq!(order[0], (vec![1], 3));
        assert_eq!(order[1], (vec![3], 2));
        assert_eq!(order[2], (vec![2], 1));
        assert_eq!(order[3], (vec![1, 3], 2));
        assert_eq!(order.last().unwrap(), &(vec![1, 2, 3], 1));
    }
}
