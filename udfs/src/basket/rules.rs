//! Association rules from frequent itemsets, with the standard metrics.
//!
//! A rule `A -> C` comes from a frequent itemset `S = A ∪ C` (A, C disjoint and
//! non-empty); its support is S's ("original" rule support, pyfim's mode 'o',
//! mlxtend's and arules' support). For N baskets and counts n(·):
//! - support = n(S)/N, confidence = n(S)/n(A),
//! - lift = confidence / (n(C)/N), leverage = n(S)/N − n(A)n(C)/N²,
//! - conviction = (1 − n(C)/N) / (1 − confidence), +∞ when confidence is 1
//!   (as mlxtend reports it).
//!
//! Every subset of a frequent itemset is frequent, so n(A) and n(C) are looked
//! up in the itemsets themselves.

use std::collections::HashMap;

use super::fpgrowth::Itemsets;

/// Which rules to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleFilter {
    pub min_confidence: f64,
    /// Keep rules with lift >= this (0: all).
    pub min_lift: f64,
    /// Largest consequent size (1: the arules / Spark / pyfim convention).
    pub max_consequent: usize,
}

/// One rule, by counts; items are ids in ascending order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule<'a> {
    pub antecedent: &'a [u32],
    pub consequent: &'a [u32],
    /// Baskets containing antecedent and consequent.
    pub count: u64,
    pub antecedent_count: u64,
    pub consequent_count: u64,
}

/// Rules in order, their items in one arena: 40 bytes a rule plus its
/// items, in two allocations for all rules. (A `Vec` per side of each rule
/// made 35 million rules 4.8 GB of small allocations, which the allocator
/// kept as resident memory after they were freed.)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    heads: Vec<Head>,
    items: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Head {
    /// Where the antecedent's items start in `items`; the consequent's follow.
    start: usize,
    antecedent_len: u32,
    consequent_len: u32,
    count: u64,
    antecedent_count: u64,
    consequent_count: u64,
}

impl Rules {
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// The rule at `i` (panics past the end, as indexing does).
    pub fn get(&self, i: usize) -> Rule<'_> {
        self.rule(&self.heads[i])
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Rule<'_>> + '_ {
        self.range(0..self.len())
    }

    /// The rules at `range` (panics past the end, as slicing does).
    pub fn range(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl ExactSizeIterator<Item = Rule<'_>> + Clone + '_ {
        self.heads[range].iter().map(|h| self.rule(h))
    }

    /// Bytes held: the heads and the items.
    pub fn heap_size(&self) -> usize {
        self.heads.capacity() * std::mem::size_of::<Head>() + self.items.capacity() * 4
    }

    /// Keep the first `n` rules (their items only).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        let mut kept = Rules::default();
        for r in self.iter().take(n) {
            kept.push(
                r.antecedent,
                r.consequent,
                r.count,
                r.antecedent_count,
                r.consequent_count,
            );
        }
        *self = kept;
    }

    fn rule<'a>(&'a self, h: &Head) -> Rule<'a> {
        let middle = h.start + h.antecedent_len as usize;
        Rule {
            antecedent: &self.items[h.start..middle],
            consequent: &self.items[middle..middle + h.consequent_len as usize],
            count: h.count,
            antecedent_count: h.antecedent_count,
            consequent_count: h.consequent_count,
        }
    }

    fn push(
        &mut self,
        antecedent: &[u32],
        consequent: &[u32],
        count: u64,
        antecedent_count: u64,
        consequent_count: u64,
    ) {
        self.heads.push(Head {
            start: self.items.len(),
            antecedent_len: antecedent.len() as u32,
            consequent_len: consequent.len() as u32,
            count,
            antecedent_count,
            consequent_count,
        });
        self.items.extend_from_slice(antecedent);
        self.items.extend_from_slice(consequent);
    }

    /// Best first: lift, confidence, count descending; then items
    /// ascending. The order is total (no two rules have the same sides), so
    /// an unstable sort gives the same order without the stable sort's
    /// buffer of half the rules.
    fn sort(&mut self, n: u64) {
        let mut heads = std::mem::take(&mut self.heads);
        heads.sort_unstable_by(|x, y| {
            let (x, y) = (self.rule(x), self.rule(y));
            let (mx, my) = (x.metrics(n), y.metrics(n));
            my.lift
                .total_cmp(&mx.lift)
                .then(my.confidence.total_cmp(&mx.confidence))
                .then(y.count.cmp(&x.count))
                .then_with(|| x.antecedent.cmp(y.antecedent))
                .then_with(|| x.consequent.cmp(y.consequent))
        });
        self.heads = heads;
    }
}

/// A rule's metrics over `n` baskets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub support: f64,
    pub confidence: f64,
    pub lift: f64,
    pub leverage: f64,
    pub conviction: f64,
    pub antecedent_support: f64,
    pub consequent_support: f64,
}

impl Rule<'_> {
    pub fn metrics(&self, n: u64) -> Metrics {
        let n = n as f64;
        let support = self.count as f64 / n;
        let antecedent_support = self.antecedent_count as f64 / n;
        let consequent_support = self.consequent_count as f64 / n;
        let confidence = self.count as f64 / self.antecedent_count as f64;
        let conviction = if self.count == self.antecedent_count {
            f64::INFINITY
        } else {
            (1.0 - consequent_support) / (1.0 - confidence)
        };
        Metrics {
            support,
            confidence,
            lift: confidence / consequent_support,
            leverage: support - antecedent_support * consequent_support,
            conviction,
            antecedent_support,
            consequent_support,
        }
    }
}

/// Every rule of `itemsets` (mined from `n` baskets) passing `filter`, best
/// first: lift, then confidence, then count descending, then antecedent and
/// consequent ascending.
pub fn association_rules(itemsets: &Itemsets, n: u64, filter: RuleFilter) -> Rules {
    let count_of: HashMap<&[u32], u64> = (0..itemsets.len()).map(|i| itemsets.get(i)).collect();
    let lookup = |s: &[u32]| count_of.get(s).copied().unwrap_or(0);
    let mut rules = Rules::default();
    let mut antecedent = Vec::new();
    let mut consequent = Vec::new();
    for i in 0..itemsets.len() {
        let (set, count) = itemsets.get(i);
        if set.len() < 2 {
            continue;
        }
        let largest = filter.max_consequent.max(1).min(set.len() - 1);
        for size in 1..=largest {
            for_each_combination(set.len(), size, |chosen| {
                antecedent.clear();
                consequent.clear();
                let mut next = 0;
                for (k, &item) in set.iter().enumerate() {
                    if next < chosen.len() && chosen[next] == k {
                        consequent.push(item);
                        next += 1;
                    } else {
                        antecedent.push(item);
                    }
                }
                let a = lookup(&antecedent);
                if a == 0 || (count as f64 / a as f64) < filter.min_confidence {
                    return;
                }
                let rule = Rule {
                    antecedent: &antecedent,
                    consequent: &consequent,
                    count,
                    antecedent_count: a,
                    consequent_count: lookup(&consequent),
                };
                if filter.min_lift > 0.0 && rule.metrics(n).lift < filter.min_lift {
                    return;
                }
                rules.push(
                    rule.antecedent,
                    rule.consequent,
                    rule.count,
                    rule.antecedent_count,
                    rule.consequent_count,
                );
            });
        }
    }
    // Vectors grown by doubling hold up to twice what they use; the rules
    // are kept (and counted in the memory pool) at their size.
    rules.heads.shrink_to_fit();
    rules.items.shrink_to_fit();
    rules.sort(n);
    rules
}

/// Call `f` with each `k`-subset of `0..n` as ascending indices.
fn for_each_combination(n: usize, k: usize, mut f: impl FnMut(&[usize])) {
    if k == 0 || k > n {
        return;
    }
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        f(&idx);
        // Advance the rightmost index that can still move.
        let mut i = k;
        while i > 0 && idx[i - 1] == n - k + i - 1 {
            i -= 1;
        }
        if i == 0 {
            return;
        }
        idx[i - 1] += 1;
        for j in i..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fpgrowth::{frequent_itemsets, Limits};
    use super::super::items::Baskets;
    use super::*;

    #[test]
    fn combinations() {
        let mut seen = Vec::new();
        for_each_combination(4, 2, |c| seen.push(c.to_vec()));
        assert_eq!(
            seen,
            vec![
                vec![0, 1],
                vec![0, 2],
                vec![0, 3],
                vec![1, 2],
                vec![1, 3],
                vec![2, 3]
            ]
        );
        let mut n = 0;
        for_each_combination(5, 5, |_| n += 1);
        assert_eq!(n, 1);
        for_each_combination(3, 4, |_| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn metrics_by_hand() {
        // 10 baskets: {0,1} x4, {0} x2, {1} x2, {2} x2.
        let mut baskets = vec![vec![0, 1]; 4];
        baskets.extend(vec![vec![0]; 2]);
        baskets.extend(vec![vec![1]; 2]);
        baskets.extend(vec![vec![2]; 2]);
        let limits = Limits {
            max_len: 0,
            max_itemsets: usize::MAX,
        };
        let sets = frequent_itemsets(&Baskets::from(&baskets[..]), 3, 2, limits).unwrap();
        let filter = RuleFilter {
            min_confidence: 0.5,
            min_lift: 0.0,
            max_consequent: 1,
        };
        let rules = association_rules(&sets, 10, filter);
        assert_eq!(rules.len(), 2);
        let m = rules.get(0).metrics(10);
        // 0 -> 1: support 0.4, confidence 4/6, lift (4/6)/0.6, leverage 0.4 - 0.36,
        // conviction (1 - 0.6)/(1 - 4/6) = 1.2.
        assert_eq!(rules.get(0).antecedent, [0]);
        assert!((m.support - 0.4).abs() < 1e-15);
        assert!((m.confidence - 4.0 / 6.0).abs() < 1e-15);
        assert!((m.lift - (4.0 / 6.0) / 0.6).abs() < 1e-15);
        assert!((m.leverage - 0.04).abs() < 1e-15);
        assert!((m.conviction - 1.2).abs() < 1e-12);
        let strict = RuleFilter {
            min_confidence: 0.7,
            ..filter
        };
        assert!(association_rules(&sets, 10, strict).is_empty());
    }

    #[test]
    fn longer_consequents() {
        let baskets = vec![vec![0, 1, 2]; 3];
        let limits = Limits {
            max_len: 0,
            max_itemsets: usize::MAX,
        };
        let sets = frequent_itemsets(&Baskets::from(&baskets[..]), 3, 1, limits).unwrap();
        let filter = |max_consequent| RuleFilter {
            min_confidence: 0.0,
            min_lift: 0.0,
            max_consequent,
        };
        // 3 pairs x 2 + the triple's 3 one-item consequents.
        assert_eq!(association_rules(&sets, 3, filter(1)).len(), 9);
        // + the triple's 3 two-item consequents.
        let rules = association_rules(&sets, 3, filter(2));
        assert_eq!(rules.len(), 12);
        assert!(rules.iter().all(|r| r.metrics(3).conviction.is_infinite()));
    }
}
