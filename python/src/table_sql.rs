//! crmlake's table functions for datafusion-python, as SQL.
//!
//! Every crmlake table function is SQL generated over its input (see
//! `crmlake_udfs::table_input`). From Python we do not ship the table function
//! across the FFI boundary (with datafusion-python 55.0.0 that path crashed
//! inside datafusion-python: datafusion-ffi's foreign table function reaches
//! into the exporting library's tokio runtime, and the two libraries are built
//! with different tokio versions). Instead the Python wrapper registers the
//! caller's input as a temporary view, and this module runs the crmlake table
//! function in a private session where that view is an empty table of the same
//! schema: the same argument and column checks, the same messages, and the
//! SQL it generates, which the caller's session then plans over the real view.
//! The scalar and aggregate functions that SQL calls are the ones registered
//! in the caller's session through capsules.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{TableFunctionArgs, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use crmlake_udfs::catalog::Registration;

/// The SQL that table function `name` generates for an input registered as
/// `input_view` (of `schema`) and the remaining literal `args`; `views` are
/// other inputs the caller registered (a second table input), by name and
/// schema, which `args` name.
pub fn table_function_sql(
    name: &str,
    input_view: &str,
    schema: SchemaRef,
    args: Vec<ScalarValue>,
    views: Vec<(String, SchemaRef)>,
) -> Result<String> {
    let entries = crmlake_udfs::catalog();
    let Some(function) = entries.iter().find_map(|e| match &e.registration {
        Registration::Table(f) if e.name == name => Some(Arc::clone(f)),
        _ => None,
    }) else {
        return Err(DataFusionError::Plan(format!(
            "{name} is not a crmlake table function"
        )));
    };
    let ctx = SessionContext::new();
    for entry in &entries {
        entry.register(&ctx);
    }
    let empty = MemTable::try_new(schema, vec![vec![]])?;
    ctx.register_table(input_view, Arc::new(empty))?;
    for (view, schema) in views {
        ctx.register_table(
            view.as_str(),
            Arc::new(MemTable::try_new(schema, vec![vec![]])?),
        )?;
    }
    let mut exprs = vec![Expr::Literal(
        ScalarValue::Utf8(Some(input_view.to_string())),
        None,
    )];
    exprs.extend(args.into_iter().map(|v| Expr::Literal(v, None)));
    let state = ctx.state();
    let provider: Arc<dyn TableProvider> =
        function.call_with_args(TableFunctionArgs::new(&exprs, &state))?;
    // A view's SQL, or the SQL equivalent of a table function that plans
    // its own scan (the mining functions' streaming rows).
    provider
        .get_table_definition()
        .map(str::to_string)
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "{name} did not return a SQL view; it cannot be called from Python"
            ))
        })
}
