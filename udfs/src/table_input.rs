//! What crmlake's table functions share: reading their literal arguments,
//! turning the `input` argument (a table name or a query string) into SQL, and
//! planning SQL inside DataFusion's synchronous table-function call.
//!
//! A table function here is SQL generated over the user's input and returned as
//! a view ([`ViewTable`]): DataFusion plans, optimises and parallelises it like
//! any query, and the result streams instead of being materialised at planning.
//!
//! Planning needs the session's catalog, which DataFusion's SQL planner reads
//! through an `async` call; table functions are called synchronously, so we
//! poll that future to completion ourselves ([`complete`]). Resolving tables
//! registered in the session (in-memory catalogs, listing tables) is ready at
//! the first poll, so this neither blocks a runtime thread nor nests executors
//! (table functions whose input calls another table function plan inside
//! planning).

use std::sync::Arc;

use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::TableReference;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;

use crate::error::UdfError;

/// Table inputs of table functions beyond their first argument: (function,
/// argument index, argument name). Callers that plan inputs themselves (the
/// Python wrapper) plan these the same way; a `rules` argument is a table
/// input only when it is not JSON text ([`is_table_input`]).
pub const OTHER_TABLE_INPUTS: [(&str, usize, &str); 9] = [
    ("points_ledger", 1, "events"),
    ("points_ledger", 2, "rules"),
    ("points_balance", 1, "events"),
    ("points_balance", 2, "rules"),
    ("loyalty_kpis", 1, "events"),
    ("loyalty_kpis", 2, "rules"),
    ("tier_history", 1, "rules"),
    ("tier_as_of", 1, "rules"),
    ("recommendations", 1, "customers"),
];

/// Whether the text of argument `argument` (one of [`OTHER_TABLE_INPUTS`])
/// names a table or query: always, except for rules given as JSON text.
pub fn is_table_input(argument: &str, text: &str) -> bool {
    argument != "rules" || !text.trim_start().starts_with('{')
}

/// The input columns of every per-customer table function (`customer_summary`,
/// `rfm`, `churn_features`, ...).
pub const INPUT_COLUMNS: [(&str, ColumnKind); 3] = [
    ("customer_id", ColumnKind::Key),
    ("ts", ColumnKind::Time),
    ("amount", ColumnKind::Number),
];

/// The literal arguments of a table-function call, checked against the
/// function's argument names.
pub struct Args {
    function: &'static str,
    names: &'static [&'static str],
    values: Vec<ScalarValue>,
}

impl Args {
    /// `names` lists every argument; the first `required` must be given.
    pub fn new(
        function: &'static str,
        names: &'static [&'static str],
        required: usize,
        args: &TableFunctionArgs,
    ) -> Result<Args> {
        let exprs = args.exprs();
        if exprs.len() < required || exprs.len() > names.len() {
            let optional = if names.len() > required {
                format!(" [, {}]", names[required..].join(", "))
            } else {
                String::new()
            };
            let expected = format!("{}{optional}", names[..required].join(", "));
            return Err(UdfError::arity(function, expected, exprs.len()).into());
        }
        let mut values = Vec::with_capacity(exprs.len());
        // Constant expressions (`CAST('2024-06-30' AS DATE) - INTERVAL '90'
        // DAY`, `${run_date}` arithmetic in jobs) are folded to literals first.
        let simplifier = ExprSimplifier::new(SimplifyContext::default());
        for (expr, name) in exprs.iter().zip(names) {
            let folded = match expr {
                Expr::Literal(..) => expr.clone(),
                other => simplifier
                    .simplify(other.clone())
                    .unwrap_or_else(|_| other.clone()),
            };
            match &folded {
                Expr::Literal(v, _) => values.push(v.clone()),
                other => {
                    return Err(UdfError::argument(
                        function,
                        *name,
                        format!("must be a constant, got {other}"),
                    )
                    .into())
                }
            }
        }
        Ok(Args {
            function,
            names,
            values,
        })
    }

    fn error(&self, i: usize, message: impl Into<String>) -> DataFusionError {
        UdfError::argument(self.function, self.names[i], message).into()
    }

    /// Whether argument `i` was given (and is not NULL).
    pub fn has(&self, i: usize) -> bool {
        self.values.get(i).is_some_and(|v| !v.is_null())
    }

    /// Argument `i` as text.
    pub fn string(&self, i: usize) -> Result<String> {
        match self.values.get(i) {
            Some(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)),
            ) => Ok(s.clone()),
            Some(other) => Err(self.error(i, format!("must be a string, got {other:?}"))),
            None => Err(self.error(i, "is missing")),
        }
    }

    /// Argument `i` as a finite number.
    pub fn number(&self, i: usize) -> Result<f64> {
        let v = self
            .values
            .get(i)
            .ok_or_else(|| self.error(i, "is missing"))?;
        let x = match v.cast_to(&datafusion::arrow::datatypes::DataType::Float64) {
            Ok(ScalarValue::Float64(Some(x))) if !v.is_null() => x,
            _ => return Err(self.error(i, format!("must be a number, got {v}"))),
        };
        if !x.is_finite() {
            return Err(self.error(i, format!("must be finite, got {x}")));
        }
        Ok(x)
    }

    /// Argument `i` as a calendar date: a `DATE`, a `TIMESTAMP` (its date) or
    /// a `'YYYY-MM-DD'` string. Returns days since 1970-01-01.
    pub fn date(&self, i: usize) -> Result<i32> {
        let v = self
            .values
            .get(i)
            .ok_or_else(|| self.error(i, "is missing"))?;
        if v.is_null() {
            return Err(self.error(i, "must be a date, got NULL"));
        }
        crate::constant_args::to_date(v).ok_or_else(|| {
            self.error(
                i,
                format!("must be a date ('YYYY-MM-DD', DATE or TIMESTAMP), got {v}"),
            )
        })
    }

    /// The SQL of the `input` argument `i`: a parenthesised query for a query
    /// string, `SELECT * FROM "name"` for a table name.
    pub fn input_sql(&self, i: usize) -> Result<String> {
        input_sql(self.function, self.names[i], &self.string(i)?)
    }
}

/// The SQL of an input argument's text (see [`Args::input_sql`]); `argument`
/// names it in errors.
pub fn input_sql(function: &'static str, argument: &str, text: &str) -> Result<String> {
    let trimmed = text.trim().trim_end_matches(';').trim();
    let first = trimmed
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if matches!(first.as_str(), "select" | "with" | "values" | "from") {
        // The newline ends a trailing `-- comment`, which would otherwise
        // swallow the closing parenthesis.
        return Ok(format!("({trimmed}\n)"));
    }
    if trimmed.is_empty() || trimmed.contains(char::is_whitespace) && !trimmed.contains('"') {
        return Err(UdfError::argument(
            function,
            argument,
            format!("'{text}' is neither a table name nor a query (SELECT/WITH/VALUES)"),
        )
        .into());
    }
    let reference = TableReference::from(trimmed);
    Ok(format!("(SELECT * FROM {})", quote_reference(&reference)))
}

/// A SQL identifier for `s`, quoted.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_reference(r: &TableReference) -> String {
    match r {
        TableReference::Bare { table } => quote_ident(table),
        TableReference::Partial { schema, table } => {
            format!("{}.{}", quote_ident(schema), quote_ident(table))
        }
        TableReference::Full {
            catalog,
            schema,
            table,
        } => format!(
            "{}.{}.{}",
            quote_ident(catalog),
            quote_ident(schema),
            quote_ident(table)
        ),
    }
}

/// A SQL string literal for `s`.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A `DATE` literal for days since 1970-01-01.
pub fn date_literal(days: i32) -> String {
    let v = ScalarValue::Date32(Some(days));
    format!("DATE '{v}'")
}

/// The session's state, which table functions need to plan SQL.
pub fn state<'a>(function: &'static str, session: &'a dyn Session) -> Result<&'a SessionState> {
    session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| {
            UdfError::data(
                function,
                "needs a DataFusion SessionState to plan its input (got another Session type)",
            )
            .into()
        })
}

/// Plan `sql` in `state`; errors are prefixed with the function's name.
pub fn plan(function: &'static str, state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    complete(function, state.create_logical_plan(sql))?
        .map_err(|e| DataFusionError::Plan(format!("{function}: input: {}", strip(e))))
}

/// Poll `fut` until it is ready. Futures that resolve catalog entries are ready
/// at once; one that waits on I/O driven by another thread is re-polled every
/// millisecond for up to a minute, then reported as an error.
fn complete<F: std::future::Future>(function: &'static str, fut: F) -> Result<F::Output> {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let start = std::time::Instant::now();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Ok(v);
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            return Err(UdfError::data(
                function,
                "planning the input did not complete within 60 s (a catalog that needs I/O to list its tables?)",
            )
            .into());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// DataFusion's message without its "Error during planning: " style prefix.
fn strip(e: DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::Plan(m) | DataFusionError::Execution(m) => m.clone(),
        DataFusionError::SQL(e, _) => e.to_string(),
        other => other.to_string(),
    }
}

/// What a required input column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Any type that can be grouped on (ids).
    Key,
    /// DATE or TIMESTAMP.
    Time,
    /// Any integer, float or decimal.
    Number,
    /// A string (any string type, dictionary-encoded too).
    Text,
}

/// Check that the planned input has the columns a function needs, with a
/// message listing what was found.
pub fn check_columns(
    function: &'static str,
    schema: &DFSchema,
    required: &[(&str, ColumnKind)],
) -> Result<()> {
    check_argument_columns(function, "input", schema, required)
}

/// [`check_columns`] for the table or query of argument `argument`.
pub fn check_argument_columns(
    function: &'static str,
    argument: &str,
    schema: &DFSchema,
    required: &[(&str, ColumnKind)],
) -> Result<()> {
    use datafusion::arrow::datatypes::DataType as T;
    let found = || {
        schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, kind) in required {
        let Some(field) = schema.fields().iter().find(|f| f.name() == name) else {
            return Err(UdfError::argument(
                function,
                argument,
                format!(
                    "needs a column '{name}'; found: {}. Rename with SELECT ... AS {name}",
                    found()
                ),
            )
            .into());
        };
        let t = field.data_type();
        let ok = match kind {
            ColumnKind::Key => !t.is_nested(),
            ColumnKind::Time => matches!(t, T::Date32 | T::Date64 | T::Timestamp(..)),
            ColumnKind::Number => t.is_numeric() || matches!(t, T::Null),
            ColumnKind::Text => crate::text_arg::is_text(t),
        };
        if !ok {
            let want = match kind {
                ColumnKind::Key => "a plain (non-nested) type",
                ColumnKind::Time => "DATE or TIMESTAMP",
                ColumnKind::Number => "a number",
                ColumnKind::Text => "a string (VARCHAR)",
            };
            return Err(UdfError::argument(
                function,
                argument,
                format!("column '{name}' must be {want}, found {t}"),
            )
            .into());
        }
    }
    Ok(())
}

/// SQL for the sum of the numeric expression `expr` over a group (with an
/// optional aggregate `FILTER (WHERE ...)` clause), computed so that the
/// result has the same bits whatever the row order, partitioning or number of
/// machines.
///
/// Floating-point addition is not associative: DataFusion's `SUM` over DOUBLE
/// gives results that differ in the last bits with the order partial sums
/// merge in, and anything keyed on exact values downstream (a model fit's
/// optimiser path, `churn_train`'s canonical row order, RFM ranks) then
/// changes. Here each value is rounded to 10 decimals and summed as a
/// DECIMAL, exactly, and the exact total is rounded once to DOUBLE. Values
/// that do not fit (|x| >= 1e17, NaN, infinite) are summed as DOUBLE and
/// added to that total, so NaN and infinities propagate as in `SUM`. NULL when
/// the group has no non-NULL value. With at most 1.7e11 rows per group the
/// DECIMAL total cannot overflow.
pub fn exact_sum(expr: &str, filter: &str) -> String {
    let exact = format!("TRY_CAST({expr} AS DECIMAL(27, 10))");
    format!(
        "CASE WHEN COUNT({expr}){filter} = 0 THEN CAST(NULL AS DOUBLE) \
              ELSE COALESCE(CAST(SUM({exact}){filter} AS DOUBLE), 0.0) \
                   + COALESCE(SUM(CASE WHEN {exact} IS NULL THEN CAST({expr} AS DOUBLE) END){filter}, 0.0) END"
    )
}

/// Plan `sql` and return it as a view provider.
pub fn view(
    function: &'static str,
    state: &SessionState,
    sql: &str,
) -> Result<Arc<dyn TableProvider>> {
    let plan = plan(function, state, sql)?;
    Ok(Arc::new(ViewTable::new(plan, Some(sql.to_string()))))
}

/// A table function whose providers are replaced by the view of their
/// definition: for sessions whose plans leave the process (a Ballista
/// cluster), where a custom plan node such as the mining functions' streaming
/// scan cannot be shipped. Providers that are already SQL views, or have no
/// definition, are returned as they are.
#[derive(Debug)]
pub struct AsView {
    pub function: &'static str,
    pub inner: Arc<dyn TableFunctionImpl>,
}

impl TableFunctionImpl for AsView {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let session = args.session();
        let provider = self.inner.call_with_args(args)?;
        if provider.downcast_ref::<ViewTable>().is_some() {
            return Ok(provider);
        }
        match provider.get_table_definition() {
            Some(sql) => view(self.function, state(self.function, session)?, sql),
            None => Ok(provider),
        }
    }
}
