//! A member's tier over time under a rule set's `tiers` ([`super::rules`]).
//!
//! * The measure on a day is the member's `basis` over the `window` ending
//!   that day: net spend (`amount`, returns subtract), purchase `orders`
//!   (orders whose lines sum above 0), or the `points` purchases earn under
//!   the rules (a return subtracts what its amount would earn on its day;
//!   bonuses from events do not count). `rolling_N_months` counts the days
//!   after the same day N months earlier up to the day; `calendar_year`
//!   from 1 January to the day. Lines of one order (same `order_id`, or the
//!   same day without one) are summed first.
//! * The qualifying tier is the highest level whose threshold the measure
//!   reaches. From `start` (or the first purchase, when later) the member
//!   holds the qualifying tier (`qualified`); a higher qualifying tier is
//!   granted the same day (`upgraded`); when the qualifying tier falls below
//!   the held one, the member keeps it for `grace_days` and, if it has not
//!   been re-reached by then, drops to the tier qualifying on that day
//!   (`downgraded after grace`; with 0 grace days the same day).
//! * Only days where something can change are visited (a purchase enters
//!   or leaves the window, a year starts, a grace period ends), so the cost
//!   is per purchase, not per day.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};

use super::rules::{Basis, Rules, TierRules, Window};

/// One purchase line of a member: its day, amount and order id.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub day: NaiveDate,
    pub amount: f64,
    pub order_id: Option<&'a str>,
}

/// Why a tier interval began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Qualified,
    Upgraded,
    Downgraded,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Qualified => "qualified",
            Reason::Upgraded => "upgraded",
            Reason::Downgraded => "downgraded after grace",
        }
    }
}

/// A tier held from `from` up to the day before `to` (`None`: still held
/// at the end of the history).
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub level: usize,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub reason: Reason,
}

/// An order: its id, or the day of lines without one.
type OrderKey<'a> = (Option<&'a str>, Option<NaiveDate>);

/// The orders' (day, contribution to the measure), lines summed per order.
fn contributions(rules: &Rules, tiers: &TierRules, lines: &[Line<'_>]) -> Vec<(NaiveDate, f64)> {
    let mut orders: BTreeMap<OrderKey, (NaiveDate, f64)> = BTreeMap::new();
    let mut sorted: Vec<&Line> = lines.iter().filter(|l| l.amount.is_finite()).collect();
    sorted.sort_by(|a, b| {
        (a.day, &a.order_id, a.amount.to_bits()).cmp(&(b.day, &b.order_id, b.amount.to_bits()))
    });
    for l in sorted {
        // Lines without an order id are an order per day.
        let key = match l.order_id {
            Some(o) => (Some(o), None),
            None => (None, Some(l.day)),
        };
        let e = orders.entry(key).or_insert((l.day, 0.0));
        e.1 += l.amount;
    }
    orders
        .into_values()
        .map(|(day, sum)| {
            // An order returned in full still makes its day the member's
            // first purchase; it adds 0.
            let v = match tiers.basis {
                Basis::Amount => sum,
                Basis::Orders => f64::from(u8::from(sum > 0.0)),
                Basis::Points if sum >= 0.0 => rules.earn(sum, day, None),
                Basis::Points => -rules.earn(-sum, day, None),
            };
            (day, v)
        })
        .collect()
}

/// The first day a purchase on `day` no longer counts.
fn leaves(window: Window, day: NaiveDate) -> NaiveDate {
    match window {
        Window::RollingMonths(n) => day
            .checked_add_months(Months::new(n))
            .unwrap_or(NaiveDate::MAX),
        Window::CalendarYear => {
            NaiveDate::from_ymd_opt(day.year() + 1, 1, 1).unwrap_or(NaiveDate::MAX)
        }
    }
}

/// The member's tier intervals from `start` (or their first purchase, when
/// later, or when `start` is `None`) to `end`, inclusive. No intervals for a
/// member without purchases up to `end`, or when the rules have no tiers.
pub fn history(
    rules: &Rules,
    lines: &[Line<'_>],
    start: Option<NaiveDate>,
    end: NaiveDate,
) -> Vec<Interval> {
    let Some(tiers) = &rules.tiers else {
        return Vec::new();
    };
    let Ok(window) = tiers.window() else {
        return Vec::new();
    };
    let orders: Vec<(NaiveDate, f64)> = contributions(rules, tiers, lines)
        .into_iter()
        .filter(|(d, _)| *d <= end)
        .collect();
    let Some(first) = orders.iter().map(|o| o.0).min() else {
        return Vec::new();
    };
    let begin = start.map_or(first, |s| s.max(first));
    if begin > end {
        return Vec::new();
    }
    // Measure changes: +v on the order's day, -v on the day it leaves.
    let mut changes: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for (d, v) in &orders {
        *changes.entry(*d).or_default() += v;
        *changes.entry(leaves(window, *d)).or_default() -= v;
    }
    let level_of = |measure: f64| {
        // Allow for the rounding of sums that should be exactly a threshold.
        let m = measure + 1e-9 * measure.abs().max(1.0);
        tiers
            .levels
            .iter()
            .rposition(|l| m >= l.threshold)
            .unwrap_or(0)
    };
    let grace = i64::from(tiers.grace_days);
    let mut measure = 0.0;
    let mut out: Vec<Interval> = Vec::new();
    let mut held: Option<usize> = None;
    let mut below_since: Option<NaiveDate> = None;
    let push = |out: &mut Vec<Interval>, level: usize, day: NaiveDate, reason: Reason| {
        if let Some(last) = out.last_mut() {
            last.to = Some(day);
        }
        out.push(Interval {
            level,
            from: day,
            to: None,
            reason,
        });
    };
    // Days to visit: `begin`, every change day after it, and grace
    // deadlines (added as they arise).
    let mut days: Vec<NaiveDate> = changes.range(begin..=end).map(|(d, _)| *d).collect();
    days.push(begin);
    days.sort();
    days.dedup();
    for (_, v) in changes.range(..begin) {
        measure += v;
    }
    let mut i = 0;
    while i < days.len() {
        let day = days[i];
        i += 1;
        if let Some(v) = changes.get(&day) {
            measure += v;
        }
        let q = level_of(measure);
        match held {
            None => {
                push(&mut out, q, day, Reason::Qualified);
                held = Some(q);
            }
            Some(h) if q > h => {
                push(&mut out, q, day, Reason::Upgraded);
                held = Some(q);
                below_since = None;
            }
            Some(h) if q == h => below_since = None,
            Some(_) => {
                let since = *below_since.get_or_insert(day);
                let deadline = since + chrono::Duration::days(grace);
                if day >= deadline {
                    push(&mut out, q, day, Reason::Downgraded);
                    held = Some(q);
                    below_since = None;
                } else if deadline <= end {
                    // Visit the deadline (keeping the days in order).
                    if let Err(at) = days[i..].binary_search(&deadline) {
                        days.insert(i + at, deadline);
                    }
                }
            }
        }
    }
    out
}

/// The tier held on `day` (the level index), from a [`history`].
pub fn tier_on(history: &[Interval], day: NaiveDate) -> Option<usize> {
    history
        .iter()
        .find(|iv| iv.from <= day && iv.to.is_none_or(|t| day < t))
        .map(|iv| iv.level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(grace: u32, window: &str) -> Rules {
        Rules::parse(&format!(
            r#"{{"earn_rate": 1, "tiers": {{"basis": "amount", "window": "{window}", "grace_days": {grace},
                "levels": [{{"name": "Bronze", "threshold": 0}}, {{"name": "Silver", "threshold": 500}},
                           {{"name": "Gold", "threshold": 2000}}]}}}}"#
        ))
        .unwrap()
    }
    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn line<'a>(day: &str, amount: f64, order: &'a str) -> Line<'a> {
        Line {
            day: d(day),
            amount,
            order_id: Some(order),
        }
    }
    fn summary(h: &[Interval]) -> Vec<(usize, String, Option<String>, &'static str)> {
        h.iter()
            .map(|i| {
                (
                    i.level,
                    i.from.to_string(),
                    i.to.map(|t| t.to_string()),
                    i.reason.name(),
                )
            })
            .collect()
    }

    #[test]
    fn upgrade_then_downgrade_after_grace() {
        // 600 on 2011-01-15 (Silver); it leaves the 12-month window on
        // 2012-01-15; with 90 days' grace Silver is kept to 2012-04-14.
        let h = history(
            &rules(90, "rolling_12_months"),
            &[
                line("2011-01-10", 100.0, "A"),
                line("2011-01-15", 600.0, "B"),
            ],
            None,
            d("2012-12-31"),
        );
        assert_eq!(
            summary(&h),
            vec![
                (
                    0,
                    "2011-01-10".into(),
                    Some("2011-01-15".into()),
                    "qualified"
                ),
                (
                    1,
                    "2011-01-15".into(),
                    Some("2012-04-14".into()),
                    "upgraded"
                ),
                (0, "2012-04-14".into(), None, "downgraded after grace"),
            ]
        );
        assert_eq!(tier_on(&h, d("2012-04-13")), Some(1));
        assert_eq!(tier_on(&h, d("2012-04-14")), Some(0));
    }

    #[test]
    fn requalifying_within_grace_keeps_the_tier() {
        let h = history(
            &rules(90, "rolling_12_months"),
            &[
                line("2011-01-15", 600.0, "B"),
                line("2012-02-01", 550.0, "C"),
            ],
            None,
            d("2012-12-31"),
        );
        // 2012-01-15 below, 2012-02-01 Silver again: no downgrade until the
        // second purchase leaves on 2013-02-01 (after the end).
        assert_eq!(
            summary(&h),
            vec![(1, "2011-01-15".into(), None, "qualified")]
        );
    }

    #[test]
    fn calendar_year_resets_on_the_first_of_january() {
        let h = history(
            &rules(0, "calendar_year"),
            &[line("2011-06-01", 2500.0, "A")],
            Some(d("2011-01-01")),
            d("2012-03-01"),
        );
        assert_eq!(
            summary(&h),
            vec![
                (
                    2,
                    "2011-06-01".into(),
                    Some("2012-01-01".into()),
                    "qualified"
                ),
                (0, "2012-01-01".into(), None, "downgraded after grace"),
            ]
        );
    }

    #[test]
    fn returns_reduce_the_amount_and_lines_sum_per_order() {
        let h = history(
            &rules(0, "rolling_12_months"),
            &[
                line("2011-03-01", 300.0, "A"),
                line("2011-03-01", 300.0, "A"),
                line("2011-03-05", -200.0, "R"),
            ],
            None,
            d("2011-12-31"),
        );
        assert_eq!(
            summary(&h),
            vec![
                (
                    1,
                    "2011-03-01".into(),
                    Some("2011-03-05".into()),
                    "qualified"
                ),
                (0, "2011-03-05".into(), None, "downgraded after grace"),
            ]
        );
    }
}
