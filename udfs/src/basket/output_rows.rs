//! The rows of the mining functions as Arrow columns: the itemsets of
//! `frequent_itemsets` and the rules of `association_rules`, built a range
//! at a time (the streaming scan's batches, [`super::table_sql`]) or whole
//! (the aggregates' one list, [`super::agg_sql`]).

/// `items`, `size`, `count`, `support`.
pub mod itemsets {
    use std::ops::Range;
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
    use datafusion::arrow::buffer::OffsetBuffer;
    use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema};

    use super::super::accumulate::{values_array, KeyType};
    use super::super::Mined;
    use crate::lists::one_row_list;

    /// The struct of one itemset row.
    pub fn row_type(item: KeyType) -> DataType {
        DataType::Struct(fields(item))
    }

    fn fields(item: KeyType) -> Fields {
        Fields::from(vec![
            Field::new("items", item.list_type(), false),
            Field::new("size", DataType::Int64, false),
            Field::new("count", DataType::Int64, false),
            Field::new("support", DataType::Float64, false),
        ])
    }

    /// The number of output columns.
    pub const COLUMNS: usize = 4;

    /// The schema of the table function's rows.
    pub fn schema(item: KeyType) -> Schema {
        Schema::new(fields(item))
    }

    /// Column `c` (in the order of [`schema`]) of the itemsets at `range`.
    pub fn column(mined: &Mined, range: Range<usize>, item: KeyType, c: usize) -> ArrayRef {
        let sets = &mined.itemsets;
        let len = |i: usize| sets.offsets[i + 1] - sets.offsets[i];
        match c {
            0 => Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(item.data_type(), true)),
                OffsetBuffer::from_lengths(range.clone().map(len)),
                values_array(
                    &mined.values,
                    sets.items[sets.offsets[range.start]..sets.offsets[range.end]]
                        .iter()
                        .copied(),
                ),
                None,
            )),
            1 => Arc::new(Int64Array::from_iter_values(range.map(|i| len(i) as i64))),
            2 => Arc::new(Int64Array::from_iter_values(
                sets.counts[range].iter().map(|&c| c as i64),
            )),
            _ => Arc::new(Float64Array::from_iter_values(
                sets.counts[range]
                    .iter()
                    .map(|&c| c as f64 / mined.n as f64),
            )),
        }
    }

    /// The itemsets of `mined` as a one-row list of structs (the aggregate's
    /// value).
    pub fn rows(mined: &Mined, item: KeyType) -> ListArray {
        let all = 0..mined.itemsets.len();
        let columns = (0..COLUMNS)
            .map(|c| column(mined, all.clone(), item, c))
            .collect();
        one_row_list(Arc::new(StructArray::new(fields(item), columns, None)))
    }
}

/// `antecedent`, `consequent`, the metrics and `count`.
pub mod rules {
    use std::ops::Range;
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StructArray};
    use datafusion::arrow::buffer::OffsetBuffer;
    use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema};

    use super::super::accumulate::{values_array, KeyType};
    use super::super::rules::{Metrics, Rule, Rules};
    use super::super::Mined;
    use crate::lists::one_row_list;

    pub const METRICS: [&str; 7] = [
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
        "antecedent_support",
        "consequent_support",
    ];

    /// The struct of one rule row.
    pub fn row_type(item: KeyType) -> DataType {
        DataType::Struct(fields(item))
    }

    fn fields(item: KeyType) -> Fields {
        let mut f = vec![
            Field::new("antecedent", item.list_type(), false),
            Field::new("consequent", item.list_type(), false),
        ];
        f.extend(
            METRICS
                .iter()
                .map(|m| Field::new(*m, DataType::Float64, false)),
        );
        f.push(Field::new("count", DataType::Int64, false));
        Fields::from(f)
    }

    /// The number of output columns.
    pub const COLUMNS: usize = 10;

    /// The schema of the table function's rows.
    pub fn schema(item: KeyType) -> Schema {
        Schema::new(fields(item))
    }

    fn side<'r>(
        mined: &Mined,
        item: KeyType,
        rules: impl Iterator<Item = Rule<'r>> + Clone,
        pick: fn(Rule<'r>) -> &'r [u32],
    ) -> ArrayRef {
        Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(item.data_type(), true)),
            OffsetBuffer::from_lengths(rules.clone().map(|r| pick(r).len())),
            values_array(&mined.values, rules.flat_map(|r| pick(r).iter().copied())),
            None,
        ))
    }

    /// Column `c` (in the order of [`schema`]) of the rules at `range`, each
    /// metric computed straight from the rules (no table of all rules' metrics
    /// beside the columns: 56 bytes a rule).
    pub fn column(
        mined: &Mined,
        rules: &Rules,
        range: Range<usize>,
        item: KeyType,
        c: usize,
    ) -> ArrayRef {
        let at = || rules.range(range.clone());
        let metric = |f: fn(&Metrics) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(
                at().map(|r| f(&r.metrics(mined.n))),
            ))
        };
        match c {
            0 => side(mined, item, at(), |r| r.antecedent),
            1 => side(mined, item, at(), |r| r.consequent),
            2 => metric(|m| m.support),
            3 => metric(|m| m.confidence),
            4 => metric(|m| m.lift),
            5 => metric(|m| m.leverage),
            6 => metric(|m| m.conviction),
            7 => metric(|m| m.antecedent_support),
            8 => metric(|m| m.consequent_support),
            _ => Arc::new(Int64Array::from_iter_values(at().map(|r| r.count as i64))),
        }
    }

    /// `rules` of `mined` as a one-row list of structs (the aggregate's value).
    pub fn rows(mined: &Mined, rules: &Rules, item: KeyType) -> ListArray {
        let columns = (0..COLUMNS)
            .map(|c| column(mined, rules, 0..rules.len(), item, c))
            .collect();
        one_row_list(Arc::new(StructArray::new(fields(item), columns, None)))
    }
}
