//! Customer segmentation.
//!
//! - [`rfm_sql`]: `rfm(input, as_of)`, recency / frequency / monetary scores
//!   and the 11 named segments.
//! - [`kmeans_sql`]: `kmeans_fit`, `kmeans_assign`, `kmeans_distance`,
//!   `kmeans_scan`; the algorithm, free of DataFusion, in [`kmeans`].
pub mod kmeans;
pub mod kmeans_sql;
pub mod rfm_sql;
