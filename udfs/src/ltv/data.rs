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
    /// foldhash, not SipHash: a fit of 200,000 distinct rows hashed each
    /// row at about 5 % of its time with SipHash.
    index: HashMap<(u64, u64, u64), usize, foldhash::fast::FixedState>,
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

/// Σ over rows of `f(row)` (a log-likelihood term and its gradient), on the
/// kernels' pool ([`crate::pool`]) for large data. The rows are cut into a fixed number of chunks
/// whatever the number of cores and the chunk sums are added in order, so the
/// result is the same to the last bit on any machine.
pub fn par_sum<const K: usize>(
    rows: &[RfmRow],
    f: impl Fn(&RfmRow) -> (f64, [f64; K]) + Sync,
) -> (f64, [f64; K]) {
    par_sum_with(rows, || (), |_, row| f(row))
}

/// [`par_sum`] where each chunk has a scratch state `S` (made by `init`),
/// e.g. the terms of the last x seen.
pub fn par_sum_with<const K: usize, S>(
    rows: &[RfmRow],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &RfmRow) -> (f64, [f64; K]) + Sync,
) -> (f64, [f64; K]) {
    const CHUNKS: usize = 16;
    let sum = |chunk: &[RfmRow]| {
        let mut state = init();
        let mut ll = 0.0;
        let mut g = [0.0; K];
        for row in chunk {
            let (l, gi) = f(&mut state, row);
            ll += row.weight * l;
            for i in 0..K {
                g[i] += row.weight * gi[i];
            }
        }
        (ll, g)
    };
    let size = rows.len().div_ceil(CHUNKS).max(1);
    let chunks: Vec<&[RfmRow]> = rows.chunks(size).collect();
    let parts: Vec<(f64, [f64; K])> = if rows.len() < 20_000 || crate::pool::threads() < 2 {
        chunks.iter().map(|c| sum(c)).collect()
    } else {
        crate::pool::map(chunks.len(), |c| sum(chunks[c]))
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

crate::wide_kernel! {
    /// Whether every row of the columns passes [`rfm_valid`] (one
    /// vectorised pass; [`check_rfm`] then words the first failure).
    pub fn rfm_all_valid(x: &[f64], tx: &[f64], t: &[f64]) -> bool
        = rfm_all_valid_avx512, rfm_all_valid_avx2, rfm_all_valid_body;
}

#[inline(always)]
fn rfm_all_valid_body(x: &[f64], tx: &[f64], t: &[f64]) -> bool {
    (x.iter().zip(tx).zip(t)).fold(true, |ok, ((&x, &tx), &t)| ok & rfm_valid(x, tx, t))
}

/// Whether [`check_rfm`] accepts (x, t_x, T); for tight loops, which call
/// `check_rfm` only to word the error.
#[inline(always)]
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
        & ((x == 0.0) | (tx > 0.0))
}

/// Check one summary row; the message names the offending argument.
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
    if x > 0.0 && tx == 0.0 {
        return Err(format!(
            "recency 0 with frequency {x}: repeat purchases come after the first, so recency must be > 0"
        ));
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
        // The batch check, on every vector path's loop and remainder: all
        // valid rows pass; one invalid row anywhere fails the batch.
        let [x0, tx0, t0] = tests::scoring_columns();
        let keep: Vec<usize> = (0..x0.len())
            .filter(|&i| rfm_valid(x0[i], tx0[i], t0[i]))
            .collect();
        assert_eq!(x0.len() - keep.len(), 1, "only x = 2.5 is not a frequency");
        let pick = |c: &[f64]| keep.iter().map(|&i| c[i]).collect::<Vec<f64>>();
        let (mut x, mut tx, t) = (pick(&x0), pick(&tx0), pick(&t0));
        assert!(rfm_all_valid(&x, &tx, &t));
        let n = x.len();
        crate::simd::each_path(|path| {
            for at in [0, 1, 7, 8, 9, n / 2, n - 2, n - 1] {
                let saved = tx[at];
                tx[at] = t[at] + 1.0;
                assert!(!rfm_all_valid(&x, &tx, &t), "row {at}, {path:?}");
                tx[at] = saved;
            }
            assert!(rfm_all_valid(&x, &tx, &t), "{path:?}");
            assert!(rfm_all_valid(&x[..0], &tx[..0], &t[..0]), "{path:?}");
            let saved = x[n - 1];
            x[n - 1] = f64::NAN;
            assert!(!rfm_all_valid(&x, &tx, &t), "{path:?}");
            x[n - 1] = saved;
        });
    }

    /// Columns (x, t_x, T) for checking batch scorers against row-wise
    /// ones: the CDNOW customers (in the file's order, duplicates kept,
    /// 2,357 rows: the vector loops and their remainders both run), then
    /// edge rows (no repeat purchase, t_x = T, heavy buyers).
    pub(crate) fn scoring_columns() -> [Vec<f64>; 3] {
        let mut cols = [Vec::new(), Vec::new(), Vec::new()];
        let edges = [
            [0.0, 0.0, 38.86],
            [1.0, 38.86, 38.86],
            [5000.0, 38.0, 38.86],
            [1e6, 38.5, 38.86],
            [4095.0, 10.0, 40.0],
            [4096.0, 10.0, 40.0],
            [2.5, 3.0, 40.0],
        ];
        for row in cdnow_rows().chain(edges) {
            for (c, v) in cols.iter_mut().zip(row) {
                c.push(v);
            }
        }
        cols
    }

    /// A batch scorer over [`scoring_columns`], on every vector path this
    /// CPU has ([`crate::simd::each_path`]), gives every row the same bits
    /// as the row-wise `row`.
    pub(crate) fn assert_batch_matches_rows(
        many: impl Fn(&[f64], &[f64], &[f64], &mut Vec<f64>),
        row: impl Fn(f64, f64, f64) -> f64,
    ) {
        let [x, tx, t] = scoring_columns();
        crate::simd::each_path(|path| {
            let mut out = Vec::new();
            many(&x, &tx, &t, &mut out);
            assert_eq!(out.len(), x.len());
            for i in 0..x.len() {
                let want = row(x[i], tx[i], t[i]).to_bits();
                assert_eq!(out[i].to_bits(), want, "row {i}, {path:?}");
            }
        });
    }

    /// (x, t_x, T) of the 2,357 CDNOW customers, in weeks.
    fn cdnow_rows() -> impl Iterator<Item = [f64; 3]> {
        let text = include_str!("../../../data/cdnow/cdnow_customers_summary.csv");
        text.lines().skip(1).map(|line| {
            let f: Vec<f64> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
            [f[1], f[2], f[3]]
        })
    }

    /// The CDNOW sample's published calibration summary (weeks).
    pub(crate) fn cdnow() -> RfmData {
        let mut d = RfmData::new();
        for [x, tx, t] in cdnow_rows() {
            d.add(x, tx, t, 1.0);
        }
        d
    }
}
