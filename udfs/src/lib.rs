//! # crmlake-udfs
//!
//! Every crmlake SQL function, for any Apache DataFusion program:
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! use datafusion::prelude::SessionContext;
//! let ctx = SessionContext::new();
//! crmlake_udfs::register_all(&ctx)?;
//! ctx.sql("SELECT nps(score) FROM (VALUES (10), (9), (3)) AS t(score)").await?.show().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Layout: one SQL function family per file under `src/<area>/`. Algorithm code
//! takes plain Rust values and knows nothing of DataFusion; the DataFusion wrapper
//! beside it converts Arrow arrays, checks arguments and reports errors.
//! [`catalog`] lists every function with its documentation (what `crmlake
//! functions` and the shell's `\df` print).

pub mod basket;
pub mod calibration;
pub mod campaign;
pub mod catalog;
pub mod churn;
pub mod constant_args;
pub mod error;
pub mod feature_fields;
pub mod feedback;
pub mod function_entry;
pub mod groups;
pub mod kpi;
pub mod lists;
pub mod loyalty;
pub mod ltv;
pub mod memory;
pub mod model;
pub mod model_arg;
pub mod model_cache;
pub mod model_info;
pub mod normal;
pub mod options;
pub mod pairs;
pub mod pool;
pub mod recommender;
pub mod rows_agg;
pub mod rows_agg_plan;
pub mod scatter;
pub mod segment;
pub mod simd;
pub mod table_input;
pub mod text_arg;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

pub use catalog::{catalog, FunctionEntry, FunctionKind};
pub use error::UdfError;

/// Register every crmlake function (scalar, aggregate and table functions) in
/// `ctx`. Call once per session; registering twice replaces the functions.
/// Also adds crmlake's optimizer rule (once per session):
/// `repurchase_rate` and `churn_rate` run as GROUP BY plans
/// ([`kpi::customer_rates_plan`]).
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    for entry in catalog() {
        entry.register(ctx);
    }
    let rule = kpi::customer_rates_plan::RULE_NAME;
    if !ctx.state().optimizers().iter().any(|r| r.name() == rule) {
        ctx.add_optimizer_rule(std::sync::Arc::new(
            kpi::customer_rates_plan::CustomerRatesAsGroupBy,
        ));
    }
    Ok(())
}

/// [`register_all`] for a session whose plans run on a Ballista cluster:
/// every table function returns the view of its definition (SQL over
/// crmlake's aggregates and DataFusion's operators, which the cluster can
/// run), not a plan node of its own. The mining table functions then
/// unnest the aggregate's list instead of streaming their rows.
pub fn register_for_cluster(ctx: &SessionContext) -> Result<()> {
    register_all(ctx)?;
    for entry in catalog() {
        if let catalog::Registration::Table(f) = &entry.registration {
            let view = table_input::AsView {
                function: entry.name,
                inner: std::sync::Arc::clone(f),
            };
            ctx.register_udtf(entry.name, std::sync::Arc::new(view));
        }
    }
    Ok(())
}

/// Names of every function [`register_all`] registers, sorted.
pub fn function_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = catalog().iter().map(|e| e.name).collect();
    names.sort_unstable();
    names
}
