//! VADER sentiment (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based
//! Model for Sentiment Analysis of Social Media Text", ICWSM-14), computed as
//! the reference implementation `vaderSentiment` 3.3.2 computes its compound
//! score.
//!
//! The lexicon (7,506 tokens with their mean valence), the emoji descriptions
//! and the word lists (negations, boosters and dampeners, special idioms)
//! are vaderSentiment's data, MIT licence, extracted by
//! `udfs/data/vader/extract.py` and embedded in the binary. The rules are
//! written here from the paper and the reference's behaviour:
//!
//! 1. Every single-character emoji is replaced by its description
//!    ("😁" → "beaming face with smiling eyes"); the text is trimmed.
//! 2. Tokens are the whitespace-separated words with leading and trailing
//!    ASCII punctuation removed, unless that leaves 2 characters or fewer
//!    (so ":)" and ":D" stay as they are).
//! 3. Each token gets a valence: 0 for booster words and "kind" before
//!    "of"; its lexicon valence otherwise, then
//!    - "no" before another lexicon word counts 0, and a word within 3
//!      after "no" (the third only through "or"/"nor") is negated (× −0.74);
//!    - a word in capitals while others are not gains 0.733 in magnitude;
//!    - each of the 3 words before it, when not a lexicon word, adds a
//!      booster's ±0.293 (× 0.95 and × 0.9 at distance 2 and 3; a capital
//!      booster ±0.733 more) and negates it when it is a negation ("not",
//!      any word with "n't", ...), except "never so/this" (× 1.25) and
//!      "without doubt" (unchanged); at distance 3, special idioms ("the
//!      bomb", "yeah right", ...) replace the valence and two- and three-word
//!      dampeners ("kind of", "sort of") are added;
//!    - "least" right before it negates it, except in "at least" and "very
//!      least".
//! 4. "but": valences before the first "but" are halved and those after it
//!    × 1.5 (the reference's list update, which finds each value's first
//!    occurrence, is reproduced exactly, quirks included).
//! 5. The valences are summed; when the sum is not 0 it grows in magnitude
//!    by 0.292 per "!" (at most 4) and, with 2 or 3 "?", 0.18 each (0.96 for
//!    more); compound = sum / sqrt(sum² + 15), within [−1, 1].
//!
//! The reference rounds compound to 4 decimals; [`compound`] does not
//! round. Differences from the reference: title-case letters (Unicode
//! category Lt, 31 characters such as "ǅ") count as neither case here.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const LEXICON: &str = include_str!("../../data/vader/lexicon.tsv");
const EMOJI: &str = include_str!("../../data/vader/emoji.tsv");
const RULES: &str = include_str!("../../data/vader/rules.json");

/// Sum of valences over which punctuation and normalisation apply.
const ALPHA: f64 = 15.0;
const EXCLAMATION: f64 = 0.292;
const QUESTION: f64 = 0.18;
const MANY_QUESTIONS: f64 = 0.96;

/// The embedded lexicon and word lists.
#[derive(Debug)]
pub struct Vader {
    lexicon: HashMap<String, f64>,
    emoji: HashMap<char, String>,
    negate: HashSet<String>,
    booster: HashMap<String, f64>,
    special: HashMap<String, f64>,
    c_incr: f64,
    n_scalar: f64,
}

#[derive(serde::Deserialize)]
struct Rules {
    negate: Vec<String>,
    booster: HashMap<String, f64>,
    special_cases: HashMap<String, f64>,
    c_incr: f64,
    n_scalar: f64,
}

/// The analyser, built from the embedded data on first use.
pub fn vader() -> &'static Vader {
    static VADER: OnceLock<Vader> = OnceLock::new();
    VADER.get_or_init(Vader::embedded)
}

/// Python's `str.isspace` (Unicode White_Space plus the four ASCII
/// information separators).
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.isupper`: some uppercase letter and no lowercase one.
fn is_upper(word: &str) -> bool {
    let mut upper = false;
    for c in word.chars() {
        if c.is_lowercase() {
            return false;
        }
        upper |= c.is_uppercase();
    }
    upper
}

/// `token` without leading and trailing ASCII punctuation, unless that
/// leaves at most 2 characters (an emoticon such as ":)").
fn strip_punctuation(token: &str) -> &str {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

fn lower(word: &str) -> Cow<'_, str> {
    if word.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        Cow::Owned(word.to_lowercase())
    } else {
        Cow::Borrowed(word)
    }
}

impl Vader {
    fn embedded() -> Vader {
        // The data is fixed at build time and checked by the tests; a
        // malformed line would be a build defect, so it is skipped, not
        // reported.
        let lexicon = LEXICON
            .lines()
            .filter_map(|l| {
                let (word, valence) = l.split_once('\t')?;
                Some((word.to_string(), valence.parse().ok()?))
            })
            .collect();
        let emoji = EMOJI
            .lines()
            .filter_map(|l| {
                let (emoji, description) = l.split_once('\t')?;
                let mut chars = emoji.chars();
                let c = chars.next()?;
                // The reference looks emoji up one character at a time:
                // sequences (flags, skin tones) never match.
                chars.next().is_none().then(|| (c, description.to_string()))
            })
            .collect();
        let rules: Rules = serde_json::from_str(RULES).unwrap_or(Rules {
            negate: Vec::new(),
            booster: HashMap::new(),
            special_cases: HashMap::new(),
            c_incr: 0.0,
            n_scalar: 1.0,
        });
        Vader {
            lexicon,
            emoji,
            negate: rules.negate.into_iter().collect(),
            booster: rules.booster,
            special: rules.special_cases,
            c_incr: rules.c_incr,
            n_scalar: rules.n_scalar,
        }
    }

    /// Number of lexicon entries (for documentation and tests).
    pub fn lexicon_len(&self) -> usize {
        self.lexicon.len()
    }

    /// The text with every emoji replaced by its description, trimmed.
    fn without_emoji<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if text.is_ascii() || !text.chars().any(|c| self.emoji.contains_key(&c)) {
            return Cow::Borrowed(text.trim_matches(is_space));
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut previous_space = true;
        for c in text.chars() {
            match self.emoji.get(&c) {
                Some(description) => {
                    if !previous_space {
                        out.push(' ');
                    }
                    out.push_str(description);
                    previous_space = false;
                }
                None => {
                    out.push(c);
                    previous_space = c == ' ';
                }
            }
        }
        Cow::Owned(out.trim_matches(is_space).to_string())
    }

    fn negated(&self, lower_word: &str) -> bool {
        self.negate.contains(lower_word) || lower_word.contains("n't")
    }

    /// The compound score of `text` in [−1, 1]; `None` when it has no word.
    pub fn compound(&self, text: &str) -> Option<f64> {
        let text = self.without_emoji(text);
        let words: Vec<&str> = text
            .split(is_space)
            .filter(|w| !w.is_empty())
            .map(strip_punctuation)
            .collect();
        if words.is_empty() {
            return None;
        }
        let lw: Vec<Cow<str>> = words.iter().map(|w| lower(w)).collect();
        let capitals = words.iter().filter(|w| is_upper(w)).count();
        let cap_differs = capitals > 0 && capitals < words.len();
        let mut sentiments = Vec::with_capacity(words.len());
        for i in 0..words.len() {
            let booster = self.booster.contains_key(lw[i].as_ref());
            let kind_of = i + 1 < words.len() && lw[i] == "kind" && lw[i + 1] == "of";
            sentiments.push(if booster || kind_of {
                0.0
            } else {
                self.valence(&words, &lw, i, cap_differs)
            });
        }
        but_check(&lw, &mut sentiments);
        let mut sum: f64 = sentiments.iter().sum();
        let emphasis = punctuation_emphasis(&text);
        if sum > 0.0 {
            sum += emphasis;
        } else if sum < 0.0 {
            sum -= emphasis;
        }
        Some((sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0))
    }

    fn in_lexicon(&self, lower_word: &str) -> bool {
        self.lexicon.contains_key(lower_word)
    }

    /// The valence of word `i` (`words` as written, `lw` lowercased).
    fn valence(&self, words: &[&str], lw: &[Cow<str>], i: usize, cap_differs: bool) -> f64 {
        let Some(&base) = self.lexicon.get(lw[i].as_ref()) else {
            return 0.0;
        };
        let n = words.len();
        let mut valence = base;
        if lw[i] == "no" && i + 1 < n && self.in_lexicon(&lw[i + 1]) {
            valence = 0.0;
        }
        let after_no = (i > 0 && lw[i - 1] == "no")
            || (i > 1 && lw[i - 2] == "no")
            || (i > 2 && lw[i - 3] == "no" && (lw[i - 1] == "or" || lw[i - 1] == "nor"));
        if after_no {
            valence = base * self.n_scalar;
        }
        if cap_differs && is_upper(words[i]) {
            valence += if valence > 0.0 {
                self.c_incr
            } else {
                -self.c_incr
            };
        }
        for back in 1..=3 {
            if i < back || self.in_lexicon(&lw[i - back]) {
                continue;
            }
            let mut s = self.scalar(words[i - back], &lw[i - back], valence, cap_differs);
            if s != 0.0 {
                s *= match back {
                    2 => 0.95,
                    3 => 0.9,
                    _ => 1.0,
                };
            }
            valence += s;
            valence = self.negation(valence, lw, back, i);
            if back == 3 {
                valence = self.idioms(valence, lw, i);
            }
        }
        self.least(valence, lw, i)
    }

    /// A booster's or dampener's change to `valence`.
    fn scalar(&self, word: &str, lower_word: &str, valence: f64, cap_differs: bool) -> f64 {
        let Some(&b) = self.booster.get(lower_word) else {
            return 0.0;
        };
        let mut scalar = if valence < 0.0 { -b } else { b };
        if cap_differs && is_upper(word) {
            scalar += if valence > 0.0 {
                self.c_incr
            } else {
                -self.c_incr
            };
        }
        scalar
    }

    /// Negation by the word `back` places before word `i`.
    fn negation(&self, valence: f64, lw: &[Cow<str>], back: usize, i: usize) -> f64 {
        let w = |k: usize| lw[i - k].as_ref();
        let so_or_this = |k: usize| w(k) == "so" || w(k) == "this";
        match back {
            1 if self.negated(w(1)) => valence * self.n_scalar,
            2 if w(2) == "never" && so_or_this(1) => valence * 1.25,
            2 if w(2) == "without" && w(1) == "doubt" => valence,
            2 if self.negated(w(2)) => valence * self.n_scalar,
            3 if (w(3) == "never" && so_or_this(2)) || so_or_this(1) => valence * 1.25,
            3 if w(3) == "without" && (w(2) == "doubt" || w(1) == "doubt") => valence,
            3 if self.negated(w(3)) => valence * self.n_scalar,
            _ => valence,
        }
    }

    /// Special idioms around word `i` (which has 3 words before it) and
    /// multi-word dampeners before it.
    fn idioms(&self, mut valence: f64, lw: &[Cow<str>], i: usize) -> f64 {
        let w = |k: usize| lw[k].as_ref();
        let (one_zero, two_one_zero) = (
            format!("{} {}", w(i - 1), w(i)),
            format!("{} {} {}", w(i - 2), w(i - 1), w(i)),
        );
        let (two_one, three_two_one, three_two) = (
            format!("{} {}", w(i - 2), w(i - 1)),
            format!("{} {} {}", w(i - 3), w(i - 2), w(i - 1)),
            format!("{} {}", w(i - 3), w(i - 2)),
        );
        let before = [
            &one_zero,
            &two_one_zero,
            &two_one,
            &three_two_one,
            &three_two,
        ];
        if let Some(v) = before.iter().find_map(|s| self.special.get(s.as_str())) {
            valence = *v;
        }
        if i + 1 < lw.len() {
            if let Some(v) = self.special.get(&format!("{} {}", w(i), w(i + 1))) {
                valence = *v;
            }
        }
        if i + 2 < lw.len() {
            let zero_one_two = format!("{} {} {}", w(i), w(i + 1), w(i + 2));
            if let Some(v) = self.special.get(&zero_one_two) {
                valence = *v;
            }
        }
        for n_gram in [&three_two_one, &three_two, &two_one] {
            if let Some(b) = self.booster.get(n_gram.as_str()) {
                valence += b;
            }
        }
        valence
    }

    /// "least" right before word `i` negates it, except after "at"/"very".
    fn least(&self, valence: f64, lw: &[Cow<str>], i: usize) -> f64 {
        if i == 0 || lw[i - 1] != "least" || self.in_lexicon(&lw[i - 1]) {
            return valence;
        }
        if i > 1 && (lw[i - 2] == "at" || lw[i - 2] == "very") {
            valence
        } else {
            valence * self.n_scalar
        }
    }
}

/// Halve the valences before the first "but" and raise those after it by
/// half, as the reference does: for each position in turn, the first
/// position holding that position's current value is the one changed.
fn but_check(lw: &[Cow<str>], sentiments: &mut [f64]) {
    let Some(b) = lw.iter().position(|w| w == "but") else {
        return;
    };
    for k in 0..sentiments.len() {
        let v = sentiments[k];
        let Some(first) = sentiments.iter().position(|&x| x == v) else {
            continue;
        };
        if first < b {
            sentiments[first] = v * 0.5;
        } else if first > b {
            sentiments[first] = v * 1.5;
        }
    }
}

/// Emphasis from "!" (0.292 each, at most 4) and "?" (2 or 3: 0.18 each;
/// more: 0.96).
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.bytes().filter(|&b| b == b'!').count().min(4);
    let questions = text.bytes().filter(|&b| b == b'?').count();
    let q = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * QUESTION,
        _ => MANY_QUESTIONS,
    };
    exclamations as f64 * EXCLAMATION + q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_is_whole() {
        let v = vader();
        assert_eq!(v.lexicon_len(), 7506);
        assert_eq!(v.negate.len(), 59);
        assert!(v.booster.len() > 80);
        assert_eq!(v.special.len(), 9);
        assert!(v.emoji.len() > 1000);
        assert_eq!(v.c_incr, 0.733);
        assert_eq!(v.n_scalar, -0.74);
    }

    #[test]
    fn tokens_keep_emoticons_and_contractions() {
        assert_eq!(strip_punctuation("good,"), "good");
        assert_eq!(strip_punctuation(":)"), ":)");
        assert_eq!(strip_punctuation("(ok)"), "(ok)");
        assert_eq!(strip_punctuation("isn't."), "isn't");
        assert!(is_upper("GREAT!") && !is_upper("Great") && !is_upper(":)"));
    }

    #[test]
    fn no_words_no_score() {
        assert_eq!(vader().compound(""), None);
        assert_eq!(vader().compound(" \t\n"), None);
        assert_eq!(vader().compound("!!!"), Some(0.0));
    }

    #[test]
    fn but_check_reproduces_the_first_occurrence_update() {
        // Equal values on both sides of "but": once the first is halved,
        // the second is the first occurrence of its value.
        let lw: Vec<Cow<str>> = ["good", "but", "good"]
            .iter()
            .map(|w| Cow::Borrowed(*w))
            .collect();
        let mut s = vec![1.0, 0.0, 1.0];
        but_check(&lw, &mut s);
        assert_eq!(s, vec![0.5, 0.0, 1.5]);
        // A value after "but" equal to the halved value before it: the
        // halved one is found first and halved again.
        let lw: Vec<Cow<str>> = ["a", "b", "but", "c"]
            .iter()
            .map(|w| Cow::Borrowed(*w))
            .collect();
        let mut s = vec![1.0, 0.5, 0.0, 2.0];
        but_check(&lw, &mut s);
        // k=0: 1.0 -> 0.5 at 0; k=1: 0.5 first at 0 -> 0.25 at 0; k=3: 2.0 -> 3.0.
        assert_eq!(s, vec![0.25, 0.5, 0.0, 3.0]);
    }
}
