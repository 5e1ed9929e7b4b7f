//! Scoring many rows of a tree ensemble at once: by leaf mask tables
//! ([`super::masks`]) where the trees fit them, else by walking blocks of
//! rows through each tree ([`super::ensemble::Compiled`]); on every core
//! when the work is large. Both give the tree walk's bits. Used by
//! `churn_score` and by `churn_train` for its training metrics.

use super::ensemble::{Compiled, Ensemble};
use super::masks::MaskScorer;

/// An ensemble laid out for scoring many rows.
pub enum TreeBatch {
    /// Leaf mask tables (trees of at most 256 leaves).
    Masks(MaskScorer),
    /// Deeper trees laid out for walking blocks of rows.
    Walk(Compiled),
}

impl TreeBatch {
    /// `None` for an ensemble neither layout takes (the caller scores row
    /// by row).
    pub fn new(e: &Ensemble, features: usize) -> Option<TreeBatch> {
        MaskScorer::new(e, features)
            .map(TreeBatch::Masks)
            .or_else(|| Compiled::new(e, features).map(TreeBatch::Walk))
    }

    /// Raw outputs of the rows of encoded `columns` (one per feature) into
    /// `out`; `e` is the ensemble this was built from.
    pub fn raw<C: AsRef<[f64]> + Sync>(&self, e: &Ensemble, columns: &[C], out: &mut [f64]) {
        let d = columns.len();
        match self {
            TreeBatch::Masks(masks) => in_parallel(out, e.trees.len(), |start, o| {
                let cols: Vec<&[f64]> = columns
                    .iter()
                    .map(|col| &col.as_ref()[start..start + o.len()])
                    .collect();
                masks.raw(&cols, o);
            }),
            TreeBatch::Walk(compiled) => in_parallel(out, e.trees.len(), |start, o| {
                // Tree inputs of these rows, row-major.
                let mut inputs = vec![0.0; o.len() * d];
                let mut row = vec![0.0; d];
                for (i, t) in inputs.chunks_mut(d.max(1)).enumerate() {
                    for (v, col) in row.iter_mut().zip(columns) {
                        *v = col.as_ref()[start + i];
                    }
                    e.tree_input(&row, t);
                }
                compiled.raw(&inputs, d, o);
            }),
        }
    }
}

/// Runs `score(start, out_part)` over consecutive parts of `out`: one part
/// for small inputs, one per thread of the kernels' pool ([`crate::pool`])
/// when `out.len()` rows through `trees` trees is large work.
fn in_parallel(out: &mut [f64], trees: usize, score: impl Fn(usize, &mut [f64]) + Sync + Send) {
    let threads = if out.len() * trees >= 500_000 {
        crate::pool::threads()
    } else {
        1
    };
    if threads == 1 {
        score(0, out);
        return;
    }
    let chunk = out.len().div_ceil(threads).max(1);
    crate::pool::for_each_chunk_mut(out, chunk, score);
}
