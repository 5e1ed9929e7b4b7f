//! `points_ledger_lists(ts, amount, order_id, category, kind, points, rules,
//! as_of)`, `points_balance_lists(...)` (same arguments) and
//! `tier_history_lists(ts, amount, order_id, rules, start, end)`: one
//! customer's loyalty ledger, totals or tier history from that customer's
//! rows given as lists of the same rows, as [`crate::rows_agg`] gives them
//! per group (one `array_agg` per column in one GROUP BY works too). The
//! `points_ledger`, `points_balance` and `tier_history` table functions
//! ([`super::table_sql`], [`super::tiers_sql`]) call them per customer.
//!
//! Why lists: a ledger needs all of a customer's rows at once, in time
//! order. Holding rows is `rows_agg`'s job (by reference to the input
//! batches, memory reported to the pool); these functions only read them.
//! On 8.99M lines of 1M customers balances took 2.6 s with our first
//! accumulator, which copied every row into per-customer vectors, and 1.4 s
//! this way (benches/RESULTS.md).
//!
//! Each element is a purchase (`kind` NULL: `amount` > 0 earns, < 0 is a
//! return) or an event (`kind` one of `signup`, `referral`, `adjust`,
//! `redeem`, with `points`; `order_id` is then the event's source id). A
//! list argument may be NULL (no such column: no order ids, no categories,
//! no events). `rules` is the rule set ([`super::rules`]) and `as_of` the
//! ledger's last day (a constant DATE, TIMESTAMP or 'YYYY-MM-DD'): elements
//! after that day are left out, points whose expiry day has come by then
//! are expired. Elements with a NULL `ts` are left out.
//!
//! * `points_ledger_lists` → LIST<STRUCT{ts, kind, points, balance,
//!   expires_at, source_id, rejected, note}>, the customer's ledger in order
//!   ([`super::ledger`]); `rejected` is the reason of a row that changed
//!   nothing (a redemption beyond the balance), `note` a remark (points a
//!   return could not recover).
//! * `points_balance_lists` → STRUCT{earned, redeemed, expired, balance,
//!   expiring_30, expiring_90, last_activity, rejected}.
//! * `tier_history_lists` → LIST<STRUCT{tier, valid_from, valid_to, reason}>.
//!
//! ```sql
//! SELECT customer_id,
//!        points_balance_lists(r['ts'], r['amount'], r['order_id'], NULL, NULL, NULL,
//!                             '{"earn_rate": 1}', DATE '2011-12-09')['balance'] AS points
//! FROM (SELECT customer_id, rows_agg(ts, amount, order_id) AS r
//!       FROM transactions GROUP BY customer_id);
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Date32Builder, Float64Array, Float64Builder,
    Int64Builder, ListArray, ListBuilder, StringArray, StringBuilder, StringViewArray, StructArray,
    StructBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, Fields, Float64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::ledger::{balance_at, day_of, days_since_epoch, run, EventKind, Input, Micros, DAY_US};
use super::rules::Rules;
use super::rules_sql::rules_value;
use super::tiers::{history, Line};
use crate::constant_args::{columnar_constant, constant_date};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};

/// Which function: the ledger's rows, the customer's totals, or tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Ledger,
    Balance,
    Tiers,
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Output::Ledger => "points_ledger_lists",
            Output::Balance => "points_balance_lists",
            Output::Tiers => "tier_history_lists",
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
    /// How many leading arguments are lists.
    fn lists(self) -> usize {
        match self {
            Output::Tiers => 3,
            _ => 6,
        }
    }
}

pub fn entries() -> Vec<FunctionEntry> {
    let make = |output: Output| {
        Registration::Scalar(Arc::new(ScalarUDF::from(ListsFn {
            output,
            signature: Signature::user_defined(Volatility::Immutable),
        })))
    };
    vec![
        FunctionEntry {
            name: Output::Ledger.name(),
            kind: FunctionKind::Scalar,
            signature: "points_ledger_lists(ts, amount, order_id, category, kind, points, rules, as_of) -> LIST<STRUCT(ts, kind, points, balance, expires_at, source_id, rejected, note)>",
            description: "A customer's points ledger under a loyalty rule set (JSON) from the customer's rows as lists (rows_agg's, or one array_agg per column; NULL for a column not given): purchases earn (kind NULL), returns take back, events signup/referral/adjust/redeem; FIFO expiry; redemptions beyond the balance are rejected rows with a reason. points_ledger is the table form",
            example: "SELECT list_length(points_ledger_lists(array_agg(ts), array_agg(amount), NULL, NULL, NULL, NULL, '{\"earn_rate\": 1}', '2024-12-31')) FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 20.0), (TIMESTAMP '2024-02-01 10:00:00', 5.0)) AS t(ts, amount); -- 2",
            registration: make(Output::Ledger),
        },
        FunctionEntry {
            name: Output::Balance.name(),
            kind: FunctionKind::Scalar,
            signature: "points_balance_lists(ts, amount, order_id, category, kind, points, rules, as_of) -> STRUCT(earned, redeemed, expired, balance, expiring_30, expiring_90, last_activity, rejected)",
            description: "A customer's points totals at as_of under a loyalty rule set, from the customer's rows as lists (as points_ledger_lists): earned (net of returns), redeemed, expired, balance, points expiring within 30 and 90 days, last activity, rejected rows. points_balance is the table form",
            example: "SELECT points_balance_lists(array_agg(ts), array_agg(amount), NULL, NULL, NULL, NULL, '{\"earn_rate\": 1}', '2024-12-31')['balance'] FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 20.5), (TIMESTAMP '2024-02-01 10:00:00', 5.0)) AS t(ts, amount); -- 25.0",
            registration: make(Output::Balance),
        },
        FunctionEntry {
            name: Output::Tiers.name(),
            kind: FunctionKind::Scalar,
            signature: "tier_history_lists(ts, amount, order_id, rules, start, end) -> LIST<STRUCT(tier, valid_from, valid_to, reason)>",
            description: "A member's loyalty tiers over time from the member's purchases as lists (rows_agg's, or one array_agg per column; order_id may be NULL) under the rules' tiers (basis amount/orders/points over a rolling or calendar-year window, grace days before a downgrade), from start (NULL: the first purchase) to end; valid_to is the last day held, NULL while held at end. tier_history is the table form",
            example: "SELECT tier_history_lists(array_agg(ts), array_agg(amount), NULL, '{\"earn_rate\": 1, \"tiers\": {\"basis\": \"amount\", \"window\": \"rolling_12_months\", \"levels\": [{\"name\": \"Bronze\", \"threshold\": 0}, {\"name\": \"Silver\", \"threshold\": 500}]}}', NULL, '2024-12-31')[2]['tier'] FROM (VALUES (TIMESTAMP '2024-01-05 10:00:00', 200.0), (TIMESTAMP '2024-03-01 10:00:00', 400.0)) AS t(ts, amount); -- Silver",
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
pub struct ListsFn {
    output: Output,
    signature: Signature,
}

fn micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// The element type a list argument is read as (None: as it is), or what
/// it should be.
///
/// Lists are read as they come wherever possible: a cast of a list after
/// `array_agg` casts the whole values array behind every batch sliced from
/// the aggregate's output, which cost more than the ledgers themselves.
fn element(argument: &str, t: &DataType) -> std::result::Result<Option<DataType>, &'static str> {
    match argument {
        "ts" => match t {
            DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(None),
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null => {
                Ok(Some(micros()))
            }
            _ => Err("TIMESTAMP or DATE values"),
        },
        "amount" | "points" => match t {
            DataType::Float64 => Ok(None),
            t if t.is_numeric() || t == &DataType::Null => Ok(Some(DataType::Float64)),
            _ => Err("numbers"),
        },
        // Ids, categories and kinds: text, or integer ids read as text.
        _ => match t {
            DataType::Utf8 | DataType::Utf8View => Ok(None),
            DataType::Null | DataType::LargeUtf8 => Ok(Some(DataType::Utf8)),
            DataType::Dictionary(_, v)
                if matches!(v.as_ref(), DataType::Utf8 | DataType::Utf8View) =>
            {
                Ok(Some(DataType::Utf8))
            }
            t if t.is_integer() => Ok(Some(DataType::Utf8)),
            _ => Err("text or integer ids"),
        },
    }
}

/// A list argument's type: a list of its element type, or NULL (not given).
fn list_argument(name: &'static str, argument: &str, t: &DataType) -> Result<DataType> {
    let inner = match t {
        DataType::Null => return Ok(DataType::Null),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.data_type(),
        other => {
            return Err(UdfError::argument(
                name,
                argument,
                format!("must be the customer's values as a list (array_agg({argument})) or NULL, got {other}"),
            )
            .into())
        }
    };
    match element(argument, inner) {
        Ok(None) if matches!(t, DataType::List(_)) => Ok(t.clone()),
        Ok(None) => Ok(DataType::List(Arc::new(Field::new_list_field(
            inner.clone(),
            true,
        )))),
        Ok(Some(e)) => Ok(DataType::List(Arc::new(Field::new_list_field(e, true)))),
        Err(what) => Err(UdfError::argument(
            name,
            argument,
            format!("must be a list of {what}, got a list of {inner}"),
        )
        .into()),
    }
}

/// A constant argument's value (a dictionary's value; an array whose rows
/// all hold one value counts as that value; NULL for an empty batch).
fn constant_of(name: &'static str, argument: &str, v: &ColumnarValue) -> Result<ScalarValue> {
    let value = columnar_constant(
        name,
        argument,
        v,
        "must be a constant (the same on every row)",
    )?;
    Ok(match value {
        Some(ScalarValue::Dictionary(_, inner)) => *inner,
        Some(v) => v,
        None => ScalarValue::Null,
    })
}

impl ScalarUDFImpl for ListsFn {
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
        arguments
            .iter()
            .zip(arg_types)
            .enumerate()
            .map(|(i, (argument, t))| {
                if i < self.output.lists() {
                    list_argument(name, argument, t)
                } else {
                    Ok(t.clone())
                }
            })
            .collect()
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Ledger => list_of(entry_fields()),
            Output::Balance => DataType::Struct(balance_fields()),
            Output::Tiers => list_of(tier_fields()),
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let setup = self.setup(&args.args)?;
        let n = args.number_rows;
        // NULL (not given) may come as a scalar or, through datafusion-ffi,
        // as an array of NULLs.
        let arrays = args.args[..self.output.lists()]
            .iter()
            .map(|v| match v {
                ColumnarValue::Scalar(s) if s.is_null() => Ok(None),
                v => v
                    .to_array(n)
                    .map(|a| (a.logical_null_count() < a.len()).then_some(a)),
            })
            .collect::<Result<Vec<Option<ArrayRef>>>>()?;
        if arrays[0].is_none() {
            // No times on any row: no ledger.
            return Ok(ColumnarValue::Array(new_null_array(
                args.return_field.data_type(),
                n,
            )));
        }
        let rows = Rows::new(self.output, &arrays)?;
        Ok(ColumnarValue::Array(setup.evaluate(&rows, n)?))
    }
}

/// The constants of a call.
struct Setup {
    output: Output,
    rules: Rules,
    /// The last microsecond of the day `as_of` (`end` for tiers).
    as_of: Micros,
    /// Where a tier history starts (`None`: each member's first purchase).
    start: Option<chrono::NaiveDate>,
}

impl ListsFn {
    fn setup(&self, args: &[ColumnarValue]) -> Result<Setup> {
        let name = self.output.name();
        let tiers = self.output == Output::Tiers;
        let (r, a) = if tiers { (3, 5) } else { (6, 7) };
        let end_name = if tiers { "end" } else { "as_of" };
        let rules_text = rules_value(name, &args[r])?;
        let rules = Rules::parse(&rules_text).map_err(|m| UdfError::argument(name, "rules", m))?;
        if tiers && rules.tiers.is_none() {
            return Err(UdfError::argument(
                name,
                "rules",
                "rules.tiers is missing: give the tier levels, basis and window",
            )
            .into());
        }
        let as_of_day = constant_date(name, end_name, &constant_of(name, end_name, &args[a])?)?;
        let start = if tiers {
            match constant_of(name, "start", &args[4])? {
                v if v.is_null() => None,
                v => Some(day_of(
                    i64::from(constant_date(name, "start", &v)?) * DAY_US,
                )),
            }
        } else {
            None
        };
        Ok(Setup {
            output: self.output,
            rules,
            as_of: (i64::from(as_of_day) + 1) * DAY_US - 1,
            start,
        })
    }
}

/// A list argument of text.
enum Texts<'a> {
    Utf8(&'a StringArray),
    View(&'a StringViewArray),
}

impl<'a> Texts<'a> {
    fn of(values: &'a ArrayRef) -> Self {
        match values.data_type() {
            DataType::Utf8View => Texts::View(values.as_string_view()),
            _ => Texts::Utf8(values.as_string::<i32>()),
        }
    }
    fn get(&self, j: usize) -> Option<&'a str> {
        match self {
            Texts::Utf8(a) => a.is_valid(j).then(|| a.value(j)),
            Texts::View(a) => a.is_valid(j).then(|| a.value(j)),
        }
    }
}

/// One list argument: the lists and their values.
struct ListArg<'a, T> {
    lists: &'a ListArray,
    values: T,
}

/// The list arguments of one call, read per row (customer).
struct Rows<'a> {
    output: Output,
    ts: ListArg<'a, &'a TimestampMicrosecondArray>,
    amount: Option<ListArg<'a, &'a Float64Array>>,
    order: Option<ListArg<'a, Texts<'a>>>,
    category: Option<ListArg<'a, Texts<'a>>>,
    kind: Option<ListArg<'a, Texts<'a>>>,
    points: Option<ListArg<'a, &'a Float64Array>>,
}

impl<'a> Rows<'a> {
    fn new(output: Output, arrays: &'a [Option<ArrayRef>]) -> Result<Self> {
        let name = output.name();
        let arguments = output.arguments();
        let mut lists: Vec<Option<&ListArray>> = Vec::with_capacity(arrays.len());
        for (i, a) in arrays.iter().enumerate() {
            lists.push(match a {
                None => None,
                Some(a) => Some(a.as_list_opt::<i32>().ok_or_else(|| {
                    UdfError::argument(
                        name,
                        arguments[i],
                        format!("must be a list, got {}", a.data_type()),
                    )
                })?),
            });
        }
        let list = |i: usize| lists.get(i).copied().flatten();
        let ts = list(0).ok_or_else(|| {
            UdfError::argument(
                name,
                "ts",
                "must be the customer's times as a list, not NULL",
            )
        })?;
        let number = |i: usize| {
            list(i).map(|l| ListArg {
                lists: l,
                values: l.values().as_primitive::<Float64Type>(),
            })
        };
        let text = |i: usize| {
            list(i).map(|l| ListArg {
                lists: l,
                values: Texts::of(l.values()),
            })
        };
        // Tiers have three list arguments: category, kind and points are
        // not given (`list` is None past them).
        Ok(Rows {
            output,
            ts: ListArg {
                lists: ts,
                values: ts.values().as_primitive::<TimestampMicrosecondType>(),
            },
            amount: number(1),
            order: text(2),
            category: text(3),
            kind: text(4),
            points: number(5),
        })
    }

    /// Where argument `argument`'s list of row `i` starts, checked to hold
    /// `len` values; None when the argument is not given or NULL there.
    fn start<T>(
        &self,
        arg: &Option<ListArg<'a, T>>,
        argument: &str,
        i: usize,
        len: usize,
    ) -> Result<Option<usize>> {
        let Some(a) = arg else { return Ok(None) };
        if a.lists.is_null(i) {
            return Ok(None);
        }
        let got = a.lists.value_length(i) as usize;
        if got != len {
            return Err(UdfError::argument(
                self.output.name(),
                argument,
                format!(
                    "holds {got} values on row {i} where ts holds {len}: give lists of the same rows, as rows_agg(ts, amount, ...) gives them"
                ),
            )
            .into());
        }
        Ok(Some(a.lists.value_offsets()[i] as usize))
    }

    /// Row `i`'s elements as ledger inputs; None when its `ts` list is NULL.
    fn inputs(&self, i: usize) -> Result<Option<Vec<Input<'a>>>> {
        if self.ts.lists.is_null(i) {
            return Ok(None);
        }
        let name = self.output.name();
        let t0 = self.ts.lists.value_offsets()[i] as usize;
        let len = self.ts.lists.value_length(i) as usize;
        let a0 = self.start(&self.amount, "amount", i, len)?;
        let o0 = self.start(&self.order, "order_id", i, len)?;
        let c0 = self.start(&self.category, "category", i, len)?;
        let k0 = self.start(&self.kind, "kind", i, len)?;
        let p0 = self.start(&self.points, "points", i, len)?;
        let number = |arg: &Option<ListArg<'a, &'a Float64Array>>, s: Option<usize>, j: usize| {
            match (arg, s) {
                (Some(a), Some(s)) if a.values.is_valid(s + j) => Some(a.values.value(s + j)),
                _ => None,
            }
        };
        let text = |arg: &Option<ListArg<'a, Texts<'a>>>, s: Option<usize>, j: usize| match (arg, s)
        {
            (Some(a), Some(s)) => a.values.get(s + j),
            _ => None,
        };
        let mut out = Vec::with_capacity(len);
        for j in 0..len {
            let ts_values = self.ts.values;
            if ts_values.is_null(t0 + j) {
                continue;
            }
            let ts = ts_values.value(t0 + j);
            let order = text(&self.order, o0, j);
            out.push(match text(&self.kind, k0, j) {
                None => Input::Purchase {
                    ts,
                    amount: number(&self.amount, a0, j).unwrap_or(f64::NAN),
                    order_id: order,
                    category: text(&self.category, c0, j),
                },
                Some(k) => Input::Event {
                    ts,
                    kind: EventKind::parse(k).ok_or_else(|| {
                        UdfError::argument(
                            name,
                            "kind",
                            format!("'{k}' is not an event kind: use redeem, referral, signup or adjust (NULL: a purchase)"),
                        )
                    })?,
                    points: number(&self.points, p0, j),
                    source_id: order,
                },
            });
        }
        Ok(Some(out))
    }
}

impl Setup {
    fn evaluate(&self, rows: &Rows, n: usize) -> Result<ArrayRef> {
        match self.output {
            Output::Ledger => {
                let mut b = ListBuilder::new(StructBuilder::from_fields(entry_fields(), 0))
                    .with_field(Arc::new(Field::new_list_field(
                        DataType::Struct(entry_fields()),
                        true,
                    )));
                for i in 0..n {
                    let Some(inputs) = rows.inputs(i)? else {
                        b.append(false);
                        continue;
                    };
                    let outcome = run(&self.rules, inputs, self.as_of);
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
                for i in 0..n {
                    let Some(inputs) = rows.inputs(i)? else {
                        b.append(false);
                        continue;
                    };
                    let lines: Vec<Line> = inputs
                        .iter()
                        .filter_map(|input| match input {
                            Input::Purchase {
                                ts,
                                amount,
                                order_id,
                                ..
                            } => Some(Line {
                                day: day_of(*ts),
                                amount: *amount,
                                order_id: *order_id,
                            }),
                            Input::Event { .. } => None,
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
                let mut f: Vec<Float64Builder> =
                    (0..6).map(|_| Float64Builder::with_capacity(n)).collect();
                let mut last = TimestampMicrosecondBuilder::with_capacity(n);
                let mut rejected = Int64Builder::with_capacity(n);
                let mut valid = Vec::with_capacity(n);
                for i in 0..n {
                    let Some(inputs) = rows.inputs(i)? else {
                        f.iter_mut().for_each(|b| b.append_null());
                        last.append_null();
                        rejected.append_null();
                        valid.push(false);
                        continue;
                    };
                    let outcome = run(&self.rules, inputs, self.as_of);
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
                    valid.push(true);
                }
                let mut columns: Vec<ArrayRef> = f
                    .into_iter()
                    .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                    .collect();
                columns.push(Arc::new(last.finish()));
                columns.push(Arc::new(rejected.finish()));
                let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
                Ok(Arc::new(StructArray::try_new(
                    balance_fields(),
                    columns,
                    nulls,
                )?))
            }
        }
    }
}

fn field<T: datafusion::arrow::array::ArrayBuilder>(s: &mut StructBuilder, i: usize) -> &mut T {
    s.field_builder::<T>(i)
        .expect("index and type of a field this module's builders were made with")
}
