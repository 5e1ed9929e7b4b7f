//! k-means in SQL:
//! - `kmeans_fit(features, k [, options [, previous_model]])` aggregate over
//!   a struct of numeric features (`named_struct('recency', r, ...)` or
//!   `struct(...)`) → model. Features are standardised (z-score: mean and
//!   population standard deviation, stored in the model; a constant feature
//!   keeps scale 1). Options: `n_init` (seeded restarts, the lowest inertia
//!   kept; default 1, scikit-learn's for k-means++), `max_iter` (300), `tol`
//!   (1e-4, relative to the mean feature variance), `seed` (0). Rows with a
//!   NULL struct or feature are skipped and counted in the model's `skipped`.
//!   With `previous_model` (a model of the same features), cluster ids are
//!   matched to the previous centroids at minimum total squared distance
//!   (Hungarian algorithm, in the new model's standardised units), so segment
//!   3 stays segment 3 after a retrain; extra clusters take the next ids.
//! - `kmeans_assign(model, features)` → cluster id (BIGINT, 0-based), and
//!   `kmeans_distance(model, features)` → Euclidean distance to that centre in
//!   standardised units. The struct's fields are matched to the model's by
//!   name, in any order; a missing, extra or non-numeric field is an error
//!   naming it. NULL features give NULL.
//! - `kmeans_scan(features, k_min, k_max [, options])` aggregate → a list of
//!   `(k, inertia, silhouette)` for each k, to choose k by the elbow or the
//!   silhouette. The silhouette is the mean over a sample of at most
//!   `silhouette_sample` points (default 2,000, drawn with `seed`), exact
//!   below that; NULL for k = 1 (undefined). Only k up to the number of
//!   distinct points are listed.
//!
//! k clusters need k distinct points: `kmeans_fit` with fewer is an error
//! naming k and the distinct count (rather than duplicate centres and empty
//! clusters, or silently fewer clusters).
//!
//! `model_info` shows centroids in original units, sizes, inertia (on the
//! standardised features, the quantity k-means minimises), iterations and
//! features.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, Int64Builder, ListArray,
    StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use super::kmeans::{self, nearest, KMeansModel, KMeansParams, Params};
use crate::constant_args::{constant, constant_number, constant_text};
use crate::error::UdfError;
use crate::feature_fields::match_fields;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::{f64_list_scalar, one_row_list};
use crate::model::Model;
use crate::model_arg::{coerce_model, BatchModels, Models};
use crate::options::{coerce_options, Options};

const FIT: &str = "kmeans_fit";
const SCAN: &str = "kmeans_scan";

pub fn fit_entry() -> FunctionEntry {
    FunctionEntry {
        name: FIT,
        kind: FunctionKind::Aggregate,
        signature: "kmeans_fit(features, k [, options [, previous_model]]) -> model",
        description: "k-means on standardised numeric features (a struct), k-means++ seeding; options n_init, max_iter, tol, seed; previous_model keeps cluster ids stable",
        example: "SELECT model_info(kmeans_fit(named_struct('spend', s, 'orders', o), 2, 'seed=1')) FROM (VALUES (10.0, 1), (12.0, 1), (11.0, 2), (100.0, 9), (98.0, 8)) AS t(s, o)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(KMeansUdaf::new(false)))),
    }
}

pub fn scan_entry() -> FunctionEntry {
    FunctionEntry {
        name: SCAN,
        kind: FunctionKind::Aggregate,
        signature: "kmeans_scan(features, k_min, k_max [, options]) -> LIST<STRUCT(k, inertia, silhouette)>",
        description: "Inertia and silhouette for each k from k_min to k_max, to choose k; options as kmeans_fit plus silhouette_sample (2000)",
        example: "SELECT unnest(kmeans_scan(named_struct('x', x), 1, 3)) FROM (VALUES (1.0), (1.1), (5.0), (5.2), (9.0), (9.1)) AS t(x)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(KMeansUdaf::new(true)))),
    }
}

pub fn assign_entry() -> FunctionEntry {
    FunctionEntry {
        name: "kmeans_assign",
        kind: FunctionKind::Scalar,
        signature: "kmeans_assign(model, features) -> BIGINT",
        description: "The cluster id (0-based) of the nearest k-means centroid; features matched to the model's by name",
        example: "WITH m AS (SELECT kmeans_fit(named_struct('spend', s), 2, 'seed=1') AS model FROM (VALUES (10.0), (12.0), (100.0), (98.0)) AS t(s)) SELECT kmeans_assign(model, named_struct('spend', 11.0)) = kmeans_assign(model, named_struct('spend', 10.0)) FROM m; -- true",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(KMeansScore::new(false)))),
    }
}

pub fn distance_entry() -> FunctionEntry {
    FunctionEntry {
        name: "kmeans_distance",
        kind: FunctionKind::Scalar,
        signature: "kmeans_distance(model, features) -> DOUBLE",
        description: "Distance from the features to their k-means centroid, in standardised units",
        example: "WITH m AS (SELECT kmeans_fit(named_struct('spend', s), 2, 'seed=1') AS model FROM (VALUES (10.0), (12.0), (100.0), (98.0)) AS t(s)) SELECT round(kmeans_distance(model, named_struct('spend', 11.0)), 6) FROM m; -- 0",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(KMeansScore::new(true)))),
    }
}

/// The struct of features as read: same field names, every field DOUBLE.
fn coerce_features(function: &'static str, t: &DataType) -> Result<DataType> {
    let DataType::Struct(fields) = t else {
        return Err(UdfError::argument(
            function,
            "features",
            format!("must be a struct of numbers (named_struct('recency', r, ...)), got {t}"),
        )
        .into());
    };
    if fields.is_empty() {
        return Err(UdfError::argument(function, "features", "has no fields").into());
    }
    let mut out = Vec::with_capacity(fields.len());
    for f in fields.iter() {
        if !(f.data_type().is_numeric() || f.data_type() == &DataType::Null) {
            return Err(UdfError::argument(
                function,
                "features",
                format!(
                    "field '{}' must be a number, got {}",
                    f.name(),
                    f.data_type()
                ),
            )
            .into());
        }
        out.push(Field::new(f.name(), DataType::Float64, true));
    }
    Ok(DataType::Struct(Fields::from(out)))
}

fn feature_names(t: &DataType) -> Vec<String> {
    match t {
        DataType::Struct(f) => f.iter().map(|f| f.name().clone()).collect(),
        _ => Vec::new(),
    }
}

/// Options of kmeans_fit / kmeans_scan.
fn parse_options(function: &'static str, text: &str, scan: bool) -> Result<(Params, usize)> {
    let keys: &[&str] = if scan {
        &["n_init", "max_iter", "tol", "seed", "silhouette_sample"]
    } else {
        &["n_init", "max_iter", "tol", "seed"]
    };
    let o = Options::parse(function, text, keys)?;
    let params = Params {
        k: 0,
        n_init: o.parse_or("n_init", 1)?,
        max_iter: o.parse_or("max_iter", 300)?,
        tol: o.parse_or("tol", 1e-4)?,
        seed: o.parse_or("seed", 0)?,
    };
    let bad = |m: &str| -> datafusion::error::DataFusionError {
        UdfError::Options {
            function,
            message: m.to_string(),
        }
        .into()
    };
    // Upper bounds keep a typo from running for hours: each restart and
    // iteration is a pass over every point.
    if !(1..=1000).contains(&params.n_init) {
        return Err(bad("n_init must be from 1 to 1000"));
    }
    if !(1..=100_000).contains(&params.max_iter) {
        return Err(bad("max_iter must be from 1 to 100000"));
    }
    if !(params.tol.is_finite() && params.tol >= 0.0) {
        return Err(bad("tol must be a number >= 0"));
    }
    let sample: usize = o.parse_or("silhouette_sample", 2000)?;
    // The silhouette compares every sampled point with every other one.
    if !(2..=100_000).contains(&sample) {
        return Err(bad("silhouette_sample must be from 2 to 100000"));
    }
    Ok((params, sample))
}

fn constant_k(function: &'static str, argument: &str, v: &ScalarValue) -> Result<usize> {
    let k = constant_number(function, argument, v)?;
    if !(k >= 1.0 && k.fract() == 0.0 && k <= 1000.0) {
        return Err(UdfError::argument(
            function,
            argument,
            format!("must be a whole number from 1 to 1000, got {k}"),
        )
        .into());
    }
    Ok(k as usize)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KMeansUdaf {
    scan: bool,
    signature: Signature,
}

impl KMeansUdaf {
    pub fn new(scan: bool) -> Self {
        KMeansUdaf {
            scan,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
    fn name_str(&self) -> &'static str {
        if self.scan {
            SCAN
        } else {
            FIT
        }
    }
}

fn scan_row_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("inertia", DataType::Float64, false),
        Field::new("silhouette", DataType::Float64, true),
    ]))
}

impl AggregateUDFImpl for KMeansUdaf {
    fn name(&self) -> &str {
        self.name_str()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name_str();
        let (min, max, expected) = if self.scan {
            (3, 4, "features, k_min, k_max [, options]")
        } else {
            (2, 4, "features, k [, options [, previous_model]]")
        };
        if arg_types.len() < min || arg_types.len() > max {
            return Err(UdfError::arity(name, expected, arg_types.len()).into());
        }
        let mut out = vec![coerce_features(name, &arg_types[0])?];
        let numbers = if self.scan { 3 } else { 2 };
        for (i, t) in arg_types.iter().enumerate().skip(1) {
            if i < numbers {
                if !t.is_integer() {
                    let arg = if self.scan {
                        ["", "k_min", "k_max"][i]
                    } else {
                        "k"
                    };
                    return Err(UdfError::argument(
                        name,
                        arg,
                        format!("must be an integer, got {t}"),
                    )
                    .into());
                }
                out.push(t.clone());
            } else if i == numbers {
                out.push(coerce_options(name, t)?);
            } else {
                out.push(coerce_model(name, t)?);
            }
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.scan {
            DataType::List(Arc::new(Field::new_list_field(scan_row_type(), true)))
        } else {
            DataType::Utf8
        })
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.name_str();
        let features = feature_names(args.expr_fields[0].data_type());
        let (k_min, k_max, options_at) = if self.scan {
            let lo = constant_k(name, "k_min", &constant(name, "k_min", args.exprs, 1)?)?;
            let hi = constant_k(name, "k_max", &constant(name, "k_max", args.exprs, 2)?)?;
            if hi < lo {
                return Err(UdfError::argument(
                    name,
                    "k_max",
                    format!("{hi} is less than k_min {lo}"),
                )
                .into());
            }
            (lo, hi, 3)
        } else {
            let k = constant_k(name, "k", &constant(name, "k", args.exprs, 1)?)?;
            (k, k, 2)
        };
        let text = constant_text(
            name,
            "options",
            &constant(name, "options", args.exprs, options_at)?,
        )?;
        let (params, sample) = parse_options(name, &text, self.scan)?;
        Ok(Box::new(KMeansAccumulator {
            scan: self.scan,
            features,
            columns: Vec::new(),
            skipped: 0,
            previous: None,
            k_min,
            k_max,
            params,
            sample,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        let mut fields: Vec<FieldRef> = feature_names(args.input_fields[0].data_type())
            .iter()
            .enumerate()
            .map(|(i, _)| {
                Arc::new(Field::new(
                    format_state_name(args.name, &format!("f{i}")),
                    list.clone(),
                    true,
                ))
            })
            .collect();
        fields.push(Arc::new(Field::new(
            format_state_name(args.name, "skipped"),
            DataType::Int64,
            true,
        )));
        fields.push(Arc::new(Field::new(
            format_state_name(args.name, "previous"),
            DataType::Utf8,
            true,
        )));
        Ok(fields)
    }
}

#[derive(Debug)]
struct KMeansAccumulator {
    scan: bool,
    features: Vec<String>,
    /// One vector per feature.
    columns: Vec<Vec<f64>>,
    skipped: i64,
    previous: Option<String>,
    k_min: usize,
    k_max: usize,
    params: Params,
    sample: usize,
}

impl KMeansAccumulator {
    fn add_struct(&mut self, s: &StructArray) {
        if self.columns.is_empty() {
            self.columns = vec![Vec::new(); self.features.len()];
        }
        let cols: Vec<&Float64Array> = s
            .columns()
            .iter()
            .map(|c| c.as_primitive::<Float64Type>())
            .collect();
        for i in 0..s.len() {
            if s.is_null(i) || cols.iter().any(|c| c.is_null(i) || !c.value(i).is_finite()) {
                self.skipped += 1;
                continue;
            }
            for (dst, c) in self.columns.iter_mut().zip(&cols) {
                dst.push(c.value(i));
            }
        }
    }

    fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Standardised points, row-major, with the means and scales. Rows are
    /// put in a canonical order first, so the fit (seeding included) does not
    /// depend on the order rows arrived in or on the partitioning.
    fn standardised(&mut self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = self.rows();
        let d = self.features.len();
        // The canonical order: by a hash of the row's bits, then by the
        // values (only identical hashes compare values). Identical rows are
        // interchangeable, so the result depends only on the multiset of rows;
        // sorting (hash, index) pairs is several times faster than comparing
        // rows through the columns.
        let cols = &self.columns;
        let mut keyed: Vec<(u64, u32)> = (0..n)
            .map(|i| {
                let mut h = 0x9E37_79B9_7F4A_7C15u64;
                for c in cols {
                    h = (h ^ c[i].to_bits())
                        .wrapping_mul(0x0100_0000_01B3)
                        .rotate_left(29);
                }
                (h, i as u32)
            })
            .collect();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                cols.iter()
                    .map(|c| c[a.1 as usize].total_cmp(&c[b.1 as usize]))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        for col in self.columns.iter_mut() {
            *col = keyed.iter().map(|&(_, i)| col[i as usize]).collect();
        }
        let mut mean = vec![0.0; d];
        let mut scale = vec![1.0; d];
        for (j, col) in self.columns.iter().enumerate() {
            mean[j] = col.iter().sum::<f64>() / n as f64;
            let var = col.iter().map(|x| (x - mean[j]).powi(2)).sum::<f64>() / n as f64;
            if var > 0.0 {
                scale[j] = var.sqrt();
            }
        }
        let mut points = vec![0.0; n * d];
        for (j, col) in self.columns.iter().enumerate() {
            for (i, x) in col.iter().enumerate() {
                points[i * d + j] = (x - mean[j]) / scale[j];
            }
        }
        (points, mean, scale)
    }

    fn fit_model(&mut self) -> Result<Option<Model>> {
        let n = self.rows();
        if n == 0 {
            return Ok(None);
        }
        let d = self.features.len();
        // The standardised copy of the points, and per point its cluster
        // and distance in each parallel start.
        let _memory = crate::memory::reserve(
            FIT,
            &format!("fit {n} points of {d} features"),
            n * (d * 8 + 16 * crate::pool::threads()),
        )?;
        let (points, mean, scale) = self.standardised();
        // k clusters need k distinct points; fewer would leave duplicate
        // centres and empty clusters (or, with k > n, silently fewer).
        let distinct = kmeans::distinct_points(&points, d, self.k_min);
        if distinct < self.k_min {
            return Err(UdfError::argument(
                FIT,
                "k",
                format!(
                    "k = {} but the {n} rows have only {distinct} distinct points; choose k <= {distinct}",
                    self.k_min
                ),
            )
            .into());
        }
        let params = Params {
            k: self.k_min,
            ..self.params
        };
        let fit = kmeans::fit(&points, d, &params);
        let k = fit.sizes.len();
        let mut order: Vec<usize> = (0..k).collect();
        let mut relabelled = false;
        if let Some(text) = &self.previous {
            let Model::Kmeans { model: prev, .. } = Model::parse(FIT, text)? else {
                return Err(
                    UdfError::argument(FIT, "previous_model", "must be a kmeans model").into(),
                );
            };
            if prev.features != self.features {
                return Err(UdfError::argument(
                    FIT,
                    "previous_model",
                    format!(
                        "has features {:?}, the new fit {:?}",
                        prev.features, self.features
                    ),
                )
                .into());
            }
            let prev_std: Vec<f64> = prev
                .centroids
                .iter()
                .flat_map(|c| {
                    c.iter()
                        .zip(&mean)
                        .zip(&scale)
                        .map(|((x, m), s)| (x - m) / s)
                })
                .collect();
            let ids = kmeans::stable_ids(&fit.centroids, &prev_std, d);
            // order[id] = index in fit, ids numbered 0..max.
            let slots = ids.iter().max().map_or(0, |m| m + 1);
            let mut by_id = vec![usize::MAX; slots];
            for (i, &id) in ids.iter().enumerate() {
                by_id[id] = i;
            }
            order = by_id.into_iter().filter(|&i| i != usize::MAX).collect();
            relabelled = true;
        }
        let centroids = order
            .iter()
            .map(|&c| {
                (0..d)
                    .map(|j| fit.centroids[c * d + j] * scale[j] + mean[j])
                    .collect()
            })
            .collect();
        let model = KMeansModel {
            features: self.features.clone(),
            mean,
            scale,
            centroids,
            sizes: order.iter().map(|&c| fit.sizes[c]).collect(),
            inertia: fit.inertia,
            iterations: fit.iterations,
            converged: fit.converged,
            n: n as u64,
            skipped: self.skipped.max(0) as u64,
            relabelled,
        };
        let p = KMeansParams {
            k: self.k_min,
            n_init: self.params.n_init,
            max_iter: self.params.max_iter,
            tol: self.params.tol,
            seed: self.params.seed,
        };
        Ok(Some(Model::Kmeans { params: p, model }))
    }

    fn scan_rows(&mut self) -> ListArray {
        let n = self.rows();
        let d = self.features.len();
        let (mut ks, mut inertias, mut sils) = (Vec::new(), Vec::new(), Vec::new());
        if n > 0 {
            let (points, _, _) = self.standardised();
            // Only the k that the distinct points allow.
            let distinct = kmeans::distinct_points(&points, d, self.k_max);
            for k in self.k_min..=self.k_max.min(distinct) {
                let fit = kmeans::fit(&points, d, &Params { k, ..self.params });
                ks.push(k as i64);
                inertias.push(fit.inertia);
                // The silhouette of one cluster is undefined: NULL.
                sils.push((k > 1).then(|| {
                    kmeans::silhouette(&points, d, &fit.centroids, self.sample, self.params.seed)
                }));
            }
        }
        let DataType::Struct(fields) = scan_row_type() else {
            unreachable!("scan_row_type is a struct")
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ks)),
            Arc::new(Float64Array::from(inertias)),
            Arc::new(Float64Array::from(sils)),
        ];
        one_row_list(Arc::new(StructArray::new(fields, columns, None)))
    }
}

impl Accumulator for KMeansAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add_struct(values[0].as_struct());
        if !self.scan && self.previous.is_none() {
            if let Some(models) = values.get(3) {
                let m = Models::new(FIT, models)?;
                if let Some(i) = (0..m.len()).find(|&i| !m.is_null(i)) {
                    self.previous = Some(m.value(i).to_string());
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let d = self.features.len();
        if self.columns.is_empty() {
            self.columns = vec![Vec::new(); d];
        }
        let lists: Vec<&ListArray> = states[..d].iter().map(|a| a.as_list::<i32>()).collect();
        let skipped = states[d].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let previous = states[d + 1].as_string::<i32>();
        for row in 0..states[0].len() {
            for (dst, l) in self.columns.iter_mut().zip(&lists) {
                if !l.is_null(row) {
                    let v = l.value(row);
                    dst.extend_from_slice(v.as_primitive::<Float64Type>().values());
                }
            }
            if !skipped.is_null(row) {
                self.skipped += skipped.value(row);
            }
            if self.previous.is_none() && !previous.is_null(row) {
                self.previous = Some(previous.value(row).to_string());
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let d = self.features.len();
        let mut out: Vec<ScalarValue> = (0..d)
            .map(|j| f64_list_scalar(self.columns.get(j).cloned().unwrap_or_default()))
            .collect();
        out.push(ScalarValue::Int64(Some(self.skipped)));
        out.push(ScalarValue::Utf8(self.previous.clone()));
        Ok(out)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.scan {
            return Ok(ScalarValue::List(Arc::new(self.scan_rows())));
        }
        Ok(ScalarValue::Utf8(self.fit_model()?.map(|m| m.to_json())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.rows() * self.features.len() * 8
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KMeansScore {
    distance: bool,
    signature: Signature,
}

impl KMeansScore {
    pub fn new(distance: bool) -> Self {
        KMeansScore {
            distance,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
    fn name_str(&self) -> &'static str {
        if self.distance {
            "kmeans_distance"
        } else {
            "kmeans_assign"
        }
    }
}

impl ScalarUDFImpl for KMeansScore {
    fn name(&self) -> &str {
        self.name_str()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.distance {
            DataType::Float64
        } else {
            DataType::Int64
        })
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name_str();
        if arg_types.len() != 2 {
            return Err(UdfError::arity(name, "model, features", arg_types.len()).into());
        }
        Ok(vec![
            coerce_model(name, &arg_types[0])?,
            coerce_features(name, &arg_types[1])?,
        ])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name_str();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let models = Models::new(name, &arrays[0])?;
        let features = arrays[1].as_struct();
        let cols: Vec<&Float64Array> = features
            .columns()
            .iter()
            .map(|c| c.as_primitive::<Float64Type>())
            .collect();
        let mut cache = BatchModels::new(name);
        let mut ids = Int64Builder::with_capacity(args.number_rows);
        let mut dists = Float64Builder::with_capacity(args.number_rows);
        // The model in use: its text's address, field index, standardised
        // centroids, means and scales.
        type Prepared = ((usize, usize), Vec<usize>, Vec<f64>, Vec<f64>, Vec<f64>);
        let mut prepared: Option<Prepared> = None;
        let mut point = Vec::new();
        for i in 0..args.number_rows {
            if models.is_null(i) || features.is_null(i) || cols.iter().any(|c| c.is_null(i)) {
                ids.append_null();
                dists.append_null();
                continue;
            }
            let text = models.value(i);
            let at = (text.as_ptr() as usize, text.len());
            if prepared.as_ref().is_none_or(|p| p.0 != at) {
                let Model::Kmeans { model, .. } = cache.get(text)? else {
                    return Err(UdfError::argument(
                        name,
                        "model",
                        "needs a kmeans model (from kmeans_fit)",
                    )
                    .into());
                };
                let index = match_fields(name, &model.features, features.fields())?;
                prepared = Some((
                    at,
                    index,
                    model.standard_centroids(),
                    model.mean.clone(),
                    model.scale.clone(),
                ));
            }
            let Some((_, index, centroids, mean, scale)) = prepared.as_ref() else {
                continue;
            };
            point.clear();
            for (j, &f) in index.iter().enumerate() {
                point.push((cols[f].value(i) - mean[j]) / scale[j]);
            }
            let (c, e) = nearest(centroids, index.len(), &point);
            ids.append_value(c as i64);
            dists.append_value(e.sqrt());
        }
        let out: ArrayRef = if self.distance {
            Arc::new(dists.finish())
        } else {
            Arc::new(ids.finish())
        };
        Ok(ColumnarValue::Array(out))
    }
}
