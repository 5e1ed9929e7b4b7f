//! `churn_rate(customer_id, ts, as_of, window_days)`: period-over-period
//! customer churn, in [0, 1].
//!
//! Definition: of the customers who bought in the previous window, the days
//! (as_of − 2·window_days, as_of − window_days], the share who did not buy
//! in the current window, (as_of − window_days, as_of]. Customers new in the
//! current window do not count. `as_of` is a constant DATE, TIMESTAMP or
//! 'YYYY-MM-DD'; `window_days` a constant whole number >= 1. Rows with a NULL
//! customer or ts are left out; nobody in the previous window gives NULL.
//!
//! In sessions made by `register_all` the call is planned as a GROUP BY plan
//! ([`super::customer_rates_plan`]); this accumulator answers the calls that
//! rule leaves (windows, DISTINCT, non-constant arguments, other sessions).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::constant_args::{constant, constant_date, constant_number};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::list_scalar;
use crate::text_arg::coerce_id;

const NAME: &str = "churn_rate";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "churn_rate(customer_id, ts, as_of, window_days) -> DOUBLE",
        description: "Share of the customers who bought in the window before the last window_days up to as_of and did not buy in the last window",
        example: "SELECT churn_rate(c, d, '2024-03-31', 30) FROM (VALUES (1, DATE '2024-02-10'), (1, DATE '2024-03-15'), (2, DATE '2024-02-20'), (3, DATE '2024-03-20')) AS t(c, d); -- 0.5",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(ChurnRate::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ChurnRate {
    signature: Signature,
}

impl ChurnRate {
    pub fn new() -> Self {
        ChurnRate {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ChurnRate {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for ChurnRate {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 4 {
            return Err(UdfError::arity(
                NAME,
                "customer_id, ts, as_of, window_days",
                arg_types.len(),
            )
            .into());
        }
        if !matches!(
            arg_types[1],
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Null
        ) {
            return Err(UdfError::argument(
                NAME,
                "ts",
                format!("must be DATE or TIMESTAMP, got {}", arg_types[1]),
            )
            .into());
        }
        if !arg_types[3].is_integer() {
            return Err(UdfError::argument(
                NAME,
                "window_days",
                format!("must be an integer, got {}", arg_types[3]),
            )
            .into());
        }
        Ok(vec![
            coerce_id(NAME, "customer_id", &arg_types[0])?,
            DataType::Date32,
            arg_types[2].clone(),
            arg_types[3].clone(),
        ])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let windows = Windows::from_constants(
            &constant(NAME, "as_of", args.exprs, 2)?,
            &constant(NAME, "window_days", args.exprs, 3)?,
        )?;
        Ok(Box::new(ChurnAccumulator {
            windows,
            customers: HashMap::new(),
            text_bytes: 0,
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "customers"),
                list(DataType::Utf8),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "previous"),
                list(DataType::Boolean),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "current"),
                list(DataType::Boolean),
                true,
            )),
        ])
    }
}

/// A call's two windows in days since the epoch: the previous one is
/// (start, middle], the current one (middle, as_of].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    pub start: i32,
    pub middle: i32,
    pub as_of: i32,
}

impl Windows {
    /// From the constant `as_of` and `window_days` arguments.
    pub(crate) fn from_constants(as_of: &ScalarValue, window: &ScalarValue) -> Result<Windows> {
        let as_of = constant_date(NAME, "as_of", as_of)?;
        let window = constant_number(NAME, "window_days", window)?;
        if !(window >= 1.0 && window.fract() == 0.0 && window < 1e6) {
            return Err(UdfError::argument(
                NAME,
                "window_days",
                format!("must be a whole number >= 1, got {window}"),
            )
            .into());
        }
        let window = window as i32;
        Ok(Windows {
            start: as_of - 2 * window,
            middle: as_of - window,
            as_of,
        })
    }
}

/// Per customer: bought in the previous window, bought in the current one.
#[derive(Debug)]
struct ChurnAccumulator {
    windows: Windows,
    customers: HashMap<String, (bool, bool)>,
    /// Bytes of the keys' text (running: `size` is O(1)).
    text_bytes: usize,
}

impl ChurnAccumulator {
    fn add(&mut self, customer: &str, previous: bool, current: bool) {
        if !(previous || current) {
            return;
        }
        match self.customers.get_mut(customer) {
            Some(flags) => {
                flags.0 |= previous;
                flags.1 |= current;
            }
            None => {
                self.text_bytes += customer.len();
                self.customers
                    .insert(customer.to_string(), (previous, current));
            }
        }
    }
}

impl Accumulator for ChurnAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (c, d) = (
            values[0].as_string::<i32>(),
            values[1].as_primitive::<Date32Type>(),
        );
        let Windows {
            start,
            middle,
            as_of,
        } = self.windows;
        for i in 0..c.len() {
            if c.is_valid(i) && d.is_valid(i) {
                let day = d.value(i);
                let previous = day > start && day <= middle;
                let current = day > middle && day <= as_of;
                self.add(c.value(i), previous, current);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (c, p, q) = (
            states[0].as_list::<i32>(),
            states[1].as_list::<i32>(),
            states[2].as_list::<i32>(),
        );
        for row in 0..c.len() {
            if c.is_null(row) {
                continue;
            }
            let (cv, pv, qv) = (c.value(row), p.value(row), q.value(row));
            let (cv, pv, qv) = (cv.as_string::<i32>(), pv.as_boolean(), qv.as_boolean());
            for i in 0..cv.len() {
                self.add(cv.value(i), pv.value(i), qv.value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let customers = StringArray::from_iter_values(self.customers.keys());
        let previous = BooleanArray::from(self.customers.values().map(|v| v.0).collect::<Vec<_>>());
        let current = BooleanArray::from(self.customers.values().map(|v| v.1).collect::<Vec<_>>());
        Ok(vec![
            list_scalar(Arc::new(customers)),
            list_scalar(Arc::new(previous)),
            list_scalar(Arc::new(current)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let before = self.customers.values().filter(|v| v.0).count();
        let lost = self.customers.values().filter(|v| v.0 && !v.1).count();
        Ok(ScalarValue::Float64(
            (before > 0).then(|| lost as f64 / before as f64),
        ))
    }

    fn size(&self) -> usize {
        // A hash table slot holds the entry and one control byte.
        let slot = std::mem::size_of::<(String, (bool, bool))>() + 1;
        std::mem::size_of_val(self) + self.customers.capacity() * slot + self.text_bytes
    }
}
