//! Retention and feedback KPIs: cohort retention, repurchase, churn and
//! complaint rates, NPS and CSAT (with intervals), loyalty tiers, and
//! `kpi_series` (these per period, with previous values and changes).

pub mod churn_rate;
pub mod cohort_sql;
pub mod complaint_rate;
pub mod csat;
pub mod customer_rates_plan;
pub mod intervals;
pub mod loyalty_tier;
pub mod nps;
pub mod periods;
pub mod quantiles;
pub mod repurchase_rate;
pub mod series_sql;
mod tally_groups;
