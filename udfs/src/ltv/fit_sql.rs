//! SQL aggregates `bgnbd_fit(frequency, recency, t)`,
//! `paretonbd_fit(frequency, recency, t)`, `mbgnbd_fit(frequency, recency, t)`
//! and `gamma_gamma_fit(frequency, monetary)`: fit a model over the rows of a
//! group and return it as a model value (see [`crate::model`]).
//!
//! Rows with a NULL in any argument are left out (as SQL aggregates do with
//! NULLs). Invalid values are errors naming the argument: negative or
//! fractional frequency, negative or non-finite recency or t, recency > t.
//! `gamma_gamma_fit` fits repeat buyers only: rows with frequency 0 are left out
//! and counted under `skipped.non_repeat_buyers` in the model; a repeat buyer's
//! monetary value must be > 0.
//!
//! An optional last argument `'replicates=200, seed=1'` adds bootstrap
//! replicates to the model (see [`super::bootstrap`]) for
//! `interval_method=bootstrap` when scoring.
//!
//! Partial state is the weighted distinct rows, so fits merge across partitions
//! and the optimiser sees each distinct (x, t_x, T) once.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::bgnbd::{self, Fit};
use super::bootstrap::{self, BootstrapSpec};
use super::data::{check_rfm, RfmData};
use super::gamma_gamma::{self, SpendData};
use super::{mbgnbd, paretonbd};
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::kpi::nps::coerce_numeric;
use crate::lists::f64_list_scalar;
use crate::model::{named, Bootstrap, FitInfo, Model};
use crate::options::{coerce_options, Options};

/// Which model an aggregate fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FitKind {
    BgNbd,
    ParetoNbd,
    MbgNbd,
    GammaGamma,
}

impl FitKind {
    fn name(self) -> &'static str {
        match self {
            FitKind::BgNbd => "bgnbd_fit",
            FitKind::ParetoNbd => "paretonbd_fit",
            FitKind::MbgNbd => "mbgnbd_fit",
            FitKind::GammaGamma => "gamma_gamma_fit",
        }
    }
    fn args(self) -> &'static [&'static str] {
        match self {
            FitKind::BgNbd | FitKind::ParetoNbd | FitKind::MbgNbd => &["frequency", "recency", "t"],
            FitKind::GammaGamma => &["frequency", "monetary"],
        }
    }
}

pub fn bgnbd_entry() -> FunctionEntry {
    FunctionEntry {
        name: "bgnbd_fit",
        kind: FunctionKind::Aggregate,
        signature: "bgnbd_fit(frequency, recency, t [, 'replicates=200, seed=1']) -> model",
        description: "Fit the BG/NBD purchase model (r, alpha, a, b) by maximum likelihood; NULL rows skipped; optional bootstrap replicates for intervals",
        example: "SELECT model_info(bgnbd_fit(f, r, t)) FROM (VALUES (2, 30.43, 38.86), (1, 1.71, 38.86), (0, 0, 38.86), (0, 0, 38.86), (5, 35.0, 38.86)) AS s(f, r, t)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(FitUdaf::new(FitKind::BgNbd)))),
    }
}

pub fn paretonbd_entry() -> FunctionEntry {
    FunctionEntry {
        name: "paretonbd_fit",
        kind: FunctionKind::Aggregate,
        signature: "paretonbd_fit(frequency, recency, t [, 'replicates=200, seed=1']) -> model",
        description: "Fit the Pareto/NBD purchase model (r, alpha, s, beta) by maximum likelihood; NULL rows skipped; optional bootstrap replicates for intervals",
        example: "SELECT model_info(paretonbd_fit(f, r, t)) FROM (VALUES (2, 30.43, 38.86), (1, 1.71, 38.86), (0, 0, 38.86), (0, 0, 38.86), (5, 35.0, 38.86)) AS s(f, r, t)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(FitUdaf::new(FitKind::ParetoNbd)))),
    }
}

pub fn mbgnbd_entry() -> FunctionEntry {
    FunctionEntry {
        name: "mbgnbd_fit",
        kind: FunctionKind::Aggregate,
        signature: "mbgnbd_fit(frequency, recency, t [, 'replicates=200, seed=1']) -> model",
        description: "Fit the MBG/NBD purchase model (r, alpha, a, b; drop-out also possible at time 0) by maximum likelihood; NULL rows skipped; optional bootstrap replicates for intervals",
        example: "SELECT model_info(mbgnbd_fit(f, r, t)) FROM (VALUES (2, 30.43, 38.86), (1, 1.71, 38.86), (0, 0, 38.86), (0, 0, 38.86), (5, 35.0, 38.86)) AS s(f, r, t)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(FitUdaf::new(FitKind::MbgNbd)))),
    }
}

pub fn gamma_gamma_entry() -> FunctionEntry {
    FunctionEntry {
        name: "gamma_gamma_fit",
        kind: FunctionKind::Aggregate,
        signature: "gamma_gamma_fit(frequency, monetary [, 'replicates=200, seed=1']) -> model",
        description: "Fit the Gamma-Gamma spend model (p, q, gamma) on repeat buyers; frequency 0 rows skipped and counted",
        example: "SELECT model_info(gamma_gamma_fit(f, m)) FROM (VALUES (2, 30.0), (1, 12.5), (4, 41.0), (0, 0.0), (3, 22.0), (1, 80.0)) AS s(f, m)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(FitUdaf::new(FitKind::GammaGamma)))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FitUdaf {
    kind: FitKind,
    signature: Signature,
}

impl FitUdaf {
    pub fn new(kind: FitKind) -> Self {
        FitUdaf {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for FitUdaf {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let names = self.kind.args();
        let name = self.kind.name();
        if !(names.len()..=names.len() + 1).contains(&arg_types.len()) {
            let expected = format!("{} [, options]", names.join(", "));
            return Err(UdfError::arity(name, expected, arg_types.len()).into());
        }
        let mut out = coerce_numeric(name, names, &arg_types[..names.len()])?;
        if let Some(t) = arg_types.get(names.len()) {
            out.push(coerce_options(name, t)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.kind.name();
        let text = match constant(name, "options", args.exprs, self.kind.args().len())? {
            ScalarValue::Null => String::new(),
            v => constant_text(name, "options", &v)?,
        };
        let options = Options::parse(name, &text, bootstrap::KEYS)?;
        Ok(Box::new(FitAccumulator {
            kind: self.kind,
            data: RfmData::new(),
            skipped: 0.0,
            bootstrap: BootstrapSpec::from_options(name, &options)?,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        let mut fields: Vec<FieldRef> = ["c0", "c1", "c2", "weight"]
            .iter()
            .map(|n| {
                Arc::new(Field::new(
                    format_state_name(args.name, n),
                    list.clone(),
                    true,
                ))
            })
            .collect();
        fields.push(Arc::new(Field::new(
            format_state_name(args.name, "skipped"),
            DataType::Float64,
            true,
        )));
        Ok(fields)
    }
}

/// Rows as (c0, c1, c2, weight): (x, t_x, T) for BG/NBD, (x, m, 0) for Gamma-Gamma.
#[derive(Debug)]
struct FitAccumulator {
    kind: FitKind,
    data: RfmData,
    skipped: f64,
    bootstrap: Option<BootstrapSpec>,
}

/// A fit's diagnostics as stored in the model; `names` label the standard
/// errors; `bootstrap` are the replicate fits, if asked for.
fn fit_info<P>(
    f: &Fit<P>,
    names: &[&str],
    skipped: serde_json::Map<String, serde_json::Value>,
    bootstrap: Option<Bootstrap>,
) -> FitInfo {
    FitInfo {
        log_likelihood: f.log_likelihood,
        n: f.n,
        converged: f.converged,
        iterations: f.iterations,
        std_errors: named(names, &f.std_errors),
        log_covariance: f.log_covariance.clone(),
        bootstrap,
        skipped,
    }
}

/// The replicates of a fit whose estimate is `start`: `refit(counts)` refits
/// on the rows reweighted by a resample.
fn run_bootstrap(
    spec: Option<BootstrapSpec>,
    weights: &[f64],
    refit: impl Fn(&[f64]) -> (Vec<f64>, bool) + Sync + Send,
) -> Option<Bootstrap> {
    let spec = spec?;
    let fits = bootstrap::replicates(spec, weights, refit);
    let not_converged = fits.iter().filter(|(_, converged)| !converged).count();
    Some(Bootstrap {
        seed: spec.seed,
        replicates: fits.into_iter().map(|(params, _)| params).collect(),
        not_converged,
    })
}

/// `data`'s rows with the weights `counts` (rows drawn 0 times left out).
fn reweighted(data: &RfmData, counts: &[f64]) -> RfmData {
    let mut out = RfmData::new();
    for (r, c) in data.rows().iter().zip(counts) {
        if *c > 0.0 {
            out.add(r.x, r.tx, r.t, *c);
        }
    }
    out
}

impl Accumulator for FitAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let name = self.kind.name();
        let cols: Vec<_> = values[..self.kind.args().len()]
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        for i in 0..cols[0].len() {
            if cols.iter().any(|c| c.is_null(i)) {
                continue;
            }
            match self.kind {
                FitKind::BgNbd | FitKind::ParetoNbd | FitKind::MbgNbd => {
                    let (x, tx, t) = (cols[0].value(i), cols[1].value(i), cols[2].value(i));
                    check_rfm(x, tx, t).map_err(|m| UdfError::data(name, m))?;
                    self.data.add(x, tx, t, 1.0);
                }
                FitKind::GammaGamma => {
                    let (x, m) = (cols[0].value(i), cols[1].value(i));
                    if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
                        return Err(UdfError::data(
                            name,
                            format!("frequency {x} is not a whole number >= 0"),
                        )
                        .into());
                    }
                    if x == 0.0 {
                        self.skipped += 1.0;
                        continue;
                    }
                    if !(m.is_finite() && m > 0.0) {
                        return Err(UdfError::data(
                            name,
                            format!("monetary {m} of a repeat buyer is not a positive number"),
                        )
                        .into());
                    }
                    self.data.add(x, m, 0.0, 1.0);
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<_> = states[..4].iter().map(|a| a.as_list::<i32>()).collect();
        let skipped = states[4].as_primitive::<Float64Type>();
        for row in 0..lists[0].len() {
            if lists[0].is_null(row) {
                continue;
            }
            let cols: Vec<ArrayRef> = lists.iter().map(|l| l.value(row)).collect();
            let cols: Vec<_> = cols
                .iter()
                .map(|a| a.as_primitive::<Float64Type>())
                .collect();
            for i in 0..cols[0].len() {
                self.data.add(
                    cols[0].value(i),
                    cols[1].value(i),
                    cols[2].value(i),
                    cols[3].value(i),
                );
            }
            if !skipped.is_null(row) {
                self.skipped += skipped.value(row);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let rows = self.data.rows();
        Ok(vec![
            f64_list_scalar(rows.iter().map(|r| r.x).collect()),
            f64_list_scalar(rows.iter().map(|r| r.tx).collect()),
            f64_list_scalar(rows.iter().map(|r| r.t).collect()),
            f64_list_scalar(rows.iter().map(|r| r.weight).collect()),
            ScalarValue::Float64(Some(self.skipped)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.data.rows().is_empty() {
            return Ok(ScalarValue::Utf8(None));
        }
        self.data.sort();
        let data = &self.data;
        let weights: Vec<f64> = data.rows().iter().map(|r| r.weight).collect();
        let spec = self.bootstrap;
        let model = match self.kind {
            FitKind::BgNbd => {
                let f = bgnbd::fit(data);
                let start = f.params.to_vec();
                let boot = run_bootstrap(spec, &weights, |c| {
                    let r = bgnbd::fit_from(&reweighted(data, c), &start);
                    (r.params.to_vec(), r.converged)
                });
                Model::Bgnbd {
                    info: fit_info(&f, &["r", "alpha", "a", "b"], Default::default(), boot),
                    params: f.params,
                }
            }
            FitKind::ParetoNbd => {
                let f = paretonbd::fit(data);
                let start = f.params.to_vec();
                let boot = run_bootstrap(spec, &weights, |c| {
                    let r = paretonbd::fit_from(&reweighted(data, c), &start);
                    (r.params.to_vec(), r.converged)
                });
                Model::Paretonbd {
                    info: fit_info(&f, &["r", "alpha", "s", "beta"], Default::default(), boot),
                    params: f.params,
                }
            }
            FitKind::MbgNbd => {
                let f = mbgnbd::fit(data);
                let start = f.params.to_vec();
                let boot = run_bootstrap(spec, &weights, |c| {
                    let r = mbgnbd::fit_from(&reweighted(data, c), &start);
                    (r.params.to_vec(), r.converged)
                });
                Model::Mbgnbd {
                    info: fit_info(&f, &["r", "alpha", "a", "b"], Default::default(), boot),
                    params: f.params,
                }
            }
            FitKind::GammaGamma => {
                let mut spend = SpendData::default();
                for r in data.rows() {
                    spend.add(r.x, r.tx, r.weight);
                }
                let f = gamma_gamma::fit(&spend);
                let start = f.params.to_vec();
                let boot = run_bootstrap(spec, &weights, |c| {
                    let mut s = SpendData::default();
                    for (r, w) in spend.rows.iter().zip(c) {
                        if *w > 0.0 {
                            s.add(r.0, r.1, *w);
                        }
                    }
                    let r = gamma_gamma::fit_from(&s, &start);
                    (r.params.to_vec(), r.converged)
                });
                let mut skipped = serde_json::Map::new();
                if self.skipped > 0.0 {
                    skipped.insert("non_repeat_buyers".into(), serde_json::json!(self.skipped));
                }
                Model::GammaGamma {
                    info: fit_info(&f, &["p", "q", "gamma"], skipped, boot),
                    params: f.params,
                }
            }
        };
        Ok(ScalarValue::Utf8(Some(model.to_json())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.data.heap_size()
    }
}
