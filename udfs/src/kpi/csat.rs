//! `csat(score [, satisfied_from])`: Customer Satisfaction Score.
//!
//! CSAT is the percentage of respondents who answer at or above the
//! "satisfied" mark: on the usual 1–5 scale that is 4 ("satisfied") and 5 ("very
//! satisfied"), so `satisfied_from` defaults to 4. Give it for other scales
//! (`csat(score, 8)` on 1–10). Nulls are not respondents; no respondents gives
//! NULL. Result in percent, 0–100.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::tally_groups::{state_fields, OneTally, Tally, TallyGroups, TallyOutput};
use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::kpi::nps::coerce_numeric;

const NAME: &str = "csat";
const DEFAULT_SATISFIED_FROM: f64 = 4.0;

/// Satisfied and total respondent counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CsatCounts {
    pub satisfied: u64,
    pub respondents: u64,
}

impl CsatCounts {
    pub fn add(&mut self, score: f64, satisfied_from: f64) {
        self.respondents += 1;
        if score >= satisfied_from {
            self.satisfied += 1;
        }
    }

    /// Percentage satisfied, or `None` without respondents.
    pub fn score(&self) -> Option<f64> {
        (self.respondents > 0).then(|| self.satisfied as f64 / self.respondents as f64 * 100.0)
    }
}

impl Tally for CsatCounts {
    fn respondents(&self) -> u64 {
        self.respondents
    }
    /// The Wilson score interval of the satisfied share (Wilson 1927), in
    /// percent: it stays within [0, 100] and keeps its coverage for small
    /// samples and shares near 0 or 1, where the normal (Wald) interval
    /// does not.
    fn interval(&self, z: f64) -> Option<(f64, f64)> {
        if self.respondents == 0 {
            return None;
        }
        let n = self.respondents as f64;
        let p = self.satisfied as f64 / n;
        let z2 = z * z;
        let denominator = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denominator;
        let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
        Some((
            100.0 * (centre - half).max(0.0),
            100.0 * (centre + half).min(1.0),
        ))
    }
    const FIELD_NAMES: &'static [&'static str] = &["satisfied", "respondents"];
    fn add(&mut self, score: f64, satisfied_from: f64) -> std::result::Result<(), String> {
        if !score.is_finite() {
            return Err(format!("score {score} is not a finite number"));
        }
        CsatCounts::add(self, score, satisfied_from);
        Ok(())
    }
    fn field(&self, i: usize) -> u64 {
        [self.satisfied, self.respondents][i]
    }
    fn add_to_field(&mut self, i: usize, count: u64) {
        match i {
            0 => self.satisfied += count,
            _ => self.respondents += count,
        }
    }
    fn score(&self) -> Option<f64> {
        CsatCounts::score(self)
    }
}

/// The constant `satisfied_from` argument of `function` (4 when absent).
/// Read through [`constant`], which also takes a literal that reached us
/// wrapped (as through datafusion-ffi from Python).
pub(crate) fn satisfied_from(function: &'static str, args: &AccumulatorArgs) -> Result<f64> {
    if args.exprs.len() < 2 {
        return Ok(DEFAULT_SATISFIED_FROM);
    }
    let value = constant(function, "satisfied_from", args.exprs, 1)?;
    match constant_number(function, "satisfied_from", &value) {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(UdfError::argument(
            function,
            "satisfied_from",
            format!("must be a finite number, got {value}"),
        )
        .into()),
    }
}

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "csat(score NUMERIC [, satisfied_from NUMERIC = 4]) -> DOUBLE",
        description: "Customer Satisfaction Score: percent of answers >= satisfied_from (4 on a 1-5 scale), nulls skipped",
        example: "SELECT csat(score) FROM (VALUES (5), (4), (3), (1)) AS t(score); -- 50.0",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(Csat::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Csat {
    signature: Signature,
}

impl Csat {
    pub fn new() -> Self {
        Csat {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Csat {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for Csat {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_numeric(NAME, &["score", "satisfied_from"], arg_types)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneTally::<CsatCounts>::new(
            NAME,
            satisfied_from(NAME, &args)?,
            TallyOutput::Score,
        )))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(TallyGroups::<CsatCounts>::new(
            NAME,
            satisfied_from(NAME, &args)?,
        )))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields::<CsatCounts>(args.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_at_or_above_mark() {
        let mut c = CsatCounts::default();
        for s in [5.0, 4.0, 4.0, 3.0, 2.0] {
            c.add(s, 4.0);
        }
        assert_eq!(c.score(), Some(60.0));
        assert_eq!(CsatCounts::default().score(), None);
    }
}
