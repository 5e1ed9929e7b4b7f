//! A loyalty programme's rules as data: a small JSON document, checked
//! field by field (an invalid rule set is an error naming the field).
//!
//! ```json
//! {"version": "2011-v1",
//!  "earn_rate": 1, "rounding": "floor",
//!  "category_multipliers": {"gift": 2},
//!  "bonus_periods": [{"from": "2011-12-01", "to": "2011-12-31", "multiplier": 2}],
//!  "signup_bonus": 100, "referral_bonus": 250, "min_redemption": 500,
//!  "expiry_months": 12, "point_value": 0.01,
//!  "tiers": {"basis": "amount", "window": "rolling_12_months", "grace_days": 90,
//!            "levels": [{"name": "Bronze", "threshold": 0}, {"name": "Silver", "threshold": 500},
//!                       {"name": "Gold", "threshold": 2000}]}}
//! ```
//!
//! * `earn_rate`: points per currency unit of a purchase (required, >= 0);
//!   `rounding` of a purchase's points: `floor` (default), `round`, `ceil` or
//!   `none` (fractional points).
//! * `category_multipliers`: by the purchase's category (1 when absent).
//! * `bonus_periods`: dates `from`..=`to` (inclusive) with a multiplier;
//!   where periods overlap the largest multiplier applies.
//! * `signup_bonus`, `referral_bonus`: points of a `signup` / `referral`
//!   event that gives none of its own.
//! * `min_redemption`: the fewest points a redemption may use.
//! * `expiry_months`: points expire this many calendar months after the
//!   day they were earned, at the start of that day (absent: never).
//! * `point_value`: currency per point, for the liability.
//! * `tiers`: `basis` `amount`, `orders` or `points` (earned) counted over
//!   `window` (`rolling_N_months` or `calendar_year`), `levels` with strictly
//!   increasing thresholds from 0, and `grace_days` a member keeps a tier
//!   after falling below it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// How a purchase's points are rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    #[default]
    Floor,
    Round,
    Ceil,
    None,
}

impl Rounding {
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Rounding::Floor => v.floor(),
            Rounding::Round => v.round(),
            Rounding::Ceil => v.ceil(),
            Rounding::None => v,
        }
    }
}

/// A bonus period, dates inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub multiplier: f64,
}

/// What a tier is earned by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Amount,
    Orders,
    Points,
}

/// One tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub name: String,
    pub threshold: f64,
}

/// Tier rules as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRules {
    pub basis: Basis,
    pub window: String,
    #[serde(default)]
    pub grace_days: u32,
    pub levels: Vec<Level>,
}

/// The qualifying window of a tier, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    RollingMonths(u32),
    CalendarYear,
}

/// A rule set as written (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub version: Option<String>,
    pub earn_rate: f64,
    #[serde(default)]
    pub rounding: Rounding,
    #[serde(default)]
    pub category_multipliers: BTreeMap<String, f64>,
    #[serde(default)]
    pub bonus_periods: Vec<BonusPeriod>,
    #[serde(default)]
    pub signup_bonus: f64,
    #[serde(default)]
    pub referral_bonus: f64,
    #[serde(default)]
    pub min_redemption: f64,
    #[serde(default)]
    pub expiry_months: Option<u32>,
    #[serde(default)]
    pub point_value: Option<f64>,
    #[serde(default)]
    pub tiers: Option<TierRules>,
}

fn non_negative(field: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "rules.{field} must be a finite number >= 0, got {v}"
        ))
    }
}

impl Rules {
    /// Parse and check a rule set.
    pub fn parse(text: &str) -> Result<Rules, String> {
        let rules: Rules = serde_json::from_str(text)
            .map_err(|e| format!("rules are not a valid rule set: {e}"))?;
        rules.check()?;
        Ok(rules)
    }

    fn check(&self) -> Result<(), String> {
        non_negative("earn_rate", self.earn_rate)?;
        non_negative("signup_bonus", self.signup_bonus)?;
        non_negative("referral_bonus", self.referral_bonus)?;
        non_negative("min_redemption", self.min_redemption)?;
        if let Some(v) = self.point_value {
            non_negative("point_value", v)?;
        }
        for (category, m) in &self.category_multipliers {
            non_negative(&format!("category_multipliers.{category}"), *m)?;
        }
        for (i, p) in self.bonus_periods.iter().enumerate() {
            if p.from > p.to {
                return Err(format!(
                    "rules.bonus_periods[{i}]: from {} is after to {}",
                    p.from, p.to
                ));
            }
            if !(p.multiplier.is_finite() && p.multiplier > 0.0) {
                return Err(format!(
                    "rules.bonus_periods[{i}].multiplier must be a finite number > 0, got {}",
                    p.multiplier
                ));
            }
        }
        if self.expiry_months == Some(0) {
            return Err(
                "rules.expiry_months must be at least 1 (leave it out for no expiry)".into(),
            );
        }
        if let Some(t) = &self.tiers {
            t.window()?;
            if t.levels.is_empty() {
                return Err("rules.tiers.levels must name at least one tier".into());
            }
            if t.levels[0].threshold != 0.0 {
                return Err(format!(
                    "rules.tiers.levels[0] '{}': the first tier's threshold must be 0, got {}",
                    t.levels[0].name, t.levels[0].threshold
                ));
            }
            for i in 1..t.levels.len() {
                let (a, b) = (&t.levels[i - 1], &t.levels[i]);
                if !(b.threshold.is_finite() && b.threshold > a.threshold) {
                    return Err(format!(
                        "rules.tiers.levels[{i}] '{}': threshold {} must be above '{}''s {} (thresholds increase, tiers do not overlap)",
                        b.name, b.threshold, a.name, a.threshold
                    ));
                }
                if t.levels[..i].iter().any(|l| l.name == b.name) {
                    return Err(format!(
                        "rules.tiers.levels[{i}]: tier '{}' is named twice",
                        b.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The multiplier of a purchase on `day` in `category`.
    pub fn multiplier(&self, day: NaiveDate, category: Option<&str>) -> f64 {
        let category = category
            .and_then(|c| self.category_multipliers.get(c))
            .copied()
            .unwrap_or(1.0);
        let bonus = self
            .bonus_periods
            .iter()
            .filter(|p| p.from <= day && day <= p.to)
            .map(|p| p.multiplier)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            .unwrap_or(1.0);
        category * bonus
    }

    /// The points of a purchase of `amount` (> 0) on `day`.
    pub fn earn(&self, amount: f64, day: NaiveDate, category: Option<&str>) -> f64 {
        self.rounding
            .apply(amount * self.earn_rate * self.multiplier(day, category))
            .max(0.0)
    }

    /// The day points earned on `day` expire (they are gone from the start
    /// of that day); `None` when points do not expire.
    pub fn expires(&self, day: NaiveDate) -> Option<NaiveDate> {
        let m = self.expiry_months?;
        Some(
            day.checked_add_months(chrono::Months::new(m))
                .unwrap_or(NaiveDate::MAX),
        )
    }
}

impl TierRules {
    pub fn window(&self) -> Result<Window, String> {
        let w = self.window.trim().to_ascii_lowercase();
        if w == "calendar_year" {
            return Ok(Window::CalendarYear);
        }
        let months = w
            .strip_prefix("rolling_")
            .and_then(|r| r.strip_suffix("_months"))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=120).contains(n));
        months.map(Window::RollingMonths).ok_or_else(|| {
            format!(
                "rules.tiers.window must be rolling_N_months (N from 1 to 120) or calendar_year, got '{}'",
                self.window
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"{"earn_rate": 1, "bonus_periods": [{"from": "2011-12-01", "to": "2011-12-31", "multiplier": 2}],
        "expiry_months": 12,
        "tiers": {"basis": "amount", "window": "rolling_12_months", "grace_days": 90,
                  "levels": [{"name": "Bronze", "threshold": 0}, {"name": "Silver", "threshold": 500}, {"name": "Gold", "threshold": 2000}]}}"#;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn earns_with_bonus_edges_and_rounding() {
        let r = Rules::parse(DEMO).unwrap();
        assert_eq!(r.earn(10.99, day("2011-11-30"), None), 10.0);
        assert_eq!(r.earn(10.99, day("2011-12-01"), None), 21.0);
        assert_eq!(r.earn(10.99, day("2011-12-31"), None), 21.0);
        assert_eq!(r.earn(10.99, day("2012-01-01"), None), 10.0);
        assert_eq!(r.expires(day("2011-01-31")), Some(day("2012-01-31")));
        assert_eq!(r.expires(day("2012-02-29")), Some(day("2013-02-28")));
    }

    #[test]
    fn invalid_rules_name_the_field() {
        for (text, want) in [
            (r#"{"earn_rate": -1}"#, "rules.earn_rate"),
            (
                r#"{"earn_rate": 1, "bonus_periods": [{"from": "2011-12-31", "to": "2011-12-01", "multiplier": 2}]}"#,
                "rules.bonus_periods[0]",
            ),
            (
                r#"{"earn_rate": 1, "tiers": {"basis": "amount", "window": "rolling_12_months", "levels": [{"name": "Bronze", "threshold": 0}, {"name": "Gold", "threshold": 2000}, {"name": "Silver", "threshold": 500}]}}"#,
                "'Silver'",
            ),
            (
                r#"{"earn_rate": 1, "tiers": {"basis": "amount", "window": "weekly", "levels": [{"name": "B", "threshold": 0}]}}"#,
                "rules.tiers.window",
            ),
            (
                r#"{"earn_rate": 1, "expiry_months": 0}"#,
                "rules.expiry_months",
            ),
            (r#"{"earn_rate": 1, "earn_rat": 2}"#, "unknown field"),
        ] {
            let err = Rules::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
