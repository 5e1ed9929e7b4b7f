//! The customer × item matrix a recommender is fitted on, in compressed
//! sparse rows (CSR), built from (customer, item, weight) rows.
//!
//! Customers and items are text (ids of any plain type, compared as text)
//! and are numbered in sorted order, so the matrix, and every model fitted
//! on it, is the same whatever the order or partitioning of the rows.
//! Rows of one (customer, item) are summed, in a canonical order (by weight
//! bits), so the sum has the same bits on any partitioning too.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Compressed sparse rows: row `r`'s entries are
/// `indices[indptr[r]..indptr[r + 1]]` (ascending) with `values` alike.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Csr {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
}

impl Csr {
    /// A matrix from its rows, each as (column, value) pairs in column
    /// order.
    pub fn from_rows<R: IntoIterator<Item = (u32, f64)>>(rows: impl IntoIterator<Item = R>) -> Csr {
        let mut m = Csr {
            indptr: vec![0],
            ..Csr::default()
        };
        for row in rows {
            for (j, v) in row {
                m.indices.push(j);
                m.values.push(v);
            }
            m.indptr.push(m.indices.len());
        }
        m
    }

    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Row `r` as (column, value) pairs.
    pub fn row(&self, r: usize) -> impl Iterator<Item = (u32, f64)> + Clone + '_ {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        self.indices[a..b]
            .iter()
            .copied()
            .zip(self.values[a..b].iter().copied())
    }

    /// The transpose, for a matrix of `columns` columns (rows ascending in
    /// each of its rows).
    pub fn transpose(&self, columns: usize) -> Csr {
        let mut counts = vec![0usize; columns + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for c in 0..columns {
            counts[c + 1] += counts[c];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.indices.len()];
        let mut values = vec![0.0; self.values.len()];
        for r in 0..self.rows() {
            for (c, v) in self.row(r) {
                let at = next[c as usize];
                indices[at] = r as u32;
                values[at] = v;
                next[c as usize] += 1;
            }
        }
        Csr {
            indptr,
            indices,
            values,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.indptr.capacity() * 8 + self.indices.capacity() * 4 + self.values.capacity() * 8
    }
}

/// A row as (customer number, item number, weight).
pub type Numbered = (u32, u32, f64);

/// Rows read so far, with customers and items interned.
#[derive(Debug, Default)]
pub struct Collector {
    customer_ids: HashMap<String, u32>,
    item_ids: HashMap<String, u32>,
    customers: Vec<String>,
    items: Vec<String>,
    rows: Vec<Numbered>,
    text_bytes: usize,
}

impl Collector {
    fn intern(ids: &mut HashMap<String, u32>, names: &mut Vec<String>, key: &str) -> (u32, usize) {
        if let Some(&i) = ids.get(key) {
            return (i, 0);
        }
        let i = names.len() as u32;
        ids.insert(key.to_string(), i);
        names.push(key.to_string());
        (i, 2 * key.len())
    }

    /// Add one row (the weight already checked: finite and >= 0).
    pub fn add(&mut self, customer: &str, item: &str, weight: f64) {
        let (c, a) = Self::intern(&mut self.customer_ids, &mut self.customers, customer);
        let (i, b) = Self::intern(&mut self.item_ids, &mut self.items, item);
        self.text_bytes += a + b;
        self.rows.push((c, i, weight));
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Take the rows out, for a partial state: the distinct customers and
    /// items, and the rows as (customer number, item number, weight) into
    /// them. The collector is empty afterwards.
    pub fn take(&mut self) -> (Vec<String>, Vec<String>, Vec<Numbered>) {
        let taken = std::mem::take(self);
        (taken.customers, taken.items, taken.rows)
    }

    /// Add rows numbered into `customers` and `items` (a partial state).
    pub fn add_numbered<'a>(
        &mut self,
        customers: &[&'a str],
        items: &[&'a str],
        rows: impl Iterator<Item = Numbered>,
    ) {
        let mut text_bytes = 0;
        let mut numbers =
            |ids: &mut HashMap<String, u32>, names: &mut Vec<String>, keys: &[&str]| {
                keys.iter()
                    .map(|k| {
                        let (i, b) = Self::intern(ids, names, k);
                        text_bytes += b;
                        i
                    })
                    .collect::<Vec<u32>>()
            };
        let cmap = numbers(&mut self.customer_ids, &mut self.customers, customers);
        let imap = numbers(&mut self.item_ids, &mut self.items, items);
        self.text_bytes += text_bytes;
        for (c, i, w) in rows {
            if let (Some(&c), Some(&i)) = (cmap.get(c as usize), imap.get(i as usize)) {
                self.rows.push((c, i, w));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Bytes held (an estimate of the hash maps' and vectors' heap).
    pub fn bytes(&self) -> usize {
        let slot = std::mem::size_of::<(String, u32)>() + 1;
        self.rows.capacity() * std::mem::size_of::<Numbered>()
            + (self.customer_ids.capacity() + self.item_ids.capacity()) * slot
            + (self.customers.capacity() + self.items.capacity()) * std::mem::size_of::<String>()
            + self.text_bytes
    }

    /// The matrix: customers and items in sorted order, items kept by
    /// `filter` (by their number of customers), duplicate rows summed, zero-weight entries kept (a purchase of weight 0 is still a
    /// purchase for `exclude_seen`).
    pub fn build(mut self, filter: ItemFilter) -> Interactions {
        let order = |names: &[String]| {
            let mut idx: Vec<u32> = (0..names.len() as u32).collect();
            idx.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
            let mut rank = vec![0u32; names.len()];
            for (r, &i) in idx.iter().enumerate() {
                rank[i as usize] = r as u32;
            }
            (idx, rank)
        };
        let (citems, crank) = order(&self.customers);
        let (iitems, irank) = order(&self.items);
        for r in &mut self.rows {
            *r = (crank[r.0 as usize], irank[r.1 as usize], r.2);
        }
        self.rows
            .sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        self.rows.dedup_by(|next, kept| {
            if (next.0, next.1) == (kept.0, kept.1) {
                kept.2 += next.2;
                true
            } else {
                false
            }
        });
        let mut all_items: Vec<String> = iitems
            .iter()
            .map(|&i| std::mem::take(&mut self.items[i as usize]))
            .collect();
        let mut all_customers: Vec<String> = citems
            .iter()
            .map(|&i| std::mem::take(&mut self.customers[i as usize]))
            .collect();
        // Items kept: by customer count, then the most popular max_items.
        let mut item_customers = vec![0u64; all_items.len()];
        for r in &self.rows {
            item_customers[r.1 as usize] += 1;
        }
        let mut kept: Vec<u32> = (0..all_items.len() as u32)
            .filter(|&i| item_customers[i as usize] >= filter.min_item_customers)
            .collect();
        let rare = all_items.len() - kept.len();
        let mut over_max = 0;
        if let Some(max) = filter.max_items {
            if kept.len() > max {
                kept.sort_unstable_by(|&a, &b| {
                    item_customers[b as usize]
                        .cmp(&item_customers[a as usize])
                        .then(a.cmp(&b))
                });
                over_max = kept.len() - max;
                kept.truncate(max);
                kept.sort_unstable();
            }
        }
        let mut new_index = vec![u32::MAX; all_items.len()];
        for (n, &i) in kept.iter().enumerate() {
            new_index[i as usize] = n as u32;
        }
        let items: Vec<String> = kept
            .iter()
            .map(|&i| std::mem::take(&mut all_items[i as usize]))
            .collect();
        let mut matrix = Csr {
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        };
        let mut customers = Vec::new();
        let mut rows_dropped = 0u64;
        let mut at = 0;
        while at < self.rows.len() {
            let c = self.rows[at].0;
            let start = matrix.indices.len();
            while at < self.rows.len() && self.rows[at].0 == c {
                let (_, i, w) = self.rows[at];
                match new_index[i as usize] {
                    u32::MAX => rows_dropped += 1,
                    n => {
                        matrix.indices.push(n);
                        matrix.values.push(w);
                    }
                }
                at += 1;
            }
            if matrix.indices.len() > start {
                customers.push(std::mem::take(&mut all_customers[c as usize]));
                matrix.indptr.push(matrix.indices.len());
            }
        }
        let popularity = {
            let mut p = vec![0u64; items.len()];
            for &i in &matrix.indices {
                p[i as usize] += 1;
            }
            p
        };
        Interactions {
            customers,
            items,
            matrix,
            popularity,
            dropped_items: (rare + over_max) as u64,
            dropped_pairs: rows_dropped,
        }
    }
}

/// Which items a fit keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemFilter {
    /// Items bought by fewer customers are left out.
    pub min_item_customers: u64,
    /// Only the most popular this many items (by customers, ties by item).
    pub max_items: Option<usize>,
}

/// The fitted-on matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    /// Sorted; row r of `matrix` is `customers[r]`.
    pub customers: Vec<String>,
    /// Sorted; column j is `items[j]`.
    pub items: Vec<String>,
    pub matrix: Csr,
    /// Customers per item.
    pub popularity: Vec<u64>,
    /// Items left out by `min_item_customers` and `max_items`.
    pub dropped_items: u64,
    /// (customer, item) pairs of those items.
    pub dropped_pairs: u64,
}
