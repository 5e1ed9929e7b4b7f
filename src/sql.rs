//! Running SQL text: `crmlake sql -c` and `-f`, and the batch job steps.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::{CrmlakeError, Result};

/// The result of the last statement of a script.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Split `text` into statements (DataFusion's SQL dialect, `CREATE EXTERNAL
/// TABLE` and `COPY` included). `source` names where the text came from, for
/// error messages.
pub fn parse_statements(
    text: &str,
    source: &str,
) -> Result<Vec<datafusion::sql::parser::Statement>> {
    let statements = DFParser::parse_sql_with_dialect(text, &GenericDialect {})
        .map_err(|e| CrmlakeError::query(format!("{source}: SQL syntax"), e))?;
    Ok(statements.into_iter().collect())
}

/// Run every statement of `text` in order; return the last one's result.
/// A failing statement stops the script; the error names its number.
pub async fn run_script(
    ctx: &SessionContext,
    text: &str,
    source: &str,
    timing: bool,
) -> Result<Option<QueryResult>> {
    let statements = parse_statements(text, source)?;
    let count = statements.len();
    let mut last = None;
    for (i, statement) in statements.into_iter().enumerate() {
        let context = if count > 1 {
            format!("{source}: statement {} of {count}", i + 1)
        } else {
            source.to_string()
        };
        let started = std::time::Instant::now();
        let state = ctx.state();
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(|e| CrmlakeError::query(&context, e))?;
        let df = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| CrmlakeError::query(&context, e))?;
        let schema = df.schema().inner().clone();
        let batches = match df.collect().await {
            Ok(b) => b,
            Err(e) => {
                let e = CrmlakeError::query(&context, e);
                return Err(crate::invalid_utf8::name_invalid_utf8(ctx, text, e).await);
            }
        };
        if timing {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            eprintln!(
                "{context}: {rows} rows in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
        last = Some(QueryResult { schema, batches });
    }
    Ok(last)
}
