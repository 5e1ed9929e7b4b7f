//! crmlake's integration tests, in one binary so the DataFusion-sized link
//! happens once: the command line, lake discovery, the generator, and the
//! sqllogictest files under `tests/sql/`.

mod azure;
mod basket;
mod calibration;
mod checks;
mod churn;
mod cli;
mod cluster;
mod common;
mod feedback;
mod generate;
mod incremental;
mod job_files;
mod jobs;
mod kmeans;
mod kpi;
mod lake;
mod local_server;
mod loyalty;
mod ltv;
mod partitioning;
mod recommender;
mod report;
mod s3;
mod segment;
mod sqllogictests;
