//! `repurchase_rate(customer_id, order_id)`: the share of customers with two
//! or more distinct orders, in [0, 1].
//!
//! Ids of any plain type (compared as text). Rows with a NULL customer or
//! order are left out; no customers gives NULL. The partial state (each
//! customer's first order and whether another was seen) merges across
//! partitions.
//!
//! In sessions made by `register_all` the call is planned as a GROUP BY plan
//! ([`super::customer_rates_plan`]); this accumulator answers the calls that
//! rule leaves (windows, DISTINCT, non-constant arguments, other sessions).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::lists::list_scalar;
use crate::text_arg::coerce_id;

const NAME: &str = "repurchase_rate";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "repurchase_rate(customer_id, order_id) -> DOUBLE",
        description: "Share of customers with two or more distinct orders (0-1); NULL ids skipped",
        example: "SELECT repurchase_rate(c, o) FROM (VALUES (1, 'a'), (1, 'a'), (1, 'b'), (2, 'c'), (3, 'd'), (3, 'e')) AS t(c, o); -- 0.6666666666666666",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(RepurchaseRate::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RepurchaseRate {
    signature: Signature,
}

impl RepurchaseRate {
    pub fn new() -> Self {
        RepurchaseRate {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RepurchaseRate {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for RepurchaseRate {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return Err(UdfError::arity(NAME, "customer_id, order_id", arg_types.len()).into());
        }
        Ok(vec![
            coerce_id(NAME, "customer_id", &arg_types[0])?,
            coerce_id(NAME, "order_id", &arg_types[1])?,
        ])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RepurchaseAccumulator::default()))
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
                format_state_name(args.name, "first_orders"),
                list(DataType::Utf8),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "repeat"),
                list(DataType::Boolean),
                true,
            )),
        ])
    }
}

/// Per customer: the first order seen and whether a different one was.
#[derive(Debug, Default)]
struct RepurchaseAccumulator {
    customers: HashMap<String, (String, bool)>,
    /// Bytes of the keys' and first orders' text (running: `size` is O(1)).
    text_bytes: usize,
}

impl RepurchaseAccumulator {
    fn add(&mut self, customer: &str, order: &str, repeat: bool) {
        match self.customers.get_mut(customer) {
            Some((first, seen)) => *seen |= repeat || first != order,
            None => {
                self.text_bytes += customer.len() + order.len();
                self.customers
                    .insert(customer.to_string(), (order.to_string(), repeat));
            }
        }
    }
}

impl Accumulator for RepurchaseAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (c, o) = (values[0].as_string::<i32>(), values[1].as_string::<i32>());
        for i in 0..c.len() {
            if c.is_valid(i) && o.is_valid(i) {
                self.add(c.value(i), o.value(i), false);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (c, o, r) = (
            states[0].as_list::<i32>(),
            states[1].as_list::<i32>(),
            states[2].as_list::<i32>(),
        );
        for row in 0..c.len() {
            if c.is_null(row) {
                continue;
            }
            let (cv, ov, rv) = (c.value(row), o.value(row), r.value(row));
            let (cv, ov, rv) = (
                cv.as_string::<i32>(),
                ov.as_string::<i32>(),
                rv.as_boolean(),
            );
            for i in 0..cv.len() {
                self.add(cv.value(i), ov.value(i), rv.value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let customers = StringArray::from_iter_values(self.customers.keys());
        let firsts = StringArray::from_iter_values(self.customers.values().map(|v| v.0.as_str()));
        let repeats = BooleanArray::from(self.customers.values().map(|v| v.1).collect::<Vec<_>>());
        Ok(vec![
            list_scalar(Arc::new(customers)),
            list_scalar(Arc::new(firsts)),
            list_scalar(Arc::new(repeats)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.customers.len();
        let repeat = self.customers.values().filter(|v| v.1).count();
        Ok(ScalarValue::Float64(
            (n > 0).then(|| repeat as f64 / n as f64),
        ))
    }

    fn size(&self) -> usize {
        // A hash table slot holds the entry and one control byte.
        let slot = std::mem::size_of::<(String, (String, bool))>() + 1;
        std::mem::size_of_val(self) + self.customers.capacity() * slot + self.text_bytes
    }
}
