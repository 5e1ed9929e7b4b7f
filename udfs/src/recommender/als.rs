//! Implicit-feedback alternating least squares (`algorithm=als`), the
//! model of Hu, Koren & Volinsky (2008), "Collaborative Filtering for
//! Implicit Feedback Datasets".
//!
//! Each customer u and item i get a vector of `factors` numbers, x_u and
//! y_i. A customer's summed weight w_ui for an item gives a preference p_ui
//! = 1 (0 for items they did not buy) and a confidence c_ui = 1 + alpha·w_ui
//! (1 for items they did not buy). The fit minimises
//! Σ_ui c_ui (p_ui − x_u·y_i)² + λ (Σ‖x_u‖² + Σ‖y_i‖²), alternating: all
//! customer vectors with the item vectors fixed, then all item vectors with
//! the customer vectors fixed, `iterations` times. With Y fixed, x_u solves
//! (YᵀY + λI + Σ_i (c_ui − 1) y_i y_iᵀ) x_u = Σ_i c_ui y_i (sums over the
//! customer's items only), and the same for items.
//!
//! How: as in the paper's fast form and the `implicit` library's CPU solver,
//! YᵀY is computed once per half-sweep and each vector's system is solved
//! by `cg_steps` (3) conjugate-gradient steps warm-started from its previous
//! value, so a half-sweep costs O(nnz·f + rows·f²·steps). Starting vectors
//! are uniform in [0, 0.01) from a hash of (seed, side, row), so the fit is
//! the same for a seed on any partitioning and any number of threads (every
//! row's solve is independent; Gram sums are reduced in fixed chunk order).
//!
//! Note on `implicit`: its `AlternatingLeastSquares` takes the confidence
//! as alpha·w (not 1 + alpha·w). The comparison in the tests gives it
//! (1 + alpha·w)/alpha as the weights so both solve the same problem; factor
//! models are not bit-comparable (other random starts, float32 there), so
//! they are compared by ranking quality, not by value.
//!
//! Scoring: a customer's vector is recomputed from their history by an exact
//! solve (faer's Cholesky) against the fitted item vectors, so the model
//! stores only the items' side (small at millions of customers), and a
//! customer given as an item list is scored the same way.
//!
//! Crates: `faer` does the dense work — the Gram matrices, the G·d products
//! of a CG step for a block of 1,024 rows at once (one matrix product, with
//! faer's run-time choice of vector instructions; our release build targets
//! baseline x86-64), and the scoring solves (Cholesky). The sparse sums over
//! each row's items are short loops here, compiled for AVX2 / AVX-512 too
//! ([`crate::simd`]). At 1M customers the fit takes 29.9 s and implicit's 38.2 s
//! (benches/RESULTS.md).

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

use super::interactions::Csr;
use crate::pool;

/// What `algorithm=als` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    pub factors: usize,
    pub regularization: f64,
    pub alpha: f64,
    pub iterations: usize,
    pub seed: u64,
    pub cg_steps: usize,
    /// The confidence of a bought item: 1 + alpha·w (the paper's, false) or
    /// alpha·w (the `implicit` library's, true).
    #[serde(default)]
    pub linear: bool,
}

impl AlsParams {
    /// The confidence c_ui of an item bought with weight `w`.
    pub fn confidence(&self, w: f64) -> f64 {
        if self.linear {
            self.alpha * w
        } else {
            1.0 + self.alpha * w
        }
    }
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            regularization: 0.01,
            alpha: 1.0,
            iterations: 15,
            seed: 1,
            cg_steps: 3,
            linear: false,
        }
    }
}

/// Rows per chunk of the Gram sums and the sweeps (fixed, so results do not
/// depend on the pool's size).
const CHUNK: usize = 1024;

/// The fitted item vectors (items × factors, row-major). The customers'
/// vectors are not kept: scoring solves them from the history.
pub fn fit(by_customer: &Csr, by_item: &Csr, p: &AlsParams) -> Vec<f32> {
    let f = p.factors;
    let mut customers = start(by_customer.rows(), f, p.seed, 0);
    let mut items = start(by_item.rows(), f, p.seed, 1);
    for _ in 0..p.iterations {
        sweep(by_customer, &mut customers, &items, p);
        sweep(by_item, &mut items, &customers, p);
    }
    items
}

/// Bytes `fit` holds besides the matrices: both sides' vectors, and per
/// thread a block's four f64 working vectors (x, r, d and A·d).
pub fn work_bytes(customers: usize, items: usize, factors: usize) -> usize {
    (customers + items) * factors * 4 + pool::threads() * 4 * CHUNK * factors * 8
}

/// Uniform [0, 0.01) starting vectors from (seed, side, index).
fn start(rows: usize, f: usize, seed: u64, side: u64) -> Vec<f32> {
    (0..rows * f)
        .map(|at| {
            let h = splitmix(seed ^ splitmix(side.wrapping_add(1) ^ splitmix(at as u64)));
            ((h >> 11) as f64 / (1u64 << 53) as f64 * 0.01) as f32
        })
        .collect()
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// YᵀY + λI (λ = `regularization`) of the row-major `rows × f` matrix `y`,
/// in f64, summed over fixed chunks in order.
pub fn gram(y: &[f32], f: usize, regularization: f64) -> Vec<f64> {
    let rows = y.len() / f.max(1);
    let parts = pool::map(rows.div_ceil(CHUNK), |c| {
        let lo = c * CHUNK;
        let hi = (lo + CHUNK).min(rows);
        let block = Mat::<f64>::from_fn(hi - lo, f, |r, j| y[(lo + r) * f + j] as f64);
        let mut g = Mat::<f64>::zeros(f, f);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            block.transpose(),
            block.as_ref(),
            1.0,
            faer::Par::Seq,
        );
        g
    });
    let mut out = vec![0.0; f * f];
    for g in parts {
        for r in 0..f {
            for c in 0..f {
                out[r * f + c] += g[(r, c)];
            }
        }
    }
    for d in 0..f {
        out[d * f + d] += regularization;
    }
    out
}

/// One half-sweep: every row of `x` (the side `m` has rows for) re-solved
/// against the fixed `y`, in blocks of at most [`CHUNK`] rows and at least 64
/// blocks when there are enough rows (the item side has few rows with many
/// entries each: one block would leave all but one thread idle). Block
/// bounds depend only on the row count, so results do not depend on the
/// pool's size.
fn sweep(m: &Csr, x: &mut [f32], y: &[f32], p: &AlsParams) {
    let f = p.factors;
    let g = gram(y, f, p.regularization);
    let rows = m.rows();
    let block = rows.div_ceil(64).clamp(1, CHUNK);
    pool::for_each_chunk_mut(x, block * f, |start, part| {
        solve_block(part, start / f, m, y, &g, p);
    });
}

crate::wide_kernel! {
    /// `p.cg_steps` conjugate-gradient steps on (G + Σ (c − 1) y yᵀ) x = Σ c y
    /// for each row of `block` (rows `first..` of `m`), from its current
    /// value; `g` already holds λI. The G·d products of all rows of the
    /// block are one matrix product (faer); the sparse sums are per row,
    /// compiled for the widest vector instructions the CPU has
    /// ([`crate::simd`]; the same bits on every path).
    fn solve_block(block: &mut [f32], first: usize, m: &Csr, y: &[f32], g: &[f64], p: &AlsParams)
        = solve_block_avx512, solve_block_avx2, solve_block_body;
}

#[inline(always)]
fn solve_block_body(block: &mut [f32], first: usize, m: &Csr, y: &[f32], g: &[f64], p: &AlsParams) {
    let f = p.factors;
    let rows = block.len() / f;
    let mut x: Vec<f64> = block.iter().map(|&v| v as f64).collect();
    let mut r = vec![0.0; rows * f];
    let mut ad = vec![0.0; rows * f];
    let gm = faer::MatRef::from_row_major_slice(g, f, f);
    // out = v·G (G is symmetric, so each row is G times the row).
    let times_g = |v: &[f64], out: &mut [f64]| {
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(out, rows, f),
            faer::Accum::Replace,
            faer::MatRef::from_row_major_slice(v, rows, f),
            gm,
            1.0,
            faer::Par::Seq,
        );
    };
    // r = b − A x
    times_g(&x, &mut r);
    for (u, ru) in r.chunks_exact_mut(f).enumerate() {
        let xu = &x[u * f..(u + 1) * f];
        for v in ru.iter_mut() {
            *v = -*v;
        }
        for (j, w) in m.row(first + u) {
            let yj = &y[j as usize * f..(j as usize + 1) * f];
            let c = p.confidence(w);
            axpy32(c - (c - 1.0) * dot(yj, xu), yj, ru);
        }
    }
    let mut d = r.clone();
    let mut rs: Vec<f64> = r.chunks_exact(f).map(|ru| dot(ru, ru)).collect();
    for _ in 0..p.cg_steps {
        if rs.iter().all(|&v| v < 1e-20) {
            break;
        }
        times_g(&d, &mut ad);
        for u in 0..rows {
            if rs[u] < 1e-20 {
                continue;
            }
            let du = &d[u * f..(u + 1) * f];
            let adu = &mut ad[u * f..(u + 1) * f];
            for (j, w) in m.row(first + u) {
                let yj = &y[j as usize * f..(j as usize + 1) * f];
                axpy32((p.confidence(w) - 1.0) * dot(yj, du), yj, adu);
            }
            let step = rs[u] / dot(du, adu);
            let (xu, ru) = (&mut x[u * f..(u + 1) * f], &mut r[u * f..(u + 1) * f]);
            for k in 0..f {
                xu[k] += step * du[k];
                ru[k] -= step * adu[k];
            }
            let next = dot(ru, ru);
            let du = &mut d[u * f..(u + 1) * f];
            for k in 0..f {
                du[k] = ru[k] + next / rs[u] * du[k];
            }
            rs[u] = next;
        }
    }
    for (v, &xv) in block.iter_mut().zip(&x) {
        *v = xv as f32;
    }
}

/// A customer's vector from their history (item numbers with summed
/// weights), solved exactly: (YᵀY + λI + Σ (c − 1) y yᵀ) x = Σ c y.
/// `g` is YᵀY + λI.
pub fn customer_vector(history: &[(u32, f64)], y: &[f32], g: &[f64], p: &AlsParams) -> Vec<f64> {
    let f = p.factors;
    let mut a = g.to_vec();
    let mut b = Mat::<f64>::zeros(f, 1);
    for &(j, w) in history {
        let yj = &y[j as usize * f..(j as usize + 1) * f];
        let c = p.confidence(w);
        for r in 0..f {
            let yr = yj[r] as f64;
            b[(r, 0)] += c * yr;
            let t = (c - 1.0) * yr;
            for (x, &ys) in a[r * f..(r + 1) * f].iter_mut().zip(yj) {
                *x += t * ys as f64;
            }
        }
    }
    let a = Mat::<f64>::from_fn(f, f, |r, c| a[r * f + c]);
    match a.llt(Side::Lower) {
        Ok(llt) => {
            let x = llt.solve(b.as_ref());
            (0..f).map(|r| x[(r, 0)]).collect()
        }
        // Only with linear confidence below 1 (alpha·w < 1) can the system
        // lose positive definiteness: no preference can be read, no vector.
        Err(_) => vec![0.0; f],
    }
}

/// Scores of every item for the customer vector `x`: y_j · x.
pub fn scores(x: &[f64], y: &[f32], f: usize) -> Vec<f64> {
    y.chunks_exact(f.max(1)).map(|yj| dot(yj, x)).collect()
}

/// The dot product of `a` (f64 or f32, read as f64) and `b`, with eight
/// independent sums, so the compiler can use vector registers (a single
/// running sum is one long chain of dependent additions).
#[inline(always)]
fn dot<A: Copy + Into<f64>>(a: &[A], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k].into() * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(&x, y)| x.into() * y).sum();
    acc.iter().sum::<f64>() + tail
}

#[inline(always)]
fn axpy32(t: f64, a: &[f32], out: &mut [f64]) {
    for (o, &a) in out.iter_mut().zip(a) {
        *o += t * a as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector-instruction path gives the same bits.
    #[test]
    fn every_simd_path_solves_alike() {
        let f = 11;
        let rows = 40;
        let items = 9;
        let m = Csr::from_rows((0..rows).map(|r| {
            (0..items)
                .filter(move |j| (r * 7 + j * 3) % 4 == 0)
                .map(move |j| (j as u32, 1.0 + ((r + j) % 3) as f64))
        }));
        let p = AlsParams {
            factors: f,
            ..AlsParams::default()
        };
        let y = start(items, f, 3, 1);
        let g = gram(&y, f, p.regularization);
        let mut results = Vec::new();
        crate::simd::each_path(|_| {
            let mut block = start(rows, f, 3, 0);
            solve_block(&mut block, 0, &m, &y, &g, &p);
            results.push(block);
        });
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
    }

    /// A small matrix whose exact ALS half-step is known by a dense solve.
    #[test]
    fn many_cg_steps_reach_the_exact_solve() {
        let f = 3;
        let y: Vec<f32> = vec![0.5, 0.1, 0.2, 0.3, 0.7, 0.1, 0.2, 0.2, 0.9, 0.4, 0.4, 0.4];
        let g = gram(&y, f, 0.1);
        let history = [(0u32, 2.0), (2, 1.0)];
        let p = AlsParams {
            factors: f,
            regularization: 0.1,
            alpha: 0.5,
            cg_steps: 10,
            ..AlsParams::default()
        };
        let exact = customer_vector(&history, &y, &g, &p);
        // Two rows: an empty one and the history above.
        let m = Csr {
            indptr: vec![0, 0, 2],
            indices: vec![0, 2],
            values: vec![2.0, 1.0],
        };
        let mut block = vec![0.0f32; 2 * f];
        solve_block(&mut block, 0, &m, &y, &g, &p);
        let row = &block[f..];
        for (a, b) in row.iter().zip(&exact) {
            assert!((*a as f64 - b).abs() < 1e-5, "{row:?} vs {exact:?}");
        }
        // The solve satisfies the normal equations.
        let mut a = g.clone();
        for &(j, w) in &history {
            for r in 0..f {
                for s in 0..f {
                    a[r * f + s] +=
                        0.5 * w * y[j as usize * f + r] as f64 * y[j as usize * f + s] as f64;
                }
            }
        }
        for r in 0..f {
            let lhs: f64 = (0..f).map(|s| a[r * f + s] * exact[s]).sum();
            let rhs: f64 = history
                .iter()
                .map(|&(j, w)| (1.0 + 0.5 * w) * y[j as usize * f + r] as f64)
                .sum();
            assert!((lhs - rhs).abs() < 1e-12);
        }
    }
}
