//! The plan rewrite that runs `repurchase_rate`, `churn_rate` and
//! `complaint_rate` as GROUP BY plans DataFusion can spill.
//!
//! Both rates are per-customer questions ("two distinct orders?", "bought in
//! the previous window and not in the current one?"). Their accumulators
//! answer them with a hash map of every customer, held whole in memory in
//! each partition and again in the final merge. This optimizer rule turns
//! an aggregate with these calls into two grouped aggregates DataFusion runs
//! with its own (spilling, repartitioned) hash aggregation:
//!
//! ```text
//! inner: GROUP BY <the query's groups>, customer
//!        min(order), max(order)                         -- repurchase_rate
//!        bool_or(ts in previous), bool_or(ts in current) -- churn_rate
//!        bool_or(is_complaint), count(*)                -- complaint_rate
//! outer: GROUP BY <the query's groups>
//!        count(customer) FILTER (min <> max) / count(customer) FILTER (min IS NOT NULL)
//!        count(customer) FILTER (prev AND NOT cur) / count(customer) FILTER (prev)
//!        count(customer) FILTER (complained) / count(customer) FILTER (rows > 0)
//! ```
//!
//! (a customer has two distinct orders exactly when the smallest and largest
//! differ). Calls with the same customer column share one inner aggregate;
//! the query's other aggregates stay in an aggregate of their own, joined to
//! the rates on the group columns (NULL groups matching each other). The
//! input is read once per distinct customer column and once more when other
//! aggregates exist. The result equals the accumulators' (test:
//! `tests/sql/kpi_rates_plan.slt` and the unit tests below); calls with
//! DISTINCT, ORDER BY, non-constant arguments, or under GROUPING SETS keep
//! the accumulator, as do sessions without this rule (a crate user's own
//! `SessionContext` registering the functions one by one).

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, NullEquality, ScalarValue, TableReference};
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{bool_or, count, max, min};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    cast, col, lit, when, Aggregate, Expr, ExprFunctionExt, JoinType, LogicalPlan,
    LogicalPlanBuilder,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::churn_rate::{ChurnRate, Windows};
use super::complaint_rate::ComplaintRate;
use super::repurchase_rate::RepurchaseRate;

/// The rule's name, as `EXPLAIN VERBOSE` shows it.
pub const RULE_NAME: &str = "crmlake_customer_rates_as_group_by";

/// See the module documentation.
#[derive(Debug, Default)]
pub struct CustomerRatesAsGroupBy;

/// One rewritable call.
enum Rate {
    /// `repurchase_rate(customer, order)`.
    Repurchase { order: Expr },
    /// `churn_rate(customer, day, as_of, window)`.
    Churn { day: Expr, windows: Windows },
    /// `complaint_rate(customer, is_complaint)`.
    Complaint { flag: Expr },
}

struct Call {
    /// Position in the aggregate's expressions.
    position: usize,
    customer: Expr,
    filter: Option<Expr>,
    rate: Rate,
}

impl OptimizerRule for CustomerRatesAsGroupBy {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if agg
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Ok(Transformed::no(plan));
        }
        let calls: Vec<Call> = agg
            .aggr_expr
            .iter()
            .enumerate()
            .filter_map(|(i, e)| rewritable(i, e))
            .collect();
        if calls.is_empty() {
            return Ok(Transformed::no(plan));
        }
        Ok(Transformed::yes(rewrite_aggregate(agg, calls)?))
    }
}

/// The call at `position` if it is a rate this rule can plan.
fn rewritable(position: usize, expr: &Expr) -> Option<Call> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = strip_alias(expr) else {
        return None;
    };
    if params.distinct || !params.order_by.is_empty() || params.null_treatment.is_some() {
        return None;
    }
    let filter = params.filter.as_deref().cloned();
    let args = &params.args;
    if func.inner().is::<RepurchaseRate>() && args.len() == 2 {
        return Some(Call {
            position,
            customer: args[0].clone(),
            filter,
            rate: Rate::Repurchase {
                order: args[1].clone(),
            },
        });
    }
    if func.inner().is::<ComplaintRate>() && args.len() == 2 {
        return Some(Call {
            position,
            customer: args[0].clone(),
            filter,
            rate: Rate::Complaint {
                flag: args[1].clone(),
            },
        });
    }
    if func.inner().is::<ChurnRate>() && args.len() == 4 {
        let (Expr::Literal(as_of, _), Expr::Literal(window, _)) = (&args[2], &args[3]) else {
            return None;
        };
        // Invalid constants keep the accumulator, which words the error.
        let windows = Windows::from_constants(as_of, window).ok()?;
        return Some(Call {
            position,
            customer: args[0].clone(),
            filter,
            rate: Rate::Churn {
                day: args[1].clone(),
                windows,
            },
        });
    }
    None
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        e => e,
    }
}

/// `expr FILTER (WHERE filter)` (no filter: `expr`).
fn filtered(e: Expr, filter: &Option<Expr>) -> Result<Expr> {
    match filter {
        Some(f) => e.filter(f.clone()).build(),
        None => Ok(e),
    }
}

/// `count(customer) FILTER (WHERE filter)`.
fn count_where(customer: &Expr, filter: Expr) -> Result<Expr> {
    count(customer.clone()).filter(filter).build()
}

fn date(day: i32) -> Expr {
    lit(ScalarValue::Date32(Some(day)))
}

fn group_column(i: usize) -> String {
    format!("__crmlake_g{i}")
}

fn value_column(position: usize) -> String {
    format!("__crmlake_v{position}")
}

/// One branch per distinct customer expression: the inner and outer
/// aggregates, projected to the group columns `__crmlake_g<i>` and the
/// rates `__crmlake_v<position>`, under the alias `__crmlake_rates_<b>`.
fn branch(agg: &Aggregate, customer: &Expr, calls: &[&Call], alias: &str) -> Result<LogicalPlan> {
    let groups = agg.group_expr.len();
    let mut inner_groups = agg.group_expr.clone();
    inner_groups.push(customer.clone().alias("__crmlake_customer"));
    let mut inner_aggs = Vec::new();
    for call in calls {
        let (a, b) = match &call.rate {
            Rate::Repurchase { order } => (min(order.clone()), max(order.clone())),
            Rate::Churn { day, windows } => {
                let previous = day
                    .clone()
                    .gt(date(windows.start))
                    .and(day.clone().lt_eq(date(windows.middle)));
                let current = day
                    .clone()
                    .gt(date(windows.middle))
                    .and(day.clone().lt_eq(date(windows.as_of)));
                (bool_or(previous), bool_or(current))
            }
            // Whether it complained, and its rows (passing the call's
            // filter: a customer is counted only with a row of its own).
            Rate::Complaint { flag } => (bool_or(flag.clone()), count(lit(1i64))),
        };
        inner_aggs.push(filtered(a, &call.filter)?.alias(format!("__crmlake_a{}", call.position)));
        inner_aggs.push(filtered(b, &call.filter)?.alias(format!("__crmlake_b{}", call.position)));
    }
    let inner = LogicalPlanBuilder::from(agg.input.as_ref().clone())
        .aggregate(inner_groups, inner_aggs)?
        .build()?;
    let inner_schema = inner.schema().clone();
    let outer_groups: Vec<Expr> = (0..groups)
        .map(|i| Expr::Column(Column::from(inner_schema.qualified_field(i))))
        .collect();
    let customer_col = col("__crmlake_customer");
    let mut outer_aggs = Vec::new();
    for call in calls {
        let a = col(format!("__crmlake_a{}", call.position));
        let b = col(format!("__crmlake_b{}", call.position));
        // (customers counted, customers with the property)
        let (whole, part) = match call.rate {
            Rate::Repurchase { .. } => (a.clone().is_not_null(), a.not_eq(b)),
            // A FILTER passes only TRUE, so a NULL flag (no dated row) is
            // left out. `a IS TRUE` written twice would become a common
            // subexpression whose physical nullability DataFusion 55 gets
            // wrong (the plan is then refused), so the flag itself is the
            // first filter.
            Rate::Churn { .. } => (a.clone(), a.and(b.is_not_true())),
            Rate::Complaint { .. } => (b.gt(lit(0i64)), a),
        };
        let p = call.position;
        outer_aggs.push(count_where(&customer_col, whole)?.alias(format!("__crmlake_n{p}")));
        outer_aggs.push(count_where(&customer_col, part)?.alias(format!("__crmlake_k{p}")));
    }
    let outer = LogicalPlanBuilder::from(inner)
        .aggregate(outer_groups, outer_aggs)?
        .build()?;
    let outer_schema = outer.schema().clone();
    let mut projection: Vec<Expr> = (0..groups)
        .map(|i| Expr::Column(Column::from(outer_schema.qualified_field(i))).alias(group_column(i)))
        .collect();
    for call in calls {
        let p = call.position;
        let n = col(format!("__crmlake_n{p}"));
        let k = col(format!("__crmlake_k{p}"));
        let rate = when(
            n.clone().gt(lit(0i64)),
            cast(k, DataType::Float64) / cast(n, DataType::Float64),
        )
        .end()?;
        projection.push(rate.alias(value_column(p)));
    }
    LogicalPlanBuilder::from(outer)
        .project(projection)?
        .alias(alias)?
        .build()
}

fn rewrite_aggregate(agg: &Aggregate, calls: Vec<Call>) -> Result<LogicalPlan> {
    let groups = agg.group_expr.len();
    // Calls grouped by customer expression, in order of first appearance,
    // and the branch answering each call's position.
    let mut customers: Vec<(&Expr, Vec<&Call>)> = Vec::new();
    let mut rate_of: HashMap<usize, usize> = HashMap::new();
    for call in &calls {
        let b = match customers.iter().position(|(e, _)| *e == &call.customer) {
            Some(b) => b,
            None => {
                customers.push((&call.customer, Vec::new()));
                customers.len() - 1
            }
        };
        customers[b].1.push(call);
        rate_of.insert(call.position, b);
    }
    let branches: Vec<(String, LogicalPlan)> = customers
        .iter()
        .enumerate()
        .map(|(b, (customer, calls))| {
            let alias = format!("__crmlake_rates_{b}");
            let plan = branch(agg, customer, calls, &alias)?;
            Ok((alias, plan))
        })
        .collect::<Result<_>>()?;
    // The query's other aggregates, if any, keep an aggregate of their own.
    let others: Vec<Expr> = agg
        .aggr_expr
        .iter()
        .enumerate()
        .filter(|(i, _)| !rate_of.contains_key(i))
        .map(|(_, e)| e.clone())
        .collect();
    let rest = if others.is_empty() {
        None
    } else {
        Some(
            LogicalPlanBuilder::from(agg.input.as_ref().clone())
                .aggregate(agg.group_expr.clone(), others)?
                .build()?,
        )
    };
    // Where each output group column comes from: the rest's own columns, or
    // the first branch's.
    let (mut builder, group_source): (LogicalPlanBuilder, Vec<Column>) = match &rest {
        Some(rest) => {
            let schema = rest.schema().clone();
            (
                LogicalPlanBuilder::from(rest.clone()),
                (0..groups)
                    .map(|i| Column::from(schema.qualified_field(i)))
                    .collect(),
            )
        }
        None => (
            LogicalPlanBuilder::from(branches[0].1.clone()),
            (0..groups)
                .map(|i| Column::new(Some(branches[0].0.clone()), group_column(i)))
                .collect(),
        ),
    };
    let joined_from = usize::from(rest.is_none());
    for (alias, plan) in &branches[joined_from..] {
        builder = if groups == 0 {
            builder.cross_join(plan.clone())?
        } else {
            let right: Vec<Column> = (0..groups)
                .map(|i| Column::new(Some(alias.clone()), group_column(i)))
                .collect();
            builder.join_detailed(
                plan.clone(),
                JoinType::Inner,
                (group_source.clone(), right),
                None,
                NullEquality::NullEqualsNull,
            )?
        };
    }
    // The original aggregate's columns, names and order.
    let mut projection = Vec::with_capacity(agg.schema.fields().len());
    for (i, source) in group_source.iter().enumerate() {
        let (qualifier, field) = agg.schema.qualified_field(i);
        projection
            .push(Expr::Column(source.clone()).alias_qualified(qualifier.cloned(), field.name()));
    }
    // The other aggregates' columns, in order, after the rest's groups.
    let mut rest_columns = rest.iter().flat_map(|r| {
        let schema = r.schema();
        (groups..schema.fields().len()).map(move |i| Column::from(schema.qualified_field(i)))
    });
    for position in 0..agg.aggr_expr.len() {
        let (qualifier, field) = agg.schema.qualified_field(groups + position);
        let source = match rate_of.get(&position) {
            Some(&b) => Column::new(
                Some(TableReference::bare(branches[b].0.clone())),
                value_column(position),
            ),
            None => rest_columns.next().ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(
                    "customer rates rewrite: an aggregate without its plan".into(),
                )
            })?,
        };
        projection.push(Expr::Column(source).alias_qualified(qualifier.cloned(), field.name()));
    }
    builder.project(projection)?.build()
}
