//! Retention and feedback KPIs: cohort retention, NPS, CSAT, loyalty tiers.

pub mod cohort_sql;
pub mod csat;
pub mod loyalty_tier;
pub mod nps;
