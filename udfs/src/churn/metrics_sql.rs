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

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::metrics;
use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::groups::kept;
use crate::lists::f64_list_scalar;

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
        Ok(Box::new(MetricAccumulator {
            metric: self.metric,
            fraction: self.fraction(&args)?,
            scores: Vec::new(),
            labels: Vec::new(),
        }))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MetricGroups {
            metric: self.metric,
            fraction: self.fraction(&args)?,
            groups: Vec::new(),
            held: 0,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "scores"),
                list.clone(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "labels"),
                list,
                true,
            )),
        ])
    }
}

impl MetricUdaf {
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

#[derive(Debug)]
struct MetricAccumulator {
    metric: Metric,
    fraction: f64,
    scores: Vec<f64>,
    labels: Vec<f64>,
}

/// `score` and `label` checked: `Err` for a non-finite score, a log-loss
/// score outside [0, 1] or a label other than 0/1.
fn check(metric: Metric, score: f64, label: f64) -> Result<()> {
    let name = metric.name();
    if !score.is_finite() {
        return Err(
            UdfError::argument(name, "score", format!("must be finite, got {score}")).into(),
        );
    }
    if metric == Metric::LogLoss && !(0.0..=1.0).contains(&score) {
        return Err(UdfError::argument(
            name,
            "score",
            format!("must be a probability in [0, 1], got {score}"),
        )
        .into());
    }
    if label != 0.0 && label != 1.0 {
        return Err(UdfError::argument(
            name,
            "label",
            format!("must be true/false or 0/1, got {label}"),
        )
        .into());
    }
    Ok(())
}

/// Row `i`'s (score, label), or `None` when either is NULL or the
/// aggregate's filter leaves the row out.
#[inline]
fn pair_at(
    s: &Float64Array,
    l: &Float64Array,
    filter: Option<&BooleanArray>,
    i: usize,
) -> Option<(f64, f64)> {
    (s.is_valid(i) && l.is_valid(i) && kept(filter, i)).then(|| (s.value(i), l.value(i)))
}

/// The metric of `(score, label)` pairs.
fn compute(metric: Metric, fraction: f64, scores: &[f64], labels: &[f64]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .zip(labels)
        .map(|(&s, &y)| (s, y > 0.5))
        .collect();
    match metric {
        Metric::RocAuc => metrics::roc_auc(&mut pairs),
        Metric::PrAuc => metrics::pr_auc(&mut pairs),
        Metric::LogLoss => metrics::log_loss(&pairs),
        Metric::LiftAt => metrics::lift_at(&mut pairs, fraction),
    }
}

impl MetricAccumulator {
    fn add(&mut self, scores: &ArrayRef, labels: &ArrayRef) -> Result<()> {
        let s = scores.as_primitive::<Float64Type>();
        let l = labels.as_primitive::<Float64Type>();
        for i in 0..s.len() {
            if let Some((score, label)) = pair_at(s, l, None, i) {
                check(self.metric, score, label)?;
                self.scores.push(score);
                self.labels.push(label);
            }
        }
        Ok(())
    }
}

impl Accumulator for MetricAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (s, l) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..s.len() {
            if !s.is_null(row) && !l.is_null(row) {
                self.add(&s.value(row), &l.value(row))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            f64_list_scalar(self.scores.clone()),
            f64_list_scalar(self.labels.clone()),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let v = compute(self.metric, self.fraction, &self.scores, &self.labels);
        Ok(ScalarValue::Float64(v))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + 16 * self.scores.capacity()
    }
}

/// One group's scores and labels.
type Pairs = (Vec<f64>, Vec<f64>);

/// `GROUP BY` for the metrics: every group's pairs in one accumulator (a
/// boxed accumulator per group is what DataFusion does otherwise, slow with
/// many groups). `held` counts the bytes of the groups' vectors as they
/// grow, so `size()` is O(1).
#[derive(Debug)]
struct MetricGroups {
    metric: Metric,
    fraction: f64,
    /// Per group: scores and labels.
    groups: Vec<Pairs>,
    held: usize,
}

impl MetricGroups {
    fn push(&mut self, g: usize, score: f64, label: f64) -> Result<()> {
        check(self.metric, score, label)?;
        let (s, l) = &mut self.groups[g];
        let before = s.capacity() + l.capacity();
        s.push(score);
        l.push(label);
        self.held += 8 * (s.capacity() + l.capacity() - before);
        Ok(())
    }

    /// Take the groups `emit_to` asks for, releasing their bytes.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Pairs> {
        let taken = emit_to.take_needed(&mut self.groups);
        let bytes: usize = taken
            .iter()
            .map(|(s, l)| 8 * (s.capacity() + l.capacity()))
            .sum();
        self.held -= bytes;
        taken
    }
}

/// The groups' pairs as two list columns (the state fields).
fn pair_lists(groups: &[Pairs]) -> Vec<ArrayRef> {
    let list = |pick: fn(&Pairs) -> &Vec<f64>| -> ArrayRef {
        let offsets = OffsetBuffer::from_lengths(groups.iter().map(|g| pick(g).len()));
        let values =
            Float64Array::from_iter_values(groups.iter().flat_map(|g| pick(g).iter().copied()));
        Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Float64, true)),
            offsets,
            Arc::new(values),
            None,
        ))
    };
    vec![list(|g| &g.0), list(|g| &g.1)]
}

impl GroupsAccumulator for MetricGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Default::default);
        let s = values[0].as_primitive::<Float64Type>();
        let l = values[1].as_primitive::<Float64Type>();
        for (i, &g) in group_indices.iter().enumerate() {
            if let Some((score, label)) = pair_at(s, l, opt_filter, i) {
                self.push(g, score, label)?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        Ok(Arc::new(
            groups
                .iter()
                .map(|(s, l)| compute(self.metric, self.fraction, s, l))
                .collect::<Float64Array>(),
        ))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(pair_lists(&self.take(emit_to)))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Default::default);
        let (s, l) = (values[0].as_list::<i32>(), values[1].as_list::<i32>());
        for (row, &g) in group_indices.iter().enumerate() {
            if s.is_null(row) || l.is_null(row) {
                continue;
            }
            let (scores, labels) = (s.value(row), l.value(row));
            let (scores, labels) = (
                scores.as_primitive::<Float64Type>(),
                labels.as_primitive::<Float64Type>(),
            );
            for i in 0..scores.len().min(labels.len()) {
                if let Some((score, label)) = pair_at(scores, labels, None, i) {
                    self.push(g, score, label)?;
                }
            }
        }
        Ok(())
    }

    /// Each row as a group of its own (DataFusion skips partial grouping
    /// when it does not reduce the rows).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let s = values[0].as_primitive::<Float64Type>();
        let l = values[1].as_primitive::<Float64Type>();
        let mut rows = Vec::with_capacity(s.len());
        for i in 0..s.len() {
            match pair_at(s, l, opt_filter, i) {
                Some((score, label)) => {
                    check(self.metric, score, label)?;
                    rows.push((vec![score], vec![label]));
                }
                None => rows.push((Vec::new(), Vec::new())),
            }
        }
        Ok(pair_lists(&rows))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.groups.capacity() * std::mem::size_of::<Pairs>()
            + self.held
    }
}
