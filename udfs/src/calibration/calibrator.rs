//! A fitted calibration, whichever the method: the model value's part
//! that `calibrate_fit` writes and `calibrate` reads (a leaf: the model
//! enum imports it, and it imports only the methods).

use serde::{Deserialize, Serialize};

/// A fitted calibration, by method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibrator {
    Platt(super::platt::Platt),
    Isotonic(super::isotonic::Isotonic),
    VennAbers(super::venn_abers::VennAbers),
}

impl Calibrator {
    /// The calibrated probability of `score`.
    pub fn probability(&self, score: f64) -> f64 {
        match self {
            Calibrator::Platt(p) => p.probability(score),
            Calibrator::Isotonic(i) => i.probability(score),
            Calibrator::VennAbers(v) => v.probability(score),
        }
    }
}
