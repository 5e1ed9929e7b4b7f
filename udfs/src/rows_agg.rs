//! `rows_agg(a, b, ...)`: each group's rows as one struct of lists,
//! `{a: [...], b: [...], ...}`, the i-th element of every list from the same
//! row — what one `array_agg` per column gives, held and sorted once.
//!
//! Functions that need all of a group's rows at once (a customer's loyalty
//! ledger, [`crate::loyalty`]) read these lists. Measured on 8.99M lines of
//! 1M customers (benches/RESULTS.md), three `array_agg`s took 1.5 s and, at
//! 10M customers, 38 s: each keeps its own copy of the row positions, and
//! DataFusion 55's `array_agg` recomputes the size of every batch it holds
//! each time it is asked (after every input batch), which grows with the
//! square of the input. Here the rows of all columns share one list of
//! positions, the held size is kept as batches arrive, and a group's rows
//! keep their arrival order.
//!
//! A GROUP BY of `rows_agg`s alone runs in one phase in crmlake's sessions
//! ([`crate::rows_agg_plan`]): a partial phase cannot reduce these rows, it
//! would only hold and copy them once more.
//!
//! Rows are held by reference to the input batches (no copy) until the
//! group is emitted; their bytes are counted in the accumulator's size,
//! which DataFusion reserves from the session's memory pool. A group's lists
//! are in the order its rows arrived, which across partitions is not
//! defined: sort them when order matters. DISTINCT and ORDER BY inside the
//! call are not supported (an error says so).
//!
//! ```sql
//! SELECT customer_id, r['ts'] AS times, r['amount'] AS amounts
//! FROM (SELECT customer_id, rows_agg(ts, amount) AS r FROM transactions GROUP BY customer_id);
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{concat, filter};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::groups::kept;
use crate::scatter::{scatter, Pick};

pub const NAME: &str = "rows_agg";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "rows_agg(a, b, ...) -> STRUCT(a LIST, b LIST, ...)",
        description: "Each group's rows as one struct of lists named after the arguments, the i-th element of every list from the same row (one array_agg per column, held and sorted once); order within a group is arrival order",
        example: "SELECT r['amount'][2] FROM (SELECT rows_agg(ts, amount) AS r FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 20.0), (TIMESTAMP '2024-02-01 10:00:00', 5.0)) AS t(ts, amount)); -- 5.0",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(RowsAgg {
            signature: Signature::user_defined(Volatility::Immutable),
        }))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowsAgg {
    signature: Signature,
}

fn list_field(name: &str, t: &DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new_list_field(t.clone(), true))),
        true,
    )
}

/// The output's fields: one list per argument, named after it.
fn fields(arg_fields: &[FieldRef]) -> Fields {
    arg_fields
        .iter()
        .map(|f| list_field(f.name(), f.data_type()))
        .collect()
}

impl AggregateUDFImpl for RowsAgg {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() {
            return Err(UdfError::arity(NAME, "a, b, ...", 0).into());
        }
        Ok(arg_types.to_vec())
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let names: Vec<FieldRef> = arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| Arc::new(Field::new(format!("c{i}"), t.clone(), true)))
            .collect();
        Ok(DataType::Struct(fields(&names)))
    }
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if arg_fields.is_empty() {
            return Err(UdfError::arity(NAME, "a, b, ...", 0).into());
        }
        Ok(Arc::new(Field::new(
            NAME,
            DataType::Struct(fields(arg_fields)),
            true,
        )))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(RowsGroups::new(&args)?)))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct && args.order_bys.is_empty()
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RowsGroups::new(&args)?))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(args
            .input_fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Arc::new(list_field(
                    &format_state_name(args.name, &format!("c{i}")),
                    f.data_type(),
                ))
            })
            .collect())
    }
}

/// Every group's rows, held by reference: the columns of each batch that
/// arrived and, per row, its group and where it is.
#[derive(Debug)]
pub struct RowsGroups {
    fields: Fields,
    /// The held columns, `columns[c][b]` column c of batch b: input batches
    /// (update) or the values behind state lists (merge).
    columns: Vec<Vec<ArrayRef>>,
    /// (group, batch, row) of every held row, in arrival order.
    rows: Vec<(u32, u32, u32)>,
    groups: usize,
    /// Bytes of the held batches.
    held: usize,
}

impl RowsGroups {
    fn new(args: &AccumulatorArgs) -> Result<Self> {
        if args.is_distinct || !args.order_bys.is_empty() {
            return Err(UdfError::argument(
                NAME,
                "a, b, ...",
                "DISTINCT and ORDER BY are not supported: rows keep their arrival order; sort the lists when order matters",
            )
            .into());
        }
        let fields = fields(args.expr_fields);
        Ok(RowsGroups {
            columns: vec![Vec::new(); fields.len()],
            fields,
            rows: Vec::new(),
            groups: 0,
            held: 0,
        })
    }

    fn hold(&mut self, columns: Vec<ArrayRef>) {
        self.held += columns
            .iter()
            .map(|a| a.get_array_memory_size())
            .sum::<usize>();
        for (held, column) in self.columns.iter_mut().zip(columns) {
            held.push(column);
        }
    }

    /// How many batches are held (every column holds one array per batch;
    /// `rows_agg` has at least one argument).
    fn batches(&self) -> u32 {
        self.columns.first().map_or(0, Vec::len) as u32
    }

    /// Forget every held row.
    fn clear(&mut self) {
        self.columns = vec![Vec::new(); self.fields.len()];
        self.rows = Vec::new();
        self.held = 0;
    }

    /// The rows of the first `n` groups (all for `EmitTo::All`), gathered
    /// per column in group order, with the groups' offsets; the rest stay,
    /// renumbered from 0. Each row's place is computed once (4 bytes a row)
    /// and every column copied there ([`crate::scatter`]); when all groups
    /// go, each column's held arrays are dropped as soon as it is copied.
    fn emit(&mut self, emit_to: EmitTo) -> Result<(OffsetBuffer<i32>, Vec<ArrayRef>)> {
        let n = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let everything = n == self.groups;
        let mut counts = vec![0usize; n];
        for &(g, _, _) in &self.rows {
            if (g as usize) < n {
                counts[g as usize] += 1;
            }
        }
        let offsets = OffsetBuffer::<i32>::from_lengths(counts.iter().copied());
        drop(counts);
        let mut next: Vec<u32> = offsets.iter().map(|&o| o as u32).collect();
        let total = next.pop().unwrap_or(0) as usize;
        // Where each held row goes; STAYS for a row of a group kept back.
        const STAYS: u32 = u32::MAX;
        let dest: Vec<u32> = self
            .rows
            .iter()
            .map(|&(g, _, _)| match next.get_mut(g as usize) {
                Some(at) => {
                    *at += 1;
                    *at - 1
                }
                None => STAYS,
            })
            .collect();
        drop(next);
        let picks = self
            .rows
            .iter()
            .zip(&dest)
            .filter(|(_, &d)| d != STAYS)
            .map(|(&(_, b, r), &d)| Pick {
                source: b as usize,
                row: r as usize,
                dest: d as usize,
            });
        let mut columns = Vec::with_capacity(self.fields.len());
        for c in 0..self.fields.len() {
            let item_type = self.item_type(c).clone();
            columns.push(scatter(&self.columns[c], picks.clone(), total, &item_type)?);
            if everything {
                self.columns[c] = Vec::new();
            }
        }
        drop(dest);
        if everything {
            self.clear();
            self.groups = 0;
        } else {
            let n32 = n as u32;
            self.rows.retain(|&(g, _, _)| g >= n32);
            for row in &mut self.rows {
                row.0 -= n32;
            }
            self.groups -= n;
            if self.rows.is_empty() {
                self.clear();
            }
        }
        Ok((offsets, columns))
    }

    fn item_type(&self, c: usize) -> &DataType {
        match self.fields[c].data_type() {
            DataType::List(f) => f.data_type(),
            other => other,
        }
    }

    fn lists(&self, offsets: OffsetBuffer<i32>, columns: Vec<ArrayRef>) -> Vec<ArrayRef> {
        columns
            .into_iter()
            .enumerate()
            .map(|(c, values)| {
                Arc::new(ListArray::new(
                    Arc::new(Field::new_list_field(self.item_type(c).clone(), true)),
                    offsets.clone(),
                    values,
                    None,
                )) as ArrayRef
            })
            .collect()
    }
}

impl GroupsAccumulator for RowsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        let b = self.batches();
        let before = self.rows.len();
        for (r, &g) in group_indices.iter().enumerate() {
            if kept(opt_filter, r) {
                self.rows.push((g as u32, b, r as u32));
            }
        }
        if self.rows.len() > before {
            self.hold(values.to_vec());
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (offsets, columns) = self.emit(emit_to)?;
        let lists = self.lists(offsets, columns);
        Ok(Arc::new(StructArray::try_new(
            self.fields.clone(),
            lists,
            None,
        )?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (offsets, columns) = self.emit(emit_to)?;
        Ok(self.lists(offsets, columns))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        let lists: Vec<&ListArray> = values.iter().map(|a| a.as_list::<i32>()).collect();
        let Some(first) = lists.first() else {
            return Ok(());
        };
        // Every state list of a row has the same offsets (`lists`). A sliced
        // state holds only part of its values: keep that part.
        let offsets = first.value_offsets();
        let (start, end) = (
            offsets.first().copied().unwrap_or(0),
            offsets.last().copied().unwrap_or(0),
        );
        let b = self.batches();
        let before = self.rows.len();
        for (r, &g) in group_indices.iter().enumerate() {
            if first.is_null(r) {
                continue;
            }
            for j in offsets[r]..offsets[r + 1] {
                self.rows.push((g as u32, b, (j - start) as u32));
            }
        }
        if self.rows.len() > before {
            let (start, len) = (start as usize, (end - start) as usize);
            let columns = lists
                .iter()
                .map(|l| {
                    let v = l.values();
                    if start == 0 && len == v.len() {
                        Ok(Arc::clone(v))
                    } else {
                        // Copied: a slice would keep (and count) all of v.
                        Ok(concat(&[v.slice(start, len).as_ref()])?)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            self.hold(columns);
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
        let n = values.first().map_or(0, |a| a.len());
        let lengths = (0..n).map(|r| usize::from(kept(opt_filter, r)));
        let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
        let columns = values
            .iter()
            .map(|a| match opt_filter {
                Some(f) => {
                    let keep: BooleanArray = (0..n).map(|r| Some(kept(Some(f), r))).collect();
                    Ok(filter(a.as_ref(), &keep)?)
                }
                None => Ok(Arc::clone(a)),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.lists(offsets, columns))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.rows.capacity() * std::mem::size_of::<(u32, u32, u32)>()
            + self.columns.iter().map(|c| c.capacity()).sum::<usize>()
                * std::mem::size_of::<ArrayRef>()
            + self.held
    }
}

/// The aggregate without `GROUP BY` (one group).
#[derive(Debug)]
struct OneGroup(RowsGroups);

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |a| a.len());
        self.0.update_batch(values, &vec![0; n], None, 1)
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |a| a.len());
        self.0.merge_batch(states, &vec![0; n], 1)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.groups = 1;
        self.0
            .state(EmitTo::All)?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.groups = 1;
        let a = self.0.evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&a, 0)
    }
    fn size(&self) -> usize {
        self.0.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array};

    fn groups(n: usize) -> RowsGroups {
        RowsGroups {
            fields: fields(&[
                Arc::new(Field::new("k", DataType::Int64, true)),
                Arc::new(Field::new("x", DataType::Float64, true)),
            ]),
            columns: vec![Vec::new(); 2],
            rows: Vec::new(),
            groups: n,
            held: 0,
        }
    }

    fn column(s: &StructArray, c: usize, g: usize) -> ArrayRef {
        s.column(c).as_list::<i32>().value(g)
    }

    #[test]
    fn rows_keep_their_columns_together_across_update_state_and_merge() {
        let mut partial = groups(0);
        let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
        let x: ArrayRef = Arc::new(Float64Array::from(vec![10.0, 20.0, 30.0, 40.0]));
        partial
            .update_batch(&[k, x], &[1, 0, 1, 0], None, 2)
            .unwrap();
        let k: ArrayRef = Arc::new(Int64Array::from(vec![5]));
        let x: ArrayRef = Arc::new(Float64Array::from(vec![50.0]));
        partial.update_batch(&[k, x], &[1], None, 2).unwrap();
        assert!(partial.size() > 0);
        let state = partial.state(EmitTo::All).unwrap();
        assert_eq!(partial.size(), std::mem::size_of::<RowsGroups>());
        // The final phase sees partial group 1 as its group 0, and group 0 as 1.
        let mut last = groups(0);
        last.merge_batch(&state, &[1, 0], 2).unwrap();
        let out = last.evaluate(EmitTo::All).unwrap();
        let s = out.as_struct();
        assert_eq!(s.fields()[0].name(), "k");
        let k0 = column(s, 0, 0);
        let x0 = column(s, 1, 0);
        assert_eq!(
            k0.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[1, 3, 5]
        );
        assert_eq!(
            x0.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .values(),
            &[10.0, 30.0, 50.0]
        );
        let k1 = column(s, 0, 1);
        assert_eq!(
            k1.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[2, 4]
        );
    }

    #[test]
    fn emitting_the_first_groups_keeps_and_renumbers_the_rest() {
        let mut g = groups(0);
        let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]));
        g.update_batch(&[k, x], &[0, 1, 2], None, 3).unwrap();
        let first = g.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.len(), 2);
        let rest = g.evaluate(EmitTo::All).unwrap();
        let k = column(rest.as_struct(), 0, 0);
        assert_eq!(
            k.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[3]
        );
    }

    proptest::proptest! {
        /// However rows are split into batches and partial accumulators,
        /// each group's lists hold exactly its rows, the columns of a row
        /// together, in arrival order within each partial.
        #[test]
        fn every_group_gets_its_rows_with_their_columns_together(
            rows in proptest::collection::vec((0usize..5, 0usize..3), 0..200),
            batch in 1usize..17,
        ) {
            // Row i: group g, partial p, value i in both columns.
            let mut partials: Vec<RowsGroups> = (0..3).map(|_| groups(0)).collect();
            for (p, partial) in partials.iter_mut().enumerate() {
                let mine: Vec<(usize, i64)> = rows
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, rp))| *rp == p)
                    .map(|(i, (g, _))| (*g, i as i64))
                    .collect();
                for chunk in mine.chunks(batch) {
                    let k: ArrayRef = Arc::new(Int64Array::from_iter_values(chunk.iter().map(|c| c.1)));
                    let x: ArrayRef = Arc::new(Float64Array::from_iter_values(chunk.iter().map(|c| c.1 as f64)));
                    let g: Vec<usize> = chunk.iter().map(|c| c.0).collect();
                    partial.update_batch(&[k, x], &g, None, 5).unwrap();
                }
                partial.groups = 5;
            }
            let mut last = groups(0);
            for partial in &mut partials {
                let state = partial.state(EmitTo::All).unwrap();
                last.merge_batch(&state, &[0, 1, 2, 3, 4], 5).unwrap();
            }
            let out = last.evaluate(EmitTo::All).unwrap();
            let s = out.as_struct();
            for g in 0..5 {
                let k = column(s, 0, g);
                let x = column(s, 1, g);
                let k = k.as_primitive::<datafusion::arrow::datatypes::Int64Type>().values().to_vec();
                let x = x.as_primitive::<datafusion::arrow::datatypes::Float64Type>().values().to_vec();
                let expected: Vec<i64> = (0..3)
                    .flat_map(|p| {
                        rows.iter()
                            .enumerate()
                            .filter(move |(_, (rg, rp))| *rg == g && *rp == p)
                            .map(|(i, _)| i as i64)
                    })
                    .collect();
                proptest::prop_assert_eq!(&k, &expected);
                proptest::prop_assert_eq!(x, expected.iter().map(|v| *v as f64).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn filtered_rows_are_left_out_and_single_rows_become_states() {
        let g = groups(0);
        let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]));
        let keep = BooleanArray::from(vec![Some(true), None, Some(true)]);
        let state = g.convert_to_state(&[k, x], Some(&keep)).unwrap();
        let lists = state[0].as_list::<i32>();
        assert_eq!(lists.value_length(0), 1);
        assert_eq!(lists.value_length(1), 0);
        let third = lists.value(2);
        assert_eq!(
            third
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[3]
        );
    }
}
