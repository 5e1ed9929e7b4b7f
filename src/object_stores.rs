//! Object stores by URL: local paths and `file://`, `memory://`, `s3://`,
//! `gs://` and `az://`.
//!
//! DataFusion's default registry knows only `file://`. Ours builds a store the
//! first time a URL needs one, so a lake, a `CREATE EXTERNAL TABLE ... LOCATION`
//! or a `COPY ... TO` can name any bucket without setup. Credentials and
//! endpoints come from the standard environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`,
//! ...; `GOOGLE_*`; `AZURE_*`), read by object_store's `from_env` builders.

use std::sync::Arc;

use datafusion::common::{plan_datafusion_err, DataFusionError};
use datafusion::error::Result;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use url::Url;

/// URL schemes crmlake reads and writes.
pub const SCHEMES: &[&str] = &["file", "memory", "s3", "gs", "az"];

/// A registry that creates stores on first use, keyed by scheme and host.
#[derive(Debug, Default)]
pub struct LakeStoreRegistry {
    stores: DefaultObjectStoreRegistry,
    /// Held while creating a store, so one `memory://` bucket is shared by all.
    creating: std::sync::Mutex<()>,
}

impl LakeStoreRegistry {
    pub fn new() -> Self {
        Self::default()
    }
}

/// A runtime builder whose object stores are crmlake's: what the command
/// line, the cluster scheduler and every executor start from.
pub fn runtime_builder() -> datafusion::execution::runtime_env::RuntimeEnvBuilder {
    datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(LakeStoreRegistry::new()))
}

fn build_store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let bucket = url.host_str().unwrap_or_default();
    let ctx = |e: object_store::Error| {
        DataFusionError::ObjectStore(Box::new(e))
            .context(format!("cannot open object store for '{url}'"))
    };
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "memory" => Arc::new(InMemory::new()),
        "s3" | "s3a" => Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(ctx)?,
        ),
        "gs" | "gcs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(ctx)?,
        ),
        "az" | "abfs" | "abfss" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .build()
                .map_err(ctx)?,
        ),
        other => {
            return Err(plan_datafusion_err!(
                "unsupported URL scheme '{other}' in '{url}': use a local path or one of {}",
                SCHEMES
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    Ok(store)
}

impl ObjectStoreRegistry for LakeStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        let _guard = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        let store = build_store(url)?;
        self.stores.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}
