//! Text as the feedback functions compare and count it (free of DataFusion):
//! [`normalize`] for keyword matching and [`Terms`] for counting words.
//!
//! A *term* ([`Terms::terms`]) is, in the normalized text:
//! - a run of letters and digits with at least one letter, apostrophes
//!   between letters kept (`don't`), at least two characters long, in any
//!   script written with spaces (Latin, Cyrillic, Hangul, ...);
//! - a Hangul word loses one trailing particle (`배송이` → `배송`, `서비스는` → `서비스`,
//!   `매장에서` → `매장`) when what remains has at least two syllables (one
//!   for the two-syllable particles), a light stand-in for a morphological
//!   analyser;
//! - in Han and kana runs (Chinese and Japanese have no spaces), every pair
//!   of adjacent characters (and a lone character), as CJK search indexes do;
//! - not a stop word. The built-in lists (English and Korean function words,
//!   `udfs/data/stopwords/`) keep negations (`not`, `no`, `안`, `못`).

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;

/// `text` in NFKC, lower case, with every run of whitespace as one space,
/// trimmed: full-width letters, decomposed Hangul and capitals compare equal
/// to their plain forms.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfkc() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Hangul (syllables and jamo).
pub fn is_hangul(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7AF | 0xD7B0..=0xD7FF)
}

/// Han characters and kana (scripts written without spaces).
pub fn is_han_or_kana(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Hangul, Han or kana.
pub fn is_cjk(c: char) -> bool {
    is_hangul(c) || is_han_or_kana(c)
}

const ENGLISH: &str = include_str!("../../data/stopwords/en.txt");
const KOREAN: &str = include_str!("../../data/stopwords/ko.txt");

/// Korean particles taken off the end of a word, longest first, with the
/// fewest syllables the stem must keep.
const PARTICLES: [(&str, usize); 24] = [
    ("에서는", 1),
    ("에서", 1),
    ("으로", 1),
    ("에게", 1),
    ("까지", 1),
    ("부터", 1),
    ("처럼", 1),
    ("보다", 2),
    ("이랑", 1),
    ("하고", 2),
    ("이", 2),
    ("가", 2),
    ("은", 2),
    ("는", 2),
    ("을", 2),
    ("를", 2),
    ("도", 2),
    ("에", 2),
    ("의", 2),
    ("로", 2),
    ("와", 2),
    ("과", 2),
    ("만", 2),
    ("랑", 2),
];

fn strip_particle(word: &str) -> &str {
    for (p, keep) in PARTICLES {
        if let Some(stem) = word.strip_suffix(p) {
            if stem.chars().count() >= keep && stem.chars().all(is_hangul) {
                return stem;
            }
        }
    }
    word
}

/// The words of the built-in stop lists (English and Korean).
pub fn default_stop_words() -> impl Iterator<Item = &'static str> {
    ENGLISH
        .lines()
        .chain(KOREAN.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// A tokenizer with its stop words.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    stop: HashSet<String>,
}

impl Terms {
    /// Stop words from a `|`-separated list; the item `default` stands for
    /// the built-in lists; an empty list means none.
    pub fn with_stop_words(list: &str) -> Terms {
        let mut stop = HashSet::new();
        for w in list.split('|').map(str::trim).filter(|w| !w.is_empty()) {
            if w.eq_ignore_ascii_case("default") {
                stop.extend(default_stop_words().map(normalize));
            } else {
                stop.insert(normalize(w));
            }
        }
        Terms { stop }
    }

    /// The terms of `text`, in order (see the module doc).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let text = normalize(text);
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if is_han_or_kana(c) {
                let start = i;
                while i < chars.len() && is_han_or_kana(chars[i]) {
                    i += 1;
                }
                let run = &chars[start..i];
                if run.len() == 1 {
                    self.push(&mut out, run[0].to_string());
                }
                for pair in run.windows(2) {
                    self.push(&mut out, pair.iter().collect());
                }
                continue;
            }
            if !c.is_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() {
                let d = chars[i];
                let joins = (d == '\'' || d == '\u{2019}')
                    && i > start
                    && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
                if (d.is_alphanumeric() && !is_han_or_kana(d)) || joins {
                    i += 1;
                } else {
                    break;
                }
            }
            let word: String = chars[start..i]
                .iter()
                .map(|&d| if d == '\u{2019}' { '\'' } else { d })
                .collect();
            if word.chars().count() < 2 || !word.chars().any(char::is_alphabetic) {
                continue;
            }
            let word = if word.chars().all(is_hangul) {
                strip_particle(&word).to_string()
            } else {
                word
            };
            self.push(&mut out, word);
        }
        out
    }

    fn push(&self, out: &mut Vec<String>, term: String) {
        if !self.stop.contains(&term) {
            out.push(term);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_apostrophes_stop_words_and_korean_particles() {
        let t = Terms::with_stop_words("default");
        assert_eq!(
            t.terms("I don't like the DELIVERY, it’s 2 days late!"),
            ["don't", "like", "delivery", "days", "late"]
        );
        assert_eq!(
            t.terms("배송이 너무 늦었어요. 서비스는 매장에서 좋았어요"),
            ["배송", "늦었어요", "서비스", "매장", "좋았어요"]
        );
        // A one-syllable stem keeps its ending: 아이 (child) is not 아 + 이.
        assert_eq!(t.terms("아이"), ["아이"]);
        assert_eq!(Terms::with_stop_words("").terms("the a"), ["the"]);
        assert_eq!(
            Terms::with_stop_words("late|default").terms("the late train"),
            ["train"]
        );
    }

    #[test]
    fn han_and_kana_runs_give_character_pairs() {
        let t = Terms::default();
        assert_eq!(t.terms("配送が遅い"), ["配送", "送が", "が遅", "遅い"]);
        assert_eq!(t.terms("好"), ["好"]);
    }

    #[test]
    fn nfc_and_nfd_hangul_give_the_same_terms() {
        let nfd: String = "배송이 늦었어요".nfd().collect();
        let t = Terms::with_stop_words("default");
        assert_eq!(t.terms(&nfd), t.terms("배송이 늦었어요"));
    }
}
