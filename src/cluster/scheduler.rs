//! `crmlake scheduler`: Ballista's scheduler, with crmlake's functions in every
//! session it plans for.
//!
//! Clients send logical plans that call crmlake's scalar and aggregate
//! functions by name; the scheduler decodes them in a session built by
//! [`scheduler_session`] (Ballista's defaults plus crmlake's functions and
//! object stores), splits them into stages and hands tasks to executors.
//! Cluster state is kept in memory, as in Ballista's own binary.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::{BallistaCluster, ClusterStateEvent};
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use crmlake_udfs::rows_agg_plan::RowsAggOnePhase;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::StreamExt;

use super::ballista_error;
use crate::error::{CrmlakeError, Result};
use crate::object_stores::runtime_builder;

/// What `crmlake scheduler` takes from the command line.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to listen on.
    pub bind_host: String,
    /// Port for clients and executors (gRPC).
    pub port: u16,
    /// Host name executors and clients use to reach this scheduler.
    pub external_host: String,
    /// An executor silent for this long is considered dead and its tasks
    /// rerun; the scheduler looks for such executors a few times per timeout.
    pub executor_timeout_seconds: u64,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            bind_host: "127.0.0.1".into(),
            port: super::DEFAULT_SCHEDULER_PORT,
            external_host: "localhost".into(),
            executor_timeout_seconds: 180,
        }
    }
}

/// The session the scheduler plans a client's query in: Ballista's default
/// session (its optimizer rules and built-in functions) with crmlake's object
/// stores, functions and physical rule ([`RowsAggOnePhase`]) added.
pub fn scheduler_session(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    let runtime = runtime_builder().build_arc()?;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .with_physical_optimizer_rule(Arc::new(RowsAggOnePhase))
        .build();
    let ctx = SessionContext::new_with_state(state);
    crmlake_udfs::register_for_cluster(&ctx)?;
    Ok(ctx.state())
}

/// Run the scheduler until the process is stopped. Prints one line when it
/// listens and one per executor that joins or leaves, on stderr.
pub async fn run_scheduler(opts: &SchedulerOptions) -> Result<()> {
    let role = "scheduler";
    let addr: SocketAddr = format!("{}:{}", opts.bind_host, opts.port)
        .parse()
        .map_err(|e| {
            CrmlakeError::user(format!(
                "scheduler: --bind '{}' with --port {}: {e}",
                opts.bind_host, opts.port
            ))
        })?;
    let mut config = SchedulerConfig::default()
        .with_hostname(opts.external_host.clone())
        .with_port(opts.port)
        // One task per executor in turn, so work spreads over the cluster
        // instead of filling the first executor's slots.
        .with_task_distribution(TaskDistributionPolicy::RoundRobin)
        .with_override_session_builder(Arc::new(scheduler_session))
        .with_no_executors_grace_period_seconds(opts.executor_timeout_seconds.max(1));
    config.bind_host = opts.bind_host.clone();
    let timeout = opts.executor_timeout_seconds.max(1);
    config.executor_timeout_seconds = timeout;
    config.expire_dead_executor_interval_seconds = (timeout / 3).clamp(1, 15);
    config.validate().map_err(|e| ballista_error(role, e))?;
    let config = Arc::new(config);

    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_error(role, e))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| ballista_error(role, e))?;
    let mut events = scheduler
        .state
        .executor_manager
        .cluster_state_events()
        .await
        .map_err(|e| ballista_error(role, e))?;
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                ClusterStateEvent::RegisteredExecutor { executor_id } => {
                    eprintln!("crmlake scheduler: executor {executor_id} joined")
                }
                ClusterStateEvent::RemovedExecutor { executor_id } => {
                    eprintln!("crmlake scheduler: executor {executor_id} left")
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CrmlakeError::user(format!("scheduler: cannot listen on {addr}: {e}")))?;
    eprintln!(
        "crmlake scheduler: listening on {addr}; clients use --cluster df://{}:{}",
        opts.external_host, opts.port
    );
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| ballista_error(role, e))
}
