//! A job's output root — a local folder or an object-store prefix — and the
//! protocol that commits what a run writes there.
//!
//! Everything is written through `object_store`, so a local folder and an
//! `s3://` bucket behave the same. A file is first written whole under
//! `OUT/_staging/<run_id>/...` and then renamed onto its final key. A rename
//! replaces the target in one step (a file rename on a local disk; on S3 a
//! copy, which swaps the object atomically, then the staged copy is deleted),
//! so a reader sees the old file or the new one, never half of one. A table
//! partition is one file, `part-00000.parquet`, up to the job's
//! `max_file_mb` (4096 MB by default: S3 copies one object only up to
//! 5 GiB); a larger partition rolls over into `part-00001.parquet` and on.
//! One file makes the per-file guarantee a per-partition one; with several,
//! the partition's `_SUCCESS` is absent from before the first rename to
//! after the last, and parts an older, larger run left are deleted after the
//! new ones land (so a reader never sees fewer rows than the old partition's
//! file 0 held, and a reader that checks `_SUCCESS` never sees a mix).
//!
//! After SIGKILL on an object store the staged files' unfinished multipart
//! uploads stay behind (invisible, but billed): `object_store` cannot list
//! them, so crmlake cannot abort them; README says to set the bucket's
//! lifecycle rule `AbortIncompleteMultipartUpload`.
//!
//! Staging lives outside every table folder, so even a recursive glob over
//! `OUT/<table>/` never picks up a half-written file of a killed run. A run
//! removes the staging leftovers of earlier runs when it starts; it holds the
//! root's lock ([`crate::job::lock`]) meanwhile, so no other run is staging.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::error::{CrmlakeError, Result};
use crate::lake::redact_url;

/// Bytes buffered before a multipart upload starts.
const UPLOAD_BUFFER: usize = 10 * 1024 * 1024;

/// The largest file a part may grow to by default, and at most: under the
/// 5 GiB an S3 CopyObject (our rename) accepts, with room for the batch that
/// crosses the line.
pub const MAX_FILE_MB: u64 = 4096;

/// Where a job writes.
pub struct OutRoot {
    /// Directory URL ending in `/`.
    url: Url,
    store: Arc<dyn ObjectStore>,
    root: StorePath,
    /// The root as shown in messages and manifests (no credentials).
    shown: String,
    /// The run's lease on the root's lock (object stores): once lost, no
    /// more commits.
    lease: Lease,
}

/// Whether a run still holds its lease on the output root: the lock's
/// renewal task marks it lost (with why) when it cannot renew, and every
/// commit checks it first, so a run that lost its lock stops before its
/// next commit instead of interleaving with the run that took the lock over.
#[derive(Clone, Default, Debug)]
pub struct Lease(Arc<std::sync::Mutex<Option<String>>>);

impl Lease {
    pub fn lose(&self, why: String) {
        if let Ok(mut lost) = self.0.lock() {
            lost.get_or_insert(why);
        }
    }

    pub fn lost(&self) -> Option<String> {
        self.0.lock().ok().and_then(|l| l.clone())
    }
}

impl OutRoot {
    /// Open (and for a local folder, create) the output root `location`, and
    /// check that it can be listed.
    pub async fn open(ctx: &SessionContext, location: &str) -> Result<OutRoot> {
        let mut url = if location.contains("://") {
            Url::parse(location).map_err(|e| {
                CrmlakeError::user(format!("output root '{location}': not a valid URL: {e}"))
            })?
        } else {
            let path = std::path::Path::new(location);
            std::fs::create_dir_all(path).map_err(|e| {
                CrmlakeError::user(format!("output root '{location}' cannot be created: {e}"))
            })?;
            let abs = std::fs::canonicalize(path).map_err(|e| CrmlakeError::io(location, e))?;
            Url::from_directory_path(&abs).map_err(|_| {
                CrmlakeError::user(format!("output root '{location}': not a usable path"))
            })?
        };
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        let shown = redact_url(&url);
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|_| {
                CrmlakeError::user(format!("output root '{shown}': not a local path"))
            })?;
            std::fs::create_dir_all(&path).map_err(|e| {
                CrmlakeError::user(format!("output root '{shown}' cannot be created: {e}"))
            })?;
        }
        let store = ctx
            .runtime_env()
            .object_store_registry
            .get_store(&url)
            .map_err(|e| CrmlakeError::query(format!("output root '{shown}'"), e))?;
        let root = StorePath::from_url_path(url.path())
            .map_err(|e| CrmlakeError::user(format!("output root '{shown}': bad path: {e}")))?;
        let out = OutRoot {
            url,
            store,
            root,
            shown,
            lease: Lease::default(),
        };
        out.list_dir("").await.map_err(|e| {
            CrmlakeError::user(format!(
                "output root '{}' cannot be reached: {e}",
                out.shown
            ))
        })?;
        Ok(out)
    }

    /// The store the root is in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The root as users may see it (credentials removed).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Is the root a local folder?
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }

    /// The store path of `rel` (a `/`-separated path under the root).
    pub fn path(&self, rel: &str) -> StorePath {
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    /// The URL of folder `rel`, ending in `/`, for registering it as a table.
    pub fn dir_url(&self, rel: &str) -> Result<String> {
        let rel = format!("{}/", rel.trim_end_matches('/'));
        self.url
            .join(&rel)
            .map(|u| u.to_string())
            .map_err(|e| CrmlakeError::Internal(format!("output URL for '{rel}': {e}")))
    }

    /// How `rel` is shown in messages and manifests.
    pub fn show(&self, rel: &str) -> String {
        format!("{}{}", self.shown, rel)
    }

    fn io_error(&self, rel: &str, what: &str, e: object_store::Error) -> CrmlakeError {
        CrmlakeError::user(format!("cannot {what} '{}': {e}", self.show(rel)))
    }

    /// A Parquet writer that uploads to `rel`.
    pub fn parquet_writer(
        &self,
        rel: &str,
        schema: SchemaRef,
    ) -> Result<AsyncArrowWriter<BufWriter>> {
        let upload =
            BufWriter::with_capacity(Arc::clone(&self.store), self.path(rel), UPLOAD_BUFFER);
        AsyncArrowWriter::try_new(upload, schema, Some(crate::output::writer_properties()))
            .map_err(|e| CrmlakeError::Internal(format!("parquet writer for '{rel}': {e}")))
    }

    /// Write `bytes` to `rel` (one PUT: whole or not at all).
    pub async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.path(rel), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.io_error(rel, "write", e))
    }

    /// The bytes of `rel`; None when there is no such object.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let read = async {
            let result = self.store.get(&self.path(rel)).await?;
            result.bytes().await
        };
        match read.await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io_error(rel, "read", e)),
        }
    }

    /// The run's lease on this root's lock.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// An error when the run's lease on the root's lock is lost.
    pub fn check_lease(&self) -> Result<()> {
        match self.lease.lost() {
            Some(why) => Err(CrmlakeError::user(format!(
                "{}: this run lost its lock on the output root ({why}); stopped before committing more",
                self.shown
            ))),
            None => Ok(()),
        }
    }

    /// Move `from` onto `to`, replacing `to` in one step (a commit: refused
    /// once the run's lease is lost).
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.check_lease()?;
        self.store
            .rename(&self.path(from), &self.path(to))
            .await
            .map_err(|e| self.io_error(to, "commit", e))
    }

    /// Delete `rel`; a missing object is fine.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.path(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.io_error(rel, "delete", e)),
        }
    }

    /// Every object under folder `rel` (recursively).
    pub async fn list(&self, rel: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.path(rel);
        self.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.io_error(rel, "list", e))
    }

    /// The names directly in folder `rel` (files and folders).
    pub async fn list_dir(
        &self,
        rel: &str,
    ) -> std::result::Result<Vec<String>, object_store::Error> {
        let prefix = self.path(rel);
        let listing = self.store.list_with_delimiter(Some(&prefix)).await?;
        Ok(listing
            .objects
            .iter()
            .map(|o| &o.location)
            .chain(listing.common_prefixes.iter())
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Delete everything under folder `rel`.
    pub async fn delete_dir(&self, rel: &str) -> Result<()> {
        for obj in self.list(rel).await? {
            match self.store.delete(&obj.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.io_error(rel, "delete", e)),
            }
        }
        if let Some(dir) = self.local_dir() {
            let p = dir.join(rel);
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            }
        }
        Ok(())
    }

    /// The store path `p` relative to the root.
    pub fn relative(&self, p: &StorePath) -> String {
        p.prefix_match(&self.root)
            .map(|parts| {
                parts
                    .map(|s| s.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| p.to_string())
    }

    /// Commit a partition's staged parts: `partition` (e.g.
    /// `ltv/run_date=2026-12-01`) ends up holding exactly
    /// `part-00000.parquet`, `part-00001.parquet`, ... (the staged files, in
    /// order) and then `_SUCCESS` holding the run id.
    pub async fn commit_partition(
        &self,
        staged: &[String],
        partition: &str,
        run_id: &str,
    ) -> Result<()> {
        // The old marker goes first: while the partition changes it has none.
        self.delete(&format!("{partition}/_SUCCESS")).await?;
        let files: Vec<String> = (0..staged.len())
            .map(|i| format!("{partition}/{}", part_name(i)))
            .collect();
        for (from, to) in staged.iter().zip(&files) {
            self.rename(from, to).await?;
        }
        // Then whatever else is there (parts of an older, larger run).
        for obj in self.list(partition).await? {
            let rel = self.relative(&obj.location);
            if !files.contains(&rel) {
                self.delete(&rel).await?;
            }
        }
        self.put(
            &format!("{partition}/_SUCCESS"),
            format!("{run_id}\n").into_bytes(),
        )
        .await
    }
}

/// The file name of part `i` of a partition.
pub fn part_name(i: usize) -> String {
    format!("part-{i:05}.parquet")
}

/// Writes one partition's rows as Parquet parts under a staging folder,
/// closing a part when it reaches `max_bytes` (checked after each batch) and
/// starting the next with the next batch. There is always at least one part,
/// so an empty result is still a readable file with the schema.
pub struct PartWriter<'a> {
    out: &'a OutRoot,
    folder: String,
    schema: SchemaRef,
    max_bytes: u64,
    /// The open part (None after a part was closed full).
    writer: Option<AsyncArrowWriter<BufWriter>>,
    parts: Vec<String>,
}

impl<'a> PartWriter<'a> {
    /// Parts `folder/part-00000.parquet`, ... of at most `max_bytes` each.
    pub fn new(out: &'a OutRoot, folder: &str, schema: SchemaRef, max_bytes: u64) -> Result<Self> {
        let first = format!("{folder}/{}", part_name(0));
        let writer = out.parquet_writer(&first, schema.clone())?;
        Ok(PartWriter {
            out,
            folder: folder.to_string(),
            schema,
            max_bytes,
            writer: Some(writer),
            parts: vec![first],
        })
    }

    fn error(&self, e: datafusion::parquet::errors::ParquetError) -> CrmlakeError {
        let current = self.parts.last().map(String::as_str).unwrap_or_default();
        CrmlakeError::user(format!("writing '{}': {e}", self.out.show(current)))
    }

    /// Write `batch`, into a new part when the last one was closed full.
    pub async fn write(&mut self, batch: &datafusion::arrow::array::RecordBatch) -> Result<()> {
        let mut writer = match self.writer.take() {
            Some(w) => w,
            None => {
                let next = format!("{}/{}", self.folder, part_name(self.parts.len()));
                let w = self.out.parquet_writer(&next, self.schema.clone())?;
                self.parts.push(next);
                w
            }
        };
        writer.write(batch).await.map_err(|e| self.error(e))?;
        let size = (writer.bytes_written() + writer.in_progress_size()) as u64;
        if size >= self.max_bytes {
            writer.close().await.map_err(|e| self.error(e))?;
        } else {
            self.writer = Some(writer);
        }
        Ok(())
    }

    /// Close the last part; the staged parts, in order.
    pub async fn finish(mut self) -> Result<Vec<String>> {
        if let Some(w) = self.writer.take() {
            w.close().await.map_err(|e| self.error(e))?;
        }
        Ok(self.parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose lease was lost commits nothing more: the rename that
    /// would publish a staged file fails, naming the root and why.
    #[tokio::test]
    async fn no_commit_after_the_lease_is_lost() {
        let dir = tempfile::tempdir().expect("temp dir");
        let location = dir.path().to_string_lossy().to_string();
        let out = OutRoot::open(&SessionContext::new(), &location)
            .await
            .expect("open");
        out.put("_staging/a", b"1".to_vec()).await.expect("put");
        out.rename("_staging/a", "t/a")
            .await
            .expect("held: commits");
        out.put("_staging/b", b"2".to_vec()).await.expect("put");
        out.lease()
            .lose("its lease could not be renewed: gone".into());
        let e = out.rename("_staging/b", "t/b").await.expect_err("lost");
        let message = e.to_string();
        assert!(
            message.contains(
                "lost its lock on the output root (its lease could not be renewed: gone)"
            ),
            "{message}"
        );
        assert!(!dir.path().join("t/b").exists());
        assert!(dir.path().join("t/a").exists());
    }
}
