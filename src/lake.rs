//! Lake discovery: every folder directly under the lake root that holds Parquet
//! files is a table named after the folder.
//!
//! Hive partitions (`key=value/` folders) become partition columns. Folders whose
//! name starts with `_` or `.` (`_runs`, `_rejects`, staging folders) are not
//! tables, and files starting with `_` or `.` (`_SUCCESS`) are skipped quietly.
//! Other non-Parquet files are ignored with a warning; a folder with no Parquet
//! file is not a table (warning).

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use url::Url;

use crate::error::{CrmlakeError, Result};

/// A table found in the lake.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeTable {
    pub name: String,
    pub url: String,
    pub parquet_files: usize,
    pub partition_columns: Vec<String>,
    /// The table's Parquet files (filled in by lake discovery).
    pub files: Vec<LakeFile>,
}

/// One Parquet file of a lake table, as its store lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeFile {
    /// The file's URL (without credentials).
    pub url: String,
    /// Its path in the lake's object store.
    pub store_path: String,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    pub e_tag: Option<String>,
}

/// What lake discovery found.
#[derive(Debug, Clone, Default)]
pub struct LakeReport {
    pub root: String,
    pub tables: Vec<LakeTable>,
    pub warnings: Vec<String>,
}

/// Turn what the user typed (a path or a URL) into a directory URL ending in `/`.
pub fn lake_url(location: &str) -> Result<Url> {
    let mut url = if location.contains("://") {
        Url::parse(location)
            .map_err(|e| CrmlakeError::user(format!("lake '{location}': not a valid URL: {e}")))?
    } else {
        let path = std::path::Path::new(location);
        let abs = std::fs::canonicalize(path)
            .map_err(|e| CrmlakeError::user(format!("lake '{location}' not found: {e}")))?;
        if !abs.is_dir() {
            return Err(CrmlakeError::user(format!(
                "lake '{location}' is not a directory"
            )));
        }
        Url::from_directory_path(&abs).map_err(|_| {
            CrmlakeError::user(format!("lake '{location}': cannot be turned into a URL"))
        })?
    };
    if !crate::object_stores::SCHEMES.contains(&url.scheme())
        && !["s3a", "gcs", "abfs", "abfss"].contains(&url.scheme())
    {
        return Err(CrmlakeError::user(format!(
            "lake '{location}': unsupported URL scheme '{}' (use a local path or file://, memory://, s3://, gs://, az://)",
            url.scheme()
        )));
    }
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

fn hidden(segment: &str) -> bool {
    segment.starts_with('_') || segment.starts_with('.')
}

/// Find the lake's tables and register each in `ctx`.
pub async fn register_lake(ctx: &SessionContext, location: &str) -> Result<LakeReport> {
    let root = lake_url(location)?;
    let store = ctx
        .runtime_env()
        .object_store_registry
        .get_store(&root)
        .map_err(|e| CrmlakeError::query(format!("lake '{location}'"), e))?;
    let root_path = StorePath::from_url_path(root.path())
        .map_err(|e| CrmlakeError::user(format!("lake '{location}': bad path: {e}")))?;
    let listing = store
        .list_with_delimiter(Some(&root_path))
        .await
        .map_err(|e| CrmlakeError::user(format!("lake '{location}' cannot be listed: {e}")))?;
    let mut report = LakeReport {
        root: root.to_string(),
        ..Default::default()
    };
    let mut dirs = listing.common_prefixes;
    dirs.sort();
    for dir in dirs {
        let Some(name) = dir.filename().map(str::to_string) else {
            continue;
        };
        if hidden(&name) {
            continue;
        }
        let objects: Vec<_> = store.list(Some(&dir)).try_collect().await.map_err(|e| {
            CrmlakeError::user(format!("lake table folder '{name}' cannot be listed: {e}"))
        })?;
        let mut parquet_files = 0;
        let mut files = Vec::new();
        for obj in &objects {
            let rel: Vec<_> = obj
                .location
                .prefix_match(&dir)
                .map(|p| p.collect())
                .unwrap_or_default();
            let rel: Vec<String> = rel
                .iter()
                .map(|p: &object_store::path::PathPart| p.as_ref().to_string())
                .collect();
            if rel.iter().any(|s| hidden(s)) {
                continue;
            }
            if obj.location.as_ref().ends_with(".parquet") {
                parquet_files += 1;
                files.push(LakeFile {
                    url: format!("{}{name}/{}", redact_url(&root), rel.join("/")),
                    store_path: obj.location.as_ref().to_string(),
                    size: obj.size,
                    last_modified: obj.last_modified,
                    e_tag: obj.e_tag.clone(),
                });
            } else {
                report.warnings.push(format!(
                    "table '{name}': ignoring non-Parquet file '{}'",
                    rel.join("/")
                ));
            }
        }
        if parquet_files == 0 {
            report.warnings.push(format!(
                "folder '{name}' holds no Parquet files: not registered as a table"
            ));
            continue;
        }
        let table_url = root
            .join(&format!("{name}/"))
            .map_err(|e| CrmlakeError::user(format!("table '{name}': bad URL: {e}")))?;
        let mut table =
            register_parquet_table(ctx, &name, table_url.as_str(), parquet_files).await?;
        table.files = files;
        report.tables.push(table);
    }
    Ok(report)
}

/// Register one folder of Parquet files (Hive partitions inferred) as `name`.
pub async fn register_parquet_table(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    parquet_files: usize,
) -> Result<LakeTable> {
    let (table, partition_columns) = parquet_table(ctx, name, url).await?;
    ctx.register_table(TableReference::bare(name), Arc::new(table))
        .map_err(|e| CrmlakeError::query(format!("lake table '{name}' ({url})"), e))?;
    Ok(LakeTable {
        name: name.to_string(),
        url: url.to_string(),
        parquet_files,
        partition_columns,
        files: Vec::new(),
    })
}

/// One folder of Parquet files (Hive partitions inferred) as a table, and
/// its partition columns; `name` names it in errors.
pub async fn parquet_table(
    ctx: &SessionContext,
    name: &str,
    url: &str,
) -> Result<(ListingTable, Vec<String>)> {
    let context = || format!("lake table '{name}' ({url})");
    let table_url = ListingTableUrl::parse(url).map_err(|e| CrmlakeError::query(context(), e))?;
    let state = ctx.state();
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .infer_partitions_from_path(&state)
        .await
        .map_err(|e| CrmlakeError::query(context(), e))?
        .infer_schema(&state)
        .await
        .map_err(|e| CrmlakeError::query(context(), e))?;
    let partition_columns = config
        .options
        .as_ref()
        .map(|o| {
            o.table_partition_cols
                .iter()
                .map(|(c, _)| c.clone())
                .collect()
        })
        .unwrap_or_default();
    let table = ListingTable::try_new(config).map_err(|e| CrmlakeError::query(context(), e))?;
    Ok((table, partition_columns))
}

/// `url` without user, password, query or fragment: what logs and manifests
/// may show. In Azure's `abfs[s]://<container>@<account>...` the user name is
/// the container, not a secret, and stays.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !matches!(url.scheme(), "az" | "abfs" | "abfss") {
        let _ = u.set_username("");
    }
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_drop_secrets_but_keep_azure_containers() {
        let s3 = Url::parse("s3://key:secret@bucket/lake?sig=x#f").unwrap();
        assert_eq!(redact_url(&s3), "s3://bucket/lake");
        let az = Url::parse("abfss://sales:secret@acct.dfs.core.windows.net/lake?sv=1").unwrap();
        assert_eq!(
            redact_url(&az),
            "abfss://sales@acct.dfs.core.windows.net/lake"
        );
    }
}
