//! `campaign_effect(outcome, treated [, 'level=0.95'])` aggregate ->
//! STRUCT{treated_n, control_n, treated_mean, control_mean, difference,
//! relative_lift, low, high, p_value, method}: the campaign's effect on an
//! outcome, treated (`treated` true) against control (false), with its
//! confidence interval at `level` and two-sided p-value ([`super::effect`]).
//!
//! * `outcome` BOOLEAN (e.g. "bought again"): a rate, the two-proportion
//!   z-test (`method` = 'two_proportion_z').
//! * `outcome` numeric (e.g. revenue): Welch's t-test ('welch_t').
//! * `outcome` a struct `named_struct('outcome', y, 'covariate', x)` with a
//!   pre-period covariate x: CUPED, then Welch ('welch_t_cuped'); the means
//!   are then the adjusted means.
//!
//! Rows with a NULL outcome, covariate or `treated` are left out. A group
//! without rows, or statistics that do not exist (fewer than two rows in a
//! group, no variance), give NULL fields.
//!
//! ```sql
//! SELECT campaign_effect(bought_again, NOT held_out) FROM readout;
//! SELECT campaign_effect(named_struct('outcome', revenue_after, 'covariate', revenue_before),
//!                        NOT held_out, 'level=0.9') FROM readout;
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::effect::{effect, Moments, Test};
use crate::constant_args::{constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::options::{coerce_options, Options};

const NAME: &str = "campaign_effect";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "campaign_effect(outcome, treated [, 'level=0.95']) -> STRUCT{treated_n, control_n, treated_mean, control_mean, difference, relative_lift, low, high, p_value, method}",
        description: "Effect of a campaign on an outcome, treated vs control: two-proportion z-test for a BOOLEAN outcome, Welch's t-test for a number, CUPED with named_struct('outcome', y, 'covariate', x)",
        example: "SELECT round(campaign_effect(y, t)['difference'], 4) FROM (VALUES (true, true), (true, true), (false, true), (true, true), (false, false), (true, false), (false, false), (false, false)) AS v(y, t); -- 0.5",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(CampaignEffect {
            signature: Signature::user_defined(Volatility::Immutable),
        }))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CampaignEffect {
    signature: Signature,
}

fn output_fields() -> Fields {
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    Fields::from(vec![
        f("treated_n", DataType::Int64),
        f("control_n", DataType::Int64),
        f("treated_mean", DataType::Float64),
        f("control_mean", DataType::Float64),
        f("difference", DataType::Float64),
        f("relative_lift", DataType::Float64),
        f("low", DataType::Float64),
        f("high", DataType::Float64),
        f("p_value", DataType::Float64),
        f("method", DataType::Utf8),
    ])
}

fn covariate_struct() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("outcome", DataType::Float64, true),
        Field::new("covariate", DataType::Float64, true),
    ]))
}

/// The outcome's kind, from its type.
fn test_of(t: &DataType) -> Test {
    match t {
        DataType::Boolean => Test::TwoProportionZ,
        DataType::Struct(_) => Test::WelchTCuped,
        _ => Test::WelchT,
    }
}

impl AggregateUDFImpl for CampaignEffect {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return Err(
                UdfError::arity(NAME, "outcome, treated [, options]", arg_types.len()).into(),
            );
        }
        let outcome = match &arg_types[0] {
            DataType::Boolean => DataType::Boolean,
            DataType::Struct(fields) => {
                let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
                let numeric = fields
                    .iter()
                    .all(|f| f.data_type().is_numeric() || f.data_type() == &DataType::Boolean);
                if names != ["outcome", "covariate"] || !numeric {
                    return Err(UdfError::argument(
                        NAME,
                        "outcome",
                        format!(
                            "a struct outcome must be named_struct('outcome', <number>, 'covariate', <number>), got fields {names:?}"
                        ),
                    )
                    .into());
                }
                covariate_struct()
            }
            t if t.is_numeric() => DataType::Float64,
            other => {
                return Err(UdfError::argument(
                    NAME,
                    "outcome",
                    format!("must be BOOLEAN, a number or named_struct('outcome', y, 'covariate', x), got {other}"),
                )
                .into())
            }
        };
        let treated = match &arg_types[1] {
            DataType::Boolean | DataType::Null => DataType::Boolean,
            other => {
                return Err(UdfError::argument(
                    NAME,
                    "treated",
                    format!("must be BOOLEAN (true: treated, false: control), got {other}"),
                )
                .into())
            }
        };
        let mut out = vec![outcome, treated];
        if let Some(t) = arg_types.get(2) {
            out.push(coerce_options(NAME, t)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(output_fields()))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let text = match constant(NAME, "options", args.exprs, 2)? {
            ScalarValue::Null => String::new(),
            v => constant_text(NAME, "options", &v)?,
        };
        let options = Options::parse(NAME, &text, &["level"])?;
        let level: f64 = options.parse_or("level", 0.95)?;
        if !(level > 0.0 && level < 1.0) {
            return Err(UdfError::Options {
                function: NAME,
                message: format!("level must be in (0, 1), got {level}"),
            }
            .into());
        }
        let outcome_type = args.exprs[0].data_type(args.schema)?;
        Ok(Box::new(EffectAccumulator {
            test: test_of(&outcome_type),
            level,
            groups: [Moments::default(); 2],
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(STATE
            .iter()
            .flat_map(|g| {
                MOMENTS.iter().map(move |m| {
                    Arc::new(Field::new(
                        format_state_name(args.name, &format!("{g}_{m}")),
                        DataType::Float64,
                        true,
                    ))
                })
            })
            .collect())
    }
}

const STATE: [&str; 2] = ["control", "treated"];
const MOMENTS: [&str; 7] = ["n", "sum_y", "mean_y", "m2_y", "mean_x", "m2_x", "c_xy"];

#[derive(Debug)]
struct EffectAccumulator {
    test: Test,
    level: f64,
    /// Control, treated.
    groups: [Moments; 2],
}

fn to_vec(m: &Moments) -> [f64; 7] {
    [m.n, m.sum_y, m.mean_y, m.m2_y, m.mean_x, m.m2_x, m.c_xy]
}

fn from_slice(v: &[f64]) -> Moments {
    Moments {
        n: v[0],
        sum_y: v[1],
        mean_y: v[2],
        m2_y: v[3],
        mean_x: v[4],
        m2_x: v[5],
        c_xy: v[6],
    }
}

impl Accumulator for EffectAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let treated = values[1].as_boolean();
        let check = |v: f64, what: &str| -> Result<f64> {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(
                    UdfError::argument(NAME, "outcome", format!("{what} must be finite, got {v}"))
                        .into(),
                )
            }
        };
        match values[0].data_type() {
            DataType::Boolean => {
                let y = values[0].as_boolean();
                for i in 0..y.len() {
                    if y.is_valid(i) && treated.is_valid(i) {
                        let g = usize::from(treated.value(i));
                        self.groups[g].add(if y.value(i) { 1.0 } else { 0.0 }, 0.0);
                    }
                }
            }
            DataType::Struct(_) => {
                let s = values[0].as_struct();
                let (y, x) = (
                    s.column(0).as_primitive::<Float64Type>(),
                    s.column(1).as_primitive::<Float64Type>(),
                );
                for i in 0..s.len() {
                    if s.is_valid(i) && y.is_valid(i) && x.is_valid(i) && treated.is_valid(i) {
                        let g = usize::from(treated.value(i));
                        self.groups[g].add(
                            check(y.value(i), "outcome")?,
                            check(x.value(i), "covariate")?,
                        );
                    }
                }
            }
            _ => {
                let y = values[0].as_primitive::<Float64Type>();
                for i in 0..y.len() {
                    if y.is_valid(i) && treated.is_valid(i) {
                        let g = usize::from(treated.value(i));
                        self.groups[g].add(check(y.value(i), "outcome")?, 0.0);
                    }
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let cols: Vec<_> = states
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        for row in 0..cols[0].len() {
            for g in 0..2 {
                let part = &cols[g * 7..g * 7 + 7];
                if part.iter().any(|c| c.is_null(row)) {
                    continue;
                }
                let v: Vec<f64> = part.iter().map(|c| c.value(row)).collect();
                self.groups[g].merge(&from_slice(&v));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .groups
            .iter()
            .flat_map(|m| to_vec(m).map(|v| ScalarValue::Float64(Some(v))))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let [control, treated] = &self.groups;
        let e = effect(treated, control, self.test, self.level);
        let f = |v: Option<f64>| ScalarValue::Float64(v);
        let values = vec![
            ScalarValue::Int64(Some(e.treated_n as i64)),
            ScalarValue::Int64(Some(e.control_n as i64)),
            f(e.treated_mean),
            f(e.control_mean),
            f(e.difference),
            f(e.relative_lift),
            f(e.low),
            f(e.high),
            f(e.p_value),
            ScalarValue::Utf8(Some(e.test.name().to_string())),
        ];
        let arrays = values
            .iter()
            .map(ScalarValue::to_array)
            .collect::<Result<Vec<_>>>()?;
        let s = datafusion::arrow::array::StructArray::new(output_fields(), arrays, None);
        Ok(ScalarValue::Struct(Arc::new(s)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
