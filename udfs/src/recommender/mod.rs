//! Per-customer recommenders: "what will this customer buy next", from
//! their whole history (where `basket::recommend` answers "what goes with
//! this basket" from association rules).
//!
//! - [`interactions`]: the customer × item matrix, numbered in sorted order
//!   so a model does not depend on row order or partitioning;
//! - [`knn`]: item–item neighbours by cosine, TF-IDF or BM25 weighting, as
//!   the `implicit` library computes them;
//! - [`als`]: implicit-feedback matrix factorisation (Hu, Koren & Volinsky);
//! - [`ease`]: Steck's closed-form item–item model;
//! - [`content`]: item similarity from TF-IDF vectors of item texts
//!   (`content_fit`, in [`content_sql`]);
//! - [`blend`]: separately fitted models blended into one hybrid
//!   (`hybrid_fit`, in [`hybrid_sql`]), e.g. collaborative and content;
//! - [`model`]: the fitted model (algorithm, items, histories, popularity)
//!   and its scoring;
//! - [`metrics`]: precision, recall, NDCG, AP and hit at k;
//! - SQL: [`fit_sql`] (`recommender_fit`), [`recommend_sql`]
//!   (`recommend_for`, `similar_items`), [`recommendations_sql`]
//!   (`recommendations`, all customers at once), [`metrics_sql`]
//!   (`ranking_metrics`), [`eval_sql`] (`recommender_eval`).
//!
//! Algorithms here: `item_knn`, `als`, `ease`, a `hybrid` blend of them,
//! and the baselines `popular` and `repeat`. Dense linear algebra (Gram
//! matrices, Cholesky) comes from `faer`.

pub mod als;
pub mod blend;
pub mod content;
pub mod content_sql;
pub mod ease;
pub mod eval_sql;
pub mod fit_sql;
pub mod hybrid_sql;
pub mod interactions;
pub mod knn;
pub mod metrics;
pub mod metrics_sql;
pub mod model;
pub mod recommend_sql;
pub mod recommendations_sql;
pub mod skipped_sql;
