//! Market basket analysis: frequent itemsets, association rules and
//! recommendations.
//!
//! SQL functions (one family per file):
//! - [`itemsets_sql`]: `frequent_itemsets(input, min_support [, options])`
//!   table function and the aggregate behind it,
//!   `frequent_itemsets_agg(basket_id, item, min_support [, options])`, which
//!   also mines per group (`GROUP BY store`).
//! - [`rules_sql`]: `association_rules(input, min_support, min_confidence [,
//!   options])` and `association_rules_agg(...)`.
//! - [`fit_sql`]: `basket_fit(items, min_support, min_confidence [, options])`
//!   aggregate over baskets → rules model.
//! - [`recommend_sql`]: `recommend(model, basket_items, k)`.
//!
//! Algorithm code, free of DataFusion: [`items`] (dense ids for item values),
//! [`fpgrowth`] (the miner), [`rules`] (rules and their metrics),
//! [`recommend`] (the model and the recommender). [`accumulate`] turns Arrow
//! arrays into baskets for the aggregates.
//!
//! Conventions shared by every function:
//! - `min_support` is a fraction of baskets in (0, 1]: an itemset qualifies
//!   when count / baskets >= min_support (so 0.001 of 88,162 baskets means
//!   89 baskets or more).
//! - A basket counts each item once. Rows with a NULL basket id or item are
//!   left out.
//! - Options (the trailing `'key=value, ...'` string): `max_len` (largest
//!   itemset, antecedent plus consequent for rules; 0 = no limit, the
//!   default), `max_basket_items` (baskets with more distinct items are left
//!   out of the analysis, also from the basket count that supports are
//!   fractions of, and reported in a warning; 0 = no limit, the default),
//!   `max_itemsets` (an error past this many frequent itemsets, instead of
//!   exhausting memory; default 10,000,000); for rules also `min_lift`
//!   (default 0), `max_consequent` (default 1: one-item consequents, the
//!   arules / Spark / pyfim convention; larger gives mlxtend's) and
//!   `max_rules` (keep the best by lift, then confidence, and log a warning
//!   saying the output was capped; 0 = no cap, the default, except
//!   `basket_fit`'s 100,000).

pub mod accumulate;
pub mod agg_sql;
pub mod fit_sql;
pub mod fpgrowth;
pub mod items;
pub mod itemsets_sql;
pub mod output_rows;
pub mod recommend;
pub mod recommend_sql;
pub mod rules;
pub mod rules_sql;
pub mod table_sql;

use crate::error::UdfError;
use crate::options::Options;
use fpgrowth::{Itemsets, Limits};
use items::{Prepared, Values};
use rules::{RuleFilter, Rules};

/// Options of the mining functions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MiningOptions {
    pub max_len: usize,
    pub max_basket_items: usize,
    pub max_itemsets: usize,
    pub min_lift: f64,
    pub max_consequent: usize,
    pub max_rules: usize,
}

const ITEMSET_KEYS: &[&str] = &["max_len", "max_basket_items", "max_itemsets"];
const RULE_KEYS: &[&str] = &[
    "max_len",
    "max_basket_items",
    "max_itemsets",
    "min_lift",
    "max_consequent",
    "max_rules",
];

impl MiningOptions {
    /// Parse the options of `function`; `rules` admits the rule options,
    /// whose `max_rules` defaults to `default_max_rules`.
    pub fn parse(
        function: &'static str,
        text: &str,
        rules: bool,
        default_max_rules: usize,
    ) -> Result<Self, UdfError> {
        let keys = if rules { RULE_KEYS } else { ITEMSET_KEYS };
        let o = Options::parse(function, text, keys)?;
        let parsed = MiningOptions {
            max_len: o.parse_or("max_len", 0)?,
            max_basket_items: o.parse_or("max_basket_items", 0)?,
            max_itemsets: o.parse_or("max_itemsets", 10_000_000)?,
            min_lift: o.parse_or("min_lift", 0.0)?,
            max_consequent: o.parse_or("max_consequent", 1)?,
            max_rules: o.parse_or("max_rules", default_max_rules)?,
        };
        let bad = |message: String| UdfError::Options { function, message };
        if parsed.max_len == 1 && rules {
            return Err(bad(
                "max_len=1 allows no rule (a rule needs 2 items); use 0 (no limit) or >= 2".into(),
            ));
        }
        if !(parsed.min_lift.is_finite() && parsed.min_lift >= 0.0) {
            return Err(bad(format!(
                "min_lift must be a number >= 0, got {}",
                parsed.min_lift
            )));
        }
        if parsed.max_consequent == 0 {
            return Err(bad("max_consequent must be >= 1".into()));
        }
        if parsed.max_itemsets == 0 {
            return Err(bad("max_itemsets must be >= 1".into()));
        }
        Ok(parsed)
    }
}

/// Check a `min_support` or `min_confidence` argument.
pub fn check_fraction(
    function: &'static str,
    argument: &'static str,
    value: f64,
    zero_ok: bool,
) -> Result<f64, UdfError> {
    let ok = value.is_finite() && value <= 1.0 && (value > 0.0 || zero_ok && value == 0.0);
    if ok {
        Ok(value)
    } else {
        let range = if zero_ok { "[0, 1]" } else { "(0, 1]" };
        Err(UdfError::argument(
            function,
            argument,
            format!("must be a fraction in {range}, got {value}"),
        ))
    }
}

/// Frequent itemsets of prepared baskets.
#[derive(Debug, Clone)]
pub struct Mined {
    pub values: Values,
    /// Baskets mined.
    pub n: u64,
    pub min_count: u64,
    pub itemsets: Itemsets,
    pub skipped_long: u64,
}

/// Mine `prepared` at `min_support`.
pub fn mine(
    function: &'static str,
    prepared: Prepared,
    min_support: f64,
    options: &MiningOptions,
) -> Result<Mined, UdfError> {
    let n = prepared.baskets.len() as u64;
    if prepared.skipped_long > 0 {
        log::warn!(
            "{function}: left out {} baskets with more than max_basket_items={} items",
            prepared.skipped_long,
            options.max_basket_items
        );
    }
    let min_count = items::min_count(min_support, n);
    // The baskets' frequent items renumbered (4 bytes each) and the FP-tree:
    // at most one node (item, count, parent and its place in the item's
    // list: 20 bytes) per frequent item in a basket.
    let frequent: u64 = prepared.counts.iter().filter(|&&c| c >= min_count).sum();
    let _memory = crate::memory::reserve(
        function,
        &format!("mine {n} baskets"),
        frequent as usize * 24,
    )?;
    let limits = Limits {
        max_len: options.max_len,
        max_itemsets: options.max_itemsets,
    };
    let itemsets = fpgrowth::frequent_itemsets_counted(&prepared.baskets, &prepared.counts, min_count, limits)
        .map_err(|e| {
            UdfError::data(
                function,
                format!(
                    "more than max_itemsets={} frequent itemsets at min_support {min_support} \
                     ({min_count} of {n} baskets); raise min_support, set max_len, or raise max_itemsets",
                    e.limit
                ),
            )
        })?;
    Ok(Mined {
        values: prepared.values,
        n,
        min_count,
        itemsets,
        skipped_long: prepared.skipped_long,
    })
}

/// The rules of `mined`, best first, capped at `max_rules`; also returns
/// how many there were before the cap (None when not capped).
pub fn rules_of(
    function: &'static str,
    mined: &Mined,
    min_confidence: f64,
    options: &MiningOptions,
) -> (Rules, Option<u64>) {
    let filter = RuleFilter {
        min_confidence,
        min_lift: options.min_lift,
        max_consequent: options.max_consequent,
    };
    let mut rules = rules::association_rules(&mined.itemsets, mined.n, filter);
    let mut before = None;
    if options.max_rules > 0 && rules.len() > options.max_rules {
        log::warn!(
            "{function}: output capped at max_rules={} of {} rules (kept the best by lift)",
            options.max_rules,
            rules.len()
        );
        before = Some(rules.len() as u64);
        rules.truncate(options.max_rules);
    }
    (rules, before)
}
