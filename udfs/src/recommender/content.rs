//! Content-based item similarity (`content_fit`): each item is a TF-IDF
//! vector of its text — words and word pairs, and character n-grams of 3 to
//! 5 letters within words (padded with a space at each end, so prefixes and
//! suffixes count) — and two items are as similar as the cosine of their
//! vectors.
//!
//! Weights are scikit-learn's `TfidfVectorizer` defaults: raw counts times
//! idf(t) = ln((1 + n) / (1 + df(t))) + 1, the vector divided by its norm.
//! Text is lower-cased and NFKC-normalised; a word is a run of letters or
//! digits.
//!
//! A customer's profile is the weighted sum of the vectors of the items they
//! bought, so their score for item j is Σ_i w_i · cos(i, j): the same sum as
//! `item_knn`'s, over each item's `neighbours` most similar items (the
//! model keeps those, not the vectors). Scores use the kept neighbours only,
//! so they are exact for K ≥ the number of items and an approximation below.
//!
//! Why our own code: tokenising is a few lines; the similarity is
//! [`super::knn`]'s sparse products and top-K with cosine weighting.

use std::collections::{BTreeMap, HashMap};

use unicode_normalization::UnicodeNormalization;

use super::interactions::Csr;
use super::knn::{self, Similarity};

/// Which n-grams make an item's vector.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ngrams {
    Word,
    Char,
    Both,
}

impl Ngrams {
    pub fn name(&self) -> &'static str {
        match self {
            Ngrams::Word => "word",
            Ngrams::Char => "char",
            Ngrams::Both => "both",
        }
    }
}

/// The n-grams of `text`, with repeats.
pub fn ngrams(text: &str, which: Ngrams) -> Vec<String> {
    let lower: String = text.nfkc().flat_map(char::to_lowercase).collect();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    if which != Ngrams::Char {
        out.extend(words.iter().map(|w| format!("w:{w}")));
        out.extend(words.windows(2).map(|p| format!("w:{} {}", p[0], p[1])));
    }
    if which != Ngrams::Word {
        for w in &words {
            let padded: Vec<char> = std::iter::once(' ')
                .chain(w.chars())
                .chain(std::iter::once(' '))
                .collect();
            for n in 3..=5 {
                for g in padded.windows(n) {
                    out.push(format!("c:{}", g.iter().collect::<String>()));
                }
            }
        }
    }
    out
}

/// The item × feature TF-IDF matrix of `texts` (one text per item, in item
/// order), keeping the features in at least `min_df` items; and the number
/// of features kept.
pub fn tfidf(texts: &[String], which: Ngrams, min_df: usize) -> (Csr, usize) {
    let counts: Vec<HashMap<String, f64>> = texts
        .iter()
        .map(|t| {
            let mut c = HashMap::new();
            for g in ngrams(t, which) {
                *c.entry(g).or_insert(0.0) += 1.0;
            }
            c
        })
        .collect();
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &counts {
        for g in c.keys() {
            *df.entry(g.as_str()).or_insert(0) += 1;
        }
    }
    // Features numbered in sorted order, so the result does not depend on
    // hashing.
    let kept: HashMap<&str, (u32, f64)> = df
        .iter()
        .filter(|(_, &d)| d >= min_df)
        .enumerate()
        .map(|(k, (g, &d))| {
            let n = texts.len() as f64;
            (*g, (k as u32, ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0))
        })
        .collect();
    let m = Csr::from_rows(counts.iter().map(|c| {
        let mut row: Vec<(u32, f64)> = c
            .iter()
            .filter_map(|(g, &n)| kept.get(g.as_str()).map(|&(k, idf)| (k, n * idf)))
            .collect();
        row.sort_unstable_by_key(|&(k, _)| k);
        row
    }));
    (m, kept.len())
}

/// Each item's `neighbours` most similar items (itself included) by the
/// cosine of their TF-IDF vectors.
pub fn similarities(
    texts: &[String],
    which: Ngrams,
    min_df: usize,
    neighbours: usize,
) -> (Csr, usize) {
    let (m, features) = tfidf(texts, which, min_df);
    let w = knn::weighted(m, features, Similarity::Cosine);
    (knn::neighbours(&w, features, neighbours), features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrams_of_a_short_text() {
        let g = ngrams("Red MUG", Ngrams::Both);
        assert!(g.contains(&"w:red".to_string()));
        assert!(g.contains(&"w:red mug".to_string()));
        assert!(g.contains(&"c: mu".to_string()));
        assert!(g.contains(&"c:mug ".to_string()));
        assert!(g.contains(&"c: red ".to_string()));
        // 2 words + 1 pair; " red " has 3 + 2 + 1 char n-grams, " mug " too.
        assert_eq!(g.len(), 3 + 12);
    }

    /// By hand: two items sharing one of two words.
    #[test]
    fn cosine_of_word_vectors() {
        let texts = vec![
            "red mug".to_string(),
            "red cup".to_string(),
            "tea".to_string(),
        ];
        let (sim, features) = similarities(&texts, Ngrams::Word, 1, 10);
        // Features: cup, red, red cup, red mug, mug, tea (6).
        assert_eq!(features, 6);
        // idf(red) = ln(4/3) + 1; idf of a word in one item = ln(4/2) + 1.
        let (a, b) = ((4.0f64 / 3.0).ln() + 1.0, 2f64.ln() + 1.0);
        let want = a * a / (a * a + 2.0 * b * b);
        let got: Vec<(u32, f64)> = sim.row(0).collect();
        let to_cup = got.iter().find(|p| p.0 == 1).unwrap().1;
        assert!((to_cup - want).abs() < 1e-12, "{to_cup} vs {want}");
        assert!(
            got.iter().all(|p| p.0 != 2),
            "tea shares nothing with red mug"
        );
    }
}
