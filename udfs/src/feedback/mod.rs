//! What customers say: sentiment of feedback text and features from it.
//!
//! SQL functions (one family per file):
//! - [`sentiment_sql`]: `sentiment(text)`, VADER's compound score;
//! - [`features_sql`]: `feedback_features(input, as_of)`, per-customer
//!   churn features from feedback;
//! - [`topics_sql`]: `feedback_topics(text, taxonomy)`, topics by keywords;
//! - [`summary_sql`]: `feedback_summary(input, as_of, period [, options])`,
//!   feedback KPIs per period, channel and topic.
//!
//! Algorithm code, free of DataFusion: [`vader`] (vaderSentiment 3.3.2's
//! rules over its embedded lexicon) and [`topics`] (keyword taxonomies).

pub mod features_sql;
pub mod sentiment_sql;
pub mod summary_sql;
pub mod topics;
pub mod topics_sql;
pub mod vader;
