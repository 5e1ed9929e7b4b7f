//! What every SQL function's entry in the catalog is: its name, kind,
//! documentation and how it is registered. A leaf module: each area's files
//! build their entries from these types, and [`crate::catalog`] gathers the
//! entries, so imports point one way (areas -> here, catalog -> areas).

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// What kind of SQL function an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    Scalar,
    Aggregate,
    Table,
}

impl FunctionKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Table => "table",
        }
    }
}

/// How an entry is registered in a session.
#[derive(Debug, Clone)]
pub enum Registration {
    Scalar(Arc<ScalarUDF>),
    Aggregate(Arc<AggregateUDF>),
    Table(Arc<dyn TableFunctionImpl>),
}

/// One crmlake function and its documentation.
#[derive(Debug, Clone)]
pub struct FunctionEntry {
    pub name: &'static str,
    pub kind: FunctionKind,
    /// e.g. `nps(score) -> DOUBLE`
    pub signature: &'static str,
    pub description: &'static str,
    /// A SQL statement that runs as is in `crmlake sql`.
    pub example: &'static str,
    pub registration: Registration,
}

impl FunctionEntry {
    /// Register this function in `ctx`.
    pub fn register(&self, ctx: &SessionContext) {
        match &self.registration {
            Registration::Scalar(f) => ctx.register_udf(f.as_ref().clone()),
            Registration::Aggregate(f) => ctx.register_udaf(f.as_ref().clone()),
            Registration::Table(f) => ctx.register_udtf(self.name, Arc::clone(f)),
        }
    }
}
