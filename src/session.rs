//! Building a crmlake session: object stores, crmlake's functions, lake tables.

use std::sync::Arc;

use crmlake_udfs::rows_agg_plan::RowsAggOnePhase;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::cluster::SchedulerAddress;
use crate::error::{CrmlakeError, Result};
use crate::lake::{register_lake, LakeReport};
use crate::object_stores::runtime_builder;

/// The default lake, relative to the working directory.
pub const DEFAULT_LAKE: &str = "data/lake";

/// Settings for a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Lake location; `None` means no lake (functions only).
    pub lake: Option<String>,
    /// Partitions per query; defaults to the number of cores, at least 2 so that
    /// aggregate state merging is always exercised.
    pub target_partitions: Option<usize>,
    /// Memory limit in bytes for query execution (spilling beyond it).
    pub memory_limit: Option<usize>,
    /// Run queries on this Ballista cluster instead of in this process.
    pub cluster: Option<SchedulerAddress>,
}

/// A bare session with crmlake's object stores and functions, no lake.
pub fn base_session(opts: &SessionOptions) -> Result<SessionContext> {
    let partitions = opts
        .target_partitions
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
        .max(2);
    // The kernels' one thread pool gets as many threads as the session has
    // partitions (the first session of the process sizes it).
    crmlake_udfs::pool::configure(partitions);
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(partitions);
    if let Some(limit) = opts.memory_limit {
        // Each sorting partition holds this much back to merge its spill
        // files (10 MB by default): under a small limit that reserve alone
        // would exhaust the pool, so keep it to a quarter of a partition's share.
        let reserve = (limit / (4 * partitions)).min(10 * 1024 * 1024);
        config = config.set_usize("datafusion.execution.sort_spill_reservation_bytes", reserve);
    }
    let mut runtime = runtime_builder();
    if let Some(limit) = opts.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| CrmlakeError::Internal(format!("cannot build runtime: {e}")))?;
    // Model fits reserve their training copies from the same pool.
    crmlake_udfs::memory::set_pool(Arc::clone(&runtime.memory_pool));
    let ctx = match &opts.cluster {
        None => SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(runtime)
                .with_default_features()
                .with_physical_optimizer_rule(Arc::new(RowsAggOnePhase))
                .build(),
        ),
        Some(address) => crate::cluster::client_context(config, runtime, address)?,
    };
    let registered = match &opts.cluster {
        None => crmlake_udfs::register_all(&ctx),
        // Plans leave the process: table functions as views.
        Some(_) => crmlake_udfs::register_for_cluster(&ctx),
    };
    registered.map_err(|e| CrmlakeError::Internal(e.to_string()))?;
    Ok(ctx)
}

/// A session over a lake: [`base_session`] plus every lake table registered.
pub async fn lake_session(opts: &SessionOptions) -> Result<(SessionContext, LakeReport)> {
    let ctx = base_session(opts)?;
    let report = match &opts.lake {
        Some(lake) => register_lake(&ctx, lake).await?,
        None => LakeReport::default(),
    };
    for w in &report.warnings {
        log::warn!("{w}");
    }
    Ok((ctx, report))
}
