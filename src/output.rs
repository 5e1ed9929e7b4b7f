//! Printing results (`--format table|csv|json`) and writing them as Parquet.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{CrmlakeError, Result};

/// How `crmlake sql` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of row objects.
    Json,
}

/// Print `batches` to `out` in `format`.
pub fn print_batches(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<()> {
    let internal =
        |e: &dyn std::fmt::Display| CrmlakeError::Internal(format!("cannot print result: {e}"));
    match format {
        OutputFormat::Table => {
            if schema.fields().is_empty() {
                return Ok(());
            }
            let text = if batches.is_empty() {
                datafusion::arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(
                    schema.clone(),
                )])
            } else {
                datafusion::arrow::util::pretty::pretty_format_batches(batches)
            }
            .map_err(|e| internal(&e))?;
            writeln!(out, "{text}").map_err(|e| CrmlakeError::io("stdout", e))?;
        }
        OutputFormat::Csv => {
            if schema.fields().is_empty() {
                return Ok(());
            }
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                let empty = RecordBatch::new_empty(schema.clone());
                w.write(&nested_as_text(&empty).map_err(|e| internal(&e))?)
                    .map_err(|e| internal(&e))?;
            }
            for b in batches {
                w.write(&nested_as_text(b).map_err(|e| internal(&e))?)
                    .map_err(|e| internal(&e))?;
            }
        }
        OutputFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut buf);
                for b in batches {
                    w.write(b).map_err(|e| internal(&e))?;
                }
                w.finish().map_err(|e| internal(&e))?;
            }
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
            out.write_all(&buf)
                .map_err(|e| CrmlakeError::io("stdout", e))?;
            writeln!(out).map_err(|e| CrmlakeError::io("stdout", e))?;
        }
    }
    Ok(())
}

/// CSV has no lists or structs: print such columns as text, the way the
/// table format shows them (`[bread, milk]`, `{items: [..], size: 2}`).
fn nested_as_text(
    batch: &RecordBatch,
) -> std::result::Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    use std::sync::Arc;
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
        let mut text = StringBuilder::new();
        for i in 0..column.len() {
            if column.is_null(i) {
                text.append_null();
            } else {
                text.append_value(formatter.value(i).to_string());
            }
        }
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Parquet settings for everything crmlake writes: zstd, page statistics, so
/// BI tools and DuckDB prune well.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // Row groups of 128Ki rows: a reader (DataFusion included) can split one
        // file across cores at row-group boundaries, and BI tools skip groups
        // by their statistics.
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

/// Write `batches` to a Parquet file at `path` atomically: a temporary file in the
/// same folder, renamed over `path` once complete. A reader sees the old file or
/// the whole new one, never half.
pub fn write_parquet_file(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<u64> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(CrmlakeError::user(format!(
            "cannot write '{}': folder '{}' does not exist",
            path.display(),
            dir.display()
        )));
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| CrmlakeError::user(format!("'{}' is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| CrmlakeError::io(tmp.display(), e))?;
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties()))
            .map_err(|e| CrmlakeError::Internal(format!("parquet writer: {e}")))?;
        let mut rows = 0u64;
        for b in batches {
            rows += b.num_rows() as u64;
            writer
                .write(b)
                .map_err(|e| CrmlakeError::user(format!("writing '{}': {e}", path.display())))?;
        }
        let file = writer
            .into_inner()
            .map_err(|e| CrmlakeError::user(format!("writing '{}': {e}", path.display())))?;
        file.sync_all()
            .map_err(|e| CrmlakeError::io(tmp.display(), e))?;
        std::fs::rename(&tmp, path).map_err(|e| CrmlakeError::io(path.display(), e))?;
        Ok(rows)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
