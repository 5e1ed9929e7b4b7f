//! Evaluation aggregates over `(score, label)`: `roc_auc(score, label)`,
//! `pr_auc(score, label)` (average precision), `log_loss(score, label)` and
//! `lift_at(score, label, fraction)`; definitions in [`super::metrics`].
//!
//! `score` is a number (a probability for `log_loss`), `label` a boolean or
//! 0/1 number. Rows with a NULL score or label are left out; a non-finite
//! score, a label other than 0/1, or (for `log_loss`) a score outside [0, 1]
//! is an error. NULL when the metric is undefined (no rows, or one class for
//! the AUCs, no positives for `pr_auc` and `lift_at`). `fraction` is a
//! constant in (0, 1].

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::metrics;
use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::pairs::{self, check_pair, PairAccumulator, PairFunction, PairGroups};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    RocAuc,
    PrAuc,
    LogLoss,
    LiftAt,
}

impl Metric {
    fn name(&self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::LogLoss => "log_loss",
            Metric::LiftAt => "lift_at",
        }
    }
}

pub fn entries() -> Vec<FunctionEntry> {
    let entry = |m: Metric, signature, description, example| FunctionEntry {
        name: m.name(),
        kind: FunctionKind::Aggregate,
        signature,
        description,
        example,
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(MetricUdaf::new(m)))),
    };
    vec![
        entry(
            Metric::RocAuc,
            "roc_auc(score, label) -> DOUBLE",
            "Area under the ROC curve (ties count one half); NULL with one class",
            "SELECT roc_auc(score, churned) FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.4, false), (0.3, true), (0.1, false)) AS t(score, churned); -- 0.6666666666666666",
        ),
        entry(
            Metric::PrAuc,
            "pr_auc(score, label) -> DOUBLE",
            "Area under the precision-recall curve as average precision (scikit-learn's average_precision_score)",
            "SELECT pr_auc(score, churned) FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.4, false), (0.3, true), (0.1, false)) AS t(score, churned)",
        ),
        entry(
            Metric::LogLoss,
            "log_loss(score, label) -> DOUBLE",
            "Mean log loss of probabilities (clipped to [eps, 1 - eps])",
            "SELECT log_loss(score, churned) FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.4, false), (0.3, true), (0.1, false)) AS t(score, churned)",
        ),
        entry(
            Metric::LiftAt,
            "lift_at(score, label, fraction) -> DOUBLE",
            "Churn rate in the top fraction of scores over the overall churn rate (ties at the cut shared pro rata)",
            "SELECT lift_at(score, churned, 0.5) FROM (VALUES (0.9, true), (0.8, false), (0.7, true), (0.4, false), (0.3, true), (0.1, false)) AS t(score, churned); -- 1.3333333333333333",
        ),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MetricUdaf {
    metric: Metric,
    signature: Signature,
}

impl MetricUdaf {
    pub fn new(metric: Metric) -> Self {
        MetricUdaf {
            metric,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for MetricUdaf {
    fn name(&self) -> &str {
        self.metric.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.metric.name();
        let lift = self.metric == Metric::LiftAt;
        let want = if lift { 3 } else { 2 };
        if arg_types.len() != want {
            let expected = if lift {
                "score, label, fraction"
            } else {
                "score, label"
            };
            return Err(UdfError::arity(name, expected, arg_types.len()).into());
        }
        for (i, arg) in ["score", "label", "fraction"].iter().enumerate().take(want) {
            let t = &arg_types[i];
            let ok = t.is_numeric()
                || t == &DataType::Null
                || (*arg == "label" && t == &DataType::Boolean);
            if !ok {
                return Err(UdfError::argument(
                    name,
                    *arg,
                    format!(
                        "must be a number{}, got {t}",
                        if *arg == "label" { " or boolean" } else { "" }
                    ),
                )
                .into());
            }
        }
        Ok(vec![DataType::Float64; want])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PairAccumulator::new(self.function(&args)?)))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PairGroups::new(self.function(&args)?)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(pairs::state_fields(args.name))
    }
}

impl MetricUdaf {
    fn function(&self, args: &AccumulatorArgs) -> Result<Arc<dyn PairFunction>> {
        Ok(Arc::new(MetricFn {
            metric: self.metric,
            fraction: self.fraction(args)?,
        }))
    }

    /// `lift_at`'s constant `fraction` in (0, 1] (1 for the other metrics).
    fn fraction(&self, args: &AccumulatorArgs) -> Result<f64> {
        let name = self.metric.name();
        if self.metric == Metric::LiftAt {
            let f = constant_number(
                name,
                "fraction",
                &constant(name, "fraction", args.exprs, 2)?,
            )?;
            if !(f > 0.0 && f <= 1.0) {
                return Err(UdfError::argument(
                    name,
                    "fraction",
                    format!("must be in (0, 1], got {f}"),
                )
                .into());
            }
            Ok(f)
        } else {
            Ok(1.0)
        }
    }
}

/// A metric with its `fraction` (for `lift_at`), as a [`PairFunction`].
#[derive(Debug)]
struct MetricFn {
    metric: Metric,
    fraction: f64,
}

impl PairFunction for MetricFn {
    fn name(&self) -> &'static str {
        self.metric.name()
    }

    /// A non-finite score, a log-loss score outside [0, 1] or a label other
    /// than 0/1 is an error.
    fn check(&self, score: f64, label: f64) -> Result<()> {
        check_pair(
            self.metric.name(),
            score,
            label,
            self.metric == Metric::LogLoss,
        )
    }

    fn evaluate(&self, scores: &[f64], labels: &[f64]) -> Result<ScalarValue> {
        let mut pairs: Vec<(f64, bool)> = scores
            .iter()
            .zip(labels)
            .map(|(&s, &y)| (s, y > 0.5))
            .collect();
        let v = match self.metric {
            Metric::RocAuc => metrics::roc_auc(&mut pairs),
            Metric::PrAuc => metrics::pr_auc(&mut pairs),
            Metric::LogLoss => metrics::log_loss(&pairs),
            Metric::LiftAt => metrics::lift_at(&mut pairs, self.fraction),
        };
        Ok(ScalarValue::Float64(v))
    }

    fn return_type(&self) -> DataType {
        DataType::Float64
    }
}
