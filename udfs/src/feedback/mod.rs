//! What customers say: sentiment of feedback text and features from it.
//!
//! SQL functions (one family per file):
//! - [`sentiment_sql`]: `sentiment(text)`, VADER's compound score;
//! - [`features_sql`]: `feedback_features(input, as_of)`, per-customer
//!   churn features from feedback;
//! - [`topics_sql`]: `feedback_topics(text, taxonomy)`, topics by keywords;
//! - [`summary_sql`]: `feedback_summary(input, as_of, period [, options])`,
//!   feedback KPIs per period, channel and topic;
//! - [`terms_sql`]: `feedback_terms(text [, stop_words])`, the terms counted
//!   by [`keywords_sql`]: `keywords(input, group_column, k [, options])`,
//!   distinctive terms per group;
//! - [`learned_sql`]: `sentiment_train(text, label [, options])` and
//!   `sentiment_score(model, text)`, a learned scorer for any language.
//!
//! Algorithm code, free of DataFusion: [`vader`] (vaderSentiment 3.3.2's
//! rules over its embedded lexicon), [`topics`] (keyword taxonomies) and
//! [`text`] (normalisation, terms and stop words, shared) and [`learned`]
//! (hashed n-grams and logistic regression).

pub mod features_sql;
pub mod keywords_sql;
pub mod learned;
pub mod learned_sql;
pub mod sentiment_sql;
pub mod summary_sql;
pub mod terms_sql;
pub mod text;
pub mod topics;
pub mod topics_sql;
pub mod vader;
