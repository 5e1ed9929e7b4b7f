//! Lifetime value: BG/NBD purchase model, Gamma-Gamma spend model, and the
//! numerical pieces they share. Algorithm code only; the SQL wrappers live
//! beside it once registered.

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

pub mod bgnbd;
pub mod data;
pub mod gamma_gamma;
pub mod optimize;
pub mod special;
