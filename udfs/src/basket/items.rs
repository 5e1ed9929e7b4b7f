//! Items and baskets as the miners see them: dense `u32` ids for item values
//! (integers or strings) and baskets as lists of ids.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

type Map<K> = HashMap<K, u32, foldhash::fast::RandomState>;

/// Item values of one type, in id order. Stored as `{"int": [...]}` or
/// `{"str": [...]}`, so even an empty list keeps its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Values {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (a walk over the strings: for a one-off count, not a
    /// running one).
    pub fn heap_size(&self) -> usize {
        match self {
            Values::Int(v) => v.capacity() * 8,
            Values::Str(v) => {
                v.capacity() * std::mem::size_of::<String>()
                    + v.iter().map(String::capacity).sum::<usize>()
            }
        }
    }

    /// The values at `ids`, in that order.
    pub fn select(&self, ids: &[u32]) -> Values {
        match self {
            Values::Int(v) => Values::Int(ids.iter().map(|&i| v[i as usize]).collect()),
            Values::Str(v) => Values::Str(ids.iter().map(|&i| v[i as usize].clone()).collect()),
        }
    }
}

/// Assigns dense ids to integer items, first come first served.
///
/// Small non-negative values (below 2^20, as product numbers often are) are
/// looked up in a table indexed by the value, grown to the largest one seen;
/// others in a hash map. The table took reading retail.dat's 908,576 rows
/// from 9.5 to 5 ns a row.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    /// `dense[v]`: the id of value `v`, or `u32::MAX` if not seen yet.
    dense: Vec<u32>,
    map: Map<i64>,
    values: Vec<i64>,
}

/// Values below this are looked up in [`Interner`]'s table.
const DENSE_LIMIT: i64 = 1 << 20;

impl Interner {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self) -> &[i64] {
        &self.values
    }

    /// The id of `value`, assigning the next one if it is new.
    pub fn intern(&mut self, value: &i64) -> u32 {
        let v = *value;
        if (0..DENSE_LIMIT).contains(&v) {
            let at = v as usize;
            if let Some(&id) = self.dense.get(at) {
                if id != u32::MAX {
                    return id;
                }
            } else {
                self.dense.resize((at + 1).next_power_of_two(), u32::MAX);
            }
            let id = self.values.len() as u32;
            self.dense[at] = id;
            self.values.push(v);
            return id;
        }
        if let Some(&id) = self.map.get(&v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.map.insert(v, id);
        self.values.push(v);
        id
    }

    /// Ids renumbered so that ascending ids mean ascending values: returns
    /// `new_id[old_id]` and the values in the new order.
    pub fn sorted(&self) -> (Vec<u32>, Vec<i64>) {
        let v = &self.values;
        let (new_id, order) = value_order(v.len(), |a, b| v[a as usize].cmp(&v[b as usize]));
        let sorted = order.iter().map(|&o| v[o as usize]).collect();
        (new_id, sorted)
    }
}

/// The ids `0..n` in value order (`cmp` compares the values of two ids):
/// returns `new_id[old_id]` and `order[new_id] = old_id`.
fn value_order(n: usize, cmp: impl Fn(u32, u32) -> std::cmp::Ordering) -> (Vec<u32>, Vec<u32>) {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| cmp(a, b));
    let mut new_id = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        new_id[old as usize] = new as u32;
    }
    (new_id, order)
}

/// Strings kept one after another in one `String`: no allocation per string.
#[derive(Debug, Clone, Default)]
pub struct StrArena {
    text: String,
    /// String `i` ends at `ends[i]`.
    ends: Vec<usize>,
}

impl StrArena {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends `value`; returns its index.
    pub fn push(&mut self, value: &str) -> u32 {
        self.text.push_str(value);
        self.ends.push(self.text.len());
        (self.ends.len() - 1) as u32
    }

    /// The string at `i`.
    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    pub fn heap_size(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 8
    }
}

/// Assigns dense ids to strings, first come first served, keeping the text in
/// one arena: no allocation per new string (the hot path of reading millions
/// of `(basket_id, item)` rows).
#[derive(Clone, Default)]
pub struct StrInterner {
    strings: StrArena,
    /// (hash, id): the stored hash makes growing the table cheap.
    table: hashbrown::HashTable<(u64, u32)>,
    hasher: foldhash::fast::FixedState,
}

impl std::fmt::Debug for StrInterner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrInterner")
            .field("len", &self.len())
            .finish()
    }
}

impl StrInterner {
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// The string of `id`.
    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id)
    }

    fn hash(&self, s: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(s)
    }

    /// The id of `value`, assigning the next one if it is new.
    pub fn intern(&mut self, value: &str) -> u32 {
        let h = self.hash(value);
        if let Some(&(_, id)) = self
            .table
            .find(h, |&(hh, id)| hh == h && self.get(id) == value)
        {
            return id;
        }
        let id = self.strings.push(value);
        self.table.insert_unique(h, (h, id), |&(hh, _)| hh);
        id
    }

    /// Every string, in id order.
    pub fn to_strings(&self) -> Vec<String> {
        (0..self.len() as u32)
            .map(|i| self.get(i).to_string())
            .collect()
    }

    /// Ids renumbered in value order (see [`Interner::sorted`]).
    pub fn sorted(&self) -> (Vec<u32>, Vec<String>) {
        let (new_id, order) = value_order(self.len(), |a, b| self.get(a).cmp(self.get(b)));
        let sorted = order.iter().map(|&o| self.get(o).to_string()).collect();
        (new_id, sorted)
    }
}

/// Items of either type.
#[derive(Debug, Clone)]
pub enum Items {
    Int(Interner),
    Str(StrInterner),
}

impl Items {
    pub fn len(&self) -> usize {
        match self {
            Items::Int(i) => i.len(),
            Items::Str(i) => i.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renumber in value order (see [`Interner::sorted`]).
    pub fn sorted(&self) -> (Vec<u32>, Values) {
        match self {
            Items::Int(i) => {
                let (ids, v) = i.sorted();
                (ids, Values::Int(v))
            }
            Items::Str(i) => {
                let (ids, v) = i.sorted();
                (ids, Values::Str(v))
            }
        }
    }
}

/// Baskets of item ids in two flat arrays (every basket's ids one after
/// another, and where each basket ends), not a `Vec` per basket: a million
/// baskets are two allocations, not a million.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baskets {
    ids: Vec<u32>,
    ends: Vec<usize>,
}

impl Baskets {
    /// Baskets whose ids follow one another in `ids`, basket `b` ending at
    /// `ends[b]` (ascending, the last one `ids.len()`).
    pub fn from_ends(ids: Vec<u32>, ends: Vec<usize>) -> Baskets {
        debug_assert!(ends.windows(2).all(|w| w[0] <= w[1]));
        debug_assert_eq!(ends.last().copied().unwrap_or(0), ids.len());
        Baskets { ids, ends }
    }

    /// Appends one basket.
    pub fn push(&mut self, basket: impl IntoIterator<Item = u32>) {
        self.ids.extend(basket);
        self.ends.push(self.ids.len());
    }

    /// Number of baskets.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Number of (basket, id) pairs.
    pub fn pairs(&self) -> usize {
        self.ids.len()
    }

    /// Each basket's ids, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u32]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(s, &e)| &self.ids[s..e])
    }

    /// Each basket's length.
    pub fn lengths(&self) -> impl Iterator<Item = usize> + '_ {
        self.iter().map(<[u32]>::len)
    }

    /// The number of baskets containing each of the ids `0..n_items` (each
    /// basket listing an id at most once).
    pub fn item_counts(&self, n_items: usize) -> Vec<u64> {
        let mut counts = vec![0u64; n_items];
        for &i in &self.ids {
            counts[i as usize] += 1;
        }
        counts
    }

    /// Every id of every basket, basket after basket.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Rewrites each basket in place: `f` may change and reorder its ids and
    /// returns how many of the first ones to keep, or `None` to drop the
    /// basket.
    fn rewrite(&mut self, mut f: impl FnMut(&mut [u32]) -> Option<usize>) {
        let (mut read, mut write, mut kept) = (0, 0, 0);
        for b in 0..self.ends.len() {
            let end = self.ends[b];
            if write != read {
                self.ids.copy_within(read..end, write);
            }
            let len = end - read;
            read = end;
            if let Some(n) = f(&mut self.ids[write..write + len]) {
                write += n.min(len);
                self.ends[kept] = write;
                kept += 1;
            }
        }
        self.ids.truncate(write);
        self.ends.truncate(kept);
    }
}

impl<B: AsRef<[u32]>> From<&[B]> for Baskets {
    fn from(baskets: &[B]) -> Baskets {
        let mut out = Baskets::default();
        for b in baskets {
            out.push(b.as_ref().iter().copied());
        }
        out
    }
}

/// Baskets ready to mine: ids in value order, each basket's ids distinct.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub values: Values,
    pub baskets: Baskets,
    /// The number of baskets containing each item.
    pub counts: Vec<u64>,
    /// Baskets left out for having more than `max_basket_items` items.
    pub skipped_long: u64,
}

/// Renumber `items` in value order, deduplicate each basket (keeping each
/// id's first place) and leave out baskets with more than
/// `max_basket_items` distinct items (0: no limit).
pub fn prepare(items: &Items, mut baskets: Baskets, max_basket_items: usize) -> Prepared {
    let (new_id, values) = items.sorted();
    let mut counts = vec![0u64; values.len()];
    // 1 + the last basket seen with each item: duplicates found without
    // sorting the basket.
    let mut seen = vec![0usize; values.len()];
    let mut basket = 0;
    let mut skipped_long = 0;
    baskets.rewrite(|b| {
        basket += 1;
        let mut n = 0;
        for k in 0..b.len() {
            let id = new_id[b[k] as usize];
            if seen[id as usize] != basket {
                seen[id as usize] = basket;
                b[n] = id;
                n += 1;
            }
        }
        if max_basket_items == 0 || n <= max_basket_items {
            for &id in &b[..n] {
                counts[id as usize] += 1;
            }
            Some(n)
        } else {
            skipped_long += 1;
            None
        }
    });
    Prepared {
        values,
        baskets,
        counts,
        skipped_long,
    }
}

/// The smallest count c >= 1 with c / n >= min_support (min_support in (0, 1]).
pub fn min_count(min_support: f64, n: u64) -> u64 {
    let nf = n as f64;
    let mut c = (min_support * nf).ceil().max(1.0) as u64;
    while c > 1 && (c - 1) as f64 / nf >= min_support {
        c -= 1;
    }
    while (c as f64) / nf < min_support && c < n {
        c += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_count_is_exact_at_the_boundary() {
        // 0.1 % of 88,162 is 88.162: 89 baskets.
        assert_eq!(min_count(0.001, 88_162), 89);
        assert_eq!(min_count(0.005, 88_162), 441);
        assert_eq!(min_count(0.0005, 88_162), 45);
        assert_eq!(min_count(0.5, 10), 5);
        assert_eq!(min_count(0.3, 10), 3);
        assert_eq!(min_count(1.0, 7), 7);
        assert_eq!(min_count(1e-9, 7), 1);
    }

    #[test]
    fn integer_interner_table_and_map_agree() {
        let mut m = Interner::default();
        // Small values (the table), negative and large ones (the map).
        let values = [
            7,
            -3,
            1 << 20,
            0,
            7,
            (1 << 20) - 1,
            i64::MIN,
            -3,
            0,
            5_000_000,
            1 << 20,
        ];
        let ids: Vec<u32> = values.iter().map(|v| m.intern(v)).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 0, 4, 5, 1, 3, 6, 2]);
        assert_eq!(
            m.values(),
            &[7, -3, 1 << 20, 0, (1 << 20) - 1, i64::MIN, 5_000_000]
        );
        let (new_id, sorted) = m.sorted();
        assert_eq!(
            sorted,
            vec![i64::MIN, -3, 0, 7, (1 << 20) - 1, 1 << 20, 5_000_000]
        );
        for (old, &v) in m.values().iter().enumerate() {
            assert_eq!(sorted[new_id[old] as usize], v);
        }
    }

    #[test]
    fn string_interner_finds_and_adds() {
        let mut s = StrInterner::default();
        let words = ["b", "", "a", "bb", "b", "", "ab", "a"];
        let ids: Vec<u32> = words.iter().map(|w| s.intern(w)).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 0, 1, 4, 2]);
        assert_eq!(s.to_strings(), vec!["b", "", "a", "bb", "ab"]);
        for i in 0..1000 {
            assert_eq!(s.intern(&format!("w{i}")), 5 + i);
        }
        assert_eq!(s.intern("w7"), 12);
        let (new_id, sorted) = s.sorted();
        assert_eq!(sorted[0], "");
        assert_eq!(sorted[new_id[2] as usize], "a");
    }

    #[test]
    fn prepare_renumbers_dedups_and_skips() {
        let mut items = StrInterner::default();
        let b = items.intern("b");
        let a = items.intern("a");
        let c = items.intern("c");
        assert_eq!(items.intern("b"), b);
        let baskets = Baskets::from(&[vec![b, a, b], vec![c, a, b], vec![c], vec![]][..]);
        let p = prepare(&Items::Str(items), baskets, 2);
        assert_eq!(
            p.values,
            Values::Str(vec!["a".into(), "b".into(), "c".into()])
        );
        let kept: Vec<&[u32]> = p.baskets.iter().collect();
        // b, a, b -> 1, 0 (first places kept); c, a, b left out.
        assert_eq!(kept, [&[1, 0][..], &[2], &[]]);
        assert_eq!(p.counts, vec![1, 1, 1]);
        assert_eq!(p.skipped_long, 1);
    }
}
