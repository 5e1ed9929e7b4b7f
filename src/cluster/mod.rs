//! Running crmlake's SQL on an Apache DataFusion Ballista cluster.
//!
//! Three roles, all in the `crmlake` binary:
//! - `crmlake scheduler` ([`scheduler`]) is Ballista's scheduler whose sessions
//!   know crmlake's functions, so it can decode and plan queries that call them;
//! - `crmlake executor` ([`executor`]) is Ballista's executor with crmlake's
//!   scalar and aggregate functions in its function registry, so it can decode
//!   and run the plan fragments it is sent;
//! - `crmlake sql --cluster df://host:port` and `crmlake run --cluster ...` are
//!   clients: [`client_context`] builds a session that plans SQL here and sends
//!   the plan to the scheduler.
//!
//! How each kind of function crosses to the cluster:
//! - Scalar and aggregate functions travel by name in the serialised plans and
//!   are looked up in the scheduler's session and the executors' registries.
//!   Aggregates (the model fits, `basket_fit`, `churn_train`, ...) keep their
//!   partial state in Arrow values, so Ballista runs them as a partial aggregate
//!   on each executor and merges the states after a shuffle, as DataFusion does
//!   across partitions on one machine.
//! - Table functions (`rfm`, `customer_summary`, `frequent_itemsets`, ...) are
//!   not serialised at all: each one is SQL over its input, returned as a view,
//!   and DataFusion's analyzer inlines views into the plan before the plan
//!   leaves this process. What reaches the cluster is an ordinary plan of
//!   Parquet scans, joins and crmlake scalar/aggregate calls. So no codec for
//!   table-function providers is needed, and none is registered.
//! - What cannot be distributed is data that lives only in this process: a
//!   table made with `CREATE TABLE ... AS` or registered from memory. Its scan
//!   cannot be sent to an executor; [`ClusterPlanner`] refuses such a query
//!   before anything is submitted, naming the table and what to do instead.
//!
//! Files are read by the executors, so lake and output locations must be
//! reachable from every executor under the same URL: a shared file system
//! mount, or an object store (`s3://`, `gs://`, `az://`). Every role builds
//! object stores the same way ([`crate::object_stores`]).

pub mod executor;
pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::error::DataFusionError;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{CrmlakeError, Result};

/// The scheduler's default port, as in Ballista.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// A scheduler address as the user gives it: `df://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerAddress {
    pub host: String,
    pub port: u16,
}

impl SchedulerAddress {
    /// Parse `df://host[:port]` (port 50050 when omitted), given as the
    /// command-line option `option` (named in errors).
    pub fn parse(option: &str, text: &str) -> Result<SchedulerAddress> {
        let bad = |why: &str| {
            CrmlakeError::user(format!(
                "{option} '{text}': {why}; expected df://host:port, e.g. df://127.0.0.1:{DEFAULT_SCHEDULER_PORT}"
            ))
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "df" {
            return Err(bad(&format!("unknown scheme '{}'", url.scheme())));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .to_string();
        if url.path() != "" && url.path() != "/" {
            return Err(bad("a scheduler address has no path"));
        }
        Ok(SchedulerAddress {
            host,
            port: url.port().unwrap_or(DEFAULT_SCHEDULER_PORT),
        })
    }

    /// The gRPC endpoint Ballista's client connects to.
    fn grpc_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for SchedulerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// Fail early, with the address in the message, when nothing listens there
/// (Ballista itself would only fail at the first query, with a gRPC error).
fn check_reachable(address: &SchedulerAddress) -> Result<()> {
    use std::net::ToSocketAddrs;
    let unreachable = |why: String| {
        CrmlakeError::user(format!(
            "cluster scheduler {address} is not reachable: {why} (start one with `crmlake scheduler`)"
        ))
    };
    let addrs: Vec<_> = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .collect();
    let mut last = String::from("the host has no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}

/// A session whose queries run on the cluster at `address`: SQL is parsed,
/// checked and planned here (with crmlake's functions, and the lake tables the
/// caller registers), then the plan goes to the scheduler.
///
/// The caller registers crmlake's functions afterwards, as for a local
/// session: Ballista's upgrade replaces the session's scalar and aggregate
/// functions with DataFusion's built-ins.
pub fn client_context(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    address: &SchedulerAddress,
) -> Result<SessionContext> {
    check_reachable(address)?;
    let config = SessionConfigExt::upgrade_for_ballista(config);
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .build();
    let state = SessionStateExt::upgrade_for_ballista(state, address.grpc_url())
        .map_err(|e| CrmlakeError::query(format!("cluster {address}"), e))?;
    let planner = ClusterPlanner {
        inner: Arc::clone(state.query_planner()),
    };
    let state = SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(planner))
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// Ballista's query planner behind a check that the plan can be sent at all.
#[derive(Debug)]
pub struct ClusterPlanner {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
}

#[async_trait::async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        check_distributable(logical_plan)?;
        self.inner.create_physical_plan(logical_plan, session).await
    }
}

/// Refuse a plan that scans a table only this process holds.
///
/// Listing tables (Parquet, CSV, JSON files under a URL) serialise with their
/// location; `information_schema` is answered here by Ballista's planner.
/// Anything else (an in-memory table, a provider of another library) would
/// fail inside Ballista's serialiser with a message about codecs.
pub fn check_distributable(plan: &LogicalPlan) -> datafusion::error::Result<()> {
    let mut refused: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if scan.table_name.schema() == Some("information_schema") {
                return Ok(TreeNodeRecursion::Continue);
            }
            let provider = source_as_provider(&scan.source)?;
            if provider.downcast_ref::<ListingTable>().is_none() {
                refused = Some(scan.table_name.to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match refused {
        None => Ok(()),
        Some(table) => Err(DataFusionError::Plan(format!(
            "table '{table}' is held in this process's memory, so the cluster's executors cannot read it; \
             write it to files first (COPY (SELECT ...) TO 'dir/' STORED AS PARQUET, then CREATE EXTERNAL TABLE), \
             or run without --cluster"
        ))),
    }
}

/// Map a Ballista error into ours, saying which role failed. Ballista's own
/// bugs are internal (exit 2); everything else it reports (an address in use,
/// an unreachable scheduler, a bad setting) is the environment's (exit 1).
fn ballista_error(role: &str, e: ballista_core::error::BallistaError) -> CrmlakeError {
    match e {
        ballista_core::error::BallistaError::Internal(m) => {
            CrmlakeError::Internal(format!("{role}: {m}"))
        }
        other => CrmlakeError::user(format!("{role}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scheduler_addresses() {
        assert_eq!(
            SchedulerAddress::parse("--cluster", "df://10.0.0.5:6000").unwrap(),
            SchedulerAddress {
                host: "10.0.0.5".into(),
                port: 6000
            }
        );
        let a = SchedulerAddress::parse("--cluster", "df://localhost").unwrap();
        assert_eq!(a.port, DEFAULT_SCHEDULER_PORT);
        assert_eq!(a.to_string(), "df://localhost:50050");
        for bad in ["http://h:1", "localhost:50050", "df://", "df://h:1/x"] {
            let e = SchedulerAddress::parse("--scheduler", bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("--scheduler '{bad}'")), "{e}");
            assert!(e.contains("df://host:port"), "{e}");
        }
    }
}
