//! `crmlake executor`: Ballista's executor, able to run plan fragments that call
//! crmlake's functions.
//!
//! Executors decode the physical plans the scheduler sends them and look every
//! scalar and aggregate function up by name in their function registry;
//! [`function_registry`] is Ballista's default one plus crmlake's. Table
//! functions never reach an executor (see the [`super`] module doc). Files are
//! read through crmlake's object stores, so `s3://`, `gs://`, `az://` lakes
//! work with the same environment variables as the command line.

use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use crmlake_udfs::catalog::Registration;

use super::{ballista_error, SchedulerAddress};
use crate::error::{CrmlakeError, Result};
use crate::object_stores::runtime_builder;

/// What `crmlake executor` takes from the command line.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler to register with.
    pub scheduler: SchedulerAddress,
    /// Address to listen on.
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this one
    /// (default: the bind address).
    pub external_host: Option<String>,
    /// Arrow Flight port: other executors and clients fetch results here.
    pub port: u16,
    /// gRPC port: the scheduler launches tasks here.
    pub grpc_port: u16,
    /// Tasks run at once (default: the number of cores).
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files and spills go (default: a fresh temporary folder).
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
}

impl ExecutorOptions {
    pub fn new(scheduler: SchedulerAddress) -> Self {
        ExecutorOptions {
            scheduler,
            bind_host: "127.0.0.1".into(),
            external_host: None,
            port: 50051,
            grpc_port: 50052,
            concurrent_tasks: None,
            work_dir: None,
            heartbeat_seconds: 60,
        }
    }
}

/// Ballista's default function registry plus DataFusion's array functions
/// and crmlake's scalar and aggregate functions, under their names and
/// aliases.
pub fn function_registry() -> BallistaFunctionRegistry {
    // A function is found under its name and under each of its aliases.
    let names = |name: &str, aliases: &[String]| -> Vec<String> {
        std::iter::once(name.to_string())
            .chain(aliases.iter().cloned())
            .collect()
    };
    let mut registry = BallistaFunctionRegistry::default();
    // Ballista's default leaves out DataFusion's array functions (`range`,
    // `make_array`, `array_agg`'s helpers...), which the client plans with:
    // a task using one could not be decoded on the executor.
    for f in datafusion::functions_nested::all_default_nested_functions() {
        for n in names(f.name(), f.aliases()) {
            registry.scalar_functions.insert(n, Arc::clone(&f));
        }
    }
    for entry in crmlake_udfs::catalog() {
        match entry.registration {
            Registration::Scalar(f) => {
                for n in names(f.name(), f.aliases()) {
                    registry.scalar_functions.insert(n, Arc::clone(&f));
                }
            }
            Registration::Aggregate(f) => {
                for n in names(f.name(), f.aliases()) {
                    registry.aggregate_functions.insert(n, Arc::clone(&f));
                }
            }
            Registration::Table(_) => {}
        }
    }
    registry
}

/// Register with the scheduler and run tasks until the process is stopped.
pub async fn run_executor(opts: &ExecutorOptions) -> Result<()> {
    let role = format!("executor (scheduler {})", opts.scheduler);
    if opts.port == opts.grpc_port {
        return Err(CrmlakeError::user(format!(
            "executor: --port and --grpc-port must differ (both {})",
            opts.port
        )));
    }
    let work_dir = match &opts.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CrmlakeError::io(dir.display(), e))?;
            Some(dir.display().to_string())
        }
        None => None,
    };
    let mut config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: Some(
            opts.external_host
                .clone()
                .unwrap_or_else(|| opts.bind_host.clone()),
        ),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler.host.clone(),
        scheduler_port: opts.scheduler.port,
        // Keep trying for a while: executors often start with their scheduler.
        scheduler_connect_timeout_seconds: 30,
        work_dir: work_dir.clone(),
        executor_heartbeat_interval_seconds: opts.heartbeat_seconds.max(1),
        print_thread_info: false,
        // Shuffle files of a job are removed when the scheduler says the job
        // is done; this sweeps up after jobs whose clients went away.
        job_data_clean_up_interval_seconds: 3600,
        ..Default::default()
    };
    if let Some(n) = opts.concurrent_tasks {
        config.vcores = n.max(1);
    }
    // Every task's kernels share one pool as large as the executor's slots:
    // concurrent tasks no longer each start a thread per core.
    crmlake_udfs::pool::configure(config.vcores);
    config.override_function_registry = Some(Arc::new(function_registry()));
    config.override_runtime_producer = Some(Arc::new(move |_config| {
        let mut runtime = runtime_builder();
        if let Some(dir) = &work_dir {
            runtime = runtime.with_temp_file_path(dir.clone());
        }
        runtime.build_arc()
    }));
    eprintln!(
        "crmlake executor {}: flight port {}, grpc port {}, registering with {}",
        config.executor_id, opts.port, opts.grpc_port, opts.scheduler
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ballista_error(&role, e))
}
