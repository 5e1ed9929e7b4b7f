//! crmlake's error type and the exit status each kind of error gives.
//!
//! Exit status (DESIGN.md): 0 success, 1 a user error (the message names the
//! file, table, column or argument at fault), 2 an internal error, 3 a job
//! whose outputs all committed but a `fail` check fired.

use datafusion::error::DataFusionError;

/// Every error the command line reports.
#[derive(Debug, thiserror::Error)]
pub enum CrmlakeError {
    /// Something the user gave is wrong: a path, a URL, an argument, a job file.
    #[error("{0}")]
    User(String),
    /// A query failed; `context` says which statement, step or table.
    #[error("{context}: {source}")]
    Query {
        context: String,
        #[source]
        source: DataFusionError,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A bug in crmlake, not in the input.
    #[error("internal error: {0}")]
    Internal(String),
    /// A job run committed every output, but checks of severity `fail`
    /// fired (the message lists them).
    #[error("{0}")]
    ChecksFailed(String),
}

pub type Result<T, E = CrmlakeError> = std::result::Result<T, E>;

impl CrmlakeError {
    pub fn user(msg: impl Into<String>) -> Self {
        CrmlakeError::User(msg.into())
    }

    pub fn query(context: impl Into<String>, source: DataFusionError) -> Self {
        CrmlakeError::Query {
            context: context.into(),
            source,
        }
    }

    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        CrmlakeError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// The process exit status for this error: 1 for the user's errors, 2 for ours.
    pub fn exit_code(&self) -> i32 {
        match self {
            CrmlakeError::User(_) | CrmlakeError::Io { .. } => 1,
            CrmlakeError::Query { source, .. } => datafusion_exit_code(source),
            CrmlakeError::Internal(_) => 2,
            CrmlakeError::ChecksFailed(_) => 3,
        }
    }
}

/// DataFusion reports both the user's mistakes (bad SQL, unknown table, a file
/// it cannot read) and its own bugs; only the latter are internal.
fn datafusion_exit_code(e: &DataFusionError) -> i32 {
    match e.find_root() {
        DataFusionError::Internal(_) => 2,
        DataFusionError::Context(_, inner) => datafusion_exit_code(inner),
        _ => 1,
    }
}

impl From<DataFusionError> for CrmlakeError {
    fn from(e: DataFusionError) -> Self {
        CrmlakeError::Query {
            context: "query".into(),
            source: e,
        }
    }
}
