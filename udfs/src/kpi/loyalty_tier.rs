//! `loyalty_tier(value, tiers)`: the loyalty tier a value (spend, points) falls in.
//!
//! Tiers are alternating names and ascending lower bounds, given either as
//! trailing arguments, `loyalty_tier(spend, 'Bronze', 0, 'Silver', 500, 'Gold',
//! 2000)`, or as one list of strings, `loyalty_tier(spend, ['Bronze', '0',
//! 'Silver', '500'])`. (DESIGN.md's mixed list `['Bronze', 0, ...]` cannot be
//! written in DataFusion SQL: a list has one element type, and 'Bronze' is not
//! a number; the trailing-argument form says the same thing.) A value gets
//! the last tier whose bound it reaches: 499.99 is Bronze, 500 Silver. A value
//! below the first bound, or a NULL value, gives NULL. Bounds that do not
//! ascend, an odd-length list or a bound that is not a number is an error naming
//! the argument.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};

const NAME: &str = "loyalty_tier";

/// Tier names with their ascending lower bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiers {
    tiers: Vec<(String, f64)>,
}

impl Tiers {
    /// Read `[name, bound, name, bound, ...]`.
    pub fn parse(items: &[Option<String>]) -> std::result::Result<Self, String> {
        if items.is_empty() || !items.len().is_multiple_of(2) {
            return Err(format!(
                "expected alternating names and bounds such as ['Bronze', 0, 'Silver', 500], got {} items",
                items.len()
            ));
        }
        let mut tiers = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks(2) {
            let name = pair[0].clone().ok_or("a tier name is NULL")?;
            let bound_text = pair[1]
                .as_deref()
                .ok_or(format!("the bound of tier '{name}' is NULL"))?;
            let bound: f64 = bound_text
                .trim()
                .parse()
                .ok()
                .filter(|b: &f64| b.is_finite())
                .ok_or(format!(
                    "the bound of tier '{name}' is '{bound_text}', not a number"
                ))?;
            if let Some((prev_name, prev)) = tiers.last() {
                if bound <= *prev {
                    return Err(format!(
                        "bounds must ascend: '{name}' ({bound}) does not exceed '{prev_name}' ({prev})"
                    ));
                }
            }
            tiers.push((name, bound));
        }
        Ok(Tiers { tiers })
    }

    /// The tier `value` falls in, if it reaches the first bound.
    pub fn tier_of(&self, value: f64) -> Option<&str> {
        let idx = self.tiers.partition_point(|(_, bound)| *bound <= value);
        (idx > 0).then(|| self.tiers[idx - 1].0.as_str())
    }
}

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: NAME,
        kind: FunctionKind::Scalar,
        signature: "loyalty_tier(value NUMERIC, name VARCHAR, bound NUMERIC [, name, bound ...]) -> VARCHAR | loyalty_tier(value NUMERIC, tiers LIST<VARCHAR>) -> VARCHAR",
        description: "Name of the highest tier whose lower bound the value reaches; tiers alternate names and ascending bounds",
        example: "SELECT loyalty_tier(750, 'Bronze', 0, 'Silver', 500, 'Gold', 2000); -- Silver",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(LoyaltyTier::new()))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LoyaltyTier {
    signature: Signature,
}

impl LoyaltyTier {
    pub fn new() -> Self {
        LoyaltyTier {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for LoyaltyTier {
    fn default() -> Self {
        Self::new()
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || t.is_null()
}

impl ScalarUDFImpl for LoyaltyTier {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let arg_err = |arg: &str, m: String| -> datafusion::error::DataFusionError {
            UdfError::argument(NAME, arg, m).into()
        };
        if arg_types.len() < 2 {
            return Err(arg_err(
                "arguments",
                format!(
                    "expected (value, name, bound, ...) or (value, tiers list), got {} arguments",
                    arg_types.len()
                ),
            ));
        }
        if !is_numeric(&arg_types[0]) {
            return Err(arg_err(
                "value",
                format!("must be numeric, got {}", arg_types[0]),
            ));
        }
        if arg_types.len() == 2 {
            let list_ok = matches!(&arg_types[1],
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
                    if f.data_type().is_numeric() || matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View));
            if !list_ok {
                return Err(arg_err(
                    "tiers",
                    format!("must be a list of strings such as ['Bronze', '0', 'Silver', '500'], got {}", arg_types[1]),
                ));
            }
            let item = Arc::new(datafusion::arrow::datatypes::Field::new_list_field(
                DataType::Utf8,
                true,
            ));
            return Ok(vec![DataType::Float64, DataType::List(item)]);
        }
        if arg_types.len().is_multiple_of(2) {
            return Err(arg_err(
                "tiers",
                format!(
                    "expected name, bound pairs after the value, got {} arguments",
                    arg_types.len() - 1
                ),
            ));
        }
        let mut out = vec![DataType::Float64];
        for (i, t) in arg_types[1..].iter().enumerate() {
            // Names and bounds both travel as strings; a bound must be a number
            // or a string holding one.
            let is_name = i % 2 == 0;
            let bound_ok = is_numeric(t)
                || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
            if is_name || bound_ok {
                out.push(DataType::Utf8);
            } else {
                return Err(arg_err(
                    "tiers",
                    format!("bound {} must be a number, got {t}", i / 2 + 1),
                ));
            }
        }
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let values = arrays[0].as_primitive::<Float64Type>();
        let tiers_constant = args.args[1..]
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let tiers_at = |row: usize| -> Result<Option<Tiers>> {
            if arrays.len() == 2 {
                let lists = arrays[1].as_list::<i32>();
                if lists.is_null(row) {
                    return Ok(None);
                }
                return parse_row(lists, row).map(Some);
            }
            let items: Vec<Option<String>> = arrays[1..]
                .iter()
                .map(|a| {
                    let s = a.as_string::<i32>();
                    (!s.is_null(row)).then(|| s.value(row).to_string())
                })
                .collect();
            Tiers::parse(&items)
                .map(Some)
                .map_err(|m| UdfError::argument(NAME, "tiers", m).into())
        };
        // The usual call passes constant tiers: parse them once.
        let constant = if tiers_constant && n > 0 {
            Some(tiers_at(0)?)
        } else {
            None
        };
        let mut out = StringBuilder::with_capacity(n, n * 8);
        for i in 0..n {
            if values.is_null(i) {
                out.append_null();
                continue;
            }
            let parsed;
            let tiers = match &constant {
                Some(t) => t,
                None => {
                    parsed = tiers_at(i)?;
                    &parsed
                }
            };
            out.append_option(tiers.as_ref().and_then(|t| t.tier_of(values.value(i))));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

fn parse_row(lists: &datafusion::arrow::array::ListArray, row: usize) -> Result<Tiers> {
    let items = lists.value(row);
    let items = items.as_string::<i32>();
    let items: Vec<Option<String>> = items.iter().map(|s| s.map(str::to_string)).collect();
    Ok(Tiers::parse(&items).map_err(|m| UdfError::argument(NAME, "tiers", m))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers(items: &[&str]) -> std::result::Result<Tiers, String> {
        Tiers::parse(
            &items
                .iter()
                .map(|s| Some(s.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn bounds_are_inclusive() {
        let t = tiers(&["Bronze", "0", "Silver", "500", "Gold", "2000"]).unwrap();
        assert_eq!(t.tier_of(-1.0), None);
        assert_eq!(t.tier_of(0.0), Some("Bronze"));
        assert_eq!(t.tier_of(499.99), Some("Bronze"));
        assert_eq!(t.tier_of(500.0), Some("Silver"));
        assert_eq!(t.tier_of(1e9), Some("Gold"));
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(tiers(&["Bronze"]).is_err());
        assert!(tiers(&["Bronze", "x"]).is_err());
        assert!(tiers(&["Bronze", "10", "Silver", "5"])
            .unwrap_err()
            .contains("ascend"));
    }
}
