//! `points_ledger_agg(ts, amount, order_id, category, kind, points, rules,
//! as_of)` and `points_balance_agg(...)` (same arguments): the aggregates
//! behind the `points_ledger` and `points_balance` table functions
//! ([`super::table_sql`]), grouped by customer.
//!
//! Each row is a purchase (`kind` NULL: `amount` > 0 earns, < 0 is a return)
//! or an event (`kind` one of `signup`, `referral`, `adjust`, `redeem`, with
//! `points`; `order_id` is then the event's source id). `rules` is the rule
//! set ([`super::rules`]) and `as_of` the last day of the ledger (a constant
//! DATE, TIMESTAMP or 'YYYY-MM-DD'): rows after that day are left out,
//! points whose expiry day has come by then are expired.
//!
//! * `points_ledger_agg` → LIST<STRUCT{ts, kind, points, balance, expires_at,
//!   source_id, rejected, note}>, the customer's ledger in order
//!   ([`super::ledger`]); `rejected` is the reason of a row that changed
//!   nothing (a redemption beyond the balance), `note` a remark (points a
//!   return could not recover).
//! * `points_balance_agg` → STRUCT{earned, redeemed, expired, balance,
//!   expiring_30, expiring_90, last_activity, rejected}.
//!
//! Rows with a NULL `ts` are left out. Every row of a group is held until
//! the group is evaluated (a ledger needs them all, in time order): about
//! 48 bytes per row plus its ids' text, counted in the accumulator's size,
//! which DataFusion reserves from the session's memory pool.
//!
//! ```sql
//! SELECT customer_id, points_balance_agg(ts, amount, order_id, NULL, NULL, NULL,
//!        '{"earn_rate": 1}', DATE '2011-12-09')['balance'] AS points
//! FROM transactions GROUP BY customer_id;
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Builder, Float64Array, Float64Builder,
    Int64Builder, ListArray, ListBuilder, StringArray, StringBuilder, StructArray, StructBuilder,
    TimestampMicrosecondBuilder, UInt8Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    UInt8Type,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::ledger::{balance_at, day_of, days_since_epoch, run, EventKind, Input, Micros, DAY_US};
use super::rules::Rules;
use super::tiers::{history, Line};
use crate::constant_args::{constant, constant_date, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::groups::kept;

/// Which aggregate: the ledger's rows, or the customer's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Ledger,
    Balance,
    /// `tier_history_agg(ts, amount, order_id, rules, start, end)`.
    Tiers,
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Output::Ledger => "points_ledger_agg",
            Output::Balance => "points_balance_agg",
            Output::Tiers => "tier_history_agg",
        }
    }
    fn arguments(self) -> &'static [&'static str] {
        match self {
            Output::Tiers => &["ts", "amount", "order_id", "rules", "start", "end"],
            _ => &[
                "ts", "amount", "order_id", "category", "kind", "points", "rules", "as_of",
            ],
        }
    }
}

pub fn entries() -> Vec<FunctionEntry> {
    let make = |output: Output| {
        Registration::Aggregate(Arc::new(AggregateUDF::from(PointsAgg {
            output,
            signature: Signature::user_defined(Volatility::Immutable),
        })))
    };
    vec![
        FunctionEntry {
            name: Output::Ledger.name(),
            kind: FunctionKind::Aggregate,
            signature: "points_ledger_agg(ts, amount, order_id, category, kind, points, rules, as_of) -> LIST<STRUCT(ts, kind, points, balance, expires_at, source_id, rejected, note)>",
            description: "A customer's points ledger under a loyalty rule set (JSON): purchases earn (kind NULL), returns take back, events signup/referral/adjust/redeem; FIFO expiry; redemptions beyond the balance are rejected rows with a reason. Grouped by customer; points_ledger is the table form",
            example: "SELECT list_length(points_ledger_agg(ts, amount, NULL, NULL, NULL, NULL, '{\"earn_rate\": 1}', '2024-12-31')) FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 20.0), (TIMESTAMP '2024-02-01 10:00:00', 5.0)) AS t(ts, amount); -- 2",
            registration: make(Output::Ledger),
        },
        FunctionEntry {
            name: Output::Balance.name(),
            kind: FunctionKind::Aggregate,
            signature: "points_balance_agg(ts, amount, order_id, category, kind, points, rules, as_of) -> STRUCT(earned, redeemed, expired, balance, expiring_30, expiring_90, last_activity, rejected)",
            description: "A customer's points totals at as_of under a loyalty rule set: earned (net of returns), redeemed, expired, balance, points expiring within 30 and 90 days, last activity, rejected rows. points_balance is the table form",
            example: "SELECT points_balance_agg(ts, amount, NULL, NULL, NULL, NULL, '{\"earn_rate\": 1}', '2024-12-31')['balance'] FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 20.5), (TIMESTAMP '2024-02-01 10:00:00', 5.0)) AS t(ts, amount); -- 25.0",
            registration: make(Output::Balance),
        },
        FunctionEntry {
            name: Output::Tiers.name(),
            kind: FunctionKind::Aggregate,
            signature: "tier_history_agg(ts, amount, order_id, rules, start, end) -> LIST<STRUCT(tier, valid_from, valid_to, reason)>",
            description: "A member's loyalty tiers over time under the rules' tiers (basis amount/orders/points over a rolling or calendar-year window, grace days before a downgrade), from start (NULL: the first purchase) to end; valid_to is the last day held, NULL while held at end. tier_history is the table form",
            example: "SELECT tier_history_agg(ts, amount, NULL, '{\"earn_rate\": 1, \"tiers\": {\"basis\": \"amount\", \"window\": \"rolling_12_months\", \"levels\": [{\"name\": \"Bronze\", \"threshold\": 0}, {\"name\": \"Silver\", \"threshold\": 500}]}}', NULL, '2024-12-31')[2]['tier'] FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 200.0), (TIMESTAMP '2024-03-01 10:00:00', 400.0)) AS t(ts, amount); -- Silver",
            registration: make(Output::Tiers),
        },
    ]
}

/// The fields of one tier interval.
pub fn tier_fields() -> Fields {
    Fields::from(vec![
        Field::new("tier", DataType::Utf8, true),
        Field::new("valid_from", DataType::Date32, true),
        Field::new("valid_to", DataType::Date32, true),
        Field::new("reason", DataType::Utf8, true),
    ])
}

/// The fields of one ledger row.
pub fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("kind", DataType::Utf8, true),
        Field::new("points", DataType::Float64, true),
        Field::new("balance", DataType::Float64, true),
        Field::new("expires_at", DataType::Date32, true),
        Field::new("source_id", DataType::Utf8, true),
        Field::new("rejected", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
    ])
}

/// The fields of a customer's totals.
pub fn balance_fields() -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        f("earned"),
        f("redeemed"),
        f("expired"),
        f("balance"),
        f("expiring_30"),
        f("expiring_90"),
        Field::new(
            "last_activity",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("rejected", DataType::Int64, true),
    ])
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(fields),
        true,
    )))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PointsAgg {
    output: Output,
    signature: Signature,
}

fn micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// A text argument (ids, kinds) as Utf8; NULL stays NULL.
fn text(name: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Null | DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            Ok(DataType::Utf8)
        }
        t if t.is_integer() => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if matches!(v.as_ref(), DataType::Utf8 | DataType::Utf8View) => {
            Ok(DataType::Utf8)
        }
        other => Err(UdfError::argument(
            name,
            argument,
            format!("must be text or an integer id, got {other}"),
        )
        .into()),
    }
}

fn number(name: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    if t.is_numeric() || t == &DataType::Null {
        Ok(DataType::Float64)
    } else {
        Err(UdfError::argument(name, argument, format!("must be a number, got {t}")).into())
    }
}

impl AggregateUDFImpl for PointsAgg {
    fn name(&self) -> &str {
        self.output.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.output.name();
        let arguments = self.output.arguments();
        if arg_types.len() != arguments.len() {
            return Err(UdfError::arity(name, arguments.join(", "), arg_types.len()).into());
        }
        let ts = match &arg_types[0] {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null => {
                micros()
            }
            other => {
                return Err(UdfError::argument(
                    name,
                    "ts",
                    format!("must be a TIMESTAMP or DATE, got {other}"),
                )
                .into())
            }
        };
        if self.output == Output::Tiers {
            return Ok(vec![
                ts,
                number(name, "amount", &arg_types[1])?,
                text(name, "order_id", &arg_types[2])?,
                arg_types[3].clone(),
                arg_types[4].clone(),
                arg_types[5].clone(),
            ]);
        }
        Ok(vec![
            ts,
            number(name, "amount", &arg_types[1])?,
            text(name, "order_id", &arg_types[2])?,
            text(name, "category", &arg_types[3])?,
            text(name, "kind", &arg_types[4])?,
            number(name, "points", &arg_types[5])?,
            arg_types[6].clone(),
            arg_types[7].clone(),
        ])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Ledger => list_of(entry_fields()),
            Output::Balance => DataType::Struct(balance_fields()),
            Output::Tiers => list_of(tier_fields()),
        })
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(self.groups(&args)?)))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(&args)?))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_types()
            .into_iter()
            .zip(STATE)
            .map(|(t, n)| {
                Arc::new(Field::new(
                    format_state_name(args.name, n),
                    DataType::List(Arc::new(Field::new_list_field(t, true))),
                    true,
                ))
            })
            .collect())
    }
}

impl PointsAgg {
    fn groups(&self, args: &AccumulatorArgs) -> Result<LedgerGroups> {
        let name = self.output.name();
        let tiers = self.output == Output::Tiers;
        let (r, a) = if tiers { (3, 5) } else { (6, 7) };
        let end_name = if tiers { "end" } else { "as_of" };
        let rules_text = constant_text(name, "rules", &constant(name, "rules", args.exprs, r)?)?;
        let rules = Rules::parse(&rules_text).map_err(|m| UdfError::argument(name, "rules", m))?;
        if tiers && rules.tiers.is_none() {
            return Err(UdfError::argument(
                name,
                "rules",
                "rules.tiers is missing: give the tier levels, basis and window",
            )
            .into());
        }
        let as_of_day = constant_date(name, end_name, &constant(name, end_name, args.exprs, a)?)?;
        let start = if tiers {
            match constant(name, "start", args.exprs, 4)? {
                v if v.is_null() => None,
                v => Some(day_of(
                    i64::from(constant_date(name, "start", &v)?) * DAY_US,
                )),
            }
        } else {
            None
        };
        // The end of the day `as_of`.
        let as_of = (i64::from(as_of_day) + 1) * DAY_US - 1;
        Ok(LedgerGroups {
            output: self.output,
            keep_category: !rules.category_multipliers.is_empty(),
            rules,
            as_of,
            start,
            groups: Vec::new(),
            held: 0,
        })
    }
}

/// The state columns (one list per input column, kinds as codes).
const STATE: [&str; 6] = ["ts", "amount", "order_id", "category", "kind", "points"];

fn state_types() -> Vec<DataType> {
    vec![
        DataType::Int64,
        DataType::Float64,
        DataType::Utf8,
        DataType::Utf8,
        DataType::UInt8,
        DataType::Float64,
    ]
}

/// A row's kind: a purchase, or an event.
const PURCHASE: u8 = 0;

fn kind_code(name: &'static str, kind: Option<&str>) -> Result<u8> {
    let Some(k) = kind else {
        return Ok(PURCHASE);
    };
    match EventKind::parse(k) {
        Some(EventKind::Signup) => Ok(1),
        Some(EventKind::Referral) => Ok(2),
        Some(EventKind::Adjust) => Ok(3),
        Some(EventKind::Redeem) => Ok(4),
        None => Err(UdfError::argument(
            name,
            "kind",
            format!("'{k}' is not an event kind: use redeem, referral, signup or adjust (NULL: a purchase)"),
        )
        .into()),
    }
}

fn event_kind(code: u8) -> Option<EventKind> {
    match code {
        1 => Some(EventKind::Signup),
        2 => Some(EventKind::Referral),
        3 => Some(EventKind::Adjust),
        4 => Some(EventKind::Redeem),
        _ => None,
    }
}

/// No text.
const NONE: (u32, u32) = (u32::MAX, 0);

/// One held row; its ids are slices of the group's text.
#[derive(Debug, Clone, Copy)]
struct Row {
    ts: Micros,
    /// NaN for NULL.
    amount: f64,
    /// NaN for NULL.
    points: f64,
    order: (u32, u32),
    category: (u32, u32),
    kind: u8,
}

#[derive(Debug, Default)]
struct Group {
    rows: Vec<Row>,
    text: String,
}

impl Group {
    fn bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>() + self.text.capacity()
    }
    fn put(&mut self, s: Option<&str>) -> (u32, u32) {
        match s {
            None => NONE,
            Some(s) => {
                let start = self.text.len() as u32;
                self.text.push_str(s);
                (start, s.len() as u32)
            }
        }
    }
    fn get(&self, slot: (u32, u32)) -> Option<&str> {
        if slot.0 == u32::MAX {
            return None;
        }
        let (a, n) = (slot.0 as usize, slot.1 as usize);
        self.text.get(a..a + n)
    }
    fn inputs(&self) -> Vec<Input<'_>> {
        self.rows
            .iter()
            .map(|r| match event_kind(r.kind) {
                None => Input::Purchase {
                    ts: r.ts,
                    amount: r.amount,
                    order_id: self.get(r.order),
                    category: self.get(r.category),
                },
                Some(kind) => Input::Event {
                    ts: r.ts,
                    kind,
                    points: (!r.points.is_nan()).then_some(r.points),
                    source_id: self.get(r.order),
                },
            })
            .collect()
    }
}

/// The columns of one batch, as the aggregate reads them (input or state).
struct Columns<'a> {
    ts: Vec<Option<i64>>,
    amount: &'a Float64Array,
    order: &'a StringArray,
    category: Option<&'a StringArray>,
    kinds: Vec<u8>,
    points: Option<&'a Float64Array>,
}

fn opt_f64(a: &Float64Array, i: usize) -> f64 {
    if a.is_valid(i) {
        a.value(i)
    } else {
        f64::NAN
    }
}

fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

impl<'a> Columns<'a> {
    fn of_input(output: Output, values: &'a [ArrayRef]) -> Result<Self> {
        let ts = values[0].as_primitive::<TimestampMicrosecondType>();
        if output == Output::Tiers {
            return Ok(Columns {
                ts: ts.iter().collect(),
                amount: values[1].as_primitive::<Float64Type>(),
                order: values[2].as_string::<i32>(),
                category: None,
                kinds: vec![PURCHASE; ts.len()],
                points: None,
            });
        }
        let name = output.name();
        let kind = values[4].as_string::<i32>();
        let kinds = (0..kind.len())
            .map(|i| kind_code(name, opt_str(kind, i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Columns {
            ts: ts.iter().collect(),
            amount: values[1].as_primitive::<Float64Type>(),
            order: values[2].as_string::<i32>(),
            category: Some(values[3].as_string::<i32>()),
            kinds,
            points: Some(values[5].as_primitive::<Float64Type>()),
        })
    }

    fn row(&self, group: &mut Group, i: usize, keep_category: bool) -> Option<Row> {
        let ts = self.ts[i]?;
        let order = group.put(opt_str(self.order, i));
        let category = if keep_category {
            group.put(self.category.and_then(|c| opt_str(c, i)))
        } else {
            NONE
        };
        Some(Row {
            ts,
            amount: opt_f64(self.amount, i),
            points: self.points.map_or(f64::NAN, |p| opt_f64(p, i)),
            order,
            category,
            kind: self.kinds[i],
        })
    }
}

/// `GROUP BY customer`: every group's rows, evaluated into its ledger.
#[derive(Debug)]
pub struct LedgerGroups {
    output: Output,
    rules: Rules,
    keep_category: bool,
    as_of: Micros,
    /// Where a tier history starts (`None`: each member's first purchase).
    start: Option<chrono::NaiveDate>,
    groups: Vec<Group>,
    /// Bytes held by the groups' rows and text.
    held: usize,
}

impl LedgerGroups {
    fn add(&mut self, g: usize, columns: &Columns, i: usize) {
        let group = &mut self.groups[g];
        let before = group.bytes();
        if let Some(row) = columns.row(group, i, self.keep_category) {
            group.rows.push(row);
        }
        self.held += group.bytes() - before;
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held -= taken.iter().map(Group::bytes).sum::<usize>();
        taken
    }

    fn evaluate_groups(&self, groups: &[Group]) -> Result<ArrayRef> {
        match self.output {
            Output::Ledger => {
                let mut b = ListBuilder::new(StructBuilder::from_fields(entry_fields(), 0))
                    .with_field(Arc::new(Field::new_list_field(
                        DataType::Struct(entry_fields()),
                        true,
                    )));
                for g in groups {
                    let outcome = run(&self.rules, g.inputs(), self.as_of);
                    let s = b.values();
                    for e in &outcome.entries {
                        field::<TimestampMicrosecondBuilder>(s, 0).append_value(e.ts);
                        field::<StringBuilder>(s, 1).append_value(e.kind.name());
                        field::<Float64Builder>(s, 2).append_value(e.points);
                        field::<Float64Builder>(s, 3).append_value(e.balance);
                        field::<Date32Builder>(s, 4)
                            .append_option(e.expires_at.map(days_since_epoch));
                        field::<StringBuilder>(s, 5).append_option(e.source_id);
                        field::<StringBuilder>(s, 6).append_option(e.rejected.as_deref());
                        field::<StringBuilder>(s, 7).append_option(e.note.as_deref());
                        s.append(true);
                    }
                    b.append(true);
                }
                Ok(Arc::new(b.finish()))
            }
            Output::Tiers => {
                let names: Vec<&str> = self
                    .rules
                    .tiers
                    .as_ref()
                    .map(|t| t.levels.iter().map(|l| l.name.as_str()).collect())
                    .unwrap_or_default();
                let end = day_of(self.as_of);
                let mut b =
                    ListBuilder::new(StructBuilder::from_fields(tier_fields(), 0)).with_field(
                        Arc::new(Field::new_list_field(DataType::Struct(tier_fields()), true)),
                    );
                for g in groups {
                    let lines: Vec<Line> = g
                        .rows
                        .iter()
                        .filter(|r| r.kind == PURCHASE)
                        .map(|r| Line {
                            day: day_of(r.ts),
                            amount: r.amount,
                            order_id: g.get(r.order),
                        })
                        .collect();
                    let s = b.values();
                    for iv in history(&self.rules, &lines, self.start, end) {
                        field::<StringBuilder>(s, 0)
                            .append_value(names.get(iv.level).copied().unwrap_or(""));
                        field::<Date32Builder>(s, 1).append_value(days_since_epoch(iv.from));
                        field::<Date32Builder>(s, 2)
                            .append_option(iv.to.map(|t| days_since_epoch(t) - 1));
                        field::<StringBuilder>(s, 3).append_value(iv.reason.name());
                        s.append(true);
                    }
                    b.append(true);
                }
                Ok(Arc::new(b.finish()))
            }
            Output::Balance => {
                let n = groups.len();
                let mut f: Vec<Float64Builder> =
                    (0..6).map(|_| Float64Builder::with_capacity(n)).collect();
                let mut last = TimestampMicrosecondBuilder::with_capacity(n);
                let mut rejected = Int64Builder::with_capacity(n);
                for g in groups {
                    let outcome = run(&self.rules, g.inputs(), self.as_of);
                    let b = balance_at(&outcome, self.as_of);
                    for (builder, v) in f.iter_mut().zip([
                        b.earned,
                        b.redeemed,
                        b.expired,
                        b.balance,
                        b.expiring_30,
                        b.expiring_90,
                    ]) {
                        builder.append_value(v);
                    }
                    last.append_option(b.last_activity);
                    rejected.append_value(b.rejected as i64);
                }
                let mut columns: Vec<ArrayRef> = f
                    .into_iter()
                    .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                    .collect();
                columns.push(Arc::new(last.finish()));
                columns.push(Arc::new(rejected.finish()));
                Ok(Arc::new(StructArray::new(balance_fields(), columns, None)))
            }
        }
    }
}

fn field<T: datafusion::arrow::array::ArrayBuilder>(s: &mut StructBuilder, i: usize) -> &mut T {
    s.field_builder::<T>(i)
        .expect("index and type of a field this module's builders were made with")
}

/// The groups' rows as the state's list columns.
fn state_lists(groups: &[Group]) -> Vec<ArrayRef> {
    let offsets = || OffsetBuffer::from_lengths(groups.iter().map(|g| g.rows.len()));
    let rows = || {
        groups
            .iter()
            .flat_map(|g| g.rows.iter().map(move |r| (g, r)))
    };
    let list = |values: ArrayRef| -> ArrayRef {
        let t = values.data_type().clone();
        Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(t, true)),
            offsets(),
            values,
            None,
        ))
    };
    let ts: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(
        rows().map(|(_, r)| r.ts),
    ));
    let nan_null = |v: f64| (!v.is_nan()).then_some(v);
    let amount: ArrayRef = Arc::new(Float64Array::from_iter(
        rows().map(|(_, r)| nan_null(r.amount)),
    ));
    let order: ArrayRef = Arc::new(StringArray::from_iter(rows().map(|(g, r)| g.get(r.order))));
    let category: ArrayRef = Arc::new(StringArray::from_iter(
        rows().map(|(g, r)| g.get(r.category)),
    ));
    let kind: ArrayRef = Arc::new(UInt8Array::from_iter_values(rows().map(|(_, r)| r.kind)));
    let points: ArrayRef = Arc::new(Float64Array::from_iter(
        rows().map(|(_, r)| nan_null(r.points)),
    ));
    [ts, amount, order, category, kind, points]
        .into_iter()
        .map(list)
        .collect()
}

impl GroupsAccumulator for LedgerGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let columns = Columns::of_input(self.output, values)?;
        for (i, &g) in group_indices.iter().enumerate() {
            if kept(opt_filter, i) {
                self.add(g, &columns, i);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        self.evaluate_groups(&groups)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(state_lists(&self.take(emit_to)))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let lists: Vec<&ListArray> = values.iter().map(|a| a.as_list::<i32>()).collect();
        let flat: Vec<ArrayRef> = lists.iter().map(|l| l.values().clone()).collect();
        let ts = flat[0].as_primitive::<Int64Type>();
        let kinds = flat[4].as_primitive::<UInt8Type>();
        let columns = Columns {
            ts: ts.iter().collect(),
            amount: flat[1].as_primitive::<Float64Type>(),
            order: flat[2].as_string::<i32>(),
            category: Some(flat[3].as_string::<i32>()),
            kinds: kinds.values().to_vec(),
            points: Some(flat[5].as_primitive::<Float64Type>()),
        };
        let offsets = lists[0].value_offsets();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists[0].is_null(row) {
                continue;
            }
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                self.add(g, &columns, i);
            }
        }
        Ok(())
    }

    /// Each row as a group of its own (DataFusion skips partial grouping
    /// when it does not reduce the rows).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let columns = Columns::of_input(self.output, values)?;
        let groups: Vec<Group> = (0..values[0].len())
            .map(|i| {
                let mut g = Group::default();
                if kept(opt_filter, i) {
                    if let Some(row) = columns.row(&mut g, i, self.keep_category) {
                        g.rows.push(row);
                    }
                }
                g
            })
            .collect();
        Ok(state_lists(&groups))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.groups.capacity() * std::mem::size_of::<Group>()
            + self.held
    }
}

/// The aggregate without `GROUP BY` (one group).
#[derive(Debug)]
struct OneGroup(LedgerGroups);

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |a| a.len());
        self.0.update_batch(values, &vec![0; n], None, 1)
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |a| a.len());
        self.0.merge_batch(states, &vec![0; n], 1)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.groups.resize_with(1, Group::default);
        let lists = self.0.state(EmitTo::All)?;
        lists
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.groups.resize_with(1, Group::default);
        let a = self.0.evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&a, 0)
    }
    fn size(&self) -> usize {
        self.0.size()
    }
}
