//! Retention and feedback KPIs: cohort retention, repurchase and churn
//! rates, NPS, CSAT, loyalty tiers.

pub mod churn_rate;
pub mod cohort_sql;
pub mod csat;
pub mod customer_rates_plan;
pub mod loyalty_tier;
pub mod nps;
pub mod repurchase_rate;
mod tally_groups;
