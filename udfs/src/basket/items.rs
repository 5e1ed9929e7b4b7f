//! Items and baskets as the miners see them: dense `u32` ids for item values
//! (integers or strings) and baskets as lists of ids.

use std::collections::HashMap;
use std::hash::Hash;

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

    /// The values at `ids`, in that order.
    pub fn select(&self, ids: &[u32]) -> Values {
        match self {
            Values::Int(v) => Values::Int(ids.iter().map(|&i| v[i as usize]).collect()),
            Values::Str(v) => Values::Str(ids.iter().map(|&i| v[i as usize].clone()).collect()),
        }
    }
}

/// Assigns dense ids to values of one type, first come first served.
#[derive(Debug, Clone)]
pub struct Interner<K> {
    map: Map<K>,
    values: Vec<K>,
}

impl<K: Hash + Eq + Clone> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            map: Map::default(),
            values: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self) -> &[K] {
        &self.values
    }

    /// The id of `value`, assigning the next one if it is new.
    pub fn intern<Q>(&mut self, value: &Q) -> u32
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned<Owned = K>,
    {
        if let Some(&id) = self.map.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        let owned = value.to_owned();
        self.map.insert(owned.clone(), id);
        self.values.push(owned);
        id
    }
}

impl<K: Ord + Clone> Interner<K> {
    /// Ids renumbered so that ascending ids mean ascending values: returns
    /// `new_id[old_id]` and the values in the new order.
    pub fn sorted(self) -> (Vec<u32>, Vec<K>) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        let mut new_id = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old as usize] = new as u32;
        }
        let mut values = self.values;
        let sorted = order.iter().map(|&o| values[o as usize].clone()).collect();
        values.clear();
        (new_id, sorted)
    }
}

/// Items of either type.
#[derive(Debug, Clone)]
pub enum Items {
    Int(Interner<i64>),
    Str(Interner<String>),
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
    pub fn sorted(self) -> (Vec<u32>, Values) {
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

/// Baskets ready to mine: ids in value order, each basket's ids distinct and
/// ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub values: Values,
    pub baskets: Vec<Vec<u32>>,
    /// Baskets left out for having more than `max_basket_items` items.
    pub skipped_long: u64,
}

/// Renumber `items` in value order, deduplicate each basket and leave out
/// baskets with more than `max_basket_items` distinct items (0: no limit).
pub fn prepare(items: Items, mut baskets: Vec<Vec<u32>>, max_basket_items: usize) -> Prepared {
    let (new_id, values) = items.sorted();
    let mut skipped_long = 0;
    baskets.retain_mut(|b| {
        for id in b.iter_mut() {
            *id = new_id[*id as usize];
        }
        b.sort_unstable();
        b.dedup();
        let keep = max_basket_items == 0 || b.len() <= max_basket_items;
        if !keep {
            skipped_long += 1;
        }
        keep
    });
    Prepared {
        values,
        baskets,
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
    fn prepare_sorts_dedups_and_skips() {
        let mut items = Interner::<String>::default();
        let b = items.intern("b");
        let a = items.intern("a");
        let c = items.intern("c");
        assert_eq!(items.intern("b"), b);
        let baskets = vec![vec![b, a, b], vec![c, a, b], vec![c]];
        let p = prepare(Items::Str(items), baskets, 2);
        assert_eq!(
            p.values,
            Values::Str(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(p.baskets, vec![vec![0, 1], vec![2]]);
        assert_eq!(p.skipped_long, 1);
    }
}
