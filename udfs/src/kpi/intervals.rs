//! `nps_interval(score [, confidence])` and `csat_interval(score [,
//! satisfied_from [, confidence]])`: NPS and CSAT with a confidence
//! interval, as `{value, low, high, n}` (n: respondents; NULL without any).
//!
//! - NPS (points, −100..100): value ± z·SE, where for promoter and detractor
//!   shares p and d of n answers SE = 100·sqrt((p + d − (p − d)²) / n), the
//!   standard error of a difference of two shares of one multinomial sample
//!   (var(p̂ − d̂) = (p(1 − p) + d(1 − d) + 2pd) / n); clipped to [−100, 100].
//! - CSAT (percent): the Wilson score interval of the satisfied share, which
//!   stays within [0, 100] and keeps its coverage for small samples.
//!
//! `confidence` is a constant in (0, 1), 0.95 when absent (z = 1.96).
//! Answers are read as by `nps` and `csat` (same scales, errors and NULLs).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::csat::{satisfied_from, CsatCounts};
use super::nps::{coerce_numeric, NpsCounts};
use super::tally_groups::{state_fields, OneTally, TallyGroups, TallyOutput};
use crate::constant_args::{constant, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::normal::two_sided;

const DEFAULT_CONFIDENCE: f64 = 0.95;

pub fn nps_entry() -> FunctionEntry {
    FunctionEntry {
        name: "nps_interval",
        kind: FunctionKind::Aggregate,
        signature: "nps_interval(score NUMERIC [, confidence DOUBLE = 0.95]) -> STRUCT(value, low, high, n)",
        description: "NPS with its confidence interval (normal, SE of the promoter-detractor difference of one multinomial sample)",
        example: "SELECT nps_interval(score) FROM (VALUES (10), (9), (9), (8), (6), (0)) AS t(score)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(KpiInterval::new(Kpi::Nps)))),
    }
}

pub fn csat_entry() -> FunctionEntry {
    FunctionEntry {
        name: "csat_interval",
        kind: FunctionKind::Aggregate,
        signature: "csat_interval(score NUMERIC [, satisfied_from NUMERIC = 4 [, confidence DOUBLE = 0.95]]) -> STRUCT(value, low, high, n)",
        description: "CSAT (percent satisfied) with its Wilson score confidence interval",
        example: "SELECT csat_interval(score, 4, 0.9) FROM (VALUES (5), (4), (3), (1)) AS t(score)",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(KpiInterval::new(Kpi::Csat)))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kpi {
    Nps,
    Csat,
}

impl Kpi {
    fn name(self) -> &'static str {
        match self {
            Kpi::Nps => "nps_interval",
            Kpi::Csat => "csat_interval",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Kpi::Nps => &["score", "confidence"],
            Kpi::Csat => &["score", "satisfied_from", "confidence"],
        }
    }

    /// The interval output asked for by the constant `confidence`.
    fn output(self, args: &AccumulatorArgs) -> Result<TallyOutput> {
        let name = self.name();
        let at = self.args().len() - 1;
        let confidence = match constant(name, "confidence", args.exprs, at)? {
            v if v.is_null() => DEFAULT_CONFIDENCE,
            v => constant_number(name, "confidence", &v)?,
        };
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(UdfError::argument(
                name,
                "confidence",
                format!("must be a level in (0, 1) such as 0.95, got {confidence}"),
            )
            .into());
        }
        Ok(TallyOutput::Interval {
            z: two_sided(confidence),
        })
    }

    fn param(self, args: &AccumulatorArgs) -> Result<f64> {
        match self {
            Kpi::Nps => Ok(0.0),
            Kpi::Csat => satisfied_from(self.name(), args),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KpiInterval {
    kpi: Kpi,
    signature: Signature,
}

impl KpiInterval {
    fn new(kpi: Kpi) -> Self {
        KpiInterval {
            kpi,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for KpiInterval {
    fn name(&self) -> &str {
        self.kpi.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(TallyOutput::Interval { z: 0.0 }.data_type())
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_numeric(self.kpi.name(), self.kpi.args(), arg_types)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (name, param, output) = (
            self.kpi.name(),
            self.kpi.param(&args)?,
            self.kpi.output(&args)?,
        );
        Ok(match self.kpi {
            Kpi::Nps => Box::new(OneTally::<NpsCounts>::new(name, param, output)),
            Kpi::Csat => Box::new(OneTally::<CsatCounts>::new(name, param, output)),
        })
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let (name, param, output) = (
            self.kpi.name(),
            self.kpi.param(&args)?,
            self.kpi.output(&args)?,
        );
        Ok(match self.kpi {
            Kpi::Nps => Box::new(TallyGroups::<NpsCounts>::with_output(name, param, output)),
            Kpi::Csat => Box::new(TallyGroups::<CsatCounts>::with_output(name, param, output)),
        })
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(match self.kpi {
            Kpi::Nps => state_fields::<NpsCounts>(args.name),
            Kpi::Csat => state_fields::<CsatCounts>(args.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tally_groups::Tally;
    use super::*;

    /// By hand: 3 promoters, 1 passive, 2 detractors of 6. p = 1/2, d = 1/3,
    /// NPS = 16.667; SE = 100·sqrt((5/6 − 1/36) / 6) = 36.641; ±1.96·SE.
    #[test]
    fn nps_interval_by_hand() {
        let c = NpsCounts {
            promoters: 3,
            passives: 1,
            detractors: 2,
        };
        let se = 100.0 * ((5.0 / 6.0 - 1.0 / 36.0) / 6.0f64).sqrt();
        assert!((se - 36.641).abs() < 1e-3);
        let (low, high) = c.interval(1.959963984540054).unwrap();
        assert!((low - (100.0 / 6.0 - 1.959963984540054 * se)).abs() < 1e-9);
        assert!((high - (100.0 / 6.0 + 1.959963984540054 * se)).abs() < 1e-9);
        // All promoters: SE 0, the interval is the point.
        let all = NpsCounts {
            promoters: 4,
            ..Default::default()
        };
        assert_eq!(all.interval(1.96), Some((100.0, 100.0)));
        assert_eq!(NpsCounts::default().interval(1.96), None);
    }

    /// By hand: 2 of 4 satisfied at z = 1.96: centre (0.5 + 0.4802) / 1.9604
    /// = 0.5, half 1.96·sqrt(0.0625 + 0.060025) / 1.9604 = 0.34996.
    #[test]
    fn csat_interval_by_hand() {
        let c = CsatCounts {
            satisfied: 2,
            respondents: 4,
        };
        let (low, high) = c.interval(1.96).unwrap();
        assert!((low - 15.004).abs() < 1e-3, "{low}");
        assert!((high - 84.996).abs() < 1e-3, "{high}");
        let none = CsatCounts {
            satisfied: 0,
            respondents: 10,
        };
        let (low, high) = none.interval(1.96).unwrap();
        assert_eq!(low, 0.0);
        // Wilson's upper bound for 0 of 10: z²/(n + z²) = 3.8416/13.8416.
        assert!((high - 100.0 * 3.8416 / 13.8416).abs() < 1e-9);
    }

    proptest::proptest! {
        /// The value lies in its interval, the interval in the scale, and a
        /// higher confidence never gives a narrower interval.
        #[test]
        fn intervals_hold_their_value(
            promoters in 0u64..500, passives in 0u64..500, detractors in 0u64..500,
            c1 in 0.01f64..0.99, c2 in 0.01f64..0.99,
        ) {
            let (lo_c, hi_c) = if c1 < c2 { (c1, c2) } else { (c2, c1) };
            let nps = NpsCounts { promoters, passives, detractors };
            let csat = CsatCounts { satisfied: promoters, respondents: promoters + passives + detractors };
            for (value, narrow, wide) in [
                (nps.score(), nps.interval(two_sided(lo_c)), nps.interval(two_sided(hi_c))),
                (csat.score(), csat.interval(two_sided(lo_c)), csat.interval(two_sided(hi_c))),
            ] {
                let (Some(v), Some((l1, h1)), Some((l2, h2))) = (value, narrow, wide) else {
                    proptest::prop_assert!(value.is_none() && narrow.is_none() && wide.is_none());
                    continue;
                };
                proptest::prop_assert!(l1 <= v + 1e-9 && v <= h1 + 1e-9, "{} {} {}", l1, v, h1);
                proptest::prop_assert!(l2 <= l1 + 1e-9 && h1 <= h2 + 1e-9);
                proptest::prop_assert!(l2 >= -100.0 && h2 <= 100.0);
            }
        }
    }
}
