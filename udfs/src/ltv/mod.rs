//! Lifetime value: BG/NBD purchase model, Gamma-Gamma spend model, and the
//! numerical pieces they share. Algorithm code in `bgnbd`, `gamma_gamma`,
//! `special`, `optimize`, `data`; the SQL wrappers in `fit_sql` (aggregates)
//! and `score_sql` (scalars).

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod bgnbd;
pub mod data;
pub mod fit_sql;
pub mod gamma_gamma;
pub mod optimize;
pub mod score_sql;
pub mod special;
