//! The learned sentiment scorer of `sentiment_train` / `sentiment_score`
//! (free of DataFusion): hashed word and character n-grams, TF-IDF, and an
//! L2-regularised logistic regression fitted by L-BFGS.
//!
//! Features of a text, after [`super::text::normalize`] (NFKC, lower case:
//! NFC and NFD Hangul are the same text):
//! - word n-grams (`word_ngrams`, 1–2 by default) of its terms
//!   ([`super::text::Terms`] without stop words: words with Korean particles
//!   taken off, Han/kana character pairs);
//! - character n-grams (`char_ngrams`, 2–4 by default) inside each term
//!   padded with a space at both ends (scikit-learn's `char_wb`): Hangul
//!   syllables carry the stems a dictionary would find, and in English they
//!   catch inflections and misspellings. `char_scope=cjk` keeps them for
//!   terms with Hangul, Han or kana only (fewer features, less memory).
//!
//! Each n-gram is hashed (64-bit FNV-1a of a kind prefix and its UTF-8, so
//! the model does not depend on the platform or the Rust version) into one
//! of 2^`hash_bits` buckets. A text's vector is (1 + ln tf) · idf per bucket
//! (idf = ln((1 + N) / (1 + df)) + 1 over the N training texts, scikit-learn's
//! smooth idf), scaled to unit length. The classifier minimises
//! Σ logloss + ‖w‖² / (2C) with an unpenalised intercept (scikit-learn's
//! `LogisticRegression(C)`).
//!
//! Our own code: the fit is one pass over sparse rows per L-BFGS step, with
//! the loss and its gradient from the same pass (argmin asks for the cost
//! and the gradient separately, which would double the passes), chunked on
//! the shared pool ([`crate::pool`]) in a fixed order, so the model is
//! identical on any number of threads.

use serde::{Deserialize, Serialize};

use super::text::{is_cjk, normalize, Terms};

/// How texts become vectors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Featurizer {
    pub hash_bits: u32,
    pub word_ngrams: (usize, usize),
    /// (0, 0) for none.
    pub char_ngrams: (usize, usize),
    /// Character n-grams for every term, not only CJK ones.
    pub char_all: bool,
}

impl Default for Featurizer {
    fn default() -> Self {
        Featurizer {
            hash_bits: 18,
            word_ngrams: (1, 2),
            char_ngrams: (2, 4),
            char_all: true,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl Featurizer {
    pub fn dims(&self) -> usize {
        1usize << self.hash_bits
    }

    fn bucket(&self, h: u64) -> u32 {
        // Fold the high bits in: FNV's low bits mix less.
        ((h ^ (h >> 32)) & ((1u64 << self.hash_bits) - 1)) as u32
    }

    /// Call `f(bucket, gram)` for every n-gram occurrence of `text`; the
    /// n-gram's text is built only for buckets `want_text` accepts (for
    /// naming the top n-grams).
    pub fn grams(
        &self,
        text: &str,
        want_text: &dyn Fn(u32) -> bool,
        mut f: impl FnMut(u32, Option<String>),
    ) {
        let terms = Terms::default().terms(&normalize(text));
        let (lo, hi) = self.word_ngrams;
        if lo >= 1 {
            for n in lo..=hi {
                for w in terms.windows(n) {
                    let mut h = fnv(FNV_OFFSET, b"w\x01");
                    for (i, t) in w.iter().enumerate() {
                        if i > 0 {
                            h = fnv(h, b" ");
                        }
                        h = fnv(h, t.as_bytes());
                    }
                    let b = self.bucket(h);
                    f(b, want_text(b).then(|| w.join(" ")));
                }
            }
        }
        let (lo, hi) = self.char_ngrams;
        if lo >= 1 {
            for t in &terms {
                if !self.char_all && !t.chars().any(is_cjk) {
                    continue;
                }
                let chars: Vec<char> = std::iter::once(' ')
                    .chain(t.chars())
                    .chain(std::iter::once(' '))
                    .collect();
                let mut buf = [0u8; 4];
                for n in lo..=hi {
                    for w in chars.windows(n) {
                        if w.iter().all(|&c| c == ' ') {
                            continue;
                        }
                        let mut h = fnv(FNV_OFFSET, b"c\x01");
                        for &c in w {
                            h = fnv(h, c.encode_utf8(&mut buf).as_bytes());
                        }
                        let b = self.bucket(h);
                        f(b, want_text(b).then(|| w.iter().collect()));
                    }
                }
            }
        }
    }

    /// The text's n-gram counts by bucket, sorted by bucket.
    pub fn counts(&self, text: &str) -> Vec<(u32, f32)> {
        let mut buckets = Vec::new();
        self.grams(text, &|_| false, |b, _| buckets.push(b));
        buckets.sort_unstable();
        let mut out: Vec<(u32, f32)> = Vec::with_capacity(buckets.len());
        for b in buckets {
            match out.last_mut() {
                Some((last, c)) if *last == b => *c += 1.0,
                _ => out.push((b, 1.0)),
            }
        }
        out
    }
}

/// TF-IDF, unit length: `counts` in place.
fn weigh(counts: &mut [(u32, f32)], idf: &[f32]) {
    let mut norm = 0.0f64;
    for (b, v) in counts.iter_mut() {
        *v = (1.0 + v.ln()) * idf[*b as usize];
        norm += (*v as f64) * (*v as f64);
    }
    if norm > 0.0 {
        let s = (1.0 / norm.sqrt()) as f32;
        for (_, v) in counts.iter_mut() {
            *v *= s;
        }
    }
}

/// Training texts as sparse rows (CSR).
pub struct Rows {
    offsets: Vec<usize>,
    entries: Vec<(u32, f32)>,
    labels: Vec<f64>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    fn row(&self, i: usize) -> &[(u32, f32)] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// Bytes a training row of `text_bytes` takes as a sparse row: an upper
/// bound (every n-gram distinct) for the memory reservation.
pub fn row_bytes(fz: &Featurizer, text_bytes: usize) -> usize {
    let words = (fz.word_ngrams.1.saturating_sub(fz.word_ngrams.0) + 1) * (text_bytes / 3 + 1);
    let chars = if fz.char_ngrams.0 >= 1 {
        (fz.char_ngrams.1 - fz.char_ngrams.0 + 1) * (text_bytes + 2)
    } else {
        0
    };
    (words + chars) * 8 + 32
}

/// The fitted scorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentModel {
    pub featurizer: Featurizer,
    /// Training texts.
    pub docs: u64,
    /// idf of the buckets seen in training, as (bucket, idf); the others
    /// have the idf of a bucket in no text.
    pub idf: Vec<(u32, f32)>,
    pub idf_unseen: f32,
    pub intercept: f64,
    /// Non-zero weights as (bucket, weight).
    pub weights: Vec<(u32, f32)>,
    /// The n-grams of the largest positive and negative weights (the most
    /// frequent training n-gram in each bucket), for `model_info`.
    pub top_positive: Vec<(String, f64)>,
    pub top_negative: Vec<(String, f64)>,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub positive: u64,
    pub skipped: u64,
    pub iterations: usize,
    pub converged: bool,
    /// Mean log-loss and accuracy on the training texts.
    pub train_log_loss: f64,
    pub train_accuracy: f64,
}

/// Training options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams {
    pub featurizer: Featurizer,
    pub c: f64,
    pub max_iter: usize,
    pub top: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            featurizer: Featurizer::default(),
            c: 1.0,
            max_iter: 200,
            top: 20,
        }
    }
}

/// Rows per chunk of the parallel passes (fixed, so results do not depend on
/// the pool's size).
const CHUNK: usize = 4096;

/// Fit on `texts` (in a canonical order chosen by the caller) and `labels`
/// (0/1).
pub fn train(texts: &[&str], labels: &[f64], p: &TrainParams, skipped: u64) -> SentimentModel {
    let fz = p.featurizer;
    let n = texts.len();
    let dims = fz.dims();
    // Pass 1: counts per text, document frequencies.
    let chunks = n.div_ceil(CHUNK);
    let parts: Vec<Vec<Vec<(u32, f32)>>> = crate::pool::map(chunks, |c| {
        let end = ((c + 1) * CHUNK).min(n);
        (c * CHUNK..end).map(|i| fz.counts(texts[i])).collect()
    });
    let mut df = vec![0u32; dims];
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    let total: usize = parts.iter().flatten().map(Vec::len).sum();
    let mut entries = Vec::with_capacity(total);
    for row in parts.into_iter().flatten() {
        for &(b, _) in &row {
            df[b as usize] += 1;
        }
        entries.extend_from_slice(&row);
        offsets.push(entries.len());
    }
    let idf_of = |d: u32| (((1.0 + n as f64) / (1.0 + d as f64)).ln() + 1.0) as f32;
    let idf: Vec<f32> = df.iter().map(|&d| idf_of(d)).collect();
    let mut rows = Rows {
        offsets,
        entries,
        labels: labels.to_vec(),
    };
    for i in 0..n {
        let (a, b) = (rows.offsets[i], rows.offsets[i + 1]);
        weigh(&mut rows.entries[a..b], &idf);
    }
    // Pass 2: the fit.
    let objective = |x: &[f64]| loss_and_gradient(&rows, x, p.c);
    let mut x0 = vec![0.0; dims + 1];
    let positive = labels.iter().filter(|&&y| y == 1.0).count();
    let rate = (positive as f64 / n.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
    x0[dims] = (rate / (1.0 - rate)).ln();
    // scikit-learn's lbfgs stops when the largest gradient entry of the
    // mean loss is below tol = 1e-4; ours is the summed loss.
    let fit = lbfgs(objective, x0, p.max_iter, 10, 1e-4 * n.max(1) as f64);
    let w = &fit.x;
    // Training metrics.
    let (mut loss, mut right) = (0.0, 0usize);
    for i in 0..n {
        let eta = dot(rows.row(i), w) + w[dims];
        let y = rows.labels[i];
        loss += logloss(y, eta);
        right += ((eta >= 0.0) == (y == 1.0)) as usize;
    }
    let weights: Vec<(u32, f32)> = (0..dims)
        .filter(|&j| w[j] != 0.0 && df[j] > 0)
        .map(|j| (j as u32, w[j] as f32))
        .collect();
    let (top_positive, top_negative) = top_grams(&fz, texts, w, p.top);
    SentimentModel {
        featurizer: fz,
        docs: n as u64,
        idf: (0..dims)
            .filter(|&j| df[j] > 0)
            .map(|j| (j as u32, idf[j]))
            .collect(),
        idf_unseen: idf_of(0),
        intercept: w[dims],
        weights,
        top_positive,
        top_negative,
        metrics: Metrics {
            rows: n as u64,
            positive: positive as u64,
            skipped,
            iterations: fit.iterations,
            converged: fit.converged,
            train_log_loss: loss / n.max(1) as f64,
            train_accuracy: right as f64 / n.max(1) as f64,
        },
    }
}

/// n-grams with their weights.
type NamedWeights = Vec<(String, f64)>;

/// The `top` largest and smallest weights' buckets named by their most
/// frequent n-gram in the training texts.
fn top_grams(
    fz: &Featurizer,
    texts: &[&str],
    w: &[f64],
    top: usize,
) -> (NamedWeights, NamedWeights) {
    let dims = fz.dims();
    let mut order: Vec<usize> = (0..dims).filter(|&j| w[j] != 0.0).collect();
    order.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    let pos: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&j| w[j] > 0.0)
        .take(top)
        .collect();
    let neg: Vec<usize> = order
        .iter()
        .rev()
        .copied()
        .filter(|&j| w[j] < 0.0)
        .take(top)
        .collect();
    let wanted: std::collections::HashSet<u32> =
        pos.iter().chain(&neg).map(|&j| j as u32).collect();
    let mut seen: std::collections::HashMap<u32, std::collections::BTreeMap<String, u64>> =
        Default::default();
    let want = |b: u32| wanted.contains(&b);
    for t in texts {
        fz.grams(t, &want, |b, g| {
            if let Some(g) = g {
                *seen.entry(b).or_default().entry(g).or_default() += 1;
            }
        });
    }
    let name = |j: usize| {
        seen.get(&(j as u32))
            .and_then(|m| m.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))))
            .map(|(g, _)| g.trim().to_string())
            .unwrap_or_else(|| format!("#{j}"))
    };
    (
        pos.iter().map(|&j| (name(j), w[j])).collect(),
        neg.iter().map(|&j| (name(j), w[j])).collect(),
    )
}

fn dot(row: &[(u32, f32)], w: &[f64]) -> f64 {
    row.iter().map(|&(b, v)| w[b as usize] * v as f64).sum()
}

fn logloss(y: f64, eta: f64) -> f64 {
    // ln(1 + e^eta) - y * eta, stable for large |eta|.
    let softplus = if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    };
    softplus - y * eta
}

fn sigmoid(eta: f64) -> f64 {
    1.0 / (1.0 + (-eta).exp())
}

/// Blocks of rows the gradient is summed in: at most this many dense
/// partial gradients exist at once; fixed, so the sums do not depend on the
/// pool's size.
pub const BLOCKS: usize = 32;

/// Σ logloss + ‖w‖² / (2C) and its gradient (the last entry of `x` is the
/// unpenalised intercept), summed per block of rows on the pool and the
/// blocks added in order.
fn loss_and_gradient(rows: &Rows, x: &[f64], c: f64) -> (f64, Vec<f64>) {
    let dims = x.len() - 1;
    let n = rows.len();
    let blocks = n.div_ceil(CHUNK).clamp(1, BLOCKS);
    let per = n.div_ceil(blocks);
    let parts: Vec<(f64, Vec<f64>)> = crate::pool::map(blocks, |k| {
        let mut loss = 0.0;
        let mut g = vec![0.0; dims + 1];
        for i in k * per..((k + 1) * per).min(n) {
            let row = rows.row(i);
            let eta = dot(row, x) + x[dims];
            let y = rows.labels[i];
            loss += logloss(y, eta);
            let r = sigmoid(eta) - y;
            g[dims] += r;
            for &(b, v) in row {
                g[b as usize] += r * v as f64;
            }
        }
        (loss, g)
    });
    let mut parts = parts.into_iter();
    let (mut loss, mut grad) = parts.next().unwrap_or((0.0, vec![0.0; dims + 1]));
    for (l, g) in parts {
        loss += l;
        for (a, b) in grad.iter_mut().zip(&g) {
            *a += b;
        }
    }
    let mut penalty = 0.0;
    for j in 0..dims {
        penalty += x[j] * x[j];
        grad[j] += x[j] / c;
    }
    (loss + penalty / (2.0 * c), grad)
}

/// The result of [`lbfgs`].
pub struct Fit {
    pub x: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

/// Minimise a smooth convex function given as `f(x) -> (value, gradient)`
/// by L-BFGS with `m` correction pairs and a backtracking (Armijo) line
/// search. Converged when the largest gradient entry is below `gtol` or the
/// value changes by less than 1e-10 relative.
pub fn lbfgs(
    mut f: impl FnMut(&[f64]) -> (f64, Vec<f64>),
    x0: Vec<f64>,
    max_iter: usize,
    m: usize,
    gtol: f64,
) -> Fit {
    let mut x = x0;
    let (mut fx, mut g) = f(&x);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let dotv = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    for iter in 0..max_iter {
        if g.iter().fold(0.0f64, |a, v| a.max(v.abs())) < gtol {
            return Fit {
                x,
                iterations: iter,
                converged: true,
            };
        }
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let k = s_hist.len();
        let mut alpha = vec![0.0; k];
        for i in (0..k).rev() {
            let rho = 1.0 / dotv(&y_hist[i], &s_hist[i]);
            alpha[i] = rho * dotv(&s_hist[i], &q);
            for (qj, yj) in q.iter_mut().zip(&y_hist[i]) {
                *qj -= alpha[i] * yj;
            }
        }
        let gamma = if k > 0 {
            dotv(&s_hist[k - 1], &y_hist[k - 1]) / dotv(&y_hist[k - 1], &y_hist[k - 1])
        } else {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
        };
        for qj in q.iter_mut() {
            *qj *= gamma;
        }
        for i in 0..k {
            let rho = 1.0 / dotv(&y_hist[i], &s_hist[i]);
            let beta = rho * dotv(&y_hist[i], &q);
            for (qj, sj) in q.iter_mut().zip(&s_hist[i]) {
                *qj += (alpha[i] - beta) * sj;
            }
        }
        let d: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dotv(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction: restart from the gradient.
            s_hist.clear();
            y_hist.clear();
            continue;
        }
        let mut step = 1.0;
        let mut next = None;
        for _ in 0..40 {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let (fn_, gn) = f(&xn);
            if fn_.is_finite() && fn_ <= fx + 1e-4 * step * slope {
                next = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = next else {
            return Fit {
                x,
                iterations: iter,
                converged: false,
            };
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dotv(&s, &y) > 1e-12 {
            if s_hist.len() == m {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
        }
        let change = (fx - fn_).abs() / fx.abs().max(1.0);
        x = xn;
        fx = fn_;
        g = gn;
        if change < 1e-10 {
            return Fit {
                x,
                iterations: iter + 1,
                converged: true,
            };
        }
    }
    Fit {
        x,
        iterations: max_iter,
        converged: false,
    }
}

impl SentimentModel {
    /// P(positive) of `text`; NULL-free: an empty text scores the intercept.
    pub fn score_with(&self, text: &str, idf: &[f32], w: &[f32]) -> f64 {
        let mut counts = self.featurizer.counts(text);
        weigh(&mut counts, idf);
        let eta: f64 = counts
            .iter()
            .map(|&(b, v)| w[b as usize] as f64 * v as f64)
            .sum::<f64>()
            + self.intercept;
        sigmoid(eta)
    }

    /// Dense idf and weight vectors for scoring.
    pub fn dense(&self) -> (Vec<f32>, Vec<f32>) {
        let dims = self.featurizer.dims();
        let mut idf = vec![self.idf_unseen; dims];
        for &(b, v) in &self.idf {
            if let Some(x) = idf.get_mut(b as usize) {
                *x = v;
            }
        }
        let mut w = vec![0.0f32; dims];
        for &(b, v) in &self.weights {
            if let Some(x) = w.get_mut(b as usize) {
                *x = v;
            }
        }
        (idf, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn lbfgs_finds_a_quadratic_minimum() {
        let f = |x: &[f64]| {
            let v = (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2);
            (v, vec![2.0 * (x[0] - 3.0), 20.0 * (x[1] + 1.0)])
        };
        let fit = lbfgs(f, vec![0.0, 0.0], 100, 5, 1e-8);
        assert!(fit.converged);
        assert!((fit.x[0] - 3.0).abs() < 1e-5 && (fit.x[1] + 1.0).abs() < 1e-5);
    }

    #[test]
    fn hangul_grams_are_syllables_and_nfd_is_nfc() {
        let fz = Featurizer::default();
        let mut grams = Vec::new();
        fz.grams("좋아요", &|_| true, |_, g| grams.push(g.unwrap()));
        assert!(grams.contains(&" 좋".to_string()) && grams.contains(&"좋아요".to_string()));
        let nfd: String = "배송이 빨라서 좋아요".nfd().collect();
        assert_eq!(fz.counts(&nfd), fz.counts("배송이 빨라서 좋아요"));
        // "very good": 3 word grams; character 2-4 grams of " very " (5 + 4
        // + 3) and " good " (the same).
        let mut n = 0;
        fz.grams("very good", &|_| false, |_, _| n += 1);
        assert_eq!(n, 3 + 12 + 12);
        let cjk_only = Featurizer {
            char_all: false,
            ..fz
        };
        let mut n = 0;
        cjk_only.grams("very good", &|_| false, |_, _| n += 1);
        assert_eq!(n, 3);
    }

    #[test]
    fn a_separable_toy_set_is_learned() {
        let texts = ["good great", "great", "good", "bad awful", "awful", "bad"];
        let labels = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let m = train(&texts, &labels, &TrainParams::default(), 0);
        let (idf, w) = m.dense();
        assert!(m.score_with("good", &idf, &w) > 0.5);
        assert!(m.score_with("awful", &idf, &w) < 0.5);
        assert_eq!(m.metrics.train_accuracy, 1.0);
        let names: Vec<&str> = m.top_positive.iter().map(|(g, _)| g.as_str()).collect();
        assert!(
            names.contains(&"good") && names.contains(&"great"),
            "{names:?}"
        );
    }
}
