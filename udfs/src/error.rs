//! Typed errors of crmlake's SQL functions. Each converts into a
//! [`DataFusionError`] whose message names the function and the argument, column
//! or option at fault, in the words the user typed.

use datafusion::error::DataFusionError;

/// What can go wrong when a crmlake function is called.
#[derive(Debug, thiserror::Error)]
pub enum UdfError {
    /// An argument has the wrong type, count or value.
    #[error("{function}: argument '{argument}': {message}")]
    Argument {
        function: &'static str,
        argument: String,
        message: String,
    },
    /// The trailing `key=value` options string is malformed or names an unknown key.
    #[error("{function}: options: {message}")]
    Options {
        function: &'static str,
        message: String,
    },
    /// A value in the data is outside what the function accepts.
    #[error("{function}: {message}")]
    Data {
        function: &'static str,
        message: String,
    },
    /// A model fit would take more memory than the session's pool has left.
    #[error("{function} needs about {megabytes} MB to {purpose}; raise memory_limit_mb or sample the input")]
    Memory {
        function: &'static str,
        purpose: String,
        megabytes: usize,
    },
}

impl UdfError {
    pub fn argument(
        function: &'static str,
        argument: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        UdfError::Argument {
            function,
            argument: argument.into(),
            message: message.into(),
        }
    }

    /// The wrong number of arguments: "expected (`expected`), got `got`
    /// arguments", `expected` being the argument list as the user writes it.
    pub fn arity(function: &'static str, expected: impl std::fmt::Display, got: usize) -> Self {
        UdfError::argument(
            function,
            "arguments",
            format!("expected ({expected}), got {got} arguments"),
        )
    }

    pub fn data(function: &'static str, message: impl Into<String>) -> Self {
        UdfError::Data {
            function,
            message: message.into(),
        }
    }
}

impl From<UdfError> for DataFusionError {
    fn from(e: UdfError) -> Self {
        match e {
            UdfError::Data { .. } => DataFusionError::Execution(e.to_string()),
            UdfError::Memory { .. } => DataFusionError::ResourcesExhausted(e.to_string()),
            _ => DataFusionError::Plan(e.to_string()),
        }
    }
}
