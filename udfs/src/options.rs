//! The trailing options string every crmlake function accepts:
//! `'key=value, key=value'` (DESIGN.md). Unknown keys and bad values are errors
//! that list the valid keys.

use crate::error::UdfError;
use std::collections::BTreeMap;

/// Parsed `key=value` pairs, checked against the keys a function accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    function: &'static str,
    values: BTreeMap<String, String>,
}

impl Options {
    /// Parse `text` for `function`, accepting only `valid_keys`.
    ///
    /// Keys are case-insensitive; surrounding spaces are ignored; an empty string
    /// gives no options. A repeated key is an error. A value in parentheses
    /// may hold commas (`feedback=(SELECT a, b FROM t)`); it is returned
    /// without them.
    pub fn parse(
        function: &'static str,
        text: &str,
        valid_keys: &[&str],
    ) -> Result<Self, UdfError> {
        let mut values = BTreeMap::new();
        let err = |message: String| UdfError::Options { function, message };
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (key, value) = part.split_once('=').ok_or_else(|| {
                err(format!(
                    "'{part}' is not of the form key=value (valid keys: {})",
                    valid_keys.join(", ")
                ))
            })?;
            let key = key.trim().to_ascii_lowercase();
            if !valid_keys.contains(&key.as_str()) {
                return Err(err(format!(
                    "unknown key '{key}' (valid keys: {})",
                    valid_keys.join(", ")
                )));
            }
            let value = value.trim();
            let value = value
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .unwrap_or(value);
            if values
                .insert(key.clone(), value.trim().to_string())
                .is_some()
            {
                return Err(err(format!("key '{key}' given twice")));
            }
        }
        Ok(Options { function, values })
    }

    /// The raw value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `key` as `true` or `false` (any case), or `default` when absent.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, UdfError> {
        match self.get(key).map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(s) if s == "true" => Ok(true),
            Some(s) if s == "false" => Ok(false),
            Some(s) => Err(UdfError::Options {
                function: self.function,
                message: format!("{key} must be true or false, got '{s}'"),
            }),
        }
    }

    /// `key` parsed as `T`, or `default` when absent.
    pub fn parse_or<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, UdfError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| UdfError::Options {
                function: self.function,
                message: format!(
                    "key '{key}': cannot read '{v}' as {}",
                    std::any::type_name::<T>()
                ),
            }),
        }
    }
}

/// `text` split at its commas, except those inside a value that starts
/// with `(` (up to its matching `)`, quotes respected).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut depth, mut quoted, mut value_start) = (0, 0usize, false, false);
    for (i, c) in text.char_indices() {
        match c {
            '\'' if depth > 0 => quoted = !quoted,
            _ if quoted => {}
            '=' if depth == 0 => value_start = true,
            '(' if depth > 0 || value_start => {
                depth += 1;
                value_start = false;
            }
            ')' if depth > 0 => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
                value_start = false;
            }
            c if !c.is_whitespace() => value_start = false,
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Check the type of an `options` argument: any string type (or NULL, no
/// options), kept as it is.
pub fn coerce_options(
    function: &'static str,
    t: &datafusion::arrow::datatypes::DataType,
) -> datafusion::error::Result<datafusion::arrow::datatypes::DataType> {
    use datafusion::arrow::datatypes::DataType;
    if matches!(
        t,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    ) {
        Ok(t.clone())
    } else {
        Err(UdfError::argument(
            function,
            "options",
            format!("must be a 'key=value, ...' string, got {t}"),
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_rejects_unknown_keys() {
        let o = Options::parse("f", " max_len=4, Seed = 42 ,", &["max_len", "seed"]).unwrap();
        assert_eq!(o.get("max_len"), Some("4"));
        assert_eq!(o.parse_or("seed", 0u64).unwrap(), 42);
        assert_eq!(o.parse_or("absent", 7u64).unwrap(), 7);
        let e = Options::parse("f", "bogus=1", &["max_len", "seed"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: options: unknown key 'bogus' (valid keys: max_len, seed)"
        );
        assert!(Options::parse("f", "max_len", &["max_len"]).is_err());
        assert!(Options::parse("f", "max_len=1,max_len=2", &["max_len"]).is_err());
        let o = Options::parse("f", "max_len=x", &["max_len"]).unwrap();
        assert!(o.parse_or("max_len", 1usize).is_err());
    }

    #[test]
    fn a_value_in_parentheses_holds_commas() {
        let o = Options::parse(
            "f",
            "by=country, feedback=(SELECT a, f(b, ')') FROM t), seed=1",
            &["by", "feedback", "seed"],
        )
        .unwrap();
        assert_eq!(o.get("feedback"), Some("SELECT a, f(b, ')') FROM t"));
        assert_eq!((o.get("by"), o.get("seed")), (Some("country"), Some("1")));
        // Parentheses later in a value do not group.
        let o = Options::parse("f", "a=x(1, b=2", &["a", "b"]).unwrap();
        assert_eq!((o.get("a"), o.get("b")), (Some("x(1"), Some("2")));
    }
}
