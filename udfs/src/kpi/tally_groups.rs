//! `GROUP BY` for the counting KPIs (`nps`, `csat` and their `_interval`
//! forms): one accumulator for all
//! groups, holding a small tally per group in one vector, instead of a boxed
//! accumulator per group (what DataFusion does for aggregates without a
//! groups accumulator). `GROUP BY segment` over many segments stays a loop
//! over the rows.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StructArray, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use crate::error::UdfError;
use crate::groups::kept;

/// A KPI's per-group counts.
pub(crate) trait Tally: Default + Copy + Send + Sync + std::fmt::Debug + 'static {
    /// Answers counted.
    fn respondents(&self) -> u64;
    /// The KPI's (low, high) at the two-sided normal quantile `z`, or
    /// `None` without answers.
    fn interval(&self, z: f64) -> Option<(f64, f64)>;
    /// Names of the counters (the aggregate's state fields, in order).
    const FIELD_NAMES: &'static [&'static str];
    /// Count one answer; `Err` with the message for an invalid one.
    fn add(&mut self, value: f64, param: f64) -> std::result::Result<(), String>;
    fn field(&self, i: usize) -> u64;
    fn add_to_field(&mut self, i: usize, count: u64);
    /// The KPI, or `None` without answers.
    fn score(&self) -> Option<f64>;
}

/// What the aggregate returns for a group's tally: the KPI, or the KPI with
/// its confidence interval, `{value, low, high, n}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TallyOutput {
    Score,
    /// `z`: the two-sided normal quantile of the confidence level.
    Interval {
        z: f64,
    },
}

/// The fields of an interval value.
pub(crate) fn interval_fields() -> Fields {
    Fields::from(vec![
        Field::new("value", DataType::Float64, true),
        Field::new("low", DataType::Float64, true),
        Field::new("high", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
    ])
}

impl TallyOutput {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            TallyOutput::Score => DataType::Float64,
            TallyOutput::Interval { .. } => DataType::Struct(interval_fields()),
        }
    }

    /// The output of `tallies`, one row each (NULL without answers).
    fn array<T: Tally>(self, tallies: &[T]) -> ArrayRef {
        let scores: Float64Array = tallies.iter().map(T::score).collect();
        let TallyOutput::Interval { z } = self else {
            return Arc::new(scores);
        };
        let bounds: Vec<Option<(f64, f64)>> = tallies.iter().map(|t| t.interval(z)).collect();
        let low: Float64Array = bounds.iter().map(|b| b.map(|b| b.0)).collect();
        let high: Float64Array = bounds.iter().map(|b| b.map(|b| b.1)).collect();
        let n = Int64Array::from_iter_values(tallies.iter().map(|t| t.respondents() as i64));
        let valid = NullBuffer::from_iter(tallies.iter().map(|t| t.respondents() > 0));
        Arc::new(StructArray::new(
            interval_fields(),
            vec![Arc::new(scores), Arc::new(low), Arc::new(high), Arc::new(n)],
            Some(valid),
        ))
    }
}

/// Tallies of every group; `param` is the aggregate's constant argument
/// (csat's `satisfied_from`).
#[derive(Debug)]
pub(crate) struct TallyGroups<T> {
    name: &'static str,
    param: f64,
    output: TallyOutput,
    tallies: Vec<T>,
}

impl<T: Tally> TallyGroups<T> {
    pub(crate) fn new(name: &'static str, param: f64) -> Self {
        Self::with_output(name, param, TallyOutput::Score)
    }

    pub(crate) fn with_output(name: &'static str, param: f64, output: TallyOutput) -> Self {
        TallyGroups {
            name,
            param,
            output,
            tallies: Vec::new(),
        }
    }
}

/// The aggregate without GROUP BY: one group of [`TallyGroups`].
#[derive(Debug)]
pub(crate) struct OneTally<T> {
    groups: TallyGroups<T>,
}

impl<T: Tally> OneTally<T> {
    pub(crate) fn new(name: &'static str, param: f64, output: TallyOutput) -> Self {
        let mut groups = TallyGroups::with_output(name, param, output);
        groups.tallies.push(T::default());
        OneTally { groups }
    }
}

impl<T: Tally> Accumulator for OneTally<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let zeros = vec![0; values[0].len()];
        self.groups.update_batch(values, &zeros, None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let zeros = vec![0; states[0].len()];
        self.groups.merge_batch(states, &zeros, 1)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        state_columns(&self.groups.tallies)
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&self.groups.output.array(&self.groups.tallies), 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + std::mem::size_of::<T>()
    }
}

/// The aggregate's state fields for a tally: one UInt64 per counter, named
/// after the aggregate `name`.
pub(crate) fn state_fields<T: Tally>(name: &str) -> Vec<FieldRef> {
    T::FIELD_NAMES
        .iter()
        .map(|f| {
            Arc::new(Field::new(
                format_state_name(name, f),
                DataType::UInt64,
                true,
            ))
        })
        .collect()
}

/// The state fields of `tallies`, one UInt64 column per counter.
fn state_columns<T: Tally>(tallies: &[T]) -> Vec<ArrayRef> {
    (0..T::FIELD_NAMES.len())
        .map(|f| {
            Arc::new(UInt64Array::from_iter_values(
                tallies.iter().map(|t| t.field(f)),
            )) as ArrayRef
        })
        .collect()
}

impl<T: Tally> GroupsAccumulator for TallyGroups<T> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.tallies.resize(total_num_groups, T::default());
        let scores = values[0].as_primitive::<Float64Type>();
        for (i, &g) in group_indices.iter().enumerate() {
            if scores.is_null(i) || !kept(opt_filter, i) {
                continue;
            }
            self.tallies[g]
                .add(scores.value(i), self.param)
                .map_err(|m| UdfError::data(self.name, m))?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let tallies = emit_to.take_needed(&mut self.tallies);
        Ok(self.output.array(&tallies))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let tallies = emit_to.take_needed(&mut self.tallies);
        Ok(state_columns(&tallies))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.tallies.resize(total_num_groups, T::default());
        for (f, column) in values.iter().enumerate().take(T::FIELD_NAMES.len()) {
            let counts = column.as_primitive::<UInt64Type>();
            for (i, &g) in group_indices.iter().enumerate() {
                if counts.is_valid(i) {
                    self.tallies[g].add_to_field(f, counts.value(i));
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
        let scores = values[0].as_primitive::<Float64Type>();
        let mut tallies = vec![T::default(); scores.len()];
        for (i, t) in tallies.iter_mut().enumerate() {
            if scores.is_null(i) || !kept(opt_filter, i) {
                continue;
            }
            t.add(scores.value(i), self.param)
                .map_err(|m| UdfError::data(self.name, m))?;
        }
        Ok(state_columns(&tallies))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.tallies.capacity() * std::mem::size_of::<T>()
    }
}
