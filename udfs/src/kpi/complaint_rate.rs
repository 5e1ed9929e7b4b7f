//! `complaint_rate(customer_id, is_complaint)`: the share of customers with
//! at least one complaint, in [0, 1] ("customers who complained / all
//! customers").
//!
//! Every customer with a row counts in the denominator (its `is_complaint`
//! may be FALSE or NULL); a customer complained when any of its rows has
//! `is_complaint` TRUE. Customer ids of any plain type (compared as text);
//! rows with a NULL customer are left out; no customers gives NULL. Over a
//! feedback table: `complaint_rate(customer_id, kind = 'complaint')`; over
//! all customers, join the feedback to the customer list first.
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

const NAME: &str = "complaint_rate";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Aggregate,
        signature: "complaint_rate(customer_id, is_complaint BOOLEAN) -> DOUBLE",
        description: "Share of distinct customers with at least one complaint (0-1); NULL customers skipped",
        example: "SELECT complaint_rate(c, kind = 'complaint') FROM (VALUES (1, 'complaint'), (1, 'review'), (2, 'review'), (3, 'survey'), (3, 'complaint')) AS t(c, kind); -- 0.6666666666666666",
        registration: Registration::Aggregate(Arc::new(AggregateUDF::from(ComplaintRate::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ComplaintRate {
    signature: Signature,
}

impl ComplaintRate {
    pub fn new() -> Self {
        ComplaintRate {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ComplaintRate {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for ComplaintRate {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return Err(UdfError::arity(NAME, "customer_id, is_complaint", arg_types.len()).into());
        }
        if !matches!(arg_types[1], DataType::Boolean | DataType::Null) {
            return Err(UdfError::argument(
                NAME,
                "is_complaint",
                format!(
                    "must be BOOLEAN (e.g. kind = 'complaint'), got {}",
                    arg_types[1]
                ),
            )
            .into());
        }
        Ok(vec![
            coerce_id(NAME, "customer_id", &arg_types[0])?,
            DataType::Boolean,
        ])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ComplaintAccumulator::default()))
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
                format_state_name(args.name, "complained"),
                list(DataType::Boolean),
                true,
            )),
        ])
    }
}

/// Per customer: whether any of its rows was a complaint.
#[derive(Debug, Default)]
struct ComplaintAccumulator {
    customers: HashMap<String, bool>,
    /// Bytes of the keys' text (running: `size` is O(1)).
    text_bytes: usize,
}

impl ComplaintAccumulator {
    fn add(&mut self, customer: &str, complained: bool) {
        match self.customers.get_mut(customer) {
            Some(c) => *c |= complained,
            None => {
                self.text_bytes += customer.len();
                self.customers.insert(customer.to_string(), complained);
            }
        }
    }
}

impl Accumulator for ComplaintAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (c, k) = (values[0].as_string::<i32>(), values[1].as_boolean());
        for i in 0..c.len() {
            if c.is_valid(i) {
                self.add(c.value(i), k.is_valid(i) && k.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (c, k) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..c.len() {
            if c.is_null(row) {
                continue;
            }
            let (cv, kv) = (c.value(row), k.value(row));
            let (cv, kv) = (cv.as_string::<i32>(), kv.as_boolean());
            for i in 0..cv.len() {
                self.add(cv.value(i), kv.value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let customers = StringArray::from_iter_values(self.customers.keys());
        let complained = BooleanArray::from(self.customers.values().copied().collect::<Vec<_>>());
        Ok(vec![
            list_scalar(Arc::new(customers)),
            list_scalar(Arc::new(complained)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.customers.len();
        let complained = self.customers.values().filter(|&&c| c).count();
        Ok(ScalarValue::Float64(
            (n > 0).then(|| complained as f64 / n as f64),
        ))
    }

    fn size(&self) -> usize {
        // A hash table slot holds the entry and one control byte.
        let slot = std::mem::size_of::<(String, bool)>() + 1;
        std::mem::size_of_val(self) + self.customers.capacity() * slot + self.text_bytes
    }
}
