//! `churn_train(features, label [, options])` aggregate → churn model.
//!
//! `features` is a struct (`named_struct('recency_days', r, 'plan', p, ...)`):
//! number and boolean fields are numeric, string fields categorical (their
//! categories are stored in the model; NULL and unseen categories are
//! handled as missing). NULL numeric fields are kept (each algorithm handles
//! missing values, see [`super::logistic`] and [`super::ensemble`]).
//! `label` is a boolean or 0/1 number, true/1 = churned; rows whose struct or
//! label is NULL are skipped and counted in the model's `metrics.skipped`.
//! Options: [`super::model`]. Rows are put in a canonical order (by a hash of
//! their values) before training, so the model does not depend on row order
//! or on how the input was partitioned.
//!
//! The model is returned as `VARCHAR` JSON (Utf8View, so that repeating it
//! next to every row of a join shares one copy of the text).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::data::{CategoryColumn, Feature, Frame};
use super::model::{Algorithm, ChurnModel, TrainOptions};
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::{f64_list_scalar, list_scalar};
use crate::model::Model;
use crate::options::coerce_options;

const NAME: &str = "churn_train";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "churn_train(features, label [, options]) -> model",
        description: "Train a churn classifier on a struct of numeric and categorical features and a 0/1 label; options algorithm=gbt|logistic|random_forest, class_weight, seed, calibration=none|platt|isotonic (fitted on a held-out calibration_fraction) and the algorithm's own",
        example: "SELECT model_info(churn_train(named_struct('days_idle', d, 'plan', p), churned, 'algorithm=logistic')) FROM (VALUES (5.0, 'pro', false), (40.0, 'basic', true), (3.0, 'basic', false), (60.0, 'pro', true), (10.0, 'basic', false), (55.0, 'basic', true)) AS t(d, p, churned)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(ChurnTrain::new()))),
    }
}

/// Whether a field type is read as a category.
pub fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// The features struct as read: numbers and booleans as DOUBLE, strings as
/// VARCHAR, same names and order.
/// The struct type `features` is read as: numbers and booleans as Float64,
/// strings as `text` (Utf8 for training, Utf8View for scoring).
pub fn coerce_features(function: &'static str, t: &DataType, text: &DataType) -> Result<DataType> {
    let DataType::Struct(fields) = t else {
        return Err(UdfError::argument(
            function,
            "features",
            format!("must be a struct (named_struct('recency', r, 'plan', p, ...)), got {t}"),
        )
        .into());
    };
    if fields.is_empty() {
        return Err(UdfError::argument(function, "features", "has no fields").into());
    }
    let mut out = Vec::with_capacity(fields.len());
    for f in fields.iter() {
        let t = f.data_type();
        let read = if t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null) {
            DataType::Float64
        } else if is_text(t) {
            text.clone()
        } else {
            return Err(UdfError::argument(
                function,
                "features",
                format!(
                    "field '{}' must be a number, boolean or string, got {t}",
                    f.name()
                ),
            )
            .into());
        };
        out.push(Field::new(f.name(), read, true));
    }
    Ok(DataType::Struct(Fields::from(out)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ChurnTrain {
    signature: Signature,
}

impl ChurnTrain {
    pub fn new() -> Self {
        ChurnTrain {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ChurnTrain {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for ChurnTrain {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return Err(
                UdfError::arity(NAME, "features, label [, options]", arg_types.len()).into(),
            );
        }
        let label = &arg_types[1];
        if !(label.is_numeric() || matches!(label, DataType::Boolean | DataType::Null)) {
            return Err(UdfError::argument(
                NAME,
                "label",
                format!("must be a boolean or a 0/1 number, got {label}"),
            )
            .into());
        }
        let mut out = vec![
            coerce_features(NAME, &arg_types[0], &DataType::Utf8)?,
            DataType::Float64,
        ];
        if let Some(t) = arg_types.get(2) {
            out.push(coerce_options(NAME, t)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let DataType::Struct(fields) = args.expr_fields[0].data_type() else {
            return Err(UdfError::argument(NAME, "features", "must be a struct").into());
        };
        let text = if args.exprs.len() > 2 {
            constant_text(NAME, "options", &constant(NAME, "options", args.exprs, 2)?)?
        } else {
            String::new()
        };
        let options = TrainOptions::parse(NAME, &text, fields.len())?;
        Ok(Box::new(TrainAccumulator {
            fields: fields.clone(),
            numeric: vec![Vec::new(); fields.len()],
            text: vec![Vec::new(); fields.len()],
            text_bytes: 0,
            labels: Vec::new(),
            skipped: 0,
            options,
            consumed: false,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let DataType::Struct(fields) = args.input_fields[0].data_type() else {
            return Err(UdfError::argument(NAME, "features", "must be a struct").into());
        };
        let mut out: Vec<FieldRef> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Arc::new(Field::new(
                    format_state_name(args.name, &format!("f{i}")),
                    DataType::List(Arc::new(Field::new_list_field(f.data_type().clone(), true))),
                    true,
                ))
            })
            .collect();
        out.push(Arc::new(Field::new(
            format_state_name(args.name, "labels"),
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            true,
        )));
        out.push(Arc::new(Field::new(
            format_state_name(args.name, "skipped"),
            DataType::Int64,
            true,
        )));
        Ok(out)
    }
}

#[derive(Debug)]
struct TrainAccumulator {
    fields: Fields,
    /// Numeric fields by column (NaN for NULL); empty for text fields.
    numeric: Vec<Vec<f64>>,
    /// Text fields by column; empty for numeric fields.
    text: Vec<Vec<Option<String>>>,
    /// Bytes of the strings in `text` (a running count: `size` is O(1)).
    text_bytes: usize,
    labels: Vec<f64>,
    skipped: i64,
    options: TrainOptions,
    /// Training moved the rows out (no second copy of them): the
    /// accumulator cannot take more rows or be evaluated again.
    consumed: bool,
}

impl TrainAccumulator {
    fn is_text(&self, f: usize) -> bool {
        self.fields[f].data_type() == &DataType::Utf8
    }

    /// Append the rows of `features` / `labels` (a struct and a DOUBLE
    /// column) that are not NULL.
    fn add(&mut self, features: &StructArray, labels: &dyn Array) -> Result<()> {
        self.check_not_consumed()?;
        let labels = labels.as_primitive::<Float64Type>();
        for i in 0..features.len() {
            if features.is_null(i) || labels.is_null(i) {
                self.skipped += 1;
                continue;
            }
            let y = labels.value(i);
            if y != 0.0 && y != 1.0 {
                return Err(UdfError::argument(
                    NAME,
                    "label",
                    format!("must be true/false or 0/1, got {y}"),
                )
                .into());
            }
            self.labels.push(y);
            for (f, col) in features.columns().iter().enumerate() {
                if self.is_text(f) {
                    let s = col.as_string::<i32>();
                    let value = (!s.is_null(i)).then(|| s.value(i).to_string());
                    self.text_bytes += value.as_ref().map_or(0, String::capacity);
                    self.text[f].push(value);
                } else {
                    let v = col.as_primitive::<Float64Type>();
                    let x = if v.is_null(i) { f64::NAN } else { v.value(i) };
                    if x.is_infinite() {
                        return Err(UdfError::data(
                            NAME,
                            format!(
                                "field '{}' of features is {x}; features must be finite or NULL",
                                self.fields[f].name()
                            ),
                        )
                        .into());
                    }
                    self.numeric[f].push(x);
                }
            }
        }
        Ok(())
    }

    /// Row order by a hash of the row's values, so that training does not
    /// depend on arrival order.
    fn canonical_order(&self) -> Vec<usize> {
        let n = self.labels.len();
        let build = foldhash::fast::FixedState::with_seed(7);
        let mut keyed: Vec<(u64, usize)> = (0..n)
            .map(|i| {
                let mut h = build.build_hasher();
                h.write_u64(self.labels[i].to_bits());
                for f in 0..self.fields.len() {
                    if self.is_text(f) {
                        match &self.text[f][i] {
                            Some(s) => h.write(s.as_bytes()),
                            None => h.write_u8(0xFF),
                        }
                    } else {
                        h.write_u64(self.numeric[f][i].to_bits());
                    }
                }
                (h.finish(), i)
            })
            .collect();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                (0..self.fields.len())
                    .map(|f| {
                        if self.is_text(f) {
                            self.text[f][a.1].cmp(&self.text[f][b.1])
                        } else {
                            self.numeric[f][a.1].total_cmp(&self.numeric[f][b.1])
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(self.labels[a.1].total_cmp(&self.labels[b.1]))
            })
        });
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    /// An error once training has moved the rows out: only a window
    /// frame (evaluated again after more rows) gets here.
    fn check_not_consumed(&self) -> Result<()> {
        if self.consumed {
            return Err(UdfError::data(
                NAME,
                "trains once over all its rows; it cannot be used as a window function",
            )
            .into());
        }
        Ok(())
    }

    fn train(&mut self) -> Result<Option<ChurnModel>> {
        self.check_not_consumed()?;
        if self.labels.is_empty() {
            return Ok(None);
        }
        // A classifier needs both classes (scikit-learn refuses too): with
        // one, every model predicts a constant.
        let churned = self.labels.iter().filter(|&&y| y == 1.0).count();
        let stayed = self.labels.len() - churned;
        if churned == 0 || stayed == 0 {
            return Err(UdfError::data(
                NAME,
                format!(
                    "the label has one class only ({churned} churned, {stayed} not churned); training needs rows of both (check the label window and the as_of date)"
                ),
            )
            .into());
        }
        // What training adds per row: the rows themselves are moved into
        // training order, not copied (one 8-byte column at a time is in
        // flight), then labels, weights, gradients, hessians, outputs and
        // row indices (80 bytes), and per feature: for gbt a bin, a ranked
        // copy of each categorical column and, while binning, one sorted
        // column per busy thread (numeric columns are read in place); for
        // the other algorithms a bin and an 8-byte working copy.
        let (n, d) = (self.labels.len(), self.fields.len());
        let per_row = match self.options.algorithm {
            Algorithm::Gbt(_) => {
                let categorical = (0..d).filter(|&f| self.is_text(f)).count();
                d + 8 * (categorical + crate::pool::threads().min(d)) + 80
            }
            _ => d * 9 + 80,
        };
        let _memory = crate::memory::reserve(
            NAME,
            &format!("train on {n} rows of {d} features"),
            n * per_row,
        )?;
        let order = self.canonical_order();
        let mut features = Vec::with_capacity(self.fields.len());
        let mut columns = Vec::with_capacity(self.fields.len());
        self.consumed = true;
        for f in 0..self.fields.len() {
            let name = self.fields[f].name().clone();
            if self.is_text(f) {
                let text = std::mem::take(&mut self.text[f]);
                let mut c = CategoryColumn::default();
                for &i in &order {
                    c.push(text[i].as_deref());
                }
                let (names, values) = c.finish();
                features.push(Feature::categorical(name.as_str(), names));
                columns.push(values);
            } else {
                // Each column is reordered and its arrival-order copy
                // dropped before the next: no second copy of all rows.
                let column = std::mem::take(&mut self.numeric[f]);
                features.push(Feature::numeric(name.as_str()));
                columns.push(order.iter().map(|&i| column[i]).collect());
            }
        }
        self.text_bytes = 0;
        let labels = std::mem::take(&mut self.labels);
        let frame = Frame {
            columns,
            labels: order.iter().map(|&i| labels[i]).collect(),
            weights: Vec::new(),
        };
        ChurnModel::train(frame, features, &self.options, self.skipped.max(0) as u64)
            .map(Some)
            .map_err(|m| UdfError::data(NAME, m).into())
    }
}

impl Accumulator for TrainAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values[0].as_struct(), values[1].as_ref())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let d = self.fields.len();
        let lists: Vec<&ListArray> = states[..d].iter().map(|a| a.as_list::<i32>()).collect();
        let labels = states[d].as_list::<i32>();
        let skipped = states[d + 1].as_primitive::<Int64Type>();
        for row in 0..states[0].len() {
            if !skipped.is_null(row) {
                self.skipped += skipped.value(row);
            }
            if labels.is_null(row) {
                continue;
            }
            let columns: Vec<ArrayRef> = lists.iter().map(|l| l.value(row)).collect();
            let s = StructArray::try_new(self.fields.clone(), columns, None)?;
            let skipped_before = self.skipped;
            self.add(&s, labels.value(row).as_ref())?;
            self.skipped = skipped_before;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.check_not_consumed()?;
        let mut out = Vec::with_capacity(self.fields.len() + 2);
        for f in 0..self.fields.len() {
            out.push(if self.is_text(f) {
                list_scalar(Arc::new(StringArray::from(self.text[f].clone())))
            } else {
                f64_list_scalar(self.numeric[f].clone())
            });
        }
        out.push(f64_list_scalar(self.labels.clone()));
        out.push(ScalarValue::Int64(Some(self.skipped)));
        Ok(out)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let model = self.train()?;
        Ok(ScalarValue::Utf8View(model.map(|model| {
            Model::Churn {
                params: self.options.shown.clone(),
                model,
            }
            .to_json()
        })))
    }

    fn size(&self) -> usize {
        let vectors = self.labels.capacity() * 8
            + self.numeric.iter().map(|c| c.capacity() * 8).sum::<usize>()
            + self
                .text
                .iter()
                .map(|c| c.capacity() * std::mem::size_of::<Option<String>>())
                .sum::<usize>();
        std::mem::size_of_val(self) + vectors + self.text_bytes
    }
}
