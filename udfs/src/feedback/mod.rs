//! What customers say: sentiment of feedback text.
//!
//! SQL functions (one family per file):
//! - [`sentiment_sql`]: `sentiment(text)`, VADER's compound score.
//!
//! Algorithm code, free of DataFusion: [`vader`] (vaderSentiment 3.3.2's
//! rules over its embedded lexicon).

pub mod sentiment_sql;
pub mod vader;
