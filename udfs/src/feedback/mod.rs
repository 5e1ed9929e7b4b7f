//! What customers say: sentiment of feedback text and features from it.
//!
//! SQL functions (one family per file):
//! - [`sentiment_sql`]: `sentiment(text)`, VADER's compound score;
//! - [`features_sql`]: `feedback_features(input, as_of)`, per-customer
//!   churn features from feedback.
//!
//! Algorithm code, free of DataFusion: [`vader`] (vaderSentiment 3.3.2's
//! rules over its embedded lexicon).

pub mod features_sql;
pub mod sentiment_sql;
pub mod vader;
