//! `quantiles(value, q1 [, q2 ...])`: several exact quantiles of a column in
//! one pass, as LIST<DOUBLE> in the order the levels were given.
//!
//! Linear interpolation between order statistics (Hyndman & Fan's type 7,
//! numpy's and pandas' default): for n values sorted x[0] ≤ … ≤ x[n−1] and
//! level q, h = (n − 1)·q, and the quantile is x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1]
//! − x[⌊h⌋]). DataFusion's `percentile_cont` rounds the interpolation weight
//! down to 6 decimals (its documented choice), so its p90 can differ from
//! numpy's in the 7th digit; this one does not, and it keeps the values once
//! for all levels (`median(x)` and `percentile_cont(x, 0.9)` keep two copies).
//!
//! NULL and NaN values are left out; no values gives NULL. Levels are
//! constants in [0, 1]. The values are held in memory per group (8 bytes
//! each, reported to the memory pool).
//!
//! ```sql
//! SELECT quantiles(x, 0.5, 0.9) FROM (VALUES (1.0), (2.0), (3.0), (4.0)) AS t(x);
//! -- [2.5, 3.7]
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, ListArray, ListBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::{f64_list_scalar, list_scalar};

const NAME: &str = "quantiles";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "quantiles(value NUMERIC, q1 DOUBLE [, q2 DOUBLE ...]) -> LIST<DOUBLE>",
        description: "Exact quantiles at the given levels in one pass (linear interpolation, numpy's default); NULL and NaN left out",
        example: "SELECT quantiles(x, 0.5, 0.9) AS q FROM (VALUES (1.0), (2.0), (3.0), (4.0)) AS t(x)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(Quantiles::new()))),
    }
}

/// The type-7 quantiles of `values` (sorted in place) at `levels`; empty
/// input gives None.
pub fn linear_quantiles(values: &mut [f64], levels: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let last = values.len() - 1;
    Some(
        levels
            .iter()
            .map(|&q| {
                let h = last as f64 * q;
                let lo = (h.floor() as usize).min(last);
                let hi = (lo + 1).min(last);
                let t = h - lo as f64;
                let (a, b) = (values[lo], values[hi]);
                // numpy's lerp: from the nearer end, so q = 1 gives x[n-1].
                if t >= 0.5 {
                    b - (b - a) * (1.0 - t)
                } else {
                    a + (b - a) * t
                }
            })
            .collect(),
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Quantiles {
    signature: Signature,
}

impl Quantiles {
    pub fn new() -> Self {
        Quantiles {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Quantiles {
    fn default() -> Self {
        Self::new()
    }
}

fn list_of_doubles() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

impl AggregateUDFImpl for Quantiles {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 {
            return Err(UdfError::arity(NAME, "value, q1 [, q2 ...]", arg_types.len()).into());
        }
        for (i, t) in arg_types.iter().enumerate() {
            if !(t.is_numeric() || t.is_null()) {
                let name = if i == 0 {
                    "value".to_string()
                } else {
                    format!("q{i}")
                };
                return Err(
                    UdfError::argument(NAME, &name, format!("must be numeric, got {t}")).into(),
                );
            }
        }
        Ok(vec![DataType::Float64; arg_types.len()])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(list_of_doubles())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(QuantilesAccumulator {
            levels: levels(&args)?,
            values: Vec::new(),
        }))
    }
    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(QuantileGroups {
            levels: levels(&args)?,
            groups: Vec::new(),
            held: 0,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            list_of_doubles(),
            true,
        ))])
    }
}

/// The constant levels q1, q2, ... of a call, each in [0, 1].
fn levels(args: &AccumulatorArgs) -> Result<Vec<f64>> {
    let mut levels = Vec::with_capacity(args.exprs.len() - 1);
    for i in 1..args.exprs.len() {
        let name = format!("q{i}");
        let q = constant_number(NAME, &name, &constant(NAME, &name, args.exprs, i)?)?;
        if !(0.0..=1.0).contains(&q) {
            return Err(UdfError::argument(
                NAME,
                &name,
                format!("must be a level in [0, 1] such as 0.9, got {q}"),
            )
            .into());
        }
        levels.push(q);
    }
    Ok(levels)
}

/// The values of `a` that count (not NULL, not NaN, not filtered out),
/// with their row.
fn counted<'a>(
    a: &'a Float64Array,
    filter: Option<&'a BooleanArray>,
) -> impl Iterator<Item = (usize, f64)> + 'a {
    (0..a.len()).filter_map(move |i| {
        let kept = filter.is_none_or(|f| f.is_valid(i) && f.value(i));
        (kept && a.is_valid(i) && !a.value(i).is_nan()).then(|| (i, a.value(i)))
    })
}

/// Groups' values as one list column (the state field).
fn value_lists(groups: &[Vec<f64>]) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let values = Float64Array::from_iter_values(groups.iter().flatten().copied());
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        offsets,
        Arc::new(values),
        None,
    ))
}

/// Many groups at once (GROUP BY): each group's values in a vector.
#[derive(Debug)]
struct QuantileGroups {
    levels: Vec<f64>,
    groups: Vec<Vec<f64>>,
    /// Bytes held by the groups' vectors.
    held: usize,
}

impl QuantileGroups {
    fn push(&mut self, g: usize, v: f64) {
        let values = &mut self.groups[g];
        let before = values.capacity();
        values.push(v);
        self.held += 8 * (values.capacity() - before);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<f64>> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held -= taken.iter().map(|v| 8 * v.capacity()).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for QuantileGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        for (i, v) in counted(values[0].as_primitive::<Float64Type>(), opt_filter) {
            self.push(group_indices[i], v);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let mut out = ListBuilder::with_capacity(Float64Builder::new(), groups.len());
        for mut values in groups {
            match linear_quantiles(&mut values, &self.levels) {
                Some(q) => {
                    out.values().append_slice(&q);
                    out.append(true);
                }
                None => out.append_null(),
            }
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![value_lists(&self.take(emit_to))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let lists = values[0].as_list::<i32>();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                let part = lists.value(row);
                for (_, v) in counted(part.as_primitive::<Float64Type>(), None) {
                    self.push(g, v);
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
        let a = values[0].as_primitive::<Float64Type>();
        let mut rows = vec![Vec::new(); a.len()];
        for (i, v) in counted(a, opt_filter) {
            rows[i].push(v);
        }
        Ok(vec![value_lists(&rows)])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.groups.capacity() * std::mem::size_of::<Vec<f64>>()
            + self.held
    }
}

#[derive(Debug)]
struct QuantilesAccumulator {
    levels: Vec<f64>,
    values: Vec<f64>,
}

impl QuantilesAccumulator {
    fn extend(&mut self, a: &Float64Array) {
        if a.null_count() == 0 {
            self.values
                .extend(a.values().iter().copied().filter(|v| !v.is_nan()));
        } else {
            self.values
                .extend(a.iter().flatten().filter(|v| !v.is_nan()));
        }
    }
}

impl Accumulator for QuantilesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.extend(values[0].as_primitive::<Float64Type>());
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                self.extend(lists.value(row).as_primitive::<Float64Type>());
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![list_scalar(Arc::new(Float64Array::from(
            std::mem::take(&mut self.values),
        )))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match linear_quantiles(&mut self.values, &self.levels) {
            Some(q) => f64_list_scalar(q),
            None => ScalarValue::new_null_list(DataType::Float64, true, 1),
        })
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.values.capacity() * std::mem::size_of::<f64>()
            + self.levels.capacity() * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy 2.4.6: np.percentile(x, [0, 25, 50, 90, 100]) of the values below.
    #[test]
    fn numpy_linear_percentiles() {
        let mut x = vec![7.0, 1.0, 3.5, 10.25, 2.0, 8.0, 4.5];
        let q = linear_quantiles(&mut x, &[0.0, 0.25, 0.5, 0.9, 1.0]).unwrap();
        // sorted: 1, 2, 3.5, 4.5, 7, 8, 10.25; h = 6q
        assert_eq!(q, vec![1.0, 2.75, 4.5, 8.9, 10.25]);
        let mut ten: Vec<f64> = (1..=10).map(f64::from).collect();
        // h = 8.1: 9 + 0.1 * 1 (percentile_cont gives 9.099999)
        assert_eq!(linear_quantiles(&mut ten, &[0.9]).unwrap(), vec![9.1]);
        assert_eq!(linear_quantiles(&mut [], &[0.5]), None);
        assert_eq!(
            linear_quantiles(&mut [3.0], &[0.0, 0.9, 1.0]).unwrap(),
            vec![3.0; 3]
        );
    }
}
