//! Loyalty programmes (issue 30, in progress): rule sets as data
//! ([`rules`]) and a customer's points ledger under them ([`ledger`]).
//! Algorithm code only so far; the SQL functions (`points_ledger`,
//! `points_balance`, `tier_history`, `loyalty_kpis`) are not registered yet.

pub mod ledger;
pub mod rules;
