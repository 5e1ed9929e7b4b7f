//! A lake table restricted to a fixed list of its Parquet files: what an
//! incremental job input (`[inputs.T] incremental = true`) reads.
//!
//! DataFusion's `ListingTable` lists its folder when a query is planned, so
//! a file that lands while a run is going would be read by a later step but
//! not recorded as consumed. [`FileListTable`] reads exactly the files it
//! was given (chosen once, when the run starts), with the columns and Hive
//! partition columns of the whole folder, so its rows have the same schema
//! whichever files are new.
//!
//! ```sql
//! -- in an incremental job, `feedback` is such a table: only the new files
//! SELECT count(*) FROM feedback;
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::{ListingOptions, ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use object_store::path::Path as StorePath;
use object_store::ObjectMeta;

use crate::lake::LakeFile;

/// A table over exactly `files` of one lake folder.
#[derive(Debug)]
pub struct FileListTable {
    /// The folder's URL (for the object store and the partition values).
    folder: ListingTableUrl,
    options: ListingOptions,
    /// The columns the files hold, then the partition columns.
    schema: SchemaRef,
    files: Vec<PartitionedFile>,
}

impl FileListTable {
    /// A table with the columns of `whole` (the listing table over `folder`)
    /// reading only `files`; their paths must lie under `folder`.
    pub fn new(
        name: &str,
        folder: &str,
        whole: &datafusion::datasource::listing::ListingTable,
        files: &[LakeFile],
    ) -> DFResult<FileListTable> {
        let folder = ListingTableUrl::parse(folder)?;
        let options = whole.options().clone();
        let schema = whole.schema();
        let partition_types: Vec<&DataType> = options
            .table_partition_cols
            .iter()
            .map(|(_, t)| t)
            .collect();
        let files = files
            .iter()
            .map(|f| {
                let location = StorePath::parse(&f.store_path).map_err(|e| {
                    DataFusionError::Plan(format!("table '{name}': file '{}': {e}", f.url))
                })?;
                let values = partition_values(
                    folder.prefix(),
                    &location,
                    &options.table_partition_cols,
                    &partition_types,
                )
                .ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "table '{name}': file '{}' is not under its partition folders ({})",
                        f.url,
                        options
                            .table_partition_cols
                            .iter()
                            .map(|(c, _)| format!("{c}=..."))
                            .collect::<Vec<_>>()
                            .join("/")
                    ))
                })??;
                let mut file = PartitionedFile::new_from_meta(ObjectMeta {
                    location,
                    last_modified: f.last_modified,
                    size: f.size,
                    e_tag: f.e_tag.clone(),
                    version: None,
                });
                file.partition_values = values;
                Ok(file)
            })
            .collect::<DFResult<Vec<_>>>()?;
        Ok(FileListTable {
            folder,
            options,
            schema,
            files,
        })
    }

    /// The file columns (the table's columns without the partition columns,
    /// which come last).
    fn file_schema(&self) -> SchemaRef {
        let n = self.schema.fields().len() - self.options.table_partition_cols.len();
        Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .take(n)
                .cloned()
                .collect::<Vec<_>>(),
        ))
    }
}

/// The values of the Hive partition columns `cols` in `file`'s path below
/// `folder`, in order; None when the path does not hold them.
fn partition_values(
    folder: &StorePath,
    file: &StorePath,
    cols: &[(String, DataType)],
    types: &[&DataType],
) -> Option<DFResult<Vec<ScalarValue>>> {
    let segments: Vec<String> = file
        .prefix_match(folder)?
        .map(|p| p.as_ref().to_string())
        .collect();
    let mut values = Vec::with_capacity(cols.len());
    for ((col, _), t) in cols.iter().zip(types) {
        let prefix = format!("{col}=");
        let raw = segments.iter().find_map(|s| s.strip_prefix(&prefix))?;
        let raw = percent_decode(raw);
        values.push(ScalarValue::try_from_string(raw, t));
    }
    Some(values.into_iter().collect())
}

/// `%XX` escapes in a partition value decoded (as Hive writes them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl TableProvider for FileListTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters are applied above the scan by DataFusion.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if self.files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let groups = state.config().target_partitions().max(1);
        let mut file_groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); groups];
        for (i, f) in self.files.iter().enumerate() {
            file_groups[i % groups].push(f.clone());
        }
        let file_groups: Vec<FileGroup> = file_groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(FileGroup::new)
            .collect();
        let partition_fields: Vec<Arc<Field>> = self
            .options
            .table_partition_cols
            .iter()
            .map(|(c, t)| Arc::new(Field::new(c, t.clone(), false)))
            .collect();
        let table_schema = TableSchemaBuilder::from(&self.file_schema())
            .with_table_partition_cols(partition_fields)
            .build();
        let source = self.options.format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(self.folder.object_store(), source)
            .with_file_groups(file_groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        self.options
            .format
            .create_physical_plan(state, config)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_come_from_the_path_below_the_folder() {
        let folder = StorePath::parse("lake/feedback").unwrap();
        let file =
            StorePath::parse("lake/feedback/day=2024-06-30/region=North%20East/p.parquet").unwrap();
        let cols = vec![
            ("day".to_string(), DataType::Utf8),
            ("region".to_string(), DataType::Utf8),
        ];
        let types: Vec<&DataType> = cols.iter().map(|(_, t)| t).collect();
        let values = partition_values(&folder, &file, &cols, &types)
            .unwrap()
            .unwrap();
        assert_eq!(
            values,
            vec![
                ScalarValue::Utf8(Some("2024-06-30".into())),
                ScalarValue::Utf8(Some("North East".into()))
            ]
        );
        let elsewhere = StorePath::parse("lake/other/day=1/p.parquet").unwrap();
        assert!(partition_values(&folder, &elsewhere, &cols, &types).is_none());
        let missing = StorePath::parse("lake/feedback/p.parquet").unwrap();
        assert!(partition_values(&folder, &missing, &cols, &types).is_none());
    }
}
