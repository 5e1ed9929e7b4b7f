//! The features a churn model reads, and how values are encoded for it.
//!
//! A feature is numeric (any SQL number or boolean, read as `f64`) or
//! categorical (any SQL string). Models work on *encoded columns*: one `f64`
//! vector per feature, NaN for a missing value; a categorical value is
//! encoded as the index of its category in the model's sorted category list,
//! and a category the model has not seen is encoded as missing. Each
//! algorithm then treats missing values its own way (see its module).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One input feature as the model remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    /// Categories of a categorical feature, sorted; `None` for a numeric one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl Feature {
    /// A numeric feature.
    pub fn numeric(name: impl Into<String>) -> Feature {
        Feature {
            name: name.into(),
            categories: None,
        }
    }

    /// A categorical feature with these categories (sorted, as the model
    /// keeps them).
    pub fn categorical(
        name: impl Into<String>,
        categories: impl IntoIterator<Item = impl Into<String>>,
    ) -> Feature {
        Feature {
            name: name.into(),
            categories: Some(categories.into_iter().map(Into::into).collect()),
        }
    }

    pub fn is_categorical(&self) -> bool {
        self.categories.is_some()
    }
}

/// A categorical column being collected: values as codes into a growing
/// dictionary (insertion order), `u32::MAX` for NULL.
#[derive(Debug, Clone, Default)]
pub struct CategoryColumn {
    pub codes: Vec<u32>,
    pub names: Vec<String>,
    /// foldhash, not the standard SipHash: SipHash was 4 % of gbt's
    /// training time on wa_churn (ten string features per row).
    index: HashMap<String, u32, foldhash::fast::FixedState>,
}

impl CategoryColumn {
    pub const MISSING: u32 = u32::MAX;

    pub fn push(&mut self, value: Option<&str>) {
        let code = match value {
            None => Self::MISSING,
            Some(v) => match self.index.get(v) {
                Some(&c) => c,
                None => {
                    let c = self.names.len() as u32;
                    self.names.push(v.to_string());
                    self.index.insert(v.to_string(), c);
                    c
                }
            },
        };
        self.codes.push(code);
    }

    /// The sorted category list and the codes re-expressed as indices into
    /// it (NaN for missing).
    pub fn finish(&self) -> (Vec<String>, Vec<f64>) {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (r, &c) in order.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        let sorted = order
            .iter()
            .map(|&c| self.names[c as usize].clone())
            .collect();
        let values = self
            .codes
            .iter()
            .map(|&c| {
                if c == Self::MISSING {
                    f64::NAN
                } else {
                    f64::from(rank[c as usize])
                }
            })
            .collect();
        (sorted, values)
    }
}

/// Training data: encoded feature columns, 0/1 labels and row weights.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub columns: Vec<Vec<f64>>,
    pub labels: Vec<f64>,
    pub weights: Vec<f64>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Frame {
        Frame {
            columns: self
                .columns
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            // Weights are set by training (class weights): a frame may have none yet.
            weights: if self.weights.is_empty() {
                Vec::new()
            } else {
                idx.iter().map(|&i| self.weights[i]).collect()
            },
        }
    }
}

/// How classes are weighted in training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row weighs 1.
    None,
    /// Each class weighs n / (2 · n_class), scikit-learn's `balanced`.
    Balanced,
    /// Positive (churned) rows weigh this much, negatives 1.
    Positive(f64),
}

impl ClassWeight {
    /// Row weights for `labels`.
    pub fn weights(&self, labels: &[f64]) -> Vec<f64> {
        let n = labels.len() as f64;
        let pos = labels.iter().filter(|&&y| y > 0.5).count() as f64;
        let (wp, wn) = match *self {
            ClassWeight::None => (1.0, 1.0),
            ClassWeight::Balanced => (
                if pos > 0.0 { n / (2.0 * pos) } else { 1.0 },
                if n > pos { n / (2.0 * (n - pos)) } else { 1.0 },
            ),
            ClassWeight::Positive(w) => (w, 1.0),
        };
        labels
            .iter()
            .map(|&y| if y > 0.5 { wp } else { wn })
            .collect()
    }
}

/// The logistic function, without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_sorted_and_missing_is_nan() {
        let mut c = CategoryColumn::default();
        for v in [Some("b"), None, Some("a"), Some("b")] {
            c.push(v);
        }
        let (names, values) = c.finish();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(values[0], 1.0);
        assert!(values[1].is_nan());
        assert_eq!(values[2], 0.0);
        assert_eq!(values[3], 1.0);
    }

    #[test]
    fn balanced_weights_equalise_classes() {
        let w = ClassWeight::Balanced.weights(&[1.0, 0.0, 0.0, 0.0]);
        assert_eq!(w, vec![2.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
        assert!((sigmoid(800.0) - 1.0).abs() < 1e-15 && sigmoid(-800.0) >= 0.0);
    }
}
