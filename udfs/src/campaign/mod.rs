//! Campaign readouts: who is held out of a campaign ([`holdout`],
//! `holdout_assign`), so that its effect can be measured against them, and
//! the measured effect ([`effect`], `campaign_effect`).

pub mod effect;
pub mod effect_sql;
pub mod holdout;
pub mod holdout_sql;

/// Every function of the area, for the catalog.
pub fn entries() -> Vec<crate::function_entry::FunctionEntry> {
    vec![holdout_sql::entry(), effect_sql::entry()]
}
