//! One customer's points ledger under a rule set ([`super::rules`]).
//!
//! Inputs are purchases (amount > 0 earns, amount < 0 is a return or a
//! cancellation) and events (`signup`, `referral`, `adjust`, `redeem`).
//! They are processed in time order; at equal times signups first, then
//! purchases, returns, referrals, adjustments and redemptions, then by
//! source id, so the ledger does not depend on the order rows arrive in.
//! Purchase lines of one order at the same time, in the same category and
//! direction (bought or returned) are summed first: an order earns (or a
//! return takes back) its points once, rounded once.
//!
//! * Points are kept as lots, oldest first, each with the day it expires.
//!   Before each input, and at `as_of`, lots whose expiry day has come
//!   (expiry day <= the input's day) expire, one `expire` entry per expiry
//!   day; a lot expires once, whatever of it is left.
//! * A redemption uses the oldest lots first (FIFO). It is rejected, with a
//!   reason and no change to the balance, when it asks for more than the
//!   balance, fewer than `min_redemption` points, or none.
//! * A return takes back the points its amount earned (at the original
//!   order's multiplier when its `order_id` was seen, else at the return's
//!   day), at most what that order earned and has not been taken back yet,
//!   and never more than the balance: from the order's own lot first, then
//!   the newest lots. Points already redeemed or expired are not recovered;
//!   the entry's note says how many.
//! * `adjust` adds a lot (points > 0) or takes points back like a
//!   redemption without its minimum (points < 0; rejected beyond the
//!   balance).
//! * A purchase without a finite amount (NULL, NaN) is a rejected `earn`
//!   row.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use super::rules::Rules;

/// Microseconds since 1970-01-01 (a timestamp column's value).
pub type Micros = i64;

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// The calendar day of a timestamp.
pub fn day_of(ts: Micros) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(719_163 + ts.div_euclid(DAY_US) as i32)
        .unwrap_or(NaiveDate::MAX)
}

/// Midnight of a day.
pub fn start_of(day: NaiveDate) -> Micros {
    i64::from(days_since_epoch(day)) * DAY_US
}

/// Days since 1970-01-01 (a DATE column's value).
pub fn days_since_epoch(day: NaiveDate) -> i32 {
    day.num_days_from_ce() - 719_163
}

/// An event's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Signup,
    Referral,
    Adjust,
    Redeem,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<EventKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "signup" => Some(EventKind::Signup),
            "referral" => Some(EventKind::Referral),
            "adjust" => Some(EventKind::Adjust),
            "redeem" => Some(EventKind::Redeem),
            _ => None,
        }
    }
}

/// One input row of a customer.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    Purchase {
        ts: Micros,
        amount: f64,
        order_id: Option<&'a str>,
        category: Option<&'a str>,
    },
    Event {
        ts: Micros,
        kind: EventKind,
        points: Option<f64>,
        source_id: Option<&'a str>,
    },
}

impl<'a> Input<'a> {
    fn ts(&self) -> Micros {
        match self {
            Input::Purchase { ts, .. } | Input::Event { ts, .. } => *ts,
        }
    }
    /// The order of inputs at the same time.
    fn rank(&self) -> u8 {
        match self {
            Input::Event {
                kind: EventKind::Signup,
                ..
            } => 0,
            Input::Purchase { amount, .. } if *amount >= 0.0 => 1,
            Input::Purchase { .. } => 2,
            Input::Event {
                kind: EventKind::Referral,
                ..
            } => 3,
            Input::Event {
                kind: EventKind::Adjust,
                ..
            } => 4,
            Input::Event {
                kind: EventKind::Redeem,
                ..
            } => 5,
        }
    }
    fn source(&self) -> Option<&'a str> {
        match self {
            Input::Purchase { order_id, .. } => *order_id,
            Input::Event { source_id, .. } => *source_id,
        }
    }
    fn category(&self) -> Option<&'a str> {
        match self {
            Input::Purchase { category, .. } => *category,
            Input::Event { .. } => None,
        }
    }
    fn sort_key(&self) -> (Micros, u8, Option<&'a str>, Option<&'a str>, u64, u64) {
        let (a, b) = match self {
            Input::Purchase { amount, .. } => (amount.to_bits(), 0),
            Input::Event { points, .. } => (points.map_or(0, f64::to_bits), 1),
        };
        (self.ts(), self.rank(), self.source(), self.category(), a, b)
    }
    /// Whether `next` is another line of the same order (same time, order,
    /// category and direction), to be summed into this one.
    fn same_order(&self, next: &Input) -> bool {
        match (self, next) {
            (
                Input::Purchase {
                    ts,
                    amount,
                    order_id: Some(o),
                    category,
                },
                Input::Purchase {
                    ts: t2,
                    amount: a2,
                    order_id: Some(o2),
                    category: c2,
                },
            ) => {
                ts == t2
                    && o == o2
                    && category == c2
                    && amount.is_finite()
                    && a2.is_finite()
                    && (*amount >= 0.0) == (*a2 >= 0.0)
            }
            _ => false,
        }
    }
}

/// A ledger entry's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Earn,
    Return,
    Signup,
    Referral,
    Adjust,
    Redeem,
    Expire,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Earn => "earn",
            EntryKind::Return => "return",
            EntryKind::Signup => "signup",
            EntryKind::Referral => "referral",
            EntryKind::Adjust => "adjust",
            EntryKind::Redeem => "redeem",
            EntryKind::Expire => "expire",
        }
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub ts: Micros,
    pub kind: EntryKind,
    /// Points added (> 0) or taken (< 0); 0 for a rejected row.
    pub points: f64,
    /// The balance after the entry.
    pub balance: f64,
    /// When the points of an entry that adds a lot expire.
    pub expires_at: Option<NaiveDate>,
    pub source_id: Option<&'a str>,
    /// Why the row was rejected (it changed nothing).
    pub rejected: Option<String>,
    /// A remark on an accepted row (points a return could not recover).
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
struct Lot<'a> {
    points: f64,
    expires: Option<NaiveDate>,
    /// The order that earned it.
    order: Option<&'a str>,
}

/// The ledger of one customer's `inputs` up to `as_of` (later inputs are
/// left out).
pub fn ledger<'a>(rules: &Rules, inputs: Vec<Input<'a>>, as_of: Micros) -> Vec<Entry<'a>> {
    run(rules, inputs, as_of).entries
}

/// A customer's ledger and the lots still open at `as_of`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<'a> {
    pub entries: Vec<Entry<'a>>,
    /// Open lots, oldest first: (points left, expiry day).
    pub lots: Vec<(f64, Option<NaiveDate>)>,
}

/// [`ledger`] with the lots left open at `as_of`.
pub fn run<'a>(rules: &Rules, mut inputs: Vec<Input<'a>>, as_of: Micros) -> Outcome<'a> {
    inputs.retain(|i| i.ts() <= as_of);
    // A customer's rows mostly arrive in time order: check before sorting.
    // Equal keys are equal inputs (every field is in the key), so an
    // unstable sort gives the one order.
    if !inputs.is_sorted_by(|a, b| a.sort_key() <= b.sort_key()) {
        inputs.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    }
    let n = inputs.len();
    let mut book = Book {
        rules,
        lots: std::collections::VecDeque::with_capacity(n),
        balance: 0.0,
        // Per order: (points earned not yet taken back, multiplier day).
        orders: HashMap::with_capacity(n),
        out: Vec::with_capacity(n + n / 2),
    };
    for input in merge_order_lines(inputs) {
        book.expire_until(day_of(input.ts()));
        book.apply(input);
    }
    book.expire_until(day_of(as_of));
    Outcome {
        lots: book.lots.iter().map(|l| (l.points, l.expires)).collect(),
        entries: book.out,
    }
}

/// Sum adjacent lines of one order (sorted inputs), so that an order's
/// points are computed and rounded once.
fn merge_order_lines(inputs: Vec<Input<'_>>) -> Vec<Input<'_>> {
    let mut out: Vec<Input> = Vec::with_capacity(inputs.len());
    for input in inputs {
        if let Some(last) = out.last_mut() {
            if last.same_order(&input) {
                if let (Input::Purchase { amount, .. }, Input::Purchase { amount: a2, .. }) =
                    (last, &input)
                {
                    *amount += a2;
                }
                continue;
            }
        }
        out.push(input);
    }
    out
}

struct Book<'r, 'a> {
    rules: &'r Rules,
    lots: std::collections::VecDeque<Lot<'a>>,
    balance: f64,
    orders: HashMap<&'a str, (f64, NaiveDate)>,
    out: Vec<Entry<'a>>,
}

impl<'a> Book<'_, 'a> {
    fn entry(
        &mut self,
        ts: Micros,
        kind: EntryKind,
        points: f64,
        source: Option<&'a str>,
    ) -> &mut Entry<'a> {
        self.out.push(Entry {
            ts,
            kind,
            points,
            balance: self.balance,
            expires_at: None,
            source_id: source,
            rejected: None,
            note: None,
        });
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    fn reject(&mut self, ts: Micros, kind: EntryKind, source: Option<&'a str>, why: String) {
        self.entry(ts, kind, 0.0, source).rejected = Some(why);
    }

    /// Expire every lot whose day has come by `day`: one entry per expiry day.
    fn expire_until(&mut self, day: NaiveDate) {
        while let Some(front) = self.lots.front() {
            let Some(expires) = front.expires.filter(|e| *e <= day) else {
                break;
            };
            // Lots are in earn order, so expiry days never decrease along them.
            let mut gone = 0.0;
            while let Some(l) = self.lots.front() {
                if l.expires != Some(expires) {
                    break;
                }
                gone += l.points;
                self.lots.pop_front();
            }
            if gone > 0.0 {
                self.balance -= gone;
                self.entry(start_of(expires), EntryKind::Expire, -gone, None);
            }
        }
    }

    fn add_lot(
        &mut self,
        ts: Micros,
        kind: EntryKind,
        points: f64,
        order: Option<&'a str>,
        source: Option<&'a str>,
    ) {
        let expires = self.rules.expires(day_of(ts));
        self.lots.push_back(Lot {
            points,
            expires,
            order,
        });
        self.balance += points;
        self.entry(ts, kind, points, source).expires_at = expires;
    }

    /// Take `points` (<= balance) from the oldest lots.
    fn take_oldest(&mut self, mut points: f64) {
        while points > 0.0 {
            let Some(l) = self.lots.front_mut() else {
                break;
            };
            let t = l.points.min(points);
            l.points -= t;
            points -= t;
            self.balance -= t;
            if l.points <= 0.0 {
                self.lots.pop_front();
            }
        }
    }

    /// Take `points` (<= balance) from `order`'s lot first, then the newest.
    fn take_for_return(&mut self, mut points: f64, order: Option<&str>) {
        if let Some(o) = order {
            if let Some(l) = self.lots.iter_mut().rev().find(|l| l.order == Some(o)) {
                let t = l.points.min(points);
                l.points -= t;
                points -= t;
                self.balance -= t;
            }
        }
        while points > 0.0 {
            let Some(l) = self.lots.iter_mut().rev().find(|l| l.points > 0.0) else {
                break;
            };
            let t = l.points.min(points);
            l.points -= t;
            points -= t;
            self.balance -= t;
        }
        self.lots.retain(|l| l.points > 0.0);
    }

    fn apply(&mut self, input: Input<'a>) {
        let rules = self.rules;
        match input {
            Input::Purchase {
                ts,
                amount,
                order_id,
                category,
            } => {
                let day = day_of(ts);
                if !amount.is_finite() {
                    let why = if amount.is_nan() {
                        "amount is NULL or NaN".to_string()
                    } else {
                        format!("amount must be finite, got {amount}")
                    };
                    self.reject(ts, EntryKind::Earn, order_id, why);
                    return;
                }
                if amount >= 0.0 {
                    let points = rules.earn(amount, day, category);
                    if let Some(o) = &order_id {
                        let e = self.orders.entry(o).or_insert((0.0, day));
                        e.0 += points;
                    }
                    if points > 0.0 {
                        self.add_lot(ts, EntryKind::Earn, points, order_id, order_id);
                    }
                    return;
                }
                // A return: at the order's multiplier, at most what it earned.
                let known = order_id.and_then(|o| self.orders.get(o)).copied();
                let mut want = rules.earn(-amount, known.map_or(day, |k| k.1), category);
                if let Some((left, _)) = known {
                    want = want.min(left);
                }
                let take = want.min(self.balance);
                if let (Some(o), Some(_)) = (&order_id, known) {
                    if let Some(e) = self.orders.get_mut(o) {
                        e.0 -= want;
                    }
                }
                if want <= 0.0 {
                    return;
                }
                self.take_for_return(take, order_id);
                let e = self.entry(ts, EntryKind::Return, -take, order_id);
                if take < want {
                    e.note = Some(format!(
                        "{} points not recovered (already redeemed or expired)",
                        want - take
                    ));
                }
            }
            Input::Event {
                ts,
                kind,
                points,
                source_id,
            } => match kind {
                EventKind::Signup | EventKind::Referral => {
                    let (entry, bonus) = if kind == EventKind::Signup {
                        (EntryKind::Signup, rules.signup_bonus)
                    } else {
                        (EntryKind::Referral, rules.referral_bonus)
                    };
                    let p = points.unwrap_or(bonus);
                    if !(p.is_finite() && p >= 0.0) {
                        self.reject(ts, entry, source_id, format!("points {p} must be >= 0"));
                    } else if p > 0.0 {
                        self.add_lot(ts, entry, p, None, source_id);
                    }
                }
                EventKind::Adjust => match points {
                    Some(p) if p.is_finite() && p > 0.0 => {
                        self.add_lot(ts, EntryKind::Adjust, p, None, source_id)
                    }
                    Some(p) if p.is_finite() && p < 0.0 && -p <= self.balance => {
                        self.take_oldest(-p);
                        self.entry(ts, EntryKind::Adjust, p, source_id);
                    }
                    Some(p) if p.is_finite() && p < 0.0 => {
                        let why =
                            format!("adjustment of {p} exceeds the balance of {}", self.balance);
                        self.reject(ts, EntryKind::Adjust, source_id, why)
                    }
                    other => self.reject(
                        ts,
                        EntryKind::Adjust,
                        source_id,
                        format!("an adjustment needs points other than 0, got {other:?}"),
                    ),
                },
                EventKind::Redeem => {
                    let why = match points {
                        None => Some("a redemption needs points".to_string()),
                        Some(p) if !(p.is_finite() && p > 0.0) => {
                            Some(format!("redemption of {p} points: must be > 0"))
                        }
                        Some(p) if p < rules.min_redemption => Some(format!(
                            "redemption of {p} points is below min_redemption {}",
                            rules.min_redemption
                        )),
                        Some(p) if p > self.balance => Some(format!(
                            "redemption of {p} points exceeds the balance of {}",
                            self.balance
                        )),
                        Some(_) => None,
                    };
                    match (why, points) {
                        (Some(why), _) => self.reject(ts, EntryKind::Redeem, source_id, why),
                        (None, Some(p)) => {
                            self.take_oldest(p);
                            self.entry(ts, EntryKind::Redeem, -p, source_id);
                        }
                        (None, None) => {}
                    }
                }
            },
        }
    }
}

/// A customer's totals from their ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Balance {
    /// Points added: earned, signup, referral and positive adjustments,
    /// less returns.
    pub earned: f64,
    /// Points redeemed (and taken by negative adjustments).
    pub redeemed: f64,
    pub expired: f64,
    pub balance: f64,
    /// Points of open lots that expire within 30 / 90 days after `as_of`.
    pub expiring_30: f64,
    pub expiring_90: f64,
    /// The latest accepted entry other than an expiry.
    pub last_activity: Option<Micros>,
    /// Rejected rows.
    pub rejected: u64,
}

/// Sum a ledger ([`Balance::expiring_30`] and `_90` stay 0: see
/// [`balance_at`]).
pub fn balance(entries: &[Entry]) -> Balance {
    let mut b = Balance {
        rejected: entries.iter().filter(|e| e.rejected.is_some()).count() as u64,
        ..Balance::default()
    };
    for e in entries.iter().filter(|e| e.rejected.is_none()) {
        match e.kind {
            EntryKind::Expire => b.expired -= e.points,
            EntryKind::Redeem => b.redeemed -= e.points,
            EntryKind::Adjust if e.points < 0.0 => b.redeemed -= e.points,
            _ => b.earned += e.points,
        }
        if e.kind != EntryKind::Expire {
            b.last_activity = Some(b.last_activity.map_or(e.ts, |t: Micros| t.max(e.ts)));
        }
        b.balance = e.balance;
    }
    b
}

/// The totals of an [`Outcome`] at `as_of`, with the points expiring in the
/// next 30 and 90 days (expiry day after `as_of` and at most 30 / 90 days
/// later).
pub fn balance_at(outcome: &Outcome, as_of: Micros) -> Balance {
    let mut b = balance(&outcome.entries);
    let today = day_of(as_of);
    for (points, expires) in &outcome.lots {
        let Some(days) = expires.map(|e| (e - today).num_days()) else {
            continue;
        };
        if days > 0 && days <= 30 {
            b.expiring_30 += points;
        }
        if days > 0 && days <= 90 {
            b.expiring_90 += points;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(day: &str) -> Micros {
        start_of(day.parse().unwrap()) + 12 * 3_600_000_000
    }
    fn buy<'a>(day: &str, amount: f64, order: &'a str) -> Input<'a> {
        Input::Purchase {
            ts: ts(day),
            amount,
            order_id: Some(order),
            category: None,
        }
    }
    fn event(day: &str, kind: EventKind, points: Option<f64>) -> Input<'static> {
        Input::Event {
            ts: ts(day),
            kind,
            points,
            source_id: None,
        }
    }
    fn rules() -> Rules {
        Rules::parse(
            r#"{"earn_rate": 1, "min_redemption": 50, "expiry_months": 12,
                "bonus_periods": [{"from": "2011-12-01", "to": "2011-12-31", "multiplier": 2}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn earn_redeem_expire_fifo() {
        let l = ledger(
            &rules(),
            vec![
                buy("2011-01-10", 100.0, "A"),
                buy("2011-03-10", 40.0, "B"),
                event("2011-04-01", EventKind::Redeem, Some(120.0)),
                event("2011-05-01", EventKind::Redeem, Some(30.0)),
            ],
            ts("2012-06-30"),
        );
        let kinds: Vec<_> = l
            .iter()
            .map(|e| (e.kind.name(), e.points, e.balance))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("earn", 100.0, 100.0),
                ("earn", 40.0, 140.0),
                ("redeem", -120.0, 20.0),
                ("redeem", 0.0, 20.0),
                // Lot A is used up; B's 20 left expire on 2012-03-10.
                ("expire", -20.0, 0.0),
            ]
        );
        assert!(l[3]
            .rejected
            .as_deref()
            .unwrap()
            .contains("below min_redemption"));
        assert_eq!(day_of(l[4].ts), "2012-03-10".parse::<NaiveDate>().unwrap());
    }

    #[test]
    fn expiry_on_the_boundary_day_comes_before_a_redemption() {
        let l = ledger(
            &rules(),
            vec![
                buy("2011-01-10", 100.0, "A"),
                event("2012-01-10", EventKind::Redeem, Some(60.0)),
            ],
            ts("2012-01-10"),
        );
        assert_eq!(l[1].kind, EntryKind::Expire);
        assert!(l[2]
            .rejected
            .as_deref()
            .unwrap()
            .contains("exceeds the balance of 0"));
    }

    #[test]
    fn a_return_after_a_redemption_recovers_what_is_left() {
        let l = ledger(
            &rules(),
            vec![
                buy("2011-12-05", 100.0, "A"), // double points: 200
                event("2011-12-06", EventKind::Redeem, Some(150.0)),
                buy("2011-12-07", -100.0, "A"),
            ],
            ts("2011-12-31"),
        );
        let last = l.last().unwrap();
        assert_eq!(
            (last.kind, last.points, last.balance),
            (EntryKind::Return, -50.0, 0.0)
        );
        assert_eq!(
            last.note.as_deref(),
            Some("150 points not recovered (already redeemed or expired)")
        );
        let b = balance(&l);
        assert_eq!(
            (b.earned, b.redeemed, b.expired, b.balance),
            (150.0, 150.0, 0.0, 0.0)
        );
    }
}
