//! Churn: point-in-time features, training, scoring, reason codes and
//! evaluation.
//!
//! - [`features_sql`]: `churn_features(input, as_of, horizon_days)`.
//! - [`train_sql`]: `churn_train(features, label [, options])` aggregate;
//!   options and the model value in [`model`].
//! - [`score_sql`]: `churn_score(model, features)` and
//!   `churn_explain(model, features, k)`.
//! - [`metrics_sql`]: `roc_auc`, `pr_auc`, `log_loss`, `lift_at`.
//!
//! The algorithms, free of DataFusion: [`logistic`] (Newton, L2),
//! [`tree`] (histogram trees), [`ensemble`] (boosting and random forest),
//! [`masks`] (scoring trees by leaf bit masks), [`tree_batch`] (scoring
//! many rows: masks, else a block walk, on every core),
//! [`shap`] (TreeSHAP), [`metrics`]; [`data`] holds the encoding they share.
pub mod data;
pub mod ensemble;
pub mod features_sql;
pub mod logistic;
pub mod masks;
pub mod metrics;
pub mod metrics_sql;
pub mod model;
pub mod score_sql;
pub mod shap;
pub mod train_sql;
pub mod tree;
pub mod tree_batch;
