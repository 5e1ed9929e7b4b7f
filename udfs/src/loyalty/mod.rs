//! Loyalty programmes: rule sets as data ([`rules`]), a customer's points
//! ledger under them ([`ledger`]), the list functions that run it per customer
//! ([`ledger_sql`]), the `points_ledger` / `points_balance` table
//! functions ([`table_sql`]), and tiers over time ([`tiers`], with the
//! `tier_history` / `tier_as_of` tables in [`tiers_sql`]).

pub mod kpis_sql;
pub mod ledger;
pub mod ledger_sql;
pub mod rules;
pub mod rules_sql;
pub mod table_sql;
pub mod tiers;
pub mod tiers_sql;

use crate::function_entry::FunctionEntry;

/// The loyalty functions.
pub fn entries() -> Vec<FunctionEntry> {
    let mut e = ledger_sql::entries();
    e.extend(table_sql::entries());
    e.extend(tiers_sql::entries());
    e.push(kpis_sql::entry());
    e.push(rules_sql::entry());
    e
}
