//! `churn_score(model, features)` → churn probability in [0, 1], and
//! `churn_explain(model, features, k)` → the k features that move this row's
//! score most, as a list of `(feature, value, contribution)`.
//!
//! The struct's fields are matched to the model's features by name, in any
//! order; a missing or extra field, or a string where the model has a number
//! (or the reverse), is an error naming the field. A NULL model or struct
//! gives NULL; NULL fields and unseen categories are missing values.
//!
//! Contributions are in the model's raw units (`model_info(...).output`):
//! log-odds for `logistic` (coefficient × standardised value, summed over a
//! categorical feature's indicator columns) and `gbt` (TreeSHAP), probability
//! for `random_forest` (TreeSHAP of the averaged trees). With every feature
//! (k at least the number of features) they add up to the raw output minus
//! the model's `expected_value`. Ranked by absolute size, largest first;
//! `value` is the input as text ('NULL' when missing; an unseen category
//! shows its text and contributes as a missing value would).
//!
//! Models are parsed once per process and kept (the last four, found by a
//! hash of their text and confirmed by comparing it, [`crate::model_cache`]):
//! a nightly job scoring millions of rows in 8,192-row batches parses its
//! model once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, ListBuilder, StringBuilder, StringViewArray,
    StructArray, StructBuilder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::ensemble::Explainer;
use super::model::{ChurnModel, Learner};
use super::train_sql::coerce_features;
use super::tree_batch::TreeBatch;
use crate::error::UdfError;
use crate::feature_fields::match_fields;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::model::Model;
use crate::model_arg::{coerce_model, Models};
use crate::model_cache::{fold_hash, ModelCache};

pub fn score_entry() -> FunctionEntry {
    FunctionEntry {
        name: "churn_score",
        kind: FunctionKind::Scalar,
        signature: "churn_score(model, features) -> DOUBLE",
        description: "Churn probability in [0, 1] from a churn_train model; features matched by name",
        example: "WITH m AS (SELECT churn_train(named_struct('days_idle', d), churned, 'algorithm=logistic') AS model FROM (VALUES (5.0, false), (40.0, true), (3.0, false), (60.0, true), (30.0, false), (8.0, true)) AS t(d, churned)) SELECT churn_score(model, named_struct('days_idle', 50.0)) > churn_score(model, named_struct('days_idle', 4.0)) FROM m; -- true",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ChurnScore::new(false)))),
    }
}

pub fn explain_entry() -> FunctionEntry {
    FunctionEntry {
        name: "churn_explain",
        kind: FunctionKind::Scalar,
        signature: "churn_explain(model, features, k) -> LIST<STRUCT(feature, value, contribution)>",
        description: "The k features that move this row's churn score most (logistic: coefficient x standardised value; trees: TreeSHAP), largest |contribution| first",
        example: "WITH m AS (SELECT churn_train(named_struct('days_idle', d, 'plan', p), churned, 'algorithm=logistic') AS model FROM (VALUES (5.0, 'pro', false), (40.0, 'basic', true), (3.0, 'basic', false), (60.0, 'pro', true), (30.0, 'basic', false), (8.0, 'basic', true)) AS t(d, p, churned)) SELECT churn_explain(model, named_struct('days_idle', 55.0, 'plan', 'basic'), 2) FROM m",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(ChurnScore::new(true)))),
    }
}

/// A parsed model with its category look-up tables.
pub struct Prepared {
    pub model: ChurnModel,
    categories: Vec<Option<CategoryIndex>>,
    batch: Batch,
    /// Built on the first `churn_explain` call (scoring does not need it).
    explainer: OnceLock<Option<Explainer>>,
}

/// How [`Prepared::probabilities`] scores many rows.
enum Batch {
    /// A logistic model as per-feature terms.
    Linear(LinearTerms),
    /// Trees as mask tables or laid out for walking blocks of rows.
    Trees(TreeBatch),
    /// Row by row through the model's scorer (a model with no features).
    Rows,
}

/// A logistic model's log-odds as one term per feature: `a·x + b` for a
/// numeric feature, a table entry per category code for a categorical one
/// (the sum of its indicator columns' terms), 0 when missing or unseen (mean
/// imputation on the standardised design). Equal to
/// [`super::logistic::Logistic::log_odds`] up to rounding; scoring a column
/// at a time this way costs one multiply-add or one look-up per value.
struct LinearTerms {
    intercept: f64,
    /// Per feature: `Numeric(a, b)` or `Categorical(table)`.
    terms: Vec<Term>,
}

enum Term {
    Numeric(f64, f64),
    Categorical(Vec<f64>),
}

impl LinearTerms {
    fn new(m: &super::logistic::Logistic, features: &[super::data::Feature]) -> LinearTerms {
        let mut terms: Vec<Term> = features
            .iter()
            .map(|f| match &f.categories {
                Some(c) => Term::Categorical(vec![0.0; c.len()]),
                None => Term::Numeric(0.0, 0.0),
            })
            .collect();
        for c in &m.columns {
            match terms.get_mut(c.feature) {
                Some(Term::Numeric(a, b)) => {
                    *a += c.coef / c.scale;
                    *b -= c.coef * c.mean / c.scale;
                }
                Some(Term::Categorical(table)) => {
                    for (k, t) in table.iter_mut().enumerate() {
                        *t += c.coef * c.standard(k as f64);
                    }
                }
                None => {}
            }
        }
        LinearTerms {
            intercept: m.intercept,
            terms,
        }
    }

    /// Log-odds of the rows of encoded `columns` (one per feature).
    fn log_odds<C: AsRef<[f64]>>(&self, columns: &[C], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = self.intercept);
        for (term, col) in self.terms.iter().zip(columns) {
            let col = col.as_ref();
            match term {
                Term::Numeric(a, b) => {
                    for (o, &x) in out.iter_mut().zip(col) {
                        let v = a * x + b;
                        *o += if x.is_nan() { 0.0 } else { v };
                    }
                }
                Term::Categorical(table) => {
                    for (o, &x) in out.iter_mut().zip(col) {
                        // NaN (missing, unseen) casts to 0: check it first.
                        if !x.is_nan() {
                            *o += table.get(x as usize).copied().unwrap_or(0.0);
                        }
                    }
                }
            }
        }
    }
}

impl Prepared {
    fn new(function: &'static str, text: &str) -> std::result::Result<Prepared, UdfError> {
        let Model::Churn { model, .. } = Model::parse(function, text)? else {
            return Err(UdfError::argument(
                function,
                "model",
                "needs a churn model (from churn_train)",
            ));
        };
        model.validate().map_err(|m| {
            UdfError::argument(
                function,
                "model",
                format!("is not a valid churn model: {m}"),
            )
        })?;
        let categories = model
            .features
            .iter()
            .map(|f| f.categories.as_deref().map(CategoryIndex::new))
            .collect();
        let d = model.features.len();
        let batch = match &model.learner {
            Learner::Logistic(m) => Batch::Linear(LinearTerms::new(m, &model.features)),
            Learner::Gbt(e) | Learner::RandomForest(e) => {
                TreeBatch::new(e, d).map_or(Batch::Rows, Batch::Trees)
            }
        };
        Ok(Prepared {
            model,
            categories,
            batch,
            explainer: OnceLock::new(),
        })
    }

    /// Churn probabilities of the rows of encoded `columns`. Tree models use
    /// leaf mask tables or walk blocks of rows through each tree, on every
    /// core for large inputs.
    pub fn probabilities<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Vec<f64> {
        let n = columns.first().map_or(0, |c| c.as_ref().len());
        let d = columns.len();
        let mut out = vec![0.0; n];
        match (&self.batch, &self.model.learner) {
            (Batch::Linear(linear), _) => linear.log_odds(columns, &mut out),
            (Batch::Trees(trees), Learner::Gbt(e) | Learner::RandomForest(e)) => {
                trees.raw(e, columns, &mut out)
            }
            _ => {
                let mut scorer = self.model.scorer();
                let mut x = vec![0.0; d];
                for (i, o) in out.iter_mut().enumerate() {
                    for (v, col) in x.iter_mut().zip(columns) {
                        *v = col.as_ref()[i];
                    }
                    *o = scorer.probability(&x);
                }
                return out;
            }
        }
        for o in out.iter_mut() {
            *o = self.model.probability_of(*o);
        }
        out
    }

    /// The encoded columns of `features`, in model order; checks names and
    /// types.
    fn encode<'a>(
        &self,
        function: &'static str,
        features: &'a StructArray,
    ) -> std::result::Result<Vec<Cow<'a, [f64]>>, UdfError> {
        let names: Vec<&str> = self
            .model
            .features
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let positions = match_fields(function, &names, features.fields())?;
        let mut out = Vec::with_capacity(names.len());
        for (j, (feature, &at)) in self.model.features.iter().zip(&positions).enumerate() {
            let col = features.column(at);
            let text = col.data_type() == &DataType::Utf8View;
            if text != feature.is_categorical() {
                return Err(UdfError::argument(
                    function,
                    "features",
                    format!(
                        "field '{}' is {}, the model was trained on a {}",
                        feature.name,
                        col.data_type(),
                        if feature.is_categorical() {
                            "string (categorical)"
                        } else {
                            "number"
                        }
                    ),
                ));
            }
            let values: Cow<[f64]> = match &self.categories[j] {
                None => {
                    let v = col.as_primitive::<Float64Type>();
                    match v.nulls().filter(|n| n.null_count() > 0) {
                        // No nulls: the column's own values, not a copy.
                        None => Cow::Borrowed(&v.values()[..]),
                        Some(nulls) => {
                            let mut values = v.values().to_vec();
                            nan_at_nulls(&mut values, nulls);
                            Cow::Owned(values)
                        }
                    }
                }
                Some(index) => Cow::Owned(index.codes(col.as_string_view())),
            };
            out.push(values);
        }
        Ok(out)
    }
}

/// Marks the rows `nulls` says are null as missing (NaN) in `values`.
fn nan_at_nulls(values: &mut [f64], nulls: &NullBuffer) {
    for (v, valid) in values.iter_mut().zip(nulls.iter()) {
        if !valid {
            *v = f64::NAN;
        }
    }
}

/// A categorical feature's categories, looked up by the 16-byte views of a
/// Utf8View array: a string of at most 12 bytes is stored whole in its view,
/// so it is found by comparing one `u128`; a longer one is matched by its
/// length and 4-byte prefix (also in the view) and then compared in full.
/// No string is hashed, and the column is never copied into a Utf8 array.
#[derive(Debug)]
pub struct CategoryIndex {
    short: HashMap<u128, usize, foldhash::fast::FixedState>,
    /// (length, prefix) -> the categories that have them.
    long: HashMap<u64, Vec<usize>, foldhash::fast::FixedState>,
    names: Vec<String>,
}

impl CategoryIndex {
    pub fn new(categories: &[String]) -> CategoryIndex {
        let mut short = HashMap::with_hasher(foldhash::fast::FixedState::with_seed(3));
        let mut long: HashMap<u64, Vec<usize>, _> =
            HashMap::with_hasher(foldhash::fast::FixedState::with_seed(5));
        for (code, name) in categories.iter().enumerate() {
            let view = make_view(name.as_bytes(), 0, 0);
            if name.len() <= 12 {
                short.insert(view, code);
            } else {
                long.entry(view as u64).or_default().push(code);
            }
        }
        CategoryIndex {
            short,
            long,
            names: categories.to_vec(),
        }
    }

    /// The category codes of `strings` as f64, NaN for a null or an unseen
    /// value. Within one array equal views are equal strings (a long view
    /// names its buffer and offset, and Parquet's dictionary pages decode to
    /// views of one copy of each value), so a small cache keyed by the whole
    /// view answers most rows without touching the string bytes.
    pub fn codes(&self, strings: &StringViewArray) -> Vec<f64> {
        const SLOTS: usize = 256;
        let mut cache: Vec<(u128, f64)> = vec![(u128::MAX, f64::NAN); SLOTS];
        let views = strings.views();
        let mut out = Vec::with_capacity(views.len());
        for (i, &view) in views.iter().enumerate() {
            // u128::MAX is no view: its length would be 4 GiB - 1 inline.
            let h = ((view as u64) ^ ((view >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let slot = &mut cache[(h >> 56) as usize];
            let code = if slot.0 == view {
                slot.1
            } else {
                let code = self.code(strings, i).map_or(f64::NAN, |c| c as f64);
                *slot = (view, code);
                code
            };
            out.push(code);
        }
        if let Some(nulls) = strings.nulls().filter(|n| n.null_count() > 0) {
            nan_at_nulls(&mut out, nulls);
        }
        out
    }

    /// The category code of row `i` of `strings` (not null), if known.
    pub fn code(&self, strings: &StringViewArray, i: usize) -> Option<usize> {
        let view = strings.views()[i];
        if (view as u32) <= 12 {
            return self.short.get(&view).copied();
        }
        let candidates = self.long.get(&(view as u64))?;
        let text = strings.value(i);
        candidates.iter().copied().find(|&c| self.names[c] == text)
    }
}

/// The last models parsed in this process (found by hash, confirmed by
/// comparing the text).
static CACHE: ModelCache<Prepared> = ModelCache::new(4, fold_hash);

/// The prepared model for `text`, parsed at most once while it stays among
/// the last 4 used.
pub fn prepared(
    function: &'static str,
    text: &str,
) -> std::result::Result<Arc<Prepared>, UdfError> {
    CACHE.get_or_parse(text, |t| Prepared::new(function, t))
}

/// Whether two model texts are equal, by address first: a model repeated
/// along a join is one text at one address.
fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => crate::model::same_text(a, b),
        (None, None) => true,
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ChurnScore {
    explain: bool,
    signature: Signature,
}

impl ChurnScore {
    pub fn new(explain: bool) -> Self {
        ChurnScore {
            explain,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
    fn name_str(&self) -> &'static str {
        if self.explain {
            "churn_explain"
        } else {
            "churn_score"
        }
    }
}

fn reason_fields() -> Fields {
    Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("contribution", DataType::Float64, false),
    ])
}

/// The model text of row `i` (a constant model has one text for all rows).
enum ModelArg<'a> {
    Constant(Option<String>),
    Rows(Models<'a>),
}

impl ModelArg<'_> {
    fn text(&self, i: usize) -> Option<&str> {
        match self {
            ModelArg::Constant(t) => t.as_deref(),
            ModelArg::Rows(m) => (!m.is_null(i)).then(|| m.value(i)),
        }
    }
}

impl ScalarUDFImpl for ChurnScore {
    fn name(&self) -> &str {
        self.name_str()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.explain {
            DataType::List(Arc::new(Field::new_list_field(
                DataType::Struct(reason_fields()),
                true,
            )))
        } else {
            DataType::Float64
        })
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name_str();
        let want = if self.explain { 3 } else { 2 };
        if arg_types.len() != want {
            let expected = if self.explain {
                "model, features, k"
            } else {
                "model, features"
            };
            return Err(UdfError::arity(name, expected, arg_types.len()).into());
        }
        let mut out = vec![
            coerce_model(name, &arg_types[0])?,
            coerce_features(name, &arg_types[1], &DataType::Utf8View)?,
        ];
        if self.explain {
            if !(arg_types[2].is_integer() || arg_types[2] == DataType::Null) {
                return Err(UdfError::argument(
                    name,
                    "k",
                    format!("must be an integer, got {}", arg_types[2]),
                )
                .into());
            }
            out.push(DataType::Int64);
        }
        Ok(out)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name_str();
        let n = args.number_rows;
        let model_array;
        let model_arg = match &args.args[0] {
            ColumnarValue::Scalar(s) => ModelArg::Constant(match s {
                ScalarValue::Utf8(t) | ScalarValue::Utf8View(t) | ScalarValue::LargeUtf8(t) => {
                    t.clone()
                }
                _ => None,
            }),
            ColumnarValue::Array(a) => {
                model_array = Arc::clone(a);
                ModelArg::Rows(Models::new(name, &model_array)?)
            }
        };
        let features_array = args.args[1].to_array(n)?;
        let features = features_array.as_struct();
        let ks = if self.explain {
            Some(args.args[2].to_array(n)?)
        } else {
            None
        };
        // Rows are scored in runs that share one model text (usually the
        // whole batch).
        let mut scores = Float64Builder::with_capacity(n);
        let mut reasons =
            ListBuilder::new(StructBuilder::from_fields(reason_fields(), n)).with_field(Arc::new(
                Field::new_list_field(DataType::Struct(reason_fields()), true),
            ));
        let mut start = 0;
        while start < n {
            let text = model_arg.text(start);
            let mut end = start + 1;
            while end < n && same_text(model_arg.text(end), text) {
                end += 1;
            }
            let Some(text) = text else {
                for _ in start..end {
                    scores.append_null();
                    reasons.append_null();
                }
                start = end;
                continue;
            };
            let p = prepared(name, text)?;
            let run = features.slice(start, end - start);
            let columns = p.encode(name, &run)?;
            let d = columns.len();
            if !self.explain {
                let probabilities = p.probabilities(&columns);
                if run.null_count() == 0 {
                    scores.append_slice(&probabilities);
                } else {
                    for (i, &v) in probabilities.iter().enumerate() {
                        if run.is_null(i) {
                            scores.append_null();
                        } else {
                            scores.append_value(v);
                        }
                    }
                }
                start = end;
                continue;
            }
            // Every row's contributions first, in chunks of 1,024 rows on
            // the kernels' pool, tree by tree within a chunk, from the
            // trees' SHAP tables (the walk of TreeSHAP cost about 64 µs a
            // row for 114 trees of 8 leaves; row by row over 300 trees with
            // the feedback features the tables missed the cache: 26 s for
            // 1M rows).
            let mut contributions = vec![0.0; run.len() * d];
            let explainer = p.explainer.get_or_init(|| p.model.explainer()).as_ref();
            let rows_per_chunk = 1024;
            crate::pool::for_each_chunk_mut(
                &mut contributions,
                rows_per_chunk * d.max(1),
                |offset, part| {
                    if d == 0 {
                        return;
                    }
                    let mut scorer = p.model.explaining_scorer(explainer);
                    let first = offset / d;
                    // The chunk's rows, tree by tree (contributions_rows);
                    // a NULL row or one without k is computed on whatever
                    // its columns hold and never read.
                    let mut xs = vec![0.0; part.len()];
                    for (r, x) in xs.chunks_mut(d).enumerate() {
                        for (v, col) in x.iter_mut().zip(&columns) {
                            *v = col[first + r];
                        }
                    }
                    scorer.contributions_rows(&xs, part, d);
                },
            );
            let mut x = vec![0.0; d];
            for i in 0..run.len() {
                if run.is_null(i) {
                    reasons.append_null();
                    continue;
                }
                for (v, col) in x.iter_mut().zip(&columns) {
                    *v = col[i];
                }
                let phi = &contributions[i * d..(i + 1) * d];
                let k = ks
                    .as_ref()
                    .map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int64Type>());
                let Some(k) = k
                    .filter(|k| !k.is_null(start + i))
                    .map(|k| k.value(start + i))
                else {
                    reasons.append_null();
                    continue;
                };
                if k < 0 {
                    return Err(
                        UdfError::argument(name, "k", format!("must be >= 0, got {k}")).into(),
                    );
                }
                let mut order: Vec<usize> = (0..d).collect();
                order.sort_by(|&a, &b| phi[b].abs().total_cmp(&phi[a].abs()).then(a.cmp(&b)));
                let entries = reasons.values();
                for &j in order.iter().take(k as usize) {
                    let feature = &p.model.features[j];
                    // The value as given: an unseen category shows its text.
                    let given = run
                        .column_by_name(&feature.name)
                        .filter(|c| c.data_type() == &DataType::Utf8View && !c.is_null(i))
                        .map(|c| c.as_string_view().value(i).to_string());
                    let value = match given {
                        Some(text) => text,
                        None if x[j].is_nan() => "NULL".to_string(),
                        None => format!("{}", x[j]),
                    };
                    entries
                        .field_builder::<StringBuilder>(0)
                        .ok_or_else(|| UdfError::data(name, "reason builder"))?
                        .append_value(&feature.name);
                    entries
                        .field_builder::<StringBuilder>(1)
                        .ok_or_else(|| UdfError::data(name, "reason builder"))?
                        .append_value(value);
                    entries
                        .field_builder::<Float64Builder>(2)
                        .ok_or_else(|| UdfError::data(name, "reason builder"))?
                        .append_value(phi[j]);
                    entries.append(true);
                }
                reasons.append(true);
            }
            start = end;
        }
        let out: ArrayRef = if self.explain {
            Arc::new(reasons.finish())
        } else {
            Arc::new(scores.finish())
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::data::{Feature, Frame};
    use crate::churn::model::TrainOptions;
    use crate::model::Model;
    use proptest::prelude::*;

    /// Each way of scoring a batch gives the row-by-row scorer's bits: mask
    /// tables for shallow trees, the block walk for deep ones, on one or
    /// several threads.
    #[test]
    fn tree_batches_equal_row_by_row_scores() {
        let n = 2000usize;
        let x: Vec<f64> = (0..n).map(|i| ((i * 37) % n) as f64 / 6.0).collect();
        let c: Vec<f64> = (0..n)
            .map(|i| {
                if i % 11 == 0 {
                    f64::NAN
                } else {
                    (i % 3) as f64
                }
            })
            .collect();
        // Noisy labels: unlimited trees that try both features at every
        // split grow past 256 leaves, the most mask tables take.
        let mut rng = crate::segment::kmeans::Rng::new(5);
        let y: Vec<f64> = (0..n)
            .map(|_| f64::from(u8::from(rng.uniform() < 0.5)))
            .collect();
        let features = vec![
            Feature::numeric("x"),
            Feature::categorical("c", ["a", "b", "c"]),
        ];
        let cases = [
            ("algorithm=gbt, max_iter=20", true),
            ("algorithm=random_forest, n_trees=4, seed=1", true),
            // Past 64 leaves (here up to 107): masks of two words.
            (
                "algorithm=random_forest, n_trees=4, max_depth=8, max_features=2, seed=1",
                true,
            ),
            (
                "algorithm=random_forest, n_trees=4, max_depth=0, max_features=2, seed=1",
                false,
            ),
        ];
        for (options, masked) in cases {
            let frame = Frame {
                columns: vec![x.clone(), c.clone()],
                labels: y.clone(),
                weights: vec![1.0; n],
            };
            let o = TrainOptions::parse("test", options, 2).unwrap();
            let m = ChurnModel::train(frame, features.clone(), &o, 0).unwrap();
            let text = Model::Churn {
                params: Default::default(),
                model: m.clone(),
            }
            .to_json();
            let p = Prepared::new("test", &text).unwrap();
            let masks = matches!(p.batch, Batch::Trees(TreeBatch::Masks(_)));
            let walk = matches!(p.batch, Batch::Trees(TreeBatch::Walk(_)));
            assert_eq!(masks, masked, "{options}");
            assert_eq!(walk, !masked, "{options}");
            // Enough rows (150,000, shifted copies) to be split over threads.
            let columns: Vec<Vec<f64>> = vec![
                (0..75)
                    .flat_map(|k| x.iter().map(move |v| v + k as f64 * 0.01))
                    .collect(),
                (0..75).flat_map(|_| c.iter().copied()).collect(),
            ];
            let batch = p.probabilities(&columns);
            let mut s = m.scorer();
            for (i, &b) in batch.iter().enumerate() {
                let want = s.probability(&[columns[0][i], columns[1][i]]);
                assert_eq!(b.to_bits(), want.to_bits(), "{options} row {i}");
            }
        }
    }

    fn lookups(categories: &[String], probes: &[Option<String>]) -> Vec<Option<usize>> {
        let index = CategoryIndex::new(categories);
        let array = StringViewArray::from(probes.iter().map(|p| p.as_deref()).collect::<Vec<_>>());
        (0..array.len())
            .map(|i| {
                if array.is_null(i) {
                    None
                } else {
                    index.code(&array, i)
                }
            })
            .collect()
    }

    fn by_position(categories: &[String], probes: &[Option<String>]) -> Vec<Option<usize>> {
        probes
            .iter()
            .map(|p| {
                p.as_ref()
                    .and_then(|p| categories.iter().position(|c| c == p))
            })
            .collect()
    }

    #[test]
    fn short_long_and_look_alike_categories() {
        let categories: Vec<String> = [
            "",
            "No",
            "Yes",
            "twelve bytes",
            "thirteen byte",
            "No internet service",
            "No internet servicX",
            "No phone service",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let probes: Vec<Option<String>> = [
            Some("No internet servicX"),
            Some("No internet service"),
            Some("No internet servic"),
            Some("No"),
            Some("no"),
            Some(""),
            None,
            Some("twelve bytes"),
            Some("twelve byteZ"),
            Some("thirteen byte"),
            Some("thirteen bytZ"),
            Some("No phone service"),
        ]
        .iter()
        .map(|s| s.map(str::to_string))
        .collect();
        assert_eq!(
            lookups(&categories, &probes),
            by_position(&categories, &probes)
        );
        assert_eq!(
            lookups(&categories, &probes)[..4],
            [Some(6), Some(5), None, Some(1)]
        );
    }

    proptest! {
        /// The per-feature terms give the design's log-odds: numbers, NaN,
        /// known and unseen category codes.
        #[test]
        fn linear_terms_equal_the_design_log_odds(
            coefs in proptest::collection::vec(-3.0f64..3.0, 5),
            rows in proptest::collection::vec(
                (proptest::option::of(-50.0f64..50.0), proptest::option::of(0usize..4), proptest::option::of(-1.0f64..1.0)),
                1..30,
            ),
        ) {
            use super::super::data::Feature;
            use super::super::logistic::{Column, Logistic};
            let features = vec![
                Feature::numeric("x"),
                Feature::categorical("plan", ["a", "b", "c"]),
                Feature::numeric("y"),
            ];
            let col = |feature, category, mean, scale, coef| Column { feature, category, mean, scale, coef };
            let m = Logistic {
                intercept: 0.25,
                columns: vec![
                    col(0, None, 3.0, 7.5, coefs[0]),
                    col(1, Some(0), 0.2, 0.4, coefs[1]),
                    col(1, Some(1), 0.5, 0.5, coefs[2]),
                    col(1, Some(2), 0.3, 0.45, coefs[3]),
                    col(2, None, -0.1, 0.3, coefs[4]),
                ],
                iterations: 1,
                converged: true,
            };
            let terms = LinearTerms::new(&m, &features);
            let to_f64 = |v: Option<f64>| v.unwrap_or(f64::NAN);
            let columns = vec![
                rows.iter().map(|r| to_f64(r.0)).collect::<Vec<_>>(),
                // code 3 is outside the model's categories: encode never makes
                // it, but it must not panic.
                rows.iter().map(|r| to_f64(r.1.map(|c| c as f64))).collect(),
                rows.iter().map(|r| to_f64(r.2)).collect(),
            ];
            let mut out = vec![0.0; rows.len()];
            terms.log_odds(&columns, &mut out);
            for (i, o) in out.iter().enumerate() {
                let mut x = [columns[0][i], columns[1][i], columns[2][i]];
                if x[1] == 3.0 {
                    x[1] = f64::NAN;
                }
                let want = m.log_odds(&x);
                prop_assert!((o - want).abs() <= 1e-12 * want.abs().max(1.0), "{} vs {}", o, want);
            }
        }

        #[test]
        fn finds_exactly_the_known_categories(
            categories in proptest::collection::btree_set("[ab]{0,3}|[ab]{10,16}", 0..12),
            probes in proptest::collection::vec(proptest::option::of("[ab]{0,3}|[ab]{10,16}"), 0..40),
        ) {
            let categories: Vec<String> = categories.into_iter().collect();
            prop_assert_eq!(lookups(&categories, &probes), by_position(&categories, &probes));
        }
    }
}
