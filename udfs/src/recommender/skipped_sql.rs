//! Rows a recommender fit leaves out (NULL ids, texts or weights), counted
//! by reason through an aggregate's partial states and shown in
//! `model_info` → `skipped`. Shared by `recommender_fit` and `content_fit`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::format_state_name;

/// Counts of rows left out, one per reason.
#[derive(Debug)]
pub struct Skipped<const N: usize> {
    reasons: [&'static str; N],
    counts: [i64; N],
}

impl<const N: usize> Skipped<N> {
    pub fn new(reasons: [&'static str; N]) -> Self {
        Skipped {
            reasons,
            counts: [0; N],
        }
    }

    /// One more row left out for reason number `reason`.
    pub fn count(&mut self, reason: usize) {
        self.counts[reason] += 1;
    }

    /// The state fields of the counts (one Int64 per reason) of aggregate
    /// `name`.
    pub fn state_fields(reasons: [&'static str; N], name: &str) -> Vec<FieldRef> {
        reasons
            .iter()
            .map(|reason| {
                Arc::new(Field::new(
                    format_state_name(name, reason),
                    DataType::Int64,
                    true,
                )) as FieldRef
            })
            .collect()
    }

    /// Add row `row` of the count columns `states` (in reason order).
    pub fn merge(&mut self, states: &[ArrayRef], row: usize) {
        for (s, a) in self.counts.iter_mut().zip(states) {
            let a = a.as_primitive::<Int64Type>();
            if a.is_valid(row) {
                *s += a.value(row);
            }
        }
    }

    /// The counts as state values, in reason order.
    pub fn state(&self) -> impl Iterator<Item = ScalarValue> + '_ {
        self.counts.iter().map(|&s| ScalarValue::Int64(Some(s)))
    }

    /// The reasons with a count above 0, into `model_info`'s `skipped`.
    pub fn record(&self, into: &mut serde_json::Map<String, serde_json::Value>) {
        for (reason, &n) in self.reasons.iter().zip(&self.counts) {
            if n > 0 {
                into.insert((*reason).into(), n.into());
            }
        }
    }
}
