//! Models as SQL values.
//!
//! A `*_fit` aggregate returns its model as a JSON string (SQL `VARCHAR`), so a
//! model stores in any table, round-trips through Parquet unchanged (floats are
//! written in shortest round-trip form), and is readable by BI tools without
//! crmlake. Scoring functions parse it once per batch. The JSON is the document
//! `model_info` shows: `kind`, `params` named as in the literature, and fit
//! diagnostics.

use serde::{Deserialize, Serialize};

use crate::basket::recommend::{BasketRules, RulesParams};
use crate::calibration::calibrator::Calibrator;
use crate::calibration::conformal::Conformal;
use crate::churn::model::{ChurnModel, Learner};
use crate::error::UdfError;
use crate::feedback::learned::SentimentModel;
use crate::ltv::bgnbd::BgNbd;
use crate::ltv::gamma_gamma::GammaGamma;
use crate::ltv::interval::Uncertainty;
use crate::ltv::mbgnbd::MbgNbd;
use crate::ltv::paretonbd::ParetoNbd;
use crate::ltv::PurchaseModel;
use crate::recommender::model::RecommenderModel;
use crate::segment::kmeans::{KMeansModel, KMeansParams};

/// Diagnostics every fitted model carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    pub log_likelihood: f64,
    /// Customers (rows) the model was fitted on.
    pub n: f64,
    pub converged: bool,
    pub iterations: usize,
    /// Standard errors by parameter name; absent when the information matrix
    /// was not positive definite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_errors: Option<serde_json::Map<String, serde_json::Value>>,
    /// Covariance of the parameters' logarithms, in `params` order: what the
    /// delta-method intervals use (absent with `std_errors`, and in models
    /// fitted before it was stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_covariance: Option<Vec<Vec<f64>>>,
    /// Bootstrap replicates, when the fit was asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// Rows left out of the fit, by reason.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub skipped: serde_json::Map<String, serde_json::Value>,
}

/// A fit's bootstrap replicates (`'replicates=R, seed=S'`): each
/// replicate's parameters in `params` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub seed: u64,
    pub replicates: Vec<Vec<f64>>,
    /// Replicates whose refit did not converge (kept, as CLVTools keeps them).
    #[serde(default)]
    pub not_converged: usize,
}

/// Every model kind crmlake produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    Bgnbd {
        params: BgNbd,
        #[serde(flatten)]
        info: FitInfo,
    },
    Paretonbd {
        params: ParetoNbd,
        #[serde(flatten)]
        info: FitInfo,
    },
    Mbgnbd {
        params: MbgNbd,
        #[serde(flatten)]
        info: FitInfo,
    },
    GammaGamma {
        params: GammaGamma,
        #[serde(flatten)]
        info: FitInfo,
    },
    /// k-means clusters (`kmeans_fit`).
    Kmeans {
        params: KMeansParams,
        #[serde(flatten)]
        model: KMeansModel,
    },
    /// A churn classifier (`churn_train`); `params` are the resolved options.
    Churn {
        params: serde_json::Map<String, serde_json::Value>,
        #[serde(flatten)]
        model: ChurnModel,
    },
    /// A learned sentiment scorer (`sentiment_train`); `params` are the
    /// resolved options.
    Sentiment {
        params: serde_json::Map<String, serde_json::Value>,
        #[serde(flatten)]
        model: SentimentModel,
    },
    /// Association rules for `recommend` (`basket_fit`).
    BasketRules {
        params: RulesParams,
        #[serde(flatten)]
        rules: BasketRules,
    },
    /// A per-customer recommender (`recommender_fit`); `params` are the
    /// resolved options.
    Recommender {
        params: serde_json::Map<String, serde_json::Value>,
        model: RecommenderModel,
    },
    /// A probability calibration (`calibrate_fit`): `method` and its fit,
    /// with the rows and positives it was fitted on.
    Calibration {
        n: usize,
        positives: usize,
        #[serde(flatten)]
        calibrator: Calibrator,
    },
    /// Conformal prediction sets (`conformal_fit`).
    Conformal {
        #[serde(flatten)]
        model: Conformal,
    },
}

impl Model {
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Bgnbd { .. } => "bgnbd",
            Model::Paretonbd { .. } => "paretonbd",
            Model::Mbgnbd { .. } => "mbgnbd",
            Model::GammaGamma { .. } => "gamma_gamma",
            Model::BasketRules { .. } => "basket_rules",
            Model::Kmeans { .. } => "kmeans",
            Model::Churn { .. } => "churn",
            Model::Sentiment { .. } => "sentiment",
            Model::Recommender { .. } => "recommender",
            Model::Calibration { .. } => "calibration",
            Model::Conformal { .. } => "conformal",
        }
    }

    /// The model as a purchase model (BG/NBD, Pareto/NBD, MBG/NBD), if it is one.
    pub fn purchase(&self) -> Option<&dyn PurchaseModel> {
        match self {
            Model::Bgnbd { params, .. } => Some(params),
            Model::Paretonbd { params, .. } => Some(params),
            Model::Mbgnbd { params, .. } => Some(params),
            Model::GammaGamma { .. }
            | Model::BasketRules { .. }
            | Model::Kmeans { .. }
            | Model::Churn { .. }
            | Model::Sentiment { .. }
            | Model::Recommender { .. }
            | Model::Calibration { .. }
            | Model::Conformal { .. } => None,
        }
    }

    /// A lifetime-value model's parameter vector (in `params` order) with
    /// its log-covariance and bootstrap replicates, for intervals.
    pub fn uncertainty(&self) -> Option<Uncertainty<'_>> {
        let (params, info) = match self {
            Model::Bgnbd { params, info } => (params.to_vec(), info),
            Model::Mbgnbd { params, info } => (params.to_vec(), info),
            Model::Paretonbd { params, info } => (params.to_vec(), info),
            Model::GammaGamma { params, info } => (params.to_vec(), info),
            _ => return None,
        };
        Some(Uncertainty {
            params,
            log_covariance: info.log_covariance.as_deref(),
            replicates: info.bootstrap.as_ref().map(|b| b.replicates.as_slice()),
        })
    }

    /// The same kind of lifetime-value model with parameters `p` (in
    /// `params` order) and no diagnostics: a member of an interval's family.
    pub fn with_params(&self, p: &[f64]) -> Option<Model> {
        let info = FitInfo {
            log_likelihood: f64::NAN,
            n: 0.0,
            converged: true,
            iterations: 0,
            std_errors: None,
            log_covariance: None,
            bootstrap: None,
            skipped: Default::default(),
        };
        Some(match self {
            Model::Bgnbd { .. } => Model::Bgnbd {
                params: BgNbd::from_slice(p),
                info,
            },
            Model::Mbgnbd { .. } => Model::Mbgnbd {
                params: MbgNbd::from_slice(p),
                info,
            },
            Model::Paretonbd { .. } => Model::Paretonbd {
                params: ParetoNbd::from_slice(p),
                info,
            },
            Model::GammaGamma { .. } => Model::GammaGamma {
                params: GammaGamma::from_slice(p),
                info,
            },
            _ => return None,
        })
    }

    /// Parse a model value; `function` names the caller in errors.
    pub fn parse(function: &'static str, text: &str) -> Result<Model, UdfError> {
        let model: Model = serde_json::from_str(text).map_err(|e| {
            UdfError::argument(
                function,
                "model",
                format!("not a crmlake model ({e}); pass the value a *_fit function returned"),
            )
        })?;
        model
            .check_params()
            .map_err(|m| UdfError::argument(function, "model", m))?;
        Ok(model)
    }

    /// The lifetime-value models' parameters are shapes and scales: finite
    /// and > 0 (a hand-written `"r": -1` would otherwise be scored).
    fn check_params(&self) -> Result<(), String> {
        // A calibration's tables are indexed when scoring: an edited model
        // with an empty or ragged table is an error here, not a panic there.
        if let Model::Calibration { calibrator, .. } = self {
            match calibrator {
                Calibrator::Isotonic(i)
                    if i.scores.is_empty() || i.scores.len() != i.probabilities.len() =>
                {
                    return Err(
                        "isotonic calibration needs as many probabilities as scores, at least one"
                            .into(),
                    );
                }
                Calibrator::VennAbers(v) if v.segments.is_empty() => {
                    return Err("venn_abers calibration needs at least one segment".into());
                }
                _ => {}
            }
        }
        let named: Vec<(&str, f64)> = match self {
            Model::Bgnbd { params: m, .. } => {
                vec![("r", m.r), ("alpha", m.alpha), ("a", m.a), ("b", m.b)]
            }
            Model::Mbgnbd { params: m, .. } => {
                vec![("r", m.r), ("alpha", m.alpha), ("a", m.a), ("b", m.b)]
            }
            Model::Paretonbd { params: m, .. } => {
                vec![("r", m.r), ("alpha", m.alpha), ("s", m.s), ("beta", m.beta)]
            }
            Model::GammaGamma { params: m, .. } => {
                vec![("p", m.p), ("q", m.q), ("gamma", m.gamma)]
            }
            _ => Vec::new(),
        };
        for (name, v) in &named {
            if !(v.is_finite() && *v > 0.0) {
                return Err(format!(
                    "{} parameter {name} = {v} is not a finite number > 0",
                    self.kind()
                ));
            }
        }
        // An edited covariance or replicate list is indexed by parameter
        // when scoring intervals: checked here.
        if let Some(u) = self.uncertainty() {
            let k = named.len();
            if let Some(c) = u.log_covariance {
                if c.len() != k
                    || c.iter()
                        .any(|row| row.len() != k || row.iter().any(|v| !v.is_finite()))
                {
                    return Err(format!(
                        "log_covariance must be a {k} x {k} matrix of finite numbers"
                    ));
                }
            }
            if let Some(reps) = u.replicates {
                if reps
                    .iter()
                    .any(|r| r.len() != k || r.iter().any(|v| !(v.is_finite() && *v > 0.0)))
                {
                    return Err(format!(
                        "bootstrap replicates must each hold {k} finite parameters > 0"
                    ));
                }
            }
        }
        Ok(())
    }

    /// What `model_info` shows: the model itself, except that a rules model
    /// shows its counts and thresholds instead of every rule and item.
    pub fn info_json(&self) -> String {
        match self {
            Model::BasketRules { params, rules } => serde_json::json!({
                "kind": self.kind(),
                "params": params,
                "baskets": rules.baskets,
                "min_count": rules.min_count,
                "itemsets": rules.itemsets,
                "rule_count": rules.rule_count,
                "rules_before_cap": rules.rules_before_cap,
                "skipped_baskets": rules.skipped_baskets,
                "items": rules.items.len(),
            })
            .to_string(),
            Model::Churn { params, model } => churn_info(params, model),
            Model::Recommender { params, model } => {
                let mut info = model.info();
                info["kind"] = self.kind().into();
                info["params"] = params.clone().into();
                info.to_string()
            }
            Model::Sentiment { params, model } => serde_json::json!({
                "kind": self.kind(),
                "params": params,
                "docs": model.docs,
                "metrics": model.metrics,
                "intercept": model.intercept,
                "nonzero_weights": model.weights.len(),
                "top_positive": model.top_positive.iter().map(|(g, w)| serde_json::json!({"ngram": g, "weight": w})).collect::<Vec<_>>(),
                "top_negative": model.top_negative.iter().map(|(g, w)| serde_json::json!({"ngram": g, "weight": w})).collect::<Vec<_>>(),
            })
            .to_string(),
            Model::GammaGamma { params, .. } if params.q <= 1.0 => {
                let mut info = serde_json::to_value(self).unwrap_or_default();
                let from = params.min_frequency_with_spend();
                info["warning"] = serde_json::Value::String(format!(
                    "q = {} <= 1: spend is so heavy-tailed that the population mean p*gamma/(q-1) does not exist, and expected_spend (and clv) is NULL for customers with p*frequency + q <= 1, here frequency < {from} (every customer without repeat purchases among them). Cap or winsorise extreme order values, or fit on a longer history, before using this model",
                    params.q
                ));
                info.to_string()
            }
            _ => self.to_json(),
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers, strings and bools cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A churn model without its trees: algorithm, options, features (with
/// category counts), training metrics, importance, the expected value and,
/// for logistic regression, the intercept and every coefficient on the
/// standardised columns (named `feature` or `feature=category`) with the
/// columns' means and scales.
fn churn_info(params: &serde_json::Map<String, serde_json::Value>, m: &ChurnModel) -> String {
    let features: Vec<serde_json::Value> = m
        .features
        .iter()
        .map(|f| match &f.categories {
            None => serde_json::json!({"name": f.name, "type": "numeric"}),
            Some(c) => {
                serde_json::json!({"name": f.name, "type": "categorical", "categories": c.len()})
            }
        })
        .collect();
    let mut out = serde_json::json!({
        "kind": "churn",
        "params": params,
        "features": features,
        "metrics": m.metrics,
        "importance": m.importance,
        "expected_value": m.expected_value,
        "output": m.output,
    });
    let extra = match &m.learner {
        Learner::Logistic(l) => {
            let name = |c: &crate::churn::logistic::Column| {
                let Some(f) = m.features.get(c.feature) else {
                    return format!("#{}", c.feature);
                };
                match (c.category, &f.categories) {
                    (Some(k), Some(cats)) => {
                        format!("{}={}", f.name, cats.get(k).map_or("?", String::as_str))
                    }
                    _ => f.name.clone(),
                }
            };
            serde_json::json!({
                "intercept": l.intercept,
                "coefficients": l.columns.iter().map(|c| serde_json::json!({
                    "column": name(c), "coef": c.coef, "mean": c.mean, "scale": c.scale,
                })).collect::<Vec<_>>(),
            })
        }
        Learner::Gbt(e) | Learner::RandomForest(e) => serde_json::json!({
            "trees": e.trees.len(),
            "leaves": e.trees.iter().map(|t| t.leaves()).sum::<usize>(),
        }),
    };
    if let (Some(o), serde_json::Value::Object(x)) = (out.as_object_mut(), extra) {
        o.extend(x);
    }
    out.to_string()
}

/// Standard errors as a JSON map keyed by parameter name.
pub fn named(
    names: &[&str],
    values: &Option<Vec<f64>>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    values.as_ref().map(|v| {
        names
            .iter()
            .zip(v)
            .map(|(n, x)| (n.to_string(), serde_json::json!(x)))
            .collect()
    })
}

/// Whether two model texts are equal. The same bytes at the same place (one
/// model value repeated down a column by a CROSS JOIN) are recognised
/// without reading them; otherwise the texts are compared.
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let m = Model::Bgnbd {
            params: BgNbd {
                r: 0.1 + 0.2,
                alpha: 4.414_000_000_000_1,
                a: 1e-300,
                b: 2.426,
            },
            info: FitInfo {
                log_covariance: None,
                bootstrap: None,
                log_likelihood: -9582.4,
                n: 2357.0,
                converged: true,
                iterations: 17,
                std_errors: named(&["r", "alpha", "a", "b"], &Some(vec![0.01, 0.2, 0.1, 0.3])),
                skipped: Default::default(),
            },
        };
        let text = m.to_json();
        assert!(
            text.starts_with("{\"kind\":\"bgnbd\",\"params\":{\"r\":"),
            "{text}"
        );
        assert_eq!(Model::parse("t", &text).unwrap(), m);
        assert!(Model::parse("t", "{\"kind\":\"nope\"}").is_err());
        for edited in [
            r#"{"kind":"calibration","n":1,"positives":1,"method":"isotonic","scores":[],"probabilities":[]}"#,
            r#"{"kind":"calibration","n":1,"positives":1,"method":"isotonic","scores":[0.1,0.2],"probabilities":[0.5]}"#,
            r#"{"kind":"calibration","n":1,"positives":1,"method":"venn_abers","segments":[]}"#,
        ] {
            assert!(Model::parse("t", edited).is_err(), "{edited}");
        }
    }
}
