//! Customer summaries as the fitters take them: identical rows collapsed into
//! weights, so a million customers with a few thousand distinct (x, t_x, T)
//! cost a few thousand likelihood terms.

use std::collections::HashMap;

/// One distinct (frequency, recency, T) and how many customers share it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmRow {
    pub x: f64,
    pub tx: f64,
    pub t: f64,
    pub weight: f64,
}

/// Weighted, deduplicated (x, t_x, T) rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RfmData {
    rows: Vec<RfmRow>,
    index: HashMap<(u64, u64, u64), usize>,
}

impl RfmData {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `weight` customers with (x, t_x, T). Values are assumed checked.
    pub fn add(&mut self, x: f64, tx: f64, t: f64, weight: f64) {
        let key = (x.to_bits(), tx.to_bits(), t.to_bits());
        match self.index.get(&key) {
            Some(&i) => self.rows[i].weight += weight,
            None => {
                self.index.insert(key, self.rows.len());
                self.rows.push(RfmRow { x, tx, t, weight });
            }
        }
    }

    pub fn merge(&mut self, other: &RfmData) {
        for r in &other.rows {
            self.add(r.x, r.tx, r.t, r.weight);
        }
    }

    /// Order the rows by (x, t_x, T). Fits sort before optimising so their
    /// sums — and so the estimates, to the last bit — do not depend on the
    /// order in which partitions merged.
    pub fn sort(&mut self) {
        self.rows.sort_by(|p, q| {
            (p.x, p.tx, p.t)
                .partial_cmp(&(q.x, q.tx, q.t))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        self.index.clear();
        for (i, r) in self.rows.iter().enumerate() {
            self.index
                .insert((r.x.to_bits(), r.tx.to_bits(), r.t.to_bits()), i);
        }
    }

    pub fn rows(&self) -> &[RfmRow] {
        &self.rows
    }

    /// Number of customers (sum of weights).
    pub fn customers(&self) -> f64 {
        self.rows.iter().map(|r| r.weight).sum()
    }

    /// A starting value for the purchase models' rate scale α: observed time per
    /// repeat purchase (Σ T / Σ x), 1 when nobody repeated, kept in [1e-6, 1e9].
    pub fn time_per_purchase(&self) -> f64 {
        let (sx, st) = self.rows.iter().fold((0.0, 0.0), |(sx, st), r| {
            (sx + r.weight * r.x, st + r.weight * r.t)
        });
        if sx > 0.0 { st / sx } else { 1.0 }.clamp(1e-6, 1e9)
    }

    /// Heap bytes held, for DataFusion's memory accounting.
    pub fn heap_size(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<RfmRow>()
            + self.index.capacity() * (std::mem::size_of::<((u64, u64, u64), usize)>() + 8)
    }
}

/// Σ over rows of `f(row)` (a log-likelihood term and its gradient), on up to
/// all cores for large data. The rows are cut into a fixed number of chunks
/// whatever the number of cores and the chunk sums are added in order, so the
/// result is the same to the last bit on any machine.
pub fn par_sum<const K: usize>(
    rows: &[RfmRow],
    f: impl Fn(&RfmRow) -> (f64, [f64; K]) + Sync,
) -> (f64, [f64; K]) {
    const CHUNKS: usize = 16;
    let sum = |chunk: &[RfmRow]| {
        let mut ll = 0.0;
        let mut g = [0.0; K];
        for row in chunk {
            let (l, gi) = f(row);
            ll += row.weight * l;
            for i in 0..K {
                g[i] += row.weight * gi[i];
            }
        }
        (ll, g)
    };
    let size = rows.len().div_ceil(CHUNKS).max(1);
    let chunks: Vec<&[RfmRow]> = rows.chunks(size).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts: Vec<(f64, [f64; K])> = if rows.len() < 20_000 || threads < 2 {
        chunks.iter().map(|c| sum(c)).collect()
    } else {
        let per_thread = chunks.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .chunks(per_thread)
                .map(|group| scope.spawn(|| group.iter().map(|c| sum(c)).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                // A worker's panic is re-raised here: a missing chunk would
                // silently give a wrong likelihood.
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let mut ll = 0.0;
    let mut g = [0.0; K];
    for (l, gi) in parts {
        ll += l;
        for i in 0..K {
            g[i] += gi[i];
        }
    }
    (ll, g)
}

/// Check one summary row; the message names the offending argument.
/// Whether [`check_rfm`] accepts (x, t_x, T); for tight loops, which call
/// `check_rfm` only to word the error.
#[inline]
pub fn rfm_valid(x: f64, tx: f64, t: f64) -> bool {
    // Branch-free (`&`, not `&&`), and whole numbers found without `trunc`
    // (a library call on baseline x86-64), so a loop over a column
    // vectorises: adding 2^52 rounds a smaller x >= 0 to a whole number.
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let whole = (x >= TWO_52) | ((x + TWO_52) - TWO_52 == x);
    x.is_finite()
        & (x >= 0.0)
        & whole
        & tx.is_finite()
        & (tx >= 0.0)
        & t.is_finite()
        & (tx <= t)
        & ((x != 0.0) | (tx == 0.0))
}

pub fn check_rfm(x: f64, tx: f64, t: f64) -> Result<(), String> {
    if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
        return Err(format!("frequency {x} is not a whole number >= 0"));
    }
    if !(tx.is_finite() && tx >= 0.0) {
        return Err(format!("recency {tx} is not a finite number >= 0"));
    }
    if !(t.is_finite() && t >= 0.0) {
        return Err(format!("t {t} is not a finite number >= 0"));
    }
    if tx > t {
        return Err(format!("recency {tx} exceeds t {t}"));
    }
    if x == 0.0 && tx != 0.0 {
        return Err(format!("recency {tx} must be 0 when frequency is 0"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn rfm_valid_agrees_with_check_rfm() {
        let values = [
            0.0,
            1.0,
            2.5,
            3.0,
            38.86,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            1e300,
            // Around 2^52, where whole numbers are found by rounding.
            4_503_599_627_370_495.5,
            4_503_599_627_370_497.0,
            0.5,
            1e-300,
            -0.0,
        ];
        for &x in &values {
            for &tx in &values {
                for &t in &values {
                    assert_eq!(
                        rfm_valid(x, tx, t),
                        check_rfm(x, tx, t).is_ok(),
                        "{x} {tx} {t}"
                    );
                }
            }
        }
    }

    /// The CDNOW sample's published calibration summary (weeks).
    pub(crate) fn cdnow() -> RfmData {
        let text = include_str!("../../../data/cdnow/cdnow_customers_summary.csv");
        let mut d = RfmData::new();
        for line in text.lines().skip(1) {
            let f: Vec<f64> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
            d.add(f[1], f[2], f[3], 1.0);
        }
        d
    }
}
