//! Naming the file behind "encountered non UTF-8 data".
//!
//! A Parquet string column must hold UTF-8. When one does not, the Parquet
//! reader stops the query with "Parquet error: encountered non UTF-8 data:
//! invalid utf-8 sequence ..." and names neither the file nor the column.
//! On that error (only then: it costs a scan), [`name_invalid_utf8`] reads
//! the string columns of the lake tables the SQL text mentions, file by file
//! and column by column, and rewrites the error to name the first file and
//! column that fail. Tables are matched by name anywhere in the text, so
//! table-function arguments such as `feedback_features('feedback', ...)`
//! count too. When nothing is found the error is returned unchanged.

use std::collections::HashSet;

use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::functions::expr_fn::octet_length;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::prelude::{ident, ParquetReadOptions, SessionContext};
use futures::TryStreamExt;
use url::Url;

use crate::error::CrmlakeError;
use crate::lake::redact_url;

const MARK: &str = "non UTF-8";

/// `e` again, or, when it is the Parquet reader's invalid-UTF-8 error and a
/// lake table named in `sql` has a file whose string column fails to
/// decode, a user error naming that file and column.
pub async fn name_invalid_utf8(ctx: &SessionContext, sql: &str, e: CrmlakeError) -> CrmlakeError {
    let CrmlakeError::Query { context, source } = &e else {
        return e;
    };
    if !source.to_string().contains(MARK) {
        return e;
    }
    match find(ctx, sql).await {
        Some((file, column)) => CrmlakeError::user(format!(
            "{context}: {file}: column '{column}' holds text that is not valid UTF-8 \
             (Parquet string columns must be UTF-8: rewrite the file, or store the column as BINARY): {source}"
        )),
        None => e,
    }
}

/// The first (file URL, column) among the tables named in `sql` whose
/// string column does not decode as UTF-8.
async fn find(ctx: &SessionContext, sql: &str) -> Option<(String, String)> {
    let words: HashSet<String> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map(str::to_lowercase)
        .collect();
    let options = ctx.state().config_options().catalog.clone();
    let schema = ctx
        .catalog(&options.default_catalog)?
        .schema(&options.default_schema)?;
    let mut names = schema.table_names();
    names.sort();
    for name in names.iter().filter(|n| words.contains(&n.to_lowercase())) {
        let Ok(Some(table)) = schema.table(name).await else {
            continue;
        };
        let Some(listing) = table.downcast_ref::<ListingTable>() else {
            continue;
        };
        for path in listing.table_paths() {
            if let Some(found) = find_in_folder(ctx, path).await {
                return Some(found);
            }
        }
    }
    None
}

async fn find_in_folder(ctx: &SessionContext, path: &ListingTableUrl) -> Option<(String, String)> {
    let store = ctx.runtime_env().object_store(path).ok()?;
    let mut files: Vec<_> = store.list(Some(path.prefix())).try_collect().await.ok()?;
    files.sort_by(|a, b| a.location.cmp(&b.location));
    for file in files {
        let location = file.location.as_ref();
        // Hidden below the table folder (`_SUCCESS`, staging): as discovery.
        let hidden = location
            .strip_prefix(path.prefix().as_ref())
            .unwrap_or(location)
            .split('/')
            .any(|s| s.starts_with('_') || s.starts_with('.'));
        if hidden || !location.ends_with(".parquet") {
            continue;
        }
        let url = format!("{}{location}", path.object_store().as_str());
        let Ok(df) = ctx
            .read_parquet(url.as_str(), ParquetReadOptions::default())
            .await
        else {
            continue;
        };
        let columns: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .filter(|f| crmlake_udfs::text_arg::is_text(f.data_type()))
            .map(|f| f.name().clone())
            .collect();
        for column in columns {
            let scan = df
                .clone()
                .aggregate(vec![], vec![sum(octet_length(ident(&column)))]);
            let failed = match scan {
                Ok(scan) => scan
                    .collect()
                    .await
                    .is_err_and(|e| e.to_string().contains(MARK)),
                Err(_) => false,
            };
            if failed {
                let shown = Url::parse(&url).map(|u| redact_url(&u)).unwrap_or(url);
                return Some((shown, column));
            }
        }
    }
    None
}
