//! Customer segmentation.
//!
//! - [`rfm_sql`]: `rfm(input, as_of)`, recency / frequency / monetary scores
//!   and the 11 named segments.
pub mod rfm_sql;
