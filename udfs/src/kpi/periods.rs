//! Calendar periods (day, week from Monday, month, quarter) on dates held as
//! days since 1970-01-01, for KPI series: which period a day is in, the
//! next period, and the periods a series covers. The periods are those of
//! DataFusion's `date_trunc`, so SQL can bucket rows and this module can
//! list the buckets, including the empty ones.

/// A period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    Quarter,
}

/// The names `parse` accepts, in order.
pub const NAMES: [&str; 4] = ["day", "week", "month", "quarter"];

impl Period {
    pub fn parse(name: &str) -> Option<Period> {
        match name.trim().to_ascii_lowercase().as_str() {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            "quarter" => Some(Period::Quarter),
            _ => None,
        }
    }

    /// The name `date_trunc` takes.
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
        }
    }

    /// The first day of the period holding `day`.
    pub fn start(self, day: i32) -> i32 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday, 3 days after a Monday.
            Period::Week => day - (day + 3).rem_euclid(7),
            Period::Month => {
                let (y, m, _) = civil(day);
                days(y, m, 1)
            }
            Period::Quarter => {
                let (y, m, _) = civil(day);
                days(y, (m - 1) / 3 * 3 + 1, 1)
            }
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: i32) -> i32 {
        let months = |n: i32| {
            let (y, m, _) = civil(start);
            let index = y * 12 + (m - 1) + n;
            days(index.div_euclid(12), index.rem_euclid(12) + 1, 1)
        };
        match self {
            Period::Day => start + 1,
            Period::Week => start + 7,
            Period::Month => months(1),
            Period::Quarter => months(3),
        }
    }

    /// The first days of the periods from the one before the period holding
    /// `first` to the one holding `end - 1` (`end` is exclusive), ascending.
    /// The extra period in front gives the first one its `previous`.
    pub fn spine(self, first: i32, end: i32) -> Vec<i32> {
        let mut at = self.start(first);
        // The period before: the start of the day before this one's.
        at = self.start(at - 1);
        let last = self.start(end - 1);
        let mut out = Vec::new();
        while at <= last {
            out.push(at);
            at = self.next(at);
        }
        out
    }
}

/// (year, month 1–12, day 1–31) of days since 1970-01-01 (proleptic
/// Gregorian; Hinnant's civil-from-days).
pub fn civil(days: i32) -> (i32, i32, i32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as i32, d as i32)
}

/// Days since 1970-01-01 of a (year, month, day) (Hinnant's
/// days-from-civil).
pub fn days(y: i32, m: i32, d: i32) -> i32 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days(1970, 1, 1), 0);
        assert_eq!(days(2000, 3, 1), 11_017);
        assert_eq!(civil(days(2011, 12, 9)), (2011, 12, 9));
        // 2011-12-09 was a Friday; its week began on Monday 2011-12-05.
        assert_eq!(Period::Week.start(days(2011, 12, 9)), days(2011, 12, 5));
        assert_eq!(Period::Quarter.start(days(2011, 12, 9)), days(2011, 10, 1));
        assert_eq!(Period::Quarter.next(days(2011, 10, 1)), days(2012, 1, 1));
        assert_eq!(Period::Month.next(days(2011, 12, 1)), days(2012, 1, 1));
    }

    #[test]
    fn the_spine_starts_one_period_early_and_ends_at_the_last_day() {
        let s = Period::Month.spine(days(2011, 1, 15), days(2011, 4, 1));
        assert_eq!(
            s,
            [
                days(2010, 12, 1),
                days(2011, 1, 1),
                days(2011, 2, 1),
                days(2011, 3, 1)
            ]
        );
        // An end in the middle of a period keeps that period.
        assert_eq!(
            Period::Month
                .spine(days(2011, 1, 1), days(2011, 2, 2))
                .len(),
            3
        );
    }

    proptest! {
        #[test]
        fn civil_round_trips_and_periods_tile_the_calendar(day in -800_000i32..800_000) {
            let (y, m, d) = civil(day);
            prop_assert_eq!(days(y, m, d), day);
            for p in [Period::Day, Period::Week, Period::Month, Period::Quarter] {
                let s = p.start(day);
                prop_assert!(s <= day && day < p.next(s));
                prop_assert_eq!(p.start(s), s);
            }
        }
    }
}
