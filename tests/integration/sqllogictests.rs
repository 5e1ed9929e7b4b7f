//! Runs every `tests/sql/*.slt` file with crmlake's functions registered over
//! the sample lake, with 4 target partitions so aggregate state merging is
//! always exercised.
//!
//! Result formatting: NULL prints as `NULL`, floats with up to 12 significant
//! digits (trailing zeros trimmed), everything else as Arrow displays it.

use std::path::PathBuf;

use async_trait::async_trait;
use crmlake::session::{lake_session, SessionOptions};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};

struct Crmlake {
    ctx: SessionContext,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SltError {}

fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.1}");
    }
    let s = format!("{:.*e}", 11, v);
    let parsed: f64 = s.parse().unwrap_or(v);
    let mut out = format!("{parsed}");
    if out.contains('.') && !out.contains('e') {
        while out.ends_with('0') {
            out.pop();
        }
    }
    out
}

#[async_trait]
impl sqllogictest::AsyncDB for Crmlake {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let statements =
            crmlake::sql::parse_statements(sql, "slt").map_err(|e| SltError(e.to_string()))?;
        let is_query = statements.len() == 1
            && matches!(&statements[0], datafusion::sql::parser::Statement::Statement(s)
                if matches!(**s, datafusion::sql::sqlparser::ast::Statement::Query(_)));
        let result = crmlake::sql::run_script(&self.ctx, sql, "slt", false)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let Some(result) = result else {
            return Ok(DBOutput::StatementComplete(0));
        };
        if !is_query {
            return Ok(DBOutput::StatementComplete(result.num_rows() as u64));
        }
        let types = result
            .schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t.is_integer() => DefaultColumnType::Integer,
                t if t.is_floating() || matches!(t, DataType::Decimal128(..)) => {
                    DefaultColumnType::FloatingPoint
                }
                _ => DefaultColumnType::Text,
            })
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &result.batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SltError(e.to_string()))?;
            for row in 0..batch.num_rows() {
                let mut cells = Vec::with_capacity(batch.num_columns());
                for (col, fmt) in batch.columns().iter().zip(&formatters) {
                    let cell = if col.is_null(row) {
                        "NULL".to_string()
                    } else {
                        match col.data_type() {
                            DataType::Float64 => {
                                format_float(col.as_primitive::<Float64Type>().value(row))
                            }
                            DataType::Float32 => {
                                format_float(col.as_primitive::<Float32Type>().value(row) as f64)
                            }
                            _ => {
                                let s = fmt.value(row).to_string();
                                if s.is_empty() {
                                    "(empty)".to_string()
                                } else {
                                    s
                                }
                            }
                        }
                    };
                    cells.push(cell);
                }
                rows.push(cells);
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "crmlake"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let root = crate::common::root();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/sql"))
        .expect("tests/sql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files found");
    let lake = root.join("data/lake").display().to_string();
    let mut failures = Vec::new();
    for file in &files {
        let lake = lake.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let lake = lake.clone();
            async move {
                let opts = SessionOptions {
                    lake: Some(lake),
                    target_partitions: Some(4),
                    memory_limit: None,
                    cluster: None,
                };
                let (ctx, _) = lake_session(&opts)
                    .await
                    .map_err(|e| SltError(e.to_string()))?;
                Ok(Crmlake { ctx })
            }
        });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
        println!("ran {}", file.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
