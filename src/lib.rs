//! # crmlake
//!
//! Customer analytics inside Apache DataFusion: the engine (session, lake,
//! object stores), the command line and the batch jobs. The SQL functions live in
//! the `crmlake-udfs` crate; [`session::base_session`] registers them.

pub mod cluster;
pub mod error;
pub mod file_list;
pub mod generate;
pub mod invalid_utf8;
pub mod job;
pub mod lake;
pub mod object_stores;
pub mod out_root;
pub mod output;
pub mod report;
pub mod session;
pub mod shell;
pub mod sql;

pub use error::{CrmlakeError, Result};
