//! The churn model value: training options, training, prediction and
//! explanation, independent of DataFusion.
//!
//! Options (DESIGN.md's trailing `key=value` string):
//! - every algorithm: `algorithm` (`gbt` default, `logistic`,
//!   `random_forest`), `seed` (0), `class_weight` (`none` default, `balanced`,
//!   or a number: the weight of a churned row, others 1), `calibration`
//!   (`none` default, `platt`, `isotonic`) with `calibration_fraction` (0.2):
//!   a stratified, seeded share of the rows is held out of training and the
//!   calibration of the model's probabilities is fitted on it, unweighted, so
//!   `churn_score` returns calibrated probabilities. Why `none` is the
//!   default: on wa_churn (trained on 4 stratified folds, tested on the
//!   fifth; benches/RESULTS.md, "Calibrated churn probabilities") gbt's,
//!   the forest's and logistic regression's own probabilities had test
//!   Brier 0.1374, 0.1379 and 0.1396 and calibrated ones 0.1387–0.1411: the
//!   held-out fifth costs more than the calibration repairs. Calibration
//!   pays where the probabilities are biased by design: gbt with
//!   `class_weight=balanced` went from 0.1611 to 0.1384 (isotonic);
//! - `logistic`: `l2` (1.0; scikit-learn's `C = 1/l2`), `max_iter` (100 Newton
//!   steps);
//! - `gbt`: `max_iter` (300 rounds), `learning_rate` (0.05), `num_leaves`
//!   (15), `max_depth` (0, no limit), `min_samples_leaf` (20), `l2` (leaf
//!   penalty λ, 1.0), `max_bins` (255), `growth` (`leaf` or `depth`),
//!   `validation_fraction` (0.1; 0 turns early stopping off),
//!   `early_stopping_rounds` (20);
//! - `random_forest`: `n_trees` (100), `max_features` (`sqrt` default, or a
//!   count), `max_depth` (6; 0 = no limit), `min_samples_leaf` (1),
//!   `max_bins` (255).
//!
//! Why the forest's trees are 6 levels deep by default: on wa_churn
//! (stratified 5-fold, seed 42) depth 6 reached ROC-AUC 0.8457 and unlimited
//! depth 0.8342 (300 trees each; 100 trees of depth 6: 0.8456), and trees of
//! at most 256 leaves (depth 8) are scored by [`super::masks`]' tables:
//! 1,000,000 rows in a fraction of a second, where 300 unlimited trees are
//! walked in 45 s.
//!
//! A key of another algorithm is an error, as is an unknown key.

use serde::{Deserialize, Serialize};

use super::data::{sigmoid, ClassWeight, Feature, Frame};
use super::ensemble::{
    fit_forest, fit_gbt, stratified_split, Ensemble, Explainer, ForestParams, GbtParams, GbtReport,
};
use super::logistic::{self, Logistic};
use super::metrics;
use super::shap::ShapScratch;
use super::tree::{Growth, TreeParams};
use super::tree_batch::TreeBatch;
use crate::calibration::calibrator::Calibrator;
use crate::calibration::isotonic::Isotonic;
use crate::calibration::platt::Platt;
use crate::error::UdfError;
use crate::options::Options;

const COMMON: &[&str] = &[
    "algorithm",
    "seed",
    "class_weight",
    "calibration",
    "calibration_fraction",
];
const LOGISTIC: &[&str] = &["l2", "max_iter"];
const GBT: &[&str] = &[
    "max_iter",
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_samples_leaf",
    "l2",
    "max_bins",
    "growth",
    "validation_fraction",
    "early_stopping_rounds",
];
const FOREST: &[&str] = &[
    "n_trees",
    "max_features",
    "max_depth",
    "min_samples_leaf",
    "max_bins",
];

/// The learner of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum Learner {
    Logistic(Logistic),
    Gbt(Ensemble),
    RandomForest(Ensemble),
}

/// Training options, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    Logistic { l2: f64, max_iter: usize },
    Gbt(GbtParams),
    RandomForest(ForestParams),
}

/// How `churn_train` calibrates its probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    None,
    Platt,
    Isotonic,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub algorithm: Algorithm,
    pub class_weight: ClassWeight,
    pub calibration: Calibration,
    /// The share of rows held out to fit the calibration on.
    pub calibration_fraction: f64,
    pub seed: u64,
    /// The options as resolved, for `model_info`.
    pub shown: serde_json::Map<String, serde_json::Value>,
}

fn bad(function: &'static str, message: String) -> UdfError {
    UdfError::Options { function, message }
}

impl TrainOptions {
    pub fn parse(function: &'static str, text: &str, features: usize) -> Result<Self, UdfError> {
        let all: Vec<&str> = COMMON
            .iter()
            .chain(LOGISTIC)
            .chain(GBT)
            .chain(FOREST)
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let o = Options::parse(function, text, &all)?;
        let algorithm = o.get("algorithm").unwrap_or("gbt").to_ascii_lowercase();
        let own: &[&str] = match algorithm.as_str() {
            "logistic" => LOGISTIC,
            "gbt" => GBT,
            "random_forest" => FOREST,
            other => {
                return Err(bad(
                    function,
                    format!("algorithm '{other}' is not one of logistic, gbt, random_forest"),
                ))
            }
        };
        for key in &all {
            if o.get(key).is_some() && !COMMON.contains(key) && !own.contains(key) {
                return Err(bad(
                    function,
                    format!(
                        "key '{key}' does not apply to algorithm={algorithm} (its keys: {})",
                        COMMON
                            .iter()
                            .chain(own)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let seed: u64 = o.parse_or("seed", 0)?;
        let class_weight = match o.get("class_weight").map(str::to_ascii_lowercase) {
            None => ClassWeight::None,
            Some(v) if v == "none" => ClassWeight::None,
            Some(v) if v == "balanced" => ClassWeight::Balanced,
            Some(v) => match v.parse::<f64>() {
                Ok(w) if w.is_finite() && w > 0.0 => ClassWeight::Positive(w),
                _ => {
                    return Err(bad(
                        function,
                        format!("class_weight '{v}' must be none, balanced or a number > 0"),
                    ))
                }
            },
        };
        let calibration = match o.get("calibration").map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") => Calibration::None,
            Some("platt") | Some("sigmoid") => Calibration::Platt,
            Some("isotonic") => Calibration::Isotonic,
            Some(v) => {
                return Err(bad(
                    function,
                    format!("calibration '{v}' must be none, platt or isotonic"),
                ))
            }
        };
        let calibration_fraction: f64 = o.parse_or("calibration_fraction", 0.2)?;
        if !(calibration_fraction > 0.0 && calibration_fraction < 0.9) {
            return Err(bad(
                function,
                format!("calibration_fraction must be in (0, 0.9), got {calibration_fraction}"),
            ));
        }
        if calibration == Calibration::None && o.get("calibration_fraction").is_some() {
            return Err(bad(
                function,
                "calibration_fraction needs calibration=platt or calibration=isotonic".into(),
            ));
        }
        let positive = |key: &str, v: f64| -> Result<f64, UdfError> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(bad(
                    function,
                    format!("{key} must be a number > 0, got {v}"),
                ))
            }
        };
        let at_least_one = |key: &str, v: usize| -> Result<usize, UdfError> {
            if v >= 1 {
                Ok(v)
            } else {
                Err(bad(function, format!("{key} must be >= 1")))
            }
        };
        // Rounds, iterations and trees: each is a pass over the training
        // rows, so a typo (1e9) would run for days.
        let passes = |key: &str, v: usize| -> Result<usize, UdfError> {
            if (1..=100_000).contains(&v) {
                Ok(v)
            } else {
                Err(bad(
                    function,
                    format!("{key} must be from 1 to 100000, got {v}"),
                ))
            }
        };
        let max_bins = |o: &Options| -> Result<usize, UdfError> {
            let b: usize = o.parse_or("max_bins", 255)?;
            if (2..=255).contains(&b) {
                Ok(b)
            } else {
                Err(bad(
                    function,
                    format!("max_bins must be from 2 to 255, got {b}"),
                ))
            }
        };
        let mut shown = serde_json::Map::new();
        let mut show = |k: &str, v: serde_json::Value| {
            shown.insert(k.to_string(), v);
        };
        show("algorithm", algorithm.clone().into());
        show("seed", seed.into());
        show(
            "class_weight",
            match class_weight {
                ClassWeight::None => "none".into(),
                ClassWeight::Balanced => "balanced".into(),
                ClassWeight::Positive(w) => w.into(),
            },
        );
        show(
            "calibration",
            match calibration {
                Calibration::None => "none",
                Calibration::Platt => "platt",
                Calibration::Isotonic => "isotonic",
            }
            .into(),
        );
        if calibration != Calibration::None {
            show("calibration_fraction", calibration_fraction.into());
        }
        let algorithm = match algorithm.as_str() {
            "logistic" => {
                let l2 = positive("l2", o.parse_or("l2", 1.0)?)?;
                let max_iter = passes("max_iter", o.parse_or("max_iter", 100)?)?;
                show("l2", l2.into());
                show("max_iter", max_iter.into());
                Algorithm::Logistic { l2, max_iter }
            }
            "gbt" => {
                let growth = match o.get("growth").map(str::to_ascii_lowercase).as_deref() {
                    None | Some("leaf") => Growth::Leaf,
                    Some("depth") => Growth::Depth,
                    Some(g) => {
                        return Err(bad(function, format!("growth '{g}' must be leaf or depth")))
                    }
                };
                let lambda: f64 = o.parse_or("l2", 1.0)?;
                if !(lambda.is_finite() && lambda >= 0.0) {
                    return Err(bad(function, format!("l2 must be >= 0, got {lambda}")));
                }
                let vf: f64 = o.parse_or("validation_fraction", 0.1)?;
                if !(0.0..0.9).contains(&vf) {
                    return Err(bad(
                        function,
                        format!("validation_fraction must be in [0, 0.9), got {vf}"),
                    ));
                }
                let num_leaves = o.parse_or("num_leaves", 15usize)?;
                // LightGBM's bound too: a tree never has more leaves than rows.
                if !(2..=131_072).contains(&num_leaves) {
                    return Err(bad(function, "num_leaves must be from 2 to 131072".into()));
                }
                let p = GbtParams {
                    max_iter: passes("max_iter", o.parse_or("max_iter", 300)?)?,
                    learning_rate: positive("learning_rate", o.parse_or("learning_rate", 0.05)?)?,
                    tree: TreeParams {
                        max_leaves: num_leaves,
                        max_depth: o.parse_or("max_depth", 0)?,
                        min_samples_leaf: at_least_one(
                            "min_samples_leaf",
                            o.parse_or("min_samples_leaf", 20)?,
                        )? as f64,
                        min_hessian: 1e-3,
                        lambda,
                        max_features: 0,
                        growth,
                    },
                    max_bins: max_bins(&o)?,
                    validation_fraction: vf,
                    early_stopping_rounds: at_least_one(
                        "early_stopping_rounds",
                        o.parse_or("early_stopping_rounds", 20)?,
                    )?,
                    seed,
                };
                show("max_iter", p.max_iter.into());
                show("learning_rate", p.learning_rate.into());
                show("num_leaves", num_leaves.into());
                show("max_depth", p.tree.max_depth.into());
                show("min_samples_leaf", (p.tree.min_samples_leaf as u64).into());
                show("l2", lambda.into());
                show("max_bins", p.max_bins.into());
                show(
                    "growth",
                    if growth == Growth::Leaf {
                        "leaf"
                    } else {
                        "depth"
                    }
                    .into(),
                );
                show("validation_fraction", vf.into());
                show("early_stopping_rounds", p.early_stopping_rounds.into());
                Algorithm::Gbt(p)
            }
            _ => {
                let max_features = match o.get("max_features").map(str::to_ascii_lowercase) {
                    None => ((features as f64).sqrt().round() as usize).max(1),
                    Some(v) if v == "sqrt" => ((features as f64).sqrt().round() as usize).max(1),
                    Some(v) => match v.parse::<usize>() {
                        Ok(k) if k >= 1 => k.min(features.max(1)),
                        _ => {
                            return Err(bad(
                                function,
                                format!("max_features '{v}' must be sqrt or a count >= 1"),
                            ))
                        }
                    },
                };
                let p = ForestParams {
                    n_trees: passes("n_trees", o.parse_or("n_trees", 100)?)?,
                    tree: TreeParams {
                        max_leaves: 0,
                        max_depth: o.parse_or("max_depth", 6)?,
                        min_samples_leaf: at_least_one(
                            "min_samples_leaf",
                            o.parse_or("min_samples_leaf", 1)?,
                        )? as f64,
                        min_hessian: 0.0,
                        lambda: 0.0,
                        max_features,
                        growth: Growth::Depth,
                    },
                    max_bins: max_bins(&o)?,
                    seed,
                };
                show("n_trees", p.n_trees.into());
                show("max_features", max_features.into());
                show("max_depth", p.tree.max_depth.into());
                show("min_samples_leaf", (p.tree.min_samples_leaf as u64).into());
                show("max_bins", p.max_bins.into());
                Algorithm::RandomForest(p)
            }
        };
        Ok(TrainOptions {
            algorithm,
            class_weight,
            calibration,
            calibration_fraction,
            seed,
            shown,
        })
    }
}

/// Figures from training, shown by `model_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainMetrics {
    pub rows: u64,
    pub positives: u64,
    /// Rows left out: NULL feature struct or NULL label.
    pub skipped: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_roc_auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_pr_auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_log_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", flatten)]
    pub boosting: Option<GbtReport>,
    /// Rows held out to fit the calibration, and the Brier score there
    /// before and after it (the calibration's own fit rows: in-sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_brier_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_brier_after: Option<f64>,
}

/// A fitted churn model (what `churn_train` returns, inside the `Model` JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub features: Vec<Feature>,
    pub learner: Learner,
    /// The raw output the contributions start from: the intercept
    /// (logistic), the mean log-odds over the training rows (gbt) or the mean
    /// probability (random_forest).
    pub expected_value: f64,
    /// `log_odds` or `probability`: the unit of `expected_value` and of
    /// `churn_explain`'s contributions.
    pub output: String,
    /// Share of each feature in the model: total split gain for trees, sum
    /// of |coefficient| on standardised columns for logistic; sums to 1.
    pub importance: serde_json::Map<String, serde_json::Value>,
    pub metrics: TrainMetrics,
    /// The calibration of the probabilities (`calibration=platt|isotonic`),
    /// fitted on held-out rows; `churn_score` applies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibrator>,
}

impl ChurnModel {
    /// Train on `frame` (its weights are overwritten by the class weights).
    pub fn train(
        frame: Frame,
        features: Vec<Feature>,
        options: &TrainOptions,
        skipped: u64,
    ) -> Result<ChurnModel, String> {
        if options.calibration == Calibration::None {
            return Self::train_learner(frame, features, options, skipped);
        }
        let (fit_rows, held) = stratified_split(
            &frame.labels,
            options.calibration_fraction,
            options.seed ^ 0xCA1B,
        );
        let positives = held.iter().filter(|&&i| frame.labels[i] > 0.5).count();
        if positives == 0 || positives == held.len() {
            return Err(format!(
                "calibration: the {} held-out rows (calibration_fraction {}) hold only one class; use more rows or calibration=none",
                held.len(),
                options.calibration_fraction
            ));
        }
        let held_frame = frame.subset(&held);
        let mut model = Self::train_learner(frame.subset(&fit_rows), features, options, skipped)?;
        let probabilities: Vec<f64> = model
            .raw_outputs(&held_frame.columns, held_frame.rows())
            .into_iter()
            .map(|raw| model.probability_of(raw))
            .collect();
        let labels: Vec<bool> = held_frame.labels.iter().map(|&y| y > 0.5).collect();
        let calibrator = match options.calibration {
            Calibration::Platt => Calibrator::Platt(Platt::fit(&probabilities, &labels)?.0),
            _ => Calibrator::Isotonic(Isotonic::fit(&probabilities, &labels)?),
        };
        let brier = |p: &mut dyn Iterator<Item = f64>| {
            p.zip(&labels)
                .map(|(p, &y)| (p - if y { 1.0 } else { 0.0 }).powi(2))
                .sum::<f64>()
                / labels.len() as f64
        };
        model.metrics.calibration_rows = Some(held.len() as u64);
        model.metrics.calibration_brier_before = Some(brier(&mut probabilities.iter().copied()));
        model.metrics.calibration_brier_after = Some(brier(
            &mut probabilities.iter().map(|&p| calibrator.probability(p)),
        ));
        model.calibration = Some(calibrator);
        Ok(model)
    }

    /// Train the learner on all of `frame` (its weights are overwritten by
    /// the class weights); no calibration.
    fn train_learner(
        mut frame: Frame,
        features: Vec<Feature>,
        options: &TrainOptions,
        skipped: u64,
    ) -> Result<ChurnModel, String> {
        frame.weights = options.class_weight.weights(&frame.labels);
        let mut boosting = None;
        let (mut iterations, mut converged) = (None, None);
        let (learner, raw_importance) = match &options.algorithm {
            Algorithm::Logistic { l2, max_iter } => {
                let columns: usize = features
                    .iter()
                    .map(|f| f.categories.as_ref().map_or(1, Vec::len))
                    .sum();
                if columns > logistic::MAX_COLUMNS {
                    return Err(format!(
                        "logistic: the categorical features expand to {columns} columns, more than {}; use algorithm=gbt",
                        logistic::MAX_COLUMNS
                    ));
                }
                let m = logistic::fit(&frame, &features, *l2, *max_iter);
                let mut imp = vec![0.0; features.len()];
                for c in &m.columns {
                    imp[c.feature] += c.coef.abs();
                }
                iterations = Some(m.iterations);
                converged = Some(m.converged);
                (Learner::Logistic(m), imp)
            }
            Algorithm::Gbt(p) => {
                let (e, report, gain) = fit_gbt(&frame, &features, p);
                boosting = Some(report);
                (Learner::Gbt(e), gain)
            }
            Algorithm::RandomForest(p) => {
                let (e, gain) = fit_forest(&frame, &features, p);
                (Learner::RandomForest(e), gain)
            }
        };
        let total: f64 = raw_importance.iter().sum();
        let importance = features
            .iter()
            .zip(&raw_importance)
            .map(|(f, v)| {
                let share = if total > 0.0 { v / total } else { 0.0 };
                (f.name.clone(), serde_json::json!(share))
            })
            .collect();
        let (expected_value, output) = match &learner {
            Learner::Logistic(m) => (m.intercept, "log_odds"),
            Learner::Gbt(e) => (e.expected(), "log_odds"),
            Learner::RandomForest(e) => (e.expected(), "probability"),
        };
        let mut model = ChurnModel {
            features,
            learner,
            expected_value,
            output: output.to_string(),
            importance,
            metrics: TrainMetrics {
                rows: frame.rows() as u64,
                positives: frame.labels.iter().filter(|&&y| y > 0.5).count() as u64,
                skipped,
                train_roc_auc: None,
                train_pr_auc: None,
                train_log_loss: None,
                iterations,
                converged,
                boosting,
                calibration_rows: None,
                calibration_brier_before: None,
                calibration_brier_after: None,
            },
            calibration: None,
        };
        let mut pairs: Vec<(f64, bool)> = model
            .raw_outputs(&frame.columns, frame.rows())
            .into_iter()
            .zip(&frame.labels)
            .map(|(raw, &y)| (model.probability_of(raw), y > 0.5))
            .collect();
        model.metrics.train_log_loss = metrics::log_loss(&pairs);
        model.metrics.train_roc_auc = metrics::roc_auc(&mut pairs);
        model.metrics.train_pr_auc = metrics::pr_auc(&mut pairs);
        Ok(model)
    }

    /// Check a model read from storage before scoring with it.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.features.len();
        match &self.learner {
            Learner::Logistic(m) => {
                for c in &m.columns {
                    if c.feature >= d {
                        return Err("a logistic column names a feature the model lacks".into());
                    }
                }
                Ok(())
            }
            Learner::Gbt(e) | Learner::RandomForest(e) => e.validate(d),
        }
    }

    /// The probability for a raw output: the logistic function of log-odds,
    /// or a forest's mean probability (clamped against rounding), then the
    /// model's calibration if it has one.
    pub fn probability_of(&self, raw: f64) -> f64 {
        let p = match &self.learner {
            Learner::RandomForest(_) => raw.clamp(0.0, 1.0),
            _ => sigmoid(raw),
        };
        match &self.calibration {
            Some(c) => c.probability(p),
            None => p,
        }
    }

    /// The raw outputs of `rows` rows of encoded `columns` (one per
    /// feature; a model without features still has rows).
    /// Trees go through [`TreeBatch`] where they fit it (the same bits as
    /// the walk, several times faster: a fifth of gbt's training time on
    /// wa_churn went to walking the training rows for the metrics).
    pub fn raw_outputs(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        let mut out = vec![0.0; rows];
        if let Learner::Gbt(e) | Learner::RandomForest(e) = &self.learner {
            if let Some(trees) = TreeBatch::new(e, self.features.len()) {
                trees.raw(e, columns, &mut out);
                return out;
            }
        }
        let mut scorer = self.scorer();
        let mut x = vec![0.0; self.features.len()];
        for (i, o) in out.iter_mut().enumerate() {
            for (f, col) in columns.iter().enumerate() {
                x[f] = col[i];
            }
            *o = scorer.raw(&x);
        }
        out
    }

    /// A scorer with its working buffers.
    pub fn scorer(&self) -> Scorer<'_> {
        Scorer {
            model: self,
            explainer: None,
            input: vec![0.0; self.features.len()],
            shap: ShapScratch::default(),
        }
    }

    /// What explaining many rows precomputes (the trees' SHAP tables);
    /// `None` for a logistic model, whose contributions are products.
    pub fn explainer(&self) -> Option<Explainer> {
        match &self.learner {
            Learner::Logistic(_) => None,
            Learner::Gbt(e) | Learner::RandomForest(e) => Some(e.explainer()),
        }
    }

    /// A scorer whose [`Scorer::contributions`] use `explainer` (from
    /// [`ChurnModel::explainer`] of this model).
    pub fn explaining_scorer<'a>(&'a self, explainer: Option<&'a Explainer>) -> Scorer<'a> {
        Scorer {
            explainer,
            ..self.scorer()
        }
    }
}

/// Scores one row at a time, reusing its buffer.
pub struct Scorer<'a> {
    model: &'a ChurnModel,
    explainer: Option<&'a Explainer>,
    input: Vec<f64>,
    shap: ShapScratch,
}

impl Scorer<'_> {
    /// The raw output (log-odds, or probability for a forest) for encoded `x`.
    pub fn raw(&mut self, x: &[f64]) -> f64 {
        match &self.model.learner {
            Learner::Logistic(m) => m.log_odds(x),
            Learner::Gbt(e) | Learner::RandomForest(e) => {
                e.tree_input(x, &mut self.input);
                e.raw(&self.input)
            }
        }
    }

    /// The churn probability for encoded `x`, in [0, 1].
    pub fn probability(&mut self, x: &[f64]) -> f64 {
        let raw = self.raw(x);
        self.model.probability_of(raw)
    }

    /// [`Scorer::contributions`] for many rows: `xs` and `out` hold one row
    /// of `d` values after another (tree-major for ensembles, see
    /// [`super::ensemble::Ensemble::shap_rows`]).
    pub fn contributions_rows(&mut self, xs: &[f64], out: &mut [f64], d: usize) {
        match &self.model.learner {
            Learner::Logistic(m) => {
                for (x, o) in xs.chunks(d.max(1)).zip(out.chunks_mut(d.max(1))) {
                    m.contributions(x, o);
                }
            }
            Learner::Gbt(e) | Learner::RandomForest(e) => {
                let mut inputs = vec![0.0; xs.len()];
                for (x, t) in xs.chunks(d.max(1)).zip(inputs.chunks_mut(d.max(1))) {
                    e.tree_input(x, t);
                }
                e.shap_rows(self.explainer, &inputs, out, d, &mut self.shap);
            }
        }
    }

    /// Each feature's contribution to the raw output for encoded `x`; they
    /// add up to `raw(x) − expected_value`.
    pub fn contributions(&mut self, x: &[f64], out: &mut [f64]) {
        match &self.model.learner {
            Learner::Logistic(m) => m.contributions(x, out),
            Learner::Gbt(e) | Learner::RandomForest(e) => {
                e.tree_input(x, &mut self.input);
                e.shap(self.explainer, &self.input, out, &mut self.shap);
            }
        }
    }
}
