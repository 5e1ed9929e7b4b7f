//! Retention and feedback KPIs: NPS, CSAT, loyalty tiers.

pub mod csat;
pub mod loyalty_tier;
pub mod nps;
