//! EASE (`algorithm=ease`), the closed-form item–item model of Steck (2019),
//! "Embarrassingly Shallow Autoencoders for Sparse Data".
//!
//! With X the customer × item matrix of summed weights, G = XᵀX + λI and
//! P = G⁻¹, the weights are B_ij = −P_ij / P_jj for i ≠ j and B_ii = 0 (the
//! minimiser of ‖X − XB‖² + λ‖B‖² with a zero diagonal). A customer's score
//! for item j is Σ_i x_ui B_ij, the same sum as `item_knn`'s, so the model
//! keeps B as item lists and scores through the same code.
//!
//! B is dense: the model keeps each item's `neighbours` weights largest in
//! absolute value (default 200; `neighbours=0` keeps them all), because a
//! model is a JSON value and 4,000 items × 4,000 weights would be hundreds
//! of megabytes of text.
//!
//! Memory: G, its inverse and the dense working copy are items² · 8 bytes
//! each; the fit reserves 3 · items² · 8 in DataFusion's pool and refuses
//! (naming `max_items`) when that does not fit.
//!
//! Crates: G is summed from the sparse rows here (one dense row per item,
//! rows split over the shared pool); the inverse is `faer`'s Cholesky.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

use super::interactions::Csr;
use crate::pool;

/// Bytes the fit needs for `items` items.
pub fn work_bytes(items: usize) -> usize {
    3 * items * items * 8
}

/// XᵀX + λI, dense and row-major, from X by item (`by_item`: item →
/// customers) and by customer (`by_customer`: customer → items).
pub fn gram(by_item: &Csr, by_customer: &Csr, lambda: f64) -> Vec<f64> {
    let n = by_item.rows();
    let mut g = vec![0.0; n * n];
    pool::for_each_chunk_mut(&mut g, 64 * n.max(1), |start, part| {
        for (k, row) in part.chunks_mut(n).enumerate() {
            let i = start / n + k;
            for (u, x_ui) in by_item.row(i) {
                for (j, x_uj) in by_customer.row(u as usize) {
                    row[j as usize] += x_ui * x_uj;
                }
            }
            row[i] += lambda;
        }
    });
    g
}

/// The weight matrix B (row i: item i's weights on the items j it
/// predicts), each row cut to its `keep` largest |B_ij| (0: all), items
/// ascending within a row. None when G is not positive definite (λ = 0 and
/// linearly dependent items).
pub fn weights(g: Vec<f64>, n: usize, keep: usize) -> Option<Csr> {
    let p = {
        let a = Mat::<f64>::from_fn(n, n, |r, c| g[r * n + c]);
        drop(g);
        a.llt(Side::Lower).ok()?.inverse()
    };
    let diag: Vec<f64> = (0..n).map(|j| p[(j, j)]).collect();
    let rows = pool::map(n.div_ceil(64), |c| {
        let mut out = Vec::new();
        for i in c * 64..((c + 1) * 64).min(n) {
            let mut row: Vec<(u32, f64)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (j as u32, -p[(i, j)] / diag[j]))
                .filter(|&(_, w)| w != 0.0)
                .collect();
            if keep > 0 && row.len() > keep {
                row.select_nth_unstable_by(keep - 1, |a, b| {
                    b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0))
                });
                row.truncate(keep);
                row.sort_unstable_by_key(|&(j, _)| j);
            }
            out.push(row);
        }
        out
    });
    Some(Csr::from_rows(rows.into_iter().flatten()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_solve_the_constrained_least_squares() {
        // 4 customers × 3 items.
        let x = [
            [1.0, 1.0, 0.0],
            [1.0, 0.0, 1.0],
            [0.0, 1.0, 1.0],
            [2.0, 1.0, 0.0],
        ];
        let by_customer = Csr::from_rows(x.iter().map(|row| {
            (0..3u32)
                .map(|j| (j, row[j as usize]))
                .filter(|&(_, v)| v != 0.0)
        }));
        let by_item = by_customer.transpose(3);
        let lambda = 0.5;
        let g = gram(&by_item, &by_customer, lambda);
        let b = weights(g.clone(), 3, 0).expect("positive definite");
        // Dense B with a zero diagonal.
        let mut dense = [[0.0; 3]; 3];
        for (i, row) in dense.iter_mut().enumerate() {
            for (j, w) in b.row(i) {
                row[j as usize] = w;
            }
        }
        // Stationarity of ‖X − XB‖² + λ‖B‖² in each off-diagonal B_ij, with
        // the diagonal held at 0: (G B)_ij = (XᵀX)_ij for i ≠ j (G includes
        // λI); Lagrange terms only touch the diagonal.
        for i in 0..3 {
            for j in 0..3 {
                if i == j {
                    continue;
                }
                let gb: f64 = (0..3).map(|m| g[i * 3 + m] * dense[m][j]).sum();
                let xtx = g[i * 3 + j];
                assert!((gb - xtx).abs() < 1e-12, "({i},{j}): {gb} vs {xtx}");
            }
        }
    }
}
