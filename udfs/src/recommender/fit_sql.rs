//! `recommender_fit(customer_id, item, weight [, ts] [, options])` aggregate →
//! recommender model (a JSON value like every crmlake model).
//!
//! Rows are (customer, item, weight): e.g. one row per invoice line with
//! weight 1, or per customer and item with the quantity. Rows of one
//! (customer, item) are summed. Customer and item ids of any plain type are
//! compared as text. Rows with a NULL customer, item or weight are left out
//! and counted (`model_info` → `skipped`); a negative, infinite or NaN
//! weight is an error giving how many rows of the batch have one.
//!
//! Options:
//! - `algorithm`: `item_knn` (default), `als`, `ease`, `hybrid`, or the
//!   baselines `popular` and `repeat` (see [`super::model::Algorithm`]);
//! - for `item_knn`: `similarity` = `bm25` (default), `cosine` or `tfidf`;
//!   `neighbours` (K, default 100); `bm25_k1` (1.2) and `bm25_b` (0.75);
//! - for `als` ([`super::als`]): `factors` (64), `regularization` (0.01),
//!   `alpha` (1), `iterations` (15), `cg_steps` (3), `seed` (1),
//!   `confidence` = `one_plus` (1 + alpha·w, default) or `linear` (alpha·w);
//! - for `ease` ([`super::ease`]): `lambda` (100) and `neighbours` (the
//!   weights kept per item, 200; 0 keeps all);
//! - for `hybrid`: `parts` = `name:weight+...` over popular, repeat,
//!   item_knn, als and ease (default [`DEFAULT_PARTS`]), each part taking its
//!   own options from the same string; unless given, the default hybrid's
//!   parts take [`HYBRID_DEFAULTS`];
//! - for all: `min_item_customers` (items bought by fewer customers are
//!   left out, default 1) and `max_items` (keep only the most popular);
//! - `recency_half_life_days` with `as_of` (a date) and the rows' times as
//!   the fourth argument, `recommender_fit(customer_id, item, weight, ts,
//!   options)`: each row's weight is multiplied by 2^(−(as_of − ts) /
//!   half-life), so a purchase one half-life before `as_of` counts half
//!   (rows after `as_of` count more than 1; a row without a time is
//!   skipped as `null_weight`);
//! - `histories` (`true`): keep each customer's items in the model, so
//!   `recommend_for(model, customer_id, k)` finds them. With `false` the
//!   model holds only the items' side (small at millions of customers) and
//!   recommendations take the customer's items as a list:
//!   `recommend_for(model, items, k)` or `recommendations(model, 'SELECT
//!   customer_id, item FROM ...', k)`.
//!
//! The model is the same for any order or partitioning of the rows
//! (customers and items are numbered in sorted order; see
//! [`super::interactions`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Float64Type, TimeUnit, TimestampMicrosecondType, UInt32Type,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::als::AlsParams;
use super::interactions::{Collector, ItemFilter};
use super::knn::Similarity;
use super::model::{Fit, RecommenderModel};
use super::skipped_sql::Skipped;
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::list_scalar;
use crate::model::Model;
use crate::options::{coerce_options, Options};
use crate::text_arg::coerce_id;

const NAME: &str = "recommender_fit";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "recommender_fit(customer_id, item, weight [, ts] [, options]) -> model",
        description: "Fit a per-customer recommender on (customer, item, weight) rows: algorithm=item_knn (similarity=bm25|cosine|tfidf, neighbours=K), als (factors, regularization, alpha, iterations, seed), ease (lambda, neighbours), hybrid (parts=repeat:0.3+item_knn:0.2+als:0.3+ease:0.2), popular or repeat; options min_item_customers, max_items, histories, and recency_half_life_days with as_of (the rows' times as the fourth argument)",
        example: "SELECT model_info(recommender_fit(c, item, 1, 'algorithm=item_knn, similarity=cosine, neighbours=10')) FROM (VALUES (1, 'tea'), (1, 'cups'), (2, 'tea'), (2, 'cups'), (3, 'tea'), (3, 'sugar')) AS t(c, item)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(RecommenderFit::new()))),
    }
}

const SKIP_REASONS: [&str; 3] = ["null_customer", "null_item", "null_weight"];

/// The options of `algorithm=item_knn`.
pub const KNN_OPTIONS: [&str; 4] = ["similarity", "neighbours", "bm25_k1", "bm25_b"];
/// The options of `algorithm=als`.
pub const ALS_OPTIONS: [&str; 7] = [
    "confidence",
    "factors",
    "regularization",
    "alpha",
    "iterations",
    "seed",
    "cg_steps",
];
/// The options of `algorithm=ease`.
pub const EASE_OPTIONS: [&str; 2] = ["lambda", "neighbours"];
/// The options every algorithm takes.
pub const SHARED_OPTIONS: [&str; 2] = ["min_item_customers", "max_items"];
/// The default hybrid: its blend and the option values its parts take
/// unless given (chosen by `recommender_eval` on the sample lake, time split
/// at 2011-09-01, k = 10; see benches/RESULTS.md).
pub const HYBRID_DEFAULTS: [(&str, &str); 4] = [
    ("parts", DEFAULT_PARTS),
    ("factors", "128"),
    ("regularization", "20"),
    ("neighbours", "200"),
];
/// The algorithms a hybrid's parts may name.
const PART_ALGORITHMS: [&str; 5] = ["popular", "repeat", "item_knn", "als", "ease"];
/// The default blend of `algorithm=hybrid`.
pub const DEFAULT_PARTS: &str = "repeat:0.3+item_knn:0.2+als:0.3+ease:0.2";

/// The options `algorithm` reads (besides `algorithm` and `histories`).
pub fn options_of(algorithm: &str, parts: Option<&str>) -> Vec<&'static str> {
    let own = |alg: &str| -> &'static [&'static str] {
        match alg {
            "item_knn" => &KNN_OPTIONS,
            "als" => &ALS_OPTIONS,
            "ease" => &EASE_OPTIONS,
            _ => &[],
        }
    };
    let mut out: Vec<&'static str> = SHARED_OPTIONS.to_vec();
    let algorithms: Vec<&str> = if algorithm == "hybrid" {
        out.push("parts");
        parts
            .unwrap_or(DEFAULT_PARTS)
            .split('+')
            .map(|p| p.split(':').next().unwrap_or("").trim())
            .collect()
    } else {
        vec![algorithm]
    };
    for alg in algorithms {
        for k in own(alg) {
            if !out.contains(k) {
                out.push(k);
            }
        }
    }
    out
}

/// The options, resolved, and what the model shows of them.
fn parse_options(text: &str) -> std::result::Result<Resolved, UdfError> {
    let mut known = vec![
        "algorithm",
        "histories",
        "parts",
        "recency_half_life_days",
        "as_of",
    ];
    known.extend(KNN_OPTIONS);
    known.extend(ALS_OPTIONS);
    known.extend(EASE_OPTIONS);
    known.extend(SHARED_OPTIONS);
    let mut o = Options::parse(NAME, text, &known)?;
    let bad = |message: String| UdfError::Options {
        function: NAME,
        message,
    };
    let is_hybrid = o
        .get("algorithm")
        .is_some_and(|a| a.trim().eq_ignore_ascii_case("hybrid"));
    if is_hybrid {
        let mut filled = text.trim().to_string();
        let used = options_of("hybrid", Some(o.get("parts").unwrap_or(DEFAULT_PARTS)));
        for (key, value) in HYBRID_DEFAULTS {
            if o.get(key).is_none() && used.contains(&key) {
                filled.push_str(&format!(", {key}={value}"));
            }
        }
        o = Options::parse(NAME, filled.trim_start_matches(','), &known)?;
    }
    let algorithm = o
        .get("algorithm")
        .unwrap_or("item_knn")
        .trim()
        .to_ascii_lowercase();
    let mut shown = serde_json::Map::new();
    shown.insert("algorithm".into(), algorithm.clone().into());
    let parts_text = o.get("parts").map(|p| p.trim().to_ascii_lowercase());
    if parts_text.is_some() && algorithm != "hybrid" {
        return Err(bad(format!(
            "parts is an option of algorithm=hybrid, not {algorithm}"
        )));
    }
    let fit = if algorithm == "hybrid" {
        let text = parts_text.as_deref().unwrap_or(DEFAULT_PARTS);
        let mut parts = Vec::new();
        for part in text.split('+') {
            let (name, weight) = part.split_once(':').ok_or_else(|| {
                bad(format!(
                    "parts: '{part}' must be algorithm:weight, e.g. {DEFAULT_PARTS}"
                ))
            })?;
            let name = name.trim();
            let weight: f64 = weight.trim().parse().map_err(|_| {
                bad(format!(
                    "parts: the weight of {name} must be a number, got '{weight}'"
                ))
            })?;
            if !(weight > 0.0 && weight.is_finite()) {
                return Err(bad(format!(
                    "parts: the weight of {name} must be a number > 0, got {weight}"
                )));
            }
            if !PART_ALGORITHMS.contains(&name) {
                return Err(bad(format!(
                    "parts: '{name}' is not one of {}",
                    PART_ALGORITHMS.join(", ")
                )));
            }
            parts.push((weight, parse_fit(name, &o, &mut shown)?));
        }
        shown.insert("parts".into(), text.into());
        Fit::Hybrid(parts)
    } else {
        parse_fit(&algorithm, &o, &mut shown)?
    };
    let allowed = options_of(&algorithm, parts_text.as_deref());
    for key in KNN_OPTIONS.iter().chain(&ALS_OPTIONS).chain(&EASE_OPTIONS) {
        if o.get(key).is_some() && !allowed.contains(key) {
            return Err(bad(format!(
                "{key} is not an option of algorithm={algorithm}{}",
                match algorithm.as_str() {
                    "hybrid" => " with these parts",
                    _ => "",
                }
            )));
        }
    }
    let min_item_customers: u64 = o.parse_or("min_item_customers", 1)?;
    let max_items = match o.get("max_items") {
        None => None,
        Some(_) => {
            let m: usize = o.parse_or("max_items", 0)?;
            if m == 0 {
                return Err(bad("max_items must be at least 1".into()));
            }
            shown.insert("max_items".into(), m.into());
            Some(m)
        }
    };
    shown.insert("min_item_customers".into(), min_item_customers.into());
    let histories = o.flag("histories", true)?;
    if !histories {
        shown.insert("histories".into(), false.into());
    }
    let decay = match (o.get("recency_half_life_days"), o.get("as_of")) {
        (None, None) => None,
        (Some(_), Some(day)) => {
            let h: f64 = o.parse_or("recency_half_life_days", 0.0)?;
            if !(h > 0.0 && h.is_finite()) {
                return Err(bad(format!(
                    "recency_half_life_days must be a number > 0, got {h}"
                )));
            }
            let days = crate::constant_args::to_date(&ScalarValue::Utf8(Some(day.trim().into())))
                .ok_or_else(|| bad(format!("as_of must be a date (YYYY-MM-DD), got '{day}'")))?;
            shown.insert("recency_half_life_days".into(), h.into());
            shown.insert("as_of".into(), day.trim().into());
            Some((h * 86_400e6, days as i64 * 86_400_000_000))
        }
        _ => {
            return Err(bad(
                "recency_half_life_days needs as_of (the date the weights are 1 on), and as_of needs recency_half_life_days".into(),
            ))
        }
    };
    Ok(Resolved {
        decay,
        fit,
        filter: ItemFilter {
            min_item_customers,
            max_items,
        },
        histories,
        shown,
    })
}

/// Bytes a fit needs beyond the collected rows: the matrix's copies and
/// the algorithm's own work.
fn work_bytes(fit: &Fit, matrix: usize, customers: usize, items: usize, histories: bool) -> usize {
    match fit {
        Fit::Popular | Fit::Repeat => 0,
        // The weighted transpose and its transpose (plus the matrix itself
        // when the histories stay), the neighbour lists, and one
        // accumulator per thread.
        Fit::ItemKnn { neighbours, .. } => {
            (2 + histories as usize) * matrix
                + items * (*neighbours).min(items) * 12
                + crate::pool::threads() * items * 12
        }
        // The matrix and its transpose, both sides' vectors.
        Fit::Als(p) => 2 * matrix + super::als::work_bytes(customers, items, p.factors),
        // The matrix and its transpose, the dense Gram matrix and inverse.
        Fit::Ease { .. } => 2 * matrix + super::ease::work_bytes(items),
        Fit::Hybrid(parts) => {
            parts
                .iter()
                .map(|(_, f)| work_bytes(f, matrix, customers, items, histories))
                .max()
                .unwrap_or(0)
                + matrix
        }
    }
}

fn uses_ease(fit: &Fit) -> bool {
    match fit {
        Fit::Ease { .. } => true,
        Fit::Hybrid(parts) => parts.iter().any(|(_, f)| uses_ease(f)),
        _ => false,
    }
}

/// One algorithm's fit from its options.
fn parse_fit(
    algorithm: &str,
    o: &Options,
    shown: &mut serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<Fit, UdfError> {
    let bad = |message: String| UdfError::Options {
        function: NAME,
        message,
    };
    Ok(match algorithm {
        "popular" => Fit::Popular,
        "repeat" => Fit::Repeat,
        "item_knn" => {
            let neighbours: usize = o.parse_or("neighbours", 100)?;
            if neighbours == 0 {
                return Err(bad("neighbours must be at least 1".into()));
            }
            let name = o
                .get("similarity")
                .unwrap_or("bm25")
                .trim()
                .to_ascii_lowercase();
            let similarity = match name.as_str() {
                "cosine" | "tfidf" if o.get("bm25_k1").is_some() || o.get("bm25_b").is_some() => {
                    return Err(bad(format!(
                        "bm25_k1 and bm25_b are options of similarity=bm25, not {name}"
                    )))
                }
                "cosine" => Similarity::Cosine,
                "tfidf" => Similarity::Tfidf,
                "bm25" => {
                    let k1: f64 = o.parse_or("bm25_k1", 1.2)?;
                    let b: f64 = o.parse_or("bm25_b", 0.75)?;
                    if !(k1 >= 0.0 && k1.is_finite() && (0.0..=1.0).contains(&b)) {
                        return Err(bad(format!(
                            "bm25_k1 must be a number >= 0 and bm25_b in [0, 1], got {k1} and {b}"
                        )));
                    }
                    shown.insert("bm25_k1".into(), k1.into());
                    shown.insert("bm25_b".into(), b.into());
                    Similarity::Bm25 { k1, b }
                }
                other => {
                    return Err(bad(format!(
                        "similarity must be bm25, cosine or tfidf, got '{other}'"
                    )))
                }
            };
            shown.insert("similarity".into(), name.into());
            shown.insert("neighbours".into(), neighbours.into());
            Fit::ItemKnn {
                similarity,
                neighbours,
            }
        }
        "als" => {
            let d = AlsParams::default();
            let p = AlsParams {
                factors: o.parse_or("factors", d.factors)?,
                regularization: o.parse_or("regularization", d.regularization)?,
                alpha: o.parse_or("alpha", d.alpha)?,
                iterations: o.parse_or("iterations", d.iterations)?,
                seed: o.parse_or("seed", d.seed)?,
                cg_steps: o.parse_or("cg_steps", d.cg_steps)?,
                linear: match o.get("confidence").map(|s| s.trim().to_ascii_lowercase()) {
                    None => false,
                    Some(s) if s == "one_plus" => false,
                    Some(s) if s == "linear" => true,
                    Some(s) => {
                        return Err(bad(format!(
                        "confidence must be one_plus (1 + alpha*w) or linear (alpha*w), got '{s}'"
                    )))
                    }
                },
            };
            if !(1..=1024).contains(&p.factors) {
                return Err(bad(format!(
                    "factors must be from 1 to 1024, got {}",
                    p.factors
                )));
            }
            if !(p.regularization > 0.0 && p.regularization.is_finite()) {
                return Err(bad(format!(
                    "regularization must be a number > 0, got {}",
                    p.regularization
                )));
            }
            if !(p.alpha > 0.0 && p.alpha.is_finite()) {
                return Err(bad(format!("alpha must be a number > 0, got {}", p.alpha)));
            }
            if p.iterations == 0 || p.cg_steps == 0 {
                return Err(bad("iterations and cg_steps must be at least 1".into()));
            }
            for (k, v) in [
                ("factors", serde_json::Value::from(p.factors)),
                ("regularization", p.regularization.into()),
                ("alpha", p.alpha.into()),
                ("iterations", p.iterations.into()),
                ("seed", p.seed.into()),
                ("cg_steps", p.cg_steps.into()),
                (
                    "confidence",
                    if p.linear { "linear" } else { "one_plus" }.into(),
                ),
            ] {
                shown.insert(k.into(), v);
            }
            Fit::Als(p)
        }
        "ease" => {
            let lambda: f64 = o.parse_or("lambda", 100.0)?;
            if !(lambda > 0.0 && lambda.is_finite()) {
                return Err(bad(format!("lambda must be a number > 0, got {lambda}")));
            }
            let neighbours: usize = o.parse_or("neighbours", 200)?;
            shown.insert("lambda".into(), lambda.into());
            shown.insert("neighbours".into(), neighbours.into());
            Fit::Ease { lambda, neighbours }
        }
        other => {
            return Err(bad(format!(
                "algorithm must be item_knn, als, ease, popular, repeat or hybrid, got '{other}'"
            )))
        }
    })
}

/// The options of one call, resolved.
#[derive(Debug)]
struct Resolved {
    fit: Fit,
    filter: ItemFilter,
    histories: bool,
    /// `recency_half_life_days` and `as_of`: (half-life in microseconds,
    /// as_of in microseconds since 1970).
    decay: Option<(f64, i64)>,
    shown: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RecommenderFit {
    signature: Signature,
}

impl RecommenderFit {
    pub fn new() -> Self {
        RecommenderFit {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RecommenderFit {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for RecommenderFit {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(3..=5).contains(&arg_types.len()) {
            return Err(UdfError::arity(
                NAME,
                "customer_id, item, weight [, ts] [, options]",
                arg_types.len(),
            )
            .into());
        }
        let weight = &arg_types[2];
        if !(weight.is_numeric() || weight.is_null()) {
            return Err(UdfError::argument(
                NAME,
                "weight",
                format!("must be a number (e.g. 1 or the quantity), got {weight}"),
            )
            .into());
        }
        let mut out = vec![
            coerce_id(NAME, "customer_id", &arg_types[0])?,
            coerce_id(NAME, "item", &arg_types[1])?,
            DataType::Float64,
        ];
        let is_time = |t: &DataType| {
            matches!(
                t,
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            )
        };
        match arg_types.len() {
            5 => {
                if !is_time(&arg_types[3]) {
                    return Err(UdfError::argument(
                        NAME,
                        "ts",
                        format!("must be a TIMESTAMP or DATE, got {}", arg_types[3]),
                    )
                    .into());
                }
                out.push(DataType::Timestamp(TimeUnit::Microsecond, None));
                out.push(coerce_options(NAME, &arg_types[4])?);
            }
            4 if is_time(&arg_types[3]) => {
                return Err(UdfError::argument(
                    NAME,
                    "ts",
                    "is read only with the options recency_half_life_days and as_of: pass them as the fifth argument",
                )
                .into())
            }
            4 => out.push(coerce_options(NAME, &arg_types[3])?),
            _ => {}
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let at = args.exprs.len().saturating_sub(1);
        let text = if args.exprs.len() > 3 {
            constant_text(NAME, "options", &constant(NAME, "options", args.exprs, at)?)?
        } else {
            String::new()
        };
        let options = parse_options(&text)?;
        if (args.exprs.len() == 5) != options.decay.is_some() {
            return Err(UdfError::argument(
                NAME,
                "ts",
                "recency_half_life_days needs the rows' times: recommender_fit(customer_id, item, weight, ts, options)",
            )
            .into());
        }
        Ok(Box::new(FitAccumulator {
            rows: Collector::default(),
            skipped: Skipped::new(SKIP_REASONS),
            options,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
        let mut fields: Vec<FieldRef> = [
            ("customers", DataType::Utf8),
            ("items", DataType::Utf8),
            ("pair_customers", DataType::UInt32),
            ("pair_items", DataType::UInt32),
            ("weights", DataType::Float64),
        ]
        .into_iter()
        .map(|(name, t)| {
            Arc::new(Field::new(
                format_state_name(args.name, name),
                list(t),
                true,
            )) as FieldRef
        })
        .collect();
        fields.extend(Skipped::state_fields(SKIP_REASONS, args.name));
        Ok(fields)
    }
}

#[derive(Debug)]
struct FitAccumulator {
    rows: Collector,
    skipped: Skipped<3>,
    options: Resolved,
}

impl FitAccumulator {
    fn add(&mut self, customers: &ArrayRef, items: &ArrayRef, weights: &ArrayRef) -> Result<()> {
        let (c, i) = (customers.as_string::<i32>(), items.as_string::<i32>());
        let w = weights.as_primitive::<Float64Type>();
        let bad = (0..w.len())
            .filter(|&r| w.is_valid(r) && !(w.value(r) >= 0.0 && w.value(r).is_finite()))
            .collect::<Vec<_>>();
        if let Some(&first) = bad.first() {
            return Err(UdfError::argument(
                NAME,
                "weight",
                format!(
                    "must be a finite number >= 0: {} rows of this batch are not (the first is {})",
                    bad.len(),
                    w.value(first)
                ),
            )
            .into());
        }
        for r in 0..c.len() {
            if c.is_null(r) {
                self.skipped.count(0);
            } else if i.is_null(r) {
                self.skipped.count(1);
            } else if w.is_null(r) {
                self.skipped.count(2);
            } else {
                self.rows.add(c.value(r), i.value(r), w.value(r));
            }
        }
        Ok(())
    }
}

impl Accumulator for FitAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match (self.options.decay, values.get(3)) {
            // Each row's weight times 2^(−(as_of − ts) / half-life); a row
            // without a time is skipped as a NULL weight would be.
            (Some((half_life, as_of)), Some(ts)) if values.len() == 5 => {
                let ts = ts.as_primitive::<TimestampMicrosecondType>();
                let w = values[2].as_primitive::<Float64Type>();
                let decayed: Float64Array = (0..w.len())
                    .map(|r| {
                        (w.is_valid(r) && ts.is_valid(r)).then(|| {
                            w.value(r) * (-((as_of - ts.value(r)) as f64) / half_life).exp2()
                        })
                    })
                    .collect();
                self.add(&values[0], &values[1], &(Arc::new(decayed) as ArrayRef))
            }
            _ => self.add(&values[0], &values[1], &values[2]),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<_> = states[..5].iter().map(|a| a.as_list::<i32>()).collect();
        for row in 0..states[0].len() {
            self.skipped.merge(&states[5..], row);
            if lists.iter().any(|l| l.is_null(row)) {
                continue;
            }
            let (cn, inames) = (lists[0].value(row), lists[1].value(row));
            let cn: Vec<&str> = cn.as_string::<i32>().iter().flatten().collect();
            let inames: Vec<&str> = inames.as_string::<i32>().iter().flatten().collect();
            let (pc, pi, pw) = (
                lists[2].value(row),
                lists[3].value(row),
                lists[4].value(row),
            );
            let (pc, pi, pw) = (
                pc.as_primitive::<UInt32Type>(),
                pi.as_primitive::<UInt32Type>(),
                pw.as_primitive::<Float64Type>(),
            );
            let rows = (0..pc.len()).map(|r| (pc.value(r), pi.value(r), pw.value(r)));
            self.rows.add_numbered(&cn, &inames, rows);
        }
        Ok(())
    }

    /// The rows as the distinct customers and items and numbered triples
    /// into them: each id's text once, not once per row.
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (customers, items, rows) = self.rows.take();
        let mut out = vec![
            list_scalar(Arc::new(StringArray::from(customers))),
            list_scalar(Arc::new(StringArray::from(items))),
            list_scalar(Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.0),
            ))),
            list_scalar(Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.1),
            ))),
            list_scalar(Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.2),
            ))),
        ];
        out.extend(self.skipped.state());
        Ok(out)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.rows.is_empty() {
            return Ok(ScalarValue::Utf8View(None));
        }
        // What DataFusion already counts for this accumulator (its last
        // `size`): the collected rows, which `build` frees as it makes the
        // matrix, so the fit reserves only what it needs beyond them.
        let accounted = self.size();
        let rows = std::mem::take(&mut self.rows);
        let data = rows.build(self.options.filter);
        if data.items.is_empty() {
            return Err(UdfError::data(
                NAME,
                format!(
                    "no item is bought by min_item_customers = {} customers or more",
                    self.options.filter.min_item_customers
                ),
            )
            .into());
        }
        let items = data.items.len();
        let work = work_bytes(
            &self.options.fit,
            data.matrix.bytes(),
            data.customers.len(),
            items,
            self.options.histories,
        )
        .saturating_sub(accounted);
        let _memory = crate::memory::reserve(
            NAME,
            &format!(
                "fit on {} customers and {items} items{}",
                data.customers.len(),
                if uses_ease(&self.options.fit) {
                    format!(" (algorithm=ease holds dense {items} x {items} matrices: set max_items to keep fewer items)")
                } else {
                    String::new()
                }
            ),
            work,
        )?;
        let mut model =
            RecommenderModel::fit(data, self.options.fit.clone(), self.options.histories);
        self.skipped.record(&mut model.skipped);
        Ok(ScalarValue::Utf8View(Some(
            Model::Recommender {
                params: self.options.shown.clone(),
                model,
            }
            .to_json(),
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.rows.bytes()
    }
}
