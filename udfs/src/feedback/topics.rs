//! Multi-label topic tagging by a keyword taxonomy (the algorithm of
//! `feedback_topics`, free of DataFusion).
//!
//! A taxonomy is a list of (topic, keyword) pairs. Text and keywords are
//! compared after [`normalize`] (shared with the other feedback text
//! functions): Unicode NFKC (so full-width `ＡＰＰ` is `APP`,
//! half-width katakana is full-width, and decomposed Hangul (NFD) is the
//! composed syllable), lower case, and every run of whitespace as one space.
//! Where a keyword may match depends on its script:
//! - a keyword whose first letter is Hangul, Han or kana matches anywhere in
//!   the text: Korean particles and endings attach to the stem inside an
//!   eojeol (`배송` matches `배송이`, `빠른배송은`), and Chinese and Japanese
//!   text has no spaces between words;
//! - any other keyword matches whole words: preceded and followed by a
//!   character that is not a letter or digit (or the text's ends), so `late`
//!   matches "late delivery" but not "chocolate" or "later"; ending it with
//!   `*` makes it a word prefix (`deliver*` matches "delivered").
//!
//! A text gets every topic one of whose keywords matches, in name order, or
//! the single topic [`OTHER`] when none does.

use aho_corasick::AhoCorasick;

use super::text::{is_cjk, normalize};

/// The topic of a text no keyword matches.
pub const OTHER: &str = "other";

/// A compiled taxonomy.
#[derive(Debug)]
pub struct Taxonomy {
    /// Topic names, sorted.
    topics: Vec<String>,
    /// Per pattern of `matcher`: its topic (index into `topics`) and how it
    /// may match.
    patterns: Vec<(usize, Reach)>,
    matcher: AhoCorasick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Anywhere (Hangul, Han, kana).
    Anywhere,
    /// A whole word.
    Word,
    /// The start of a word (a keyword ending in `*`).
    Prefix,
}

/// Why a taxonomy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxonomyError {
    #[error("the taxonomy has no keywords")]
    Empty,
    #[error("topic '{0}' has no keywords")]
    TopicWithoutKeywords(String),
    #[error("a keyword ('{0}') has an empty topic name")]
    EmptyTopic(String),
    #[error("'{0}' is not 'topic: keyword, keyword; topic: ...' (no ':' in it)")]
    NotAMap(String),
    #[error("cannot compile the keywords: {0}")]
    Build(String),
}

impl Taxonomy {
    /// Compile (topic, keyword) pairs. Blank keywords are skipped; a topic
    /// left without keywords, or no keywords at all, is an error.
    pub fn new<'a>(
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, TaxonomyError> {
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        for (topic, keyword) in pairs {
            let topic = topic.trim().to_string();
            let keyword = keyword.map(normalize).filter(|k| !k.is_empty() && k != "*");
            if topic.is_empty() {
                return Err(TaxonomyError::EmptyTopic(keyword.unwrap_or_default()));
            }
            entries.push((topic, keyword));
        }
        if entries.iter().all(|(_, k)| k.is_none()) {
            return Err(TaxonomyError::Empty);
        }
        let mut topics: Vec<String> = entries.iter().map(|(t, _)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        if let Some(t) = topics
            .iter()
            .find(|t| !entries.iter().any(|(u, k)| u == *t && k.is_some()))
        {
            return Err(TaxonomyError::TopicWithoutKeywords(t.clone()));
        }
        let mut keywords = Vec::new();
        let mut patterns = Vec::new();
        for (topic, keyword) in entries {
            let Some(keyword) = keyword else { continue };
            let index = topics.binary_search(&topic).unwrap_or_default();
            let first = keyword.chars().next().unwrap_or(' ');
            let (keyword, reach) = if is_cjk(first) {
                (keyword.trim_end_matches('*').to_string(), Reach::Anywhere)
            } else if let Some(stem) = keyword.strip_suffix('*') {
                (stem.trim_end().to_string(), Reach::Prefix)
            } else {
                (keyword, Reach::Word)
            };
            keywords.push(keyword);
            patterns.push((index, reach));
        }
        let matcher =
            AhoCorasick::new(&keywords).map_err(|e| TaxonomyError::Build(e.to_string()))?;
        Ok(Taxonomy {
            topics,
            patterns,
            matcher,
        })
    }

    /// Parse a literal map `topic: keyword, keyword; topic: keyword`.
    pub fn parse_map(text: &str) -> Result<Self, TaxonomyError> {
        let mut pairs = Vec::new();
        for part in text.split(';').filter(|p| !p.trim().is_empty()) {
            let (topic, keywords) = part
                .split_once(':')
                .ok_or_else(|| TaxonomyError::NotAMap(part.trim().to_string()))?;
            let mut any = false;
            for k in keywords.split(',') {
                pairs.push((topic, Some(k)));
                any = true;
            }
            if !any {
                pairs.push((topic, None));
            }
        }
        Taxonomy::new(pairs)
    }

    /// Topic names, sorted.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The topics (indexes into [`Taxonomy::topics`], ascending) whose
    /// keywords match `text`; empty when none does.
    pub fn tag(&self, text: &str) -> Vec<usize> {
        let text = normalize(text);
        let bytes = text.as_str();
        let letter_before = |at: usize| {
            bytes[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
        };
        let letter_after = |at: usize| {
            bytes[at..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        };
        let mut found = vec![false; self.topics.len()];
        for m in self.matcher.find_overlapping_iter(bytes) {
            let (topic, reach) = self.patterns[m.pattern().as_usize()];
            if found[topic] {
                continue;
            }
            let ok = match reach {
                Reach::Anywhere => true,
                Reach::Prefix => !letter_before(m.start()),
                Reach::Word => !letter_before(m.start()) && !letter_after(m.end()),
            };
            found[topic] |= ok;
        }
        (0..found.len()).filter(|&i| found[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    fn names(t: &Taxonomy, text: &str) -> Vec<String> {
        t.tag(text)
            .into_iter()
            .map(|i| t.topics()[i].clone())
            .collect()
    }

    #[test]
    fn words_prefixes_and_korean_stems() {
        let t = Taxonomy::parse_map(
            "delivery: late, deliver*, 배송; price: expensive, 가격; service: customer service",
        )
        .unwrap();
        assert_eq!(names(&t, "It came LATE."), ["delivery"]);
        assert_eq!(names(&t, "chocolate, later"), Vec::<String>::new());
        assert_eq!(
            names(&t, "Delivered fast but expensive"),
            ["delivery", "price"]
        );
        assert_eq!(names(&t, "배송이 늦었어요"), ["delivery"]);
        assert_eq!(
            names(&t, "빠른배송은 좋은데 가격이 비싸요"),
            ["delivery", "price"]
        );
        assert_eq!(names(&t, "Customer\n  Service was rude"), ["service"]);
    }

    #[test]
    fn width_case_and_composition_do_not_matter() {
        let t = Taxonomy::parse_map("app: app; delivery: 배송").unwrap();
        assert_eq!(names(&t, "ＡＰＰ crashed"), ["app"]);
        let nfd: String = "배송이".nfd().collect();
        assert_ne!(nfd, "배송이");
        assert_eq!(names(&t, &nfd), ["delivery"]);
        let stem: String = "배송".nfd().collect();
        let t = Taxonomy::new([("delivery", Some(stem.as_str()))]).unwrap();
        assert_eq!(names(&t, "배송이"), ["delivery"]);
    }

    #[test]
    fn bad_taxonomies_are_errors() {
        assert_eq!(Taxonomy::parse_map("").unwrap_err(), TaxonomyError::Empty);
        assert_eq!(
            Taxonomy::parse_map("price: cheap; delivery: ").unwrap_err(),
            TaxonomyError::TopicWithoutKeywords("delivery".into())
        );
        assert!(matches!(
            Taxonomy::parse_map("price cheap").unwrap_err(),
            TaxonomyError::NotAMap(_)
        ));
        assert!(matches!(
            Taxonomy::new([(" ", Some("x"))]).unwrap_err(),
            TaxonomyError::EmptyTopic(_)
        ));
    }
}
