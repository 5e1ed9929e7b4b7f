//! String arguments and columns: which types count as text, the type a
//! text argument (and an id argument, compared as text) is read as, and
//! the 64 KiB cap on the text a function
//! reads. Shared by the table-function input checks and the feedback
//! functions.
//!
//! Every text function (`sentiment`, `sentiment_train`, `sentiment_score`,
//! `feedback_topics`, `feedback_terms`) reads at most [`MAX_TEXT_BYTES`] of
//! a text, cut at a character boundary. Each cut is logged as a warning and
//! counted in a process-wide counter, [`truncated_texts`], which the batch
//! job reads before and after each step to record the step's
//! `warnings.text_truncated` in the run manifest.

use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::error::UdfError;

/// Whether `t` is a string type, a dictionary of strings, or NULL.
pub fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// The type a text argument is read as: its own string type, a
/// dictionary's value type, Utf8 for NULL; otherwise an error naming the
/// argument ("must be a string (VARCHAR), got ...").
pub fn text_type(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if is_text(v) && !matches!(v.as_ref(), DataType::Null) => {
            text_type(function, argument, v)
        }
        other => Err(UdfError::argument(
            function,
            argument,
            format!("must be a string (VARCHAR), got {other}"),
        )
        .into()),
    }
}

/// The type an id argument (a customer, order or item) is read as: text,
/// for any plain type; a nested type is an error naming the argument.
pub fn coerce_id(function: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    if t.is_nested() {
        return Err(UdfError::argument(
            function,
            argument,
            format!("must be a plain value (an id), got {t}"),
        )
        .into());
    }
    Ok(DataType::Utf8)
}

/// Text functions read at most this many bytes of a text.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

static TRUNCATED: AtomicU64 = AtomicU64::new(0);

/// How many texts this process has cut to [`MAX_TEXT_BYTES`] so far.
pub fn truncated_texts() -> u64 {
    TRUNCATED.load(Ordering::Relaxed)
}

/// Cuts the texts of one batch to [`MAX_TEXT_BYTES`] and counts the cuts;
/// [`TextCap::finish`] logs and records them.
#[derive(Debug)]
pub struct TextCap {
    function: &'static str,
    cut: u64,
}

impl TextCap {
    pub fn new(function: &'static str) -> Self {
        TextCap { function, cut: 0 }
    }

    /// `text` cut to at most [`MAX_TEXT_BYTES`] at a character boundary.
    pub fn cap<'a>(&mut self, text: &'a str) -> &'a str {
        if text.len() <= MAX_TEXT_BYTES {
            return text;
        }
        self.cut += 1;
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }

    /// Log and count the batch's cuts.
    pub fn finish(self) {
        if self.cut > 0 {
            TRUNCATED.fetch_add(self.cut, Ordering::Relaxed);
            log::warn!(
                "{}: {} texts longer than {MAX_TEXT_BYTES} bytes were read on their first {MAX_TEXT_BYTES} bytes",
                self.function,
                self.cut
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_boundary_and_counted() {
        let before = truncated_texts();
        let mut cap = TextCap::new("test");
        let text = "é".repeat(MAX_TEXT_BYTES); // 2 bytes each
        assert_eq!(cap.cap(&text).len(), MAX_TEXT_BYTES);
        let text = format!("a{}", "é".repeat(MAX_TEXT_BYTES / 2));
        assert_eq!(cap.cap(&text).len(), MAX_TEXT_BYTES - 1);
        assert_eq!(cap.cap("good"), "good");
        cap.finish();
        // Other tests may cut texts at the same time: at least these two.
        assert!(truncated_texts() >= before + 2);
    }
}
