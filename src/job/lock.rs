//! One run at a time per output root.
//!
//! A run holds the lock `OUT/_lock` from before it touches the root (staging
//! clean-up, run marker) until its manifest and marker are written, so two
//! runs of a job (a cron overlap, a manual rerun) never interleave commits.
//! The lock names its holder (run id, job, pid, host, start time); a second
//! run exits 1 naming it, or with `--wait` waits for it.
//!
//! - A local folder: an advisory lock (`flock`) on the file `OUT/_lock`. The
//!   operating system releases it when the holder exits, however it exits,
//!   so a lock of a dead process is simply free: the next run takes it and
//!   says whose stale holder record it replaced. The file stays (emptied on
//!   release); deleting it would let a third run lock a new file while a
//!   second holds the old one.
//! - An object store (S3, GCS, Azure, memory): the object `OUT/_lock`,
//!   created with a conditional put (`If-None-Match: *`), holding a lease
//!   that the run renews every [`RENEW`] and that expires [`LEASE`] after the
//!   last renewal. An expired lease (its holder died) is taken over with a
//!   put conditional on the stale object's ETag (`If-Match`), so of two runs
//!   taking over at once exactly one wins. Release deletes the object.

use std::io::{Read, Seek, Write};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{CrmlakeError, Result};
use crate::out_root::OutRoot;

/// The lock's name under the output root.
pub const LOCK: &str = "_lock";
/// How long an object-store lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often a holder renews its object-store lease.
pub const RENEW: Duration = Duration::from_secs(15);
/// How often `--wait` tries again.
const POLL: Duration = Duration::from_millis(500);

/// Who holds the lock (the lock's content, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    pub job: String,
    pub pid: u32,
    pub host: String,
    /// RFC 3339.
    pub started_at: String,
    /// End of an object-store lease (RFC 3339); absent for a local lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl Holder {
    /// This process, running `job` as `run_id`.
    pub fn this_process(run_id: &str, job: &str) -> Holder {
        Holder {
            run_id: run_id.to_string(),
            job: job.to_string(),
            pid: std::process::id(),
            host: host_name(),
            started_at: rfc3339(Utc::now()),
            expires_at: None,
        }
    }

    fn describe(&self) -> String {
        format!(
            "run {} of job '{}' (pid {} on host {}, since {})",
            self.run_id, self.job, self.pid, self.host, self.started_at
        )
    }

    /// Whether an object-store lease has run out (or cannot be read).
    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| t < now)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// A held lock; released by [`RunLock::release`] or when dropped.
pub struct RunLock {
    inner: Inner,
}

enum Inner {
    Local(std::fs::File),
    Store {
        store: Arc<dyn ObjectStore>,
        path: StorePath,
        renewal: tokio::task::JoinHandle<()>,
    },
}

impl RunLock {
    /// Take the lock of `out` for `holder`; with `wait`, wait until it is
    /// free, else fail at once naming the holder.
    pub async fn acquire(out: &OutRoot, holder: &Holder, wait: bool) -> Result<RunLock> {
        match out.local_dir() {
            Some(dir) => {
                let path = dir.join(LOCK);
                let holder = holder.clone();
                let shown = out.show(LOCK);
                tokio::task::spawn_blocking(move || acquire_local(&path, &shown, &holder, wait))
                    .await
                    .map_err(|e| CrmlakeError::Internal(format!("lock task: {e}")))?
            }
            None => acquire_store(out, holder, wait).await,
        }
    }

    /// Give the lock up.
    pub async fn release(self) {
        match &self.inner {
            Inner::Local(_) => {}
            Inner::Store {
                store,
                path,
                renewal,
            } => {
                renewal.abort();
                let _ = store.delete(path).await;
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        match &mut self.inner {
            // Emptied, then unlocked when the file closes.
            Inner::Local(file) => {
                let _ = file.set_len(0);
            }
            // The lease expires on its own; renewal stops with the task.
            Inner::Store { renewal, .. } => renewal.abort(),
        }
    }
}

fn lock_error(shown: &str, holder: Option<&Holder>) -> CrmlakeError {
    let who = holder.map_or_else(|| "another run".to_string(), Holder::describe);
    CrmlakeError::user(format!(
        "output root is locked ({shown}) by {who}; two runs must not write one output root at once: wait for it, or run with --wait"
    ))
}

fn acquire_local(
    path: &std::path::Path,
    shown: &str,
    holder: &Holder,
    wait: bool,
) -> Result<RunLock> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| CrmlakeError::io(path.display(), e))?;
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let current = read_local(&mut file);
                if !wait {
                    return Err(lock_error(shown, current.as_ref()));
                }
                if !announced {
                    log::warn!("{}: waiting", lock_error(shown, current.as_ref()));
                    announced = true;
                }
                std::thread::sleep(POLL);
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CrmlakeError::io(path.display(), e));
            }
        }
    }
    if let Some(stale) = read_local(&mut file) {
        log::warn!(
            "{shown}: took over the lock left by {}, which ended without releasing it",
            stale.describe()
        );
    }
    let text = serde_json::to_vec(holder)
        .map_err(|e| CrmlakeError::Internal(format!("lock holder: {e}")))?;
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(&text))
        .and_then(|()| file.flush());
    written.map_err(|e| CrmlakeError::io(path.display(), e))?;
    Ok(RunLock {
        inner: Inner::Local(file),
    })
}

fn read_local(file: &mut std::fs::File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn lease_payload(holder: &Holder) -> Result<PutPayload> {
    let mut h = holder.clone();
    h.expires_at = Some(rfc3339(
        Utc::now() + chrono::Duration::seconds(LEASE.as_secs() as i64),
    ));
    serde_json::to_vec(&h)
        .map(PutPayload::from)
        .map_err(|e| CrmlakeError::Internal(format!("lock holder: {e}")))
}

async fn acquire_store(out: &OutRoot, holder: &Holder, wait: bool) -> Result<RunLock> {
    let store = Arc::clone(out.store());
    let path = out.path(LOCK);
    let shown = out.show(LOCK);
    let io = |e: object_store::Error| CrmlakeError::user(format!("cannot lock '{shown}': {e}"));
    let mut announced = false;
    let version = loop {
        let created = store
            .put_opts(
                &path,
                lease_payload(holder)?,
                PutOptions::from(PutMode::Create),
            )
            .await;
        match created {
            Ok(r) => {
                break UpdateVersion {
                    e_tag: r.e_tag,
                    version: r.version,
                }
            }
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(io(e)),
        }
        // Someone holds it, or held it and died: read the lease.
        let current = match store.get(&path).await {
            Ok(r) => {
                let meta = r.meta.clone();
                let bytes = r.bytes().await.map_err(io)?;
                Some((serde_json::from_slice::<Holder>(&bytes).ok(), meta))
            }
            // Released between our put and our read: try again.
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(io(e)),
        };
        let Some((current, meta)) = current else {
            continue;
        };
        let expired = current.as_ref().is_none_or(|h| h.expired(Utc::now()));
        if expired {
            let taken = store
                .put_opts(
                    &path,
                    lease_payload(holder)?,
                    PutOptions::from(PutMode::Update(UpdateVersion {
                        e_tag: meta.e_tag.clone(),
                        version: meta.version.clone(),
                    })),
                )
                .await;
            match taken {
                Ok(r) => {
                    log::warn!(
                        "{shown}: took over the expired lock of {}",
                        current
                            .as_ref()
                            .map_or_else(|| "an unreadable holder".into(), Holder::describe)
                    );
                    break UpdateVersion {
                        e_tag: r.e_tag,
                        version: r.version,
                    };
                }
                // Another run took it over first, or it was released.
                Err(
                    object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
                ) => continue,
                Err(e) => return Err(io(e)),
            }
        }
        if !wait {
            return Err(lock_error(&shown, current.as_ref()));
        }
        if !announced {
            log::warn!("{}: waiting", lock_error(&shown, current.as_ref()));
            announced = true;
        }
        tokio::time::sleep(POLL).await;
    };
    let renewal = {
        let (store, path, holder) = (Arc::clone(&store), path.clone(), holder.clone());
        let lease = out.lease().clone();
        tokio::spawn(async move {
            let mut version = version;
            loop {
                tokio::time::sleep(RENEW).await;
                let Ok(payload) = lease_payload(&holder) else {
                    lease.lose("its lease could not be written".into());
                    return;
                };
                let renewed = store
                    .put_opts(
                        &path,
                        payload,
                        PutOptions::from(PutMode::Update(version.clone())),
                    )
                    .await;
                match renewed {
                    Ok(r) => {
                        version = UpdateVersion {
                            e_tag: r.e_tag,
                            version: r.version,
                        }
                    }
                    Err(e) => {
                        log::error!("cannot renew the output root's lock: {e}");
                        lease.lose(format!("its lease could not be renewed: {e}"));
                        return;
                    }
                }
            }
        })
    };
    Ok(RunLock {
        inner: Inner::Store {
            store,
            path,
            renewal,
        },
    })
}
