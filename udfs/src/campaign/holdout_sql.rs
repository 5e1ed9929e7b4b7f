//! `holdout_assign(customer_id, salt, fraction)` -> BOOLEAN: whether the
//! customer is in the campaign's holdout (true: do not contact), by the
//! documented hash of [`super::holdout`], so SQL, Python and a cluster's
//! executors draw the same split. `customer_id` is an integer or a text;
//! `salt` a text (one per campaign); `fraction` in [0, 1]. NULL when any
//! argument is NULL.
//!
//! ```sql
//! SELECT customer_id, holdout_assign(customer_id, 'spring-2026', 0.1) AS held_out FROM customers;
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::holdout::held_out;
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};

const NAME: &str = "holdout_assign";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "holdout_assign(customer_id, salt, fraction) -> BOOLEAN",
        description: "Whether a customer is in a campaign's holdout: SHA-256 of '<salt>:<customer_id>', first 8 bytes over 2^64, below fraction",
        example: "SELECT holdout_assign(12345, 'spring-2026', 0.2); -- true",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(HoldoutAssign {
            signature: Signature::user_defined(Volatility::Immutable),
        }))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HoldoutAssign {
    signature: Signature,
}

impl ScalarUDFImpl for HoldoutAssign {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return Err(
                UdfError::arity(NAME, "customer_id, salt, fraction", arg_types.len()).into(),
            );
        }
        let id = &arg_types[0];
        let id_ok = id.is_integer()
            || matches!(
                id,
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
            );
        if !id_ok {
            return Err(UdfError::argument(
                NAME,
                "customer_id",
                format!("must be an integer or a text (a float id would not hash the same everywhere), got {id}"),
            )
            .into());
        }
        let salt = &arg_types[1];
        if !matches!(
            salt,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        ) {
            return Err(
                UdfError::argument(NAME, "salt", format!("must be a text, got {salt}")).into(),
            );
        }
        let f = &arg_types[2];
        if !(f.is_numeric() || f == &DataType::Null) {
            return Err(
                UdfError::argument(NAME, "fraction", format!("must be a number, got {f}")).into(),
            );
        }
        Ok(vec![DataType::Utf8, DataType::Utf8, DataType::Float64])
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        // Integers as decimal text, text as it is (the documented form).
        let ids = cast(&args.args[0].to_array(n)?, &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let salts = args.args[1].to_array(n)?;
        let salts = salts.as_string::<i32>();
        let fractions = args.args[2].to_array(n)?;
        let fractions = fractions.as_primitive::<Float64Type>();
        let mut out = BooleanBuilder::with_capacity(n);
        for i in 0..n {
            if ids.is_null(i) || salts.is_null(i) || fractions.is_null(i) {
                out.append_null();
                continue;
            }
            let f = fractions.value(i);
            if !(0.0..=1.0).contains(&f) {
                return Err(UdfError::argument(
                    NAME,
                    "fraction",
                    format!("must be in [0, 1], got {f}"),
                )
                .into());
            }
            out.append_value(held_out(salts.value(i), ids.value(i), f));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
