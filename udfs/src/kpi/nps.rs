//! `nps(score)`: Net Promoter Score.
//!
//! Scores are answers to "how likely are you to recommend us" on the 0–10 scale.
//! Promoters answer 9–10, detractors 0–6, passives 7–8. NPS = (promoters −
//! detractors) / respondents × 100, in points from −100 to 100 (Reichheld 2003,
//! "The One Number You Need to Grow", HBR). Nulls are not respondents; a score
//! outside 0–10 or not a whole number is an error naming the value. No
//! respondents gives NULL.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::tally_groups::{state_fields, OneTally, Tally, TallyGroups, TallyOutput};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};

const NAME: &str = "nps";

/// Respondent counts by NPS category.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NpsCounts {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsCounts {
    /// Count one answer; `Err` with the offending value if it is not 0..=10.
    pub fn add(&mut self, score: f64) -> std::result::Result<(), f64> {
        if !(0.0..=10.0).contains(&score) || score.fract() != 0.0 {
            return Err(score);
        }
        match score as u8 {
            9..=10 => self.promoters += 1,
            7..=8 => self.passives += 1,
            _ => self.detractors += 1,
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &NpsCounts) {
        self.promoters += other.promoters;
        self.passives += other.passives;
        self.detractors += other.detractors;
    }

    /// NPS in points, or `None` without respondents.
    pub fn score(&self) -> Option<f64> {
        let n = self.promoters + self.passives + self.detractors;
        (n > 0).then(|| (self.promoters as f64 - self.detractors as f64) / n as f64 * 100.0)
    }
}

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "nps(score NUMERIC) -> DOUBLE",
        description: "Net Promoter Score in points (-100..100): share of 9-10 answers minus share of 0-6 answers, nulls skipped",
        example: "SELECT nps(score) FROM (VALUES (10), (9), (8), (6), (NULL)) AS t(score); -- 25.0",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(Nps::new()))),
    }
}

impl Tally for NpsCounts {
    fn respondents(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }
    /// NPS ± z·SE, with SE the standard error of the difference of the
    /// promoter and detractor shares p and d of one multinomial sample of n:
    /// SE = 100·sqrt((p + d − (p − d)²) / n); clipped to [−100, 100].
    fn interval(&self, z: f64) -> Option<(f64, f64)> {
        let n = self.respondents() as f64;
        let nps = self.score()?;
        let (p, d) = (self.promoters as f64 / n, self.detractors as f64 / n);
        let se = 100.0 * ((p + d - (p - d) * (p - d)).max(0.0) / n).sqrt();
        Some(((nps - z * se).max(-100.0), (nps + z * se).min(100.0)))
    }
    const FIELD_NAMES: &'static [&'static str] = &["promoters", "passives", "detractors"];
    fn add(&mut self, value: f64, _: f64) -> std::result::Result<(), String> {
        NpsCounts::add(self, value)
            .map_err(|v| format!("score {v} is not a whole number from 0 to 10"))
    }
    fn field(&self, i: usize) -> u64 {
        [self.promoters, self.passives, self.detractors][i]
    }
    fn add_to_field(&mut self, i: usize, count: u64) {
        match i {
            0 => self.promoters += count,
            1 => self.passives += count,
            _ => self.detractors += count,
        }
    }
    fn score(&self) -> Option<f64> {
        NpsCounts::score(self)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Nps {
    signature: Signature,
}

impl Nps {
    pub fn new() -> Self {
        Nps {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Nps {
    fn default() -> Self {
        Self::new()
    }
}

/// Check that every argument is numeric (or NULL) and ask for DOUBLE.
pub(crate) fn coerce_numeric(
    function: &'static str,
    names: &[&str],
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    if arg_types.is_empty() || arg_types.len() > names.len() {
        return Err(UdfError::arity(function, names.join(", "), arg_types.len()).into());
    }
    for (t, name) in arg_types.iter().zip(names) {
        if !(t.is_numeric() || t.is_null()) {
            return Err(
                UdfError::argument(function, *name, format!("must be numeric, got {t}")).into(),
            );
        }
    }
    Ok(vec![DataType::Float64; arg_types.len()])
}

impl AggregateUDFImpl for Nps {
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
        coerce_numeric(NAME, &["score"], arg_types)
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneTally::<NpsCounts>::new(
            NAME,
            0.0,
            TallyOutput::Score,
        )))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(TallyGroups::<NpsCounts>::new(NAME, 0.0)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields::<NpsCounts>(args.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked example from Bain & Company's NPS explainer: 70% promoters,
    /// 10% detractors -> NPS 60.
    #[test]
    fn published_example() {
        let mut c = NpsCounts::default();
        for _ in 0..70 {
            c.add(10.0).unwrap();
        }
        for _ in 0..20 {
            c.add(7.0).unwrap();
        }
        for _ in 0..10 {
            c.add(3.0).unwrap();
        }
        assert_eq!(c.score(), Some(60.0));
    }

    #[test]
    fn rejects_out_of_scale() {
        let mut c = NpsCounts::default();
        assert_eq!(c.add(11.0), Err(11.0));
        assert_eq!(c.add(7.5), Err(7.5));
        assert_eq!(c.score(), None);
    }
}
