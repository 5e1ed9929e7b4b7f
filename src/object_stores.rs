//! Object stores by URL: local paths and `file://`, `memory://`, `s3://`,
//! `gs://`, and Azure's `az://`, `abfs://` and `abfss://`.
//!
//! Azure URLs come in two spellings, both understood: `az://<container>/path`
//! (the account from `AZURE_STORAGE_ACCOUNT_NAME`) and the Hadoop driver's
//! `abfss://<container>@<account>.dfs.core.windows.net/path`. In the second
//! the container is the URL's user name, not its host, so stores are keyed
//! by container and account: two containers of one account are two stores.
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
pub const SCHEMES: &[&str] = &["file", "memory", "s3", "gs", "az", "abfs", "abfss"];

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
                .with_url(store_root(url))
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

/// The URL of the store `url` is in: scheme, user name (an Azure container)
/// and host, no path.
fn store_root(url: &Url) -> String {
    let user = match url.username() {
        "" => String::new(),
        u => format!("{u}@"),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{user}{}{port}/",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

/// The key `url`'s store is registered under. DataFusion's registry keys by
/// scheme and host only; an Azure URL with a container in its user name
/// (`abfss://c@account.dfs.core.windows.net/`) gets the container folded
/// into the host (`abfss://c.account.dfs.core.windows.net`), so each
/// container has a store of its own.
fn registry_key(url: &Url) -> Url {
    if !matches!(url.scheme(), "az" | "abfs" | "abfss") || url.username().is_empty() {
        return url.clone();
    }
    let key = format!(
        "{}://{}.{}/",
        url.scheme(),
        url.username(),
        url.host_str().unwrap_or_default()
    );
    Url::parse(&key).unwrap_or_else(|_| url.clone())
}

impl ObjectStoreRegistry for LakeStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(&registry_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(&registry_key(url))
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = registry_key(url);
        if let Ok(store) = self.stores.get_store(&key) {
            return Ok(store);
        }
        let _guard = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(store) = self.stores.get_store(&key) {
            return Ok(store);
        }
        let store = build_store(url)?;
        self.stores.register_store(&key, Arc::clone(&store));
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_containers_are_stores_of_their_own() {
        let a = Url::parse("abfss://sales@acct.dfs.core.windows.net/lake/t").unwrap();
        let b = Url::parse("abfss://crm@acct.dfs.core.windows.net/out").unwrap();
        assert_ne!(registry_key(&a), registry_key(&b));
        assert_eq!(
            registry_key(&a).as_str(),
            "abfss://sales.acct.dfs.core.windows.net/"
        );
        assert_eq!(store_root(&a), "abfss://sales@acct.dfs.core.windows.net/");
        let plain = Url::parse("az://container/path").unwrap();
        assert_eq!(registry_key(&plain), plain);
        assert_eq!(store_root(&plain), "az://container/");
    }
}
