//! The rules model `basket_fit` returns and the recommender `recommend` runs
//! on it.
//!
//! The model keeps the items that appear in its rules or among the most
//! popular, ordered by popularity (id 0 is the most bought), and the rules
//! by those ids. Recommending for a basket: every rule whose antecedent the
//! basket contains fires; each consequent item not in the basket scores the
//! best (confidence, then lift) of the rules that recommend it; candidates
//! rank by that score, then popularity. When fewer than k items come from
//! rules, the most popular items not in the basket fill the list.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::items::Values;

/// Thresholds a rules model was fitted with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesParams {
    pub min_support: f64,
    pub min_confidence: f64,
    pub max_len: usize,
    pub min_lift: f64,
    pub max_consequent: usize,
    pub max_rules: usize,
    pub max_basket_items: usize,
}

/// One rule by item ids of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRule {
    pub antecedent: Vec<u32>,
    pub consequent: Vec<u32>,
    pub count: u64,
    pub confidence: f64,
    pub lift: f64,
}

/// A fitted rules model (the JSON `basket_fit` returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasketRules {
    /// Baskets mined (after leaving out overlong ones).
    pub baskets: u64,
    /// The count `min_support` came to.
    pub min_count: u64,
    pub itemsets: u64,
    pub rule_count: u64,
    /// Rules found before `max_rules` cut the list; absent when not capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_before_cap: Option<u64>,
    /// Baskets left out for having more than `max_basket_items` items.
    #[serde(default)]
    pub skipped_baskets: u64,
    /// Item values by id, most bought first.
    pub items: Values,
    /// Baskets containing each item.
    pub item_counts: Vec<u64>,
    pub rules: Vec<StoredRule>,
}

/// How many of the most popular items a model keeps for the fallback.
pub const POPULAR_ITEMS: usize = 100;

/// Rules indexed for scoring baskets.
#[derive(Debug)]
pub struct Recommender {
    pub model: BasketRules,
    /// Rules by the first (smallest) id of their antecedent.
    by_first: HashMap<u32, Vec<u32>>,
    int_ids: HashMap<i64, u32>,
    str_ids: HashMap<String, u32>,
}

/// A basket's items as model ids; unknown items are left out.
pub enum BasketValues<'a> {
    Int(&'a [i64]),
    Str(&'a [&'a str]),
}

impl Recommender {
    pub fn new(model: BasketRules) -> Self {
        let mut by_first: HashMap<u32, Vec<u32>> = HashMap::new();
        for (r, rule) in model.rules.iter().enumerate() {
            if let Some(&first) = rule.antecedent.iter().min() {
                by_first.entry(first).or_default().push(r as u32);
            }
        }
        let (mut int_ids, mut str_ids) = (HashMap::new(), HashMap::new());
        match &model.items {
            Values::Int(v) => int_ids.extend(v.iter().enumerate().map(|(i, &x)| (x, i as u32))),
            Values::Str(v) => {
                str_ids.extend(v.iter().enumerate().map(|(i, x)| (x.clone(), i as u32)))
            }
        }
        Recommender {
            model,
            by_first,
            int_ids,
            str_ids,
        }
    }

    /// Whether the model's items are integers (else strings).
    pub fn int_items(&self) -> bool {
        matches!(self.model.items, Values::Int(_))
    }

    /// Up to `k` item ids for a basket, best first.
    pub fn recommend(&self, basket: BasketValues, k: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = match basket {
            BasketValues::Int(v) => v
                .iter()
                .filter_map(|x| self.int_ids.get(x).copied())
                .collect(),
            BasketValues::Str(v) => v
                .iter()
                .filter_map(|x| self.str_ids.get(*x).copied())
                .collect(),
        };
        ids.sort_unstable();
        ids.dedup();
        let contains = |id: u32| ids.binary_search(&id).is_ok();
        // Best (confidence, lift) per candidate item.
        let mut best: HashMap<u32, (f64, f64)> = HashMap::new();
        for &first in &ids {
            let Some(rules) = self.by_first.get(&first) else {
                continue;
            };
            for &r in rules {
                let rule = &self.model.rules[r as usize];
                if !rule.antecedent.iter().all(|&a| contains(a)) {
                    continue;
                }
                for &c in &rule.consequent {
                    if contains(c) {
                        continue;
                    }
                    let score = (rule.confidence, rule.lift);
                    let e = best.entry(c).or_insert(score);
                    if score.0 > e.0 || (score.0 == e.0 && score.1 > e.1) {
                        *e = score;
                    }
                }
            }
        }
        let mut ranked: Vec<(u32, (f64, f64))> = best.into_iter().collect();
        ranked.sort_unstable_by(|x, y| {
            y.1 .0
                .total_cmp(&x.1 .0)
                .then(y.1 .1.total_cmp(&x.1 .1))
                .then(x.0.cmp(&y.0))
        });
        let mut out: Vec<u32> = ranked.into_iter().map(|(id, _)| id).take(k).collect();
        // Most popular first: ids are in popularity order.
        let mut id = 0u32;
        while out.len() < k && (id as usize) < self.model.items.len() {
            if !contains(id) && !out.contains(&id) {
                out.push(id);
            }
            id += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> BasketRules {
        // Items by popularity: bread(0) milk(1) eggs(2) jam(3) tea(4).
        BasketRules {
            baskets: 10,
            min_count: 2,
            itemsets: 0,
            rule_count: 3,
            rules_before_cap: None,
            skipped_baskets: 0,
            items: Values::Str(
                ["bread", "milk", "eggs", "jam", "tea"]
                    .map(String::from)
                    .to_vec(),
            ),
            item_counts: vec![8, 6, 5, 3, 2],
            rules: vec![
                StoredRule {
                    antecedent: vec![0],
                    consequent: vec![3],
                    count: 3,
                    confidence: 0.4,
                    lift: 1.3,
                },
                StoredRule {
                    antecedent: vec![0],
                    consequent: vec![1],
                    count: 5,
                    confidence: 0.6,
                    lift: 1.0,
                },
                StoredRule {
                    antecedent: vec![0, 2],
                    consequent: vec![4],
                    count: 2,
                    confidence: 0.6,
                    lift: 3.0,
                },
            ],
        }
    }

    #[test]
    fn ranks_by_confidence_then_lift_then_fills_with_popular_items() {
        let r = Recommender::new(model());
        // bread fires rules 0 and 1: milk (0.6), jam (0.4); then eggs, tea by popularity.
        assert_eq!(
            r.recommend(BasketValues::Str(&["bread"]), 5),
            vec![1, 3, 2, 4]
        );
        // bread + eggs also fires rule 2: tea (0.6, lift 3) before milk (0.6, lift 1).
        assert_eq!(
            r.recommend(BasketValues::Str(&["eggs", "bread"]), 2),
            vec![4, 1]
        );
        // No rule fires: most popular items not in the basket.
        assert_eq!(
            r.recommend(BasketValues::Str(&["milk", "unknown"]), 3),
            vec![0, 2, 3]
        );
        assert_eq!(r.recommend(BasketValues::Str(&[]), 2), vec![0, 1]);
        assert!(r.recommend(BasketValues::Str(&["bread"]), 0).is_empty());
    }
}
