//! One aggregation phase for a GROUP BY whose aggregates are all
//! [`rows_agg`](crate::rows_agg): a physical optimizer rule.
//!
//! DataFusion runs a GROUP BY in two phases: a partial aggregate in each
//! input partition, a hash repartition of its states by the group keys, and a
//! final aggregate that merges them. That pays when the partial states are
//! smaller than the rows (a sum per group). `rows_agg` cannot reduce
//! anything, its state is every row: the partial phase held each row, then
//! gathered them into lists, which were repartitioned and gathered once more
//! by the final phase. This rule repartitions the rows themselves by the
//! group keys and aggregates once per partition
//! (`AggregateMode::SinglePartitioned`), the plan DataFusion itself chooses
//! when its input is already partitioned by the keys:
//!
//! ```text
//! before                                  after
//! AggregateExec: mode=FinalPartitioned    AggregateExec: mode=SinglePartitioned
//!   RepartitionExec: Hash([customer_id])    RepartitionExec: Hash([customer_id])
//!     AggregateExec: mode=Partial             <input>
//!       <input>
//! ```
//!
//! Measured on `rows_agg(ts, amount, order_id)` over the 90M lines of a
//! 10M-customer generated lake (benches/RESULTS.md, "Loyalty"): the
//! two-phase plan spent half its time in the kernel zeroing fresh pages for
//! the gathered copies. Results are the same rows in both plans; only the
//! order of a group's rows may differ (it is arrival order either way).
//!
//! crmlake's sessions (local and on a cluster's scheduler) carry the rule;
//! a program embedding the functions adds it when it builds its session:
//!
//! ```no_run
//! use std::sync::Arc;
//! use datafusion::execution::SessionStateBuilder;
//! use datafusion::prelude::SessionContext;
//! let state = SessionStateBuilder::new()
//!     .with_default_features()
//!     .with_physical_optimizer_rule(Arc::new(crmlake_udfs::rows_agg_plan::RowsAggOnePhase))
//!     .build();
//! let ctx = SessionContext::new_with_state(state);
//! crmlake_udfs::register_all(&ctx).unwrap();
//! ```
//!
//! Without it every query gives the same answer, in two phases.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning, PhysicalExpr};

/// The rule's name, as `EXPLAIN VERBOSE` shows it.
pub const RULE_NAME: &str = "crmlake_rows_agg_one_phase";

/// See the module documentation.
#[derive(Debug, Default)]
pub struct RowsAggOnePhase;

impl PhysicalOptimizerRule for RowsAggOnePhase {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|plan| {
            Ok(match one_phase(&plan)? {
                Some(rewritten) => Transformed::yes(rewritten),
                None => Transformed::no(plan),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        RULE_NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The one-phase form of a `FinalPartitioned ← Hash repartition ← Partial`
/// aggregation of `rows_agg`s only, or `None` to leave `plan` as it is.
fn one_phase(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = plan.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *last.mode() != AggregateMode::FinalPartitioned {
        return Ok(None);
    }
    let Some(shuffle) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Partitioning::Hash(_, partitions) = shuffle.partitioning() else {
        return Ok(None);
    };
    let Some(first) = shuffle.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let group_by = first.group_expr();
    if *first.mode() != AggregateMode::Partial
        || group_by.has_grouping_set()
        || group_by.expr().is_empty()
        || first.aggr_expr().is_empty()
        || !first
            .aggr_expr()
            .iter()
            .all(|a| a.fun().name() == crate::rows_agg::NAME)
    {
        return Ok(None);
    }
    let keys: Vec<Arc<dyn PhysicalExpr>> =
        group_by.expr().iter().map(|(e, _)| Arc::clone(e)).collect();
    let rows = Arc::new(RepartitionExec::try_new(
        Arc::clone(first.input()),
        Partitioning::Hash(keys, *partitions),
    )?);
    let once = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        group_by.clone(),
        first.aggr_expr().to_vec(),
        first.filter_expr().to_vec(),
        rows,
        first.input_schema(),
    )?
    .with_limit_options(last.limit_options());
    // Same columns out, or no rewrite.
    if once.schema() != last.schema() {
        return Ok(None);
    }
    Ok(Some(Arc::new(once)))
}
