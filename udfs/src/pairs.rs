//! Aggregates over `(score, label)` pairs: the evaluation metrics
//! (`roc_auc`, `brier`, ...) and the calibration fits (`calibrate_fit`,
//! `conformal_fit`) keep every group's pairs and compute their value from
//! all of them at the end. This module holds the collecting: a plain
//! accumulator, a `GROUP BY` accumulator holding every group's pairs in one
//! place (a boxed accumulator per group is slow with many groups), and the
//! state both exchange (two `LIST<DOUBLE>` columns). What is computed from
//! the pairs is a [`PairFunction`]. Shared by every area.
//!
//! `score` is a number and `label` a boolean or 0/1 number, both coerced to
//! DOUBLE by the caller's signature; rows with a NULL score or label (or
//! left out by the aggregate's `FILTER`) are not kept.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use crate::error::UdfError;
use crate::groups::kept;
use crate::lists::f64_list_scalar;

/// What an aggregate over pairs computes.
pub trait PairFunction: std::fmt::Debug + Send + Sync {
    /// The SQL function's name (for errors).
    fn name(&self) -> &'static str;
    /// Check one pair as it arrives (a finite score, a 0/1 label, ...).
    fn check(&self, score: f64, label: f64) -> Result<()>;
    /// The value of one group's pairs (labels are 0.0 or 1.0).
    fn evaluate(&self, scores: &[f64], labels: &[f64]) -> Result<ScalarValue>;
    /// The type [`PairFunction::evaluate`] returns.
    fn return_type(&self) -> DataType;
}

/// The usual pair check: a finite score, in [0, 1] when `probability`,
/// and a label of 0 or 1.
pub fn check_pair(function: &'static str, score: f64, label: f64, probability: bool) -> Result<()> {
    if !score.is_finite() {
        return Err(
            UdfError::argument(function, "score", format!("must be finite, got {score}")).into(),
        );
    }
    if probability && !(0.0..=1.0).contains(&score) {
        return Err(UdfError::argument(
            function,
            "score",
            format!("must be a probability in [0, 1], got {score}"),
        )
        .into());
    }
    if label != 0.0 && label != 1.0 {
        return Err(UdfError::argument(
            function,
            "label",
            format!("must be true/false or 0/1, got {label}"),
        )
        .into());
    }
    Ok(())
}

/// The two state fields (scores, labels).
pub fn state_fields(name: &str) -> Vec<FieldRef> {
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
    vec![
        Arc::new(Field::new(
            format_state_name(name, "scores"),
            list.clone(),
            true,
        )),
        Arc::new(Field::new(format_state_name(name, "labels"), list, true)),
    ]
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

/// The pairs of one aggregate without `GROUP BY`.
#[derive(Debug)]
pub struct PairAccumulator {
    function: Arc<dyn PairFunction>,
    scores: Vec<f64>,
    labels: Vec<f64>,
}

impl PairAccumulator {
    pub fn new(function: Arc<dyn PairFunction>) -> Self {
        PairAccumulator {
            function,
            scores: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn add(&mut self, scores: &ArrayRef, labels: &ArrayRef) -> Result<()> {
        let s = scores.as_primitive::<Float64Type>();
        let l = labels.as_primitive::<Float64Type>();
        for i in 0..s.len() {
            if let Some((score, label)) = pair_at(s, l, None, i) {
                self.function.check(score, label)?;
                self.scores.push(score);
                self.labels.push(label);
            }
        }
        Ok(())
    }
}

impl Accumulator for PairAccumulator {
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
        self.function.evaluate(&self.scores, &self.labels)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + 8 * (self.scores.capacity() + self.labels.capacity())
    }
}

/// One group's scores and labels.
type Pairs = (Vec<f64>, Vec<f64>);

/// `GROUP BY` over pairs: every group's pairs in one accumulator. `held`
/// counts the bytes of the groups' vectors as they grow, so `size()` is O(1).
#[derive(Debug)]
pub struct PairGroups {
    function: Arc<dyn PairFunction>,
    groups: Vec<Pairs>,
    held: usize,
}

impl PairGroups {
    pub fn new(function: Arc<dyn PairFunction>) -> Self {
        PairGroups {
            function,
            groups: Vec::new(),
            held: 0,
        }
    }

    fn push(&mut self, g: usize, score: f64, label: f64) -> Result<()> {
        self.function.check(score, label)?;
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

impl GroupsAccumulator for PairGroups {
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
        let values = groups
            .iter()
            .map(|(s, l)| self.function.evaluate(s, l))
            .collect::<Result<Vec<_>>>()?;
        if values.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(
                &self.function.return_type(),
            ));
        }
        ScalarValue::iter_to_array(values)
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
                    self.function.check(score, label)?;
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

/// A constant argument after `score, label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Constant {
    /// A number (`alpha`, `bins`).
    Number(&'static str),
    /// The trailing `'key=value, ...'` options string.
    Options,
}

impl Constant {
    fn name(&self) -> &'static str {
        match self {
            Constant::Number(n) => n,
            Constant::Options => "options",
        }
    }
}

/// An aggregate `name(score, label, constants...)` over pairs, computing
/// what `make` builds from the constants (read when the accumulator is
/// made) and the accumulator's arguments. Equal when named the same (a
/// name is one function).
#[derive(Debug)]
pub struct PairUdaf {
    name: &'static str,
    constants: &'static [Constant],
    /// How many of `constants` must be given.
    required: usize,
    make: fn(&datafusion::logical_expr::function::AccumulatorArgs) -> Result<Arc<dyn PairFunction>>,
    output: DataType,
    signature: datafusion::logical_expr::Signature,
}

impl PartialEq for PairUdaf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PairUdaf {}

impl std::hash::Hash for PairUdaf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl PairUdaf {
    pub fn new(
        name: &'static str,
        constants: &'static [Constant],
        required: usize,
        output: DataType,
        make: fn(
            &datafusion::logical_expr::function::AccumulatorArgs,
        ) -> Result<Arc<dyn PairFunction>>,
    ) -> Self {
        PairUdaf {
            name,
            constants,
            required,
            make,
            output,
            signature: datafusion::logical_expr::Signature::user_defined(
                datafusion::logical_expr::Volatility::Immutable,
            ),
        }
    }

    /// The argument list as the user writes it, optional ones in brackets.
    fn expected(&self) -> String {
        let mut s = "score, label".to_string();
        for (i, c) in self.constants.iter().enumerate() {
            if i < self.required {
                s += &format!(", {}", c.name());
            } else {
                s += &format!(" [, {}]", c.name());
            }
        }
        s
    }
}

impl datafusion::logical_expr::AggregateUDFImpl for PairUdaf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let n = arg_types.len();
        if n < 2 + self.required || n > 2 + self.constants.len() {
            return Err(UdfError::arity(self.name, self.expected(), n).into());
        }
        let mut out = Vec::with_capacity(n);
        for (i, t) in arg_types.iter().enumerate() {
            let (arg, want) = match i {
                0 => ("score", "a number"),
                1 => ("label", "a boolean or 0/1 number"),
                _ => match self.constants[i - 2] {
                    Constant::Options => {
                        out.push(crate::options::coerce_options(self.name, t)?);
                        continue;
                    }
                    Constant::Number(name) => (name, "a number"),
                },
            };
            let ok = t.is_numeric() || t == &DataType::Null || (i == 1 && t == &DataType::Boolean);
            if !ok {
                return Err(
                    UdfError::argument(self.name, arg, format!("must be {want}, got {t}")).into(),
                );
            }
            out.push(DataType::Float64);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.output.clone())
    }
    fn accumulator(
        &self,
        args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PairAccumulator::new((self.make)(&args)?)))
    }
    fn groups_accumulator_supported(
        &self,
        args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PairGroups::new((self.make)(&args)?)))
    }
    fn state_fields(
        &self,
        args: datafusion::logical_expr::function::StateFieldsArgs,
    ) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }
}
