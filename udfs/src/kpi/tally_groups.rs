//! `GROUP BY` for the counting KPIs (`nps`, `csat`): one accumulator for all
//! groups, holding a small tally per group in one vector, instead of a boxed
//! accumulator per group (what DataFusion does for aggregates without a
//! groups accumulator). `GROUP BY segment` over many segments stays a loop
//! over the rows.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, UInt64Array};
use datafusion::arrow::datatypes::{Float64Type, UInt64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use crate::error::UdfError;
use crate::groups::kept;

/// A KPI's per-group counts.
pub(crate) trait Tally: Default + Copy + Send + Sync + std::fmt::Debug + 'static {
    /// Number of counters (the aggregate's state fields, in order).
    const FIELDS: usize;
    /// Count one answer; `Err` with the message for an invalid one.
    fn add(&mut self, value: f64, param: f64) -> std::result::Result<(), String>;
    fn field(&self, i: usize) -> u64;
    fn add_to_field(&mut self, i: usize, count: u64);
    /// The KPI, or `None` without answers.
    fn score(&self) -> Option<f64>;
}

/// Tallies of every group; `param` is the aggregate's constant argument
/// (csat's `satisfied_from`).
#[derive(Debug)]
pub(crate) struct TallyGroups<T> {
    name: &'static str,
    param: f64,
    tallies: Vec<T>,
}

impl<T: Tally> TallyGroups<T> {
    pub(crate) fn new(name: &'static str, param: f64) -> Self {
        TallyGroups {
            name,
            param,
            tallies: Vec::new(),
        }
    }
}

/// The state fields of `tallies`, one UInt64 column per counter.
fn state_columns<T: Tally>(tallies: &[T]) -> Vec<ArrayRef> {
    (0..T::FIELDS)
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
        Ok(Arc::new(
            tallies.iter().map(T::score).collect::<Float64Array>(),
        ))
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
        for (f, column) in values.iter().enumerate().take(T::FIELDS) {
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
