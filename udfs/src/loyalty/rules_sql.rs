//! The `rules` argument of the loyalty table functions, and
//! `loyalty_point_value(rules)`.
//!
//! A rule set ([`super::rules`]) is given either as its JSON text, or as a
//! table name or query whose one row holds the JSON in a `rules` column, so a
//! programme's versions can live in a table:
//!
//! ```sql
//! SELECT * FROM points_balance('transactions', NULL,
//!     'SELECT rules FROM programmes WHERE version = 3', '2011-12-09');
//! ```
//!
//! JSON text (it starts with `{`) is checked when the query is planned; a
//! table's rules are read and checked when it runs: a table without exactly
//! one row is an error saying so.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::rules::Rules;
use crate::constant_args::{columnar_constant, constant_text};
use crate::error::UdfError;
use crate::function_entry::{FunctionEntry, FunctionKind, Registration};
use crate::table_input::{input_sql, is_table_input, quote_literal};

/// A table function's `rules` argument.
pub enum RulesArg {
    /// JSON text, checked.
    Literal { text: String, rules: Rules },
    /// A table or query with a `rules` column: the SQL of its one value.
    Table { sql: String },
}

impl RulesArg {
    /// Reads `text`, the `rules` argument of table function `function`.
    pub fn parse(function: &'static str, text: &str) -> Result<Self> {
        if !is_table_input("rules", text) {
            let rules = Rules::parse(text).map_err(|m| UdfError::argument(function, "rules", m))?;
            return Ok(RulesArg::Literal {
                text: text.to_string(),
                rules,
            });
        }
        let input = input_sql(function, "rules", text)?;
        Ok(RulesArg::Table {
            // One row always (an aggregate); NULL unless the table has
            // exactly one, which the ledger functions report.
            sql: format!(
                "(SELECT CASE WHEN count(*) = 1 THEN max(CAST(rules AS VARCHAR)) END FROM {input} AS rules_table)"
            ),
        })
    }

    /// The SQL expression of the rules' JSON.
    pub fn sql(&self) -> String {
        match self {
            RulesArg::Literal { text, .. } => quote_literal(text),
            RulesArg::Table { sql } => sql.clone(),
        }
    }

    /// The checked rules, when given as JSON text.
    pub fn known(&self) -> Option<&Rules> {
        match self {
            RulesArg::Literal { rules, .. } => Some(rules),
            RulesArg::Table { .. } => None,
        }
    }
}

/// The rules argument's value on every row of a batch: one constant. NULL
/// (a rules table without exactly one row) and differing values are errors
/// naming `function`'s `rules`.
pub fn rules_value(function: &'static str, v: &ColumnarValue) -> Result<String> {
    let value = columnar_constant(
        function,
        "rules",
        v,
        "must be one rule set for the whole call, got different values on different rows",
    )?;
    let value = match value {
        None => return Ok(String::new()),
        Some(ScalarValue::Dictionary(_, inner)) => *inner,
        Some(v) => v,
    };
    if value.is_null() {
        return Err(UdfError::argument(
            function,
            "rules",
            "is NULL: a rules table must hold exactly one row, with the rule set's JSON in its rules column",
        )
        .into());
    }
    constant_text(function, "rules", &value)
}

const POINT_VALUE: &str = "loyalty_point_value";

pub fn entry() -> FunctionEntry {
    FunctionEntry {
        name: POINT_VALUE,
        kind: FunctionKind::Scalar,
        signature: "loyalty_point_value(rules) -> DOUBLE",
        description: "The currency value of one point under a loyalty rule set (its point_value; NULL when the rules set none), the rules checked as the ledger functions check them",
        example: "SELECT loyalty_point_value('{\"earn_rate\": 1, \"point_value\": 0.01}'); -- 0.01",
        registration: Registration::Scalar(Arc::new(ScalarUDF::from(PointValue {
            signature: Signature::user_defined(Volatility::Immutable),
        }))),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PointValue {
    signature: Signature,
}

impl ScalarUDFImpl for PointValue {
    fn name(&self) -> &str {
        POINT_VALUE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return Err(UdfError::arity(POINT_VALUE, "rules", arg_types.len()).into());
        }
        crate::text_arg::text_type(POINT_VALUE, "rules", &arg_types[0]).map(|t| vec![t])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = rules_value(POINT_VALUE, &args.args[0])?;
        let rules = Rules::parse(&text).map_err(|m| UdfError::argument(POINT_VALUE, "rules", m))?;
        Ok(ColumnarValue::Scalar(ScalarValue::Float64(
            rules.point_value,
        )))
    }
}
