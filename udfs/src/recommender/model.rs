//! A fitted recommender and how it scores: the items, each customer's
//! history (for `exclude_seen`, `repeat` and item–item scores), item
//! popularity (for unknown customers) and the algorithm's own part.

use serde::{Deserialize, Serialize};

use super::interactions::{Csr, Interactions};
use super::knn::{self, Similarity};

/// The algorithm and its fitted part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum Algorithm {
    /// Items by how many customers bought them.
    Popular,
    /// The customer's own items by their summed weight ("buy again").
    Repeat,
    /// Item–item neighbours ([`knn`]): row i holds item i's neighbours,
    /// most similar first.
    ItemKnn {
        similarity: Similarity,
        neighbours: usize,
        matrix: Csr,
    },
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Popular => "popular",
            Algorithm::Repeat => "repeat",
            Algorithm::ItemKnn { .. } => "item_knn",
        }
    }
}

/// What `recommender_fit` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommenderModel {
    #[serde(flatten)]
    pub algorithm: Algorithm,
    /// Sorted item ids.
    pub items: Vec<String>,
    /// Customers per item.
    pub popularity: Vec<u64>,
    /// Sorted customer ids; row r of `history` is `customers[r]`.
    pub customers: Vec<String>,
    /// Customer × item summed weights.
    pub history: Csr,
    pub fit_seconds: f64,
    /// Whether `customers` and `history` were kept (`histories=false`
    /// leaves them out: recommendations then take the history as a list).
    #[serde(default = "yes")]
    pub histories: bool,
    /// Customers and (customer, item) pairs the model was fitted on.
    #[serde(default)]
    pub fitted_customers: usize,
    #[serde(default)]
    pub fitted_pairs: usize,
    /// Rows and items left out, by reason.
    #[serde(default)]
    pub skipped: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

/// What a recommendation call asks for.
#[derive(Debug, Clone, Default)]
pub struct Ask<'a> {
    pub k: usize,
    /// Leave out the customer's own items.
    pub exclude_seen: bool,
    /// Item numbers to leave out (sorted).
    pub exclude: &'a [u32],
}

impl RecommenderModel {
    /// Fit `algorithm` on `data`; keep the customers' histories when
    /// `histories`.
    pub fn fit(data: Interactions, algorithm: Fit, histories: bool) -> RecommenderModel {
        let started = std::time::Instant::now();
        let Interactions {
            customers,
            items,
            matrix,
            popularity,
            dropped_items,
            dropped_pairs,
        } = data;
        let (fitted_customers, fitted_pairs) = (customers.len(), matrix.indices.len());
        let transposed =
            matches!(algorithm, Fit::ItemKnn { .. }).then(|| matrix.transpose(items.len()));
        // Without histories the customer x item matrix goes here, before the
        // item-item work: the fit holds two copies at most.
        let (customers, history) = if histories {
            (customers, matrix)
        } else {
            (Vec::new(), Csr::default())
        };
        let fitted = match algorithm {
            Fit::Popular => Algorithm::Popular,
            Fit::Repeat => Algorithm::Repeat,
            Fit::ItemKnn {
                similarity,
                neighbours,
            } => {
                let w = knn::weighted(transposed.unwrap_or_default(), fitted_customers, similarity);
                Algorithm::ItemKnn {
                    similarity,
                    neighbours,
                    matrix: knn::neighbours(&w, fitted_customers, neighbours),
                }
            }
        };
        let mut skipped = serde_json::Map::new();
        if dropped_items > 0 {
            skipped.insert("items_filtered".into(), dropped_items.into());
            skipped.insert("pairs_of_filtered_items".into(), dropped_pairs.into());
        }
        RecommenderModel {
            algorithm: fitted,
            items,
            popularity,
            customers,
            history,
            fit_seconds: started.elapsed().as_secs_f64(),
            histories,
            fitted_customers,
            fitted_pairs,
            skipped,
        }
    }

    /// The row of `customer` in the history, if the model knows them.
    pub fn customer(&self, customer: &str) -> Option<usize> {
        self.customers
            .binary_search_by(|c| c.as_str().cmp(customer))
            .ok()
    }

    /// The number of `item`, if the model knows it.
    pub fn item(&self, item: &str) -> Option<u32> {
        self.items
            .binary_search_by(|c| c.as_str().cmp(item))
            .ok()
            .map(|i| i as u32)
    }

    /// The top `ask.k` items for customer row `row` (None: an unknown
    /// customer, who gets the popular items), best first, ties by item.
    pub fn recommend(&self, row: Option<usize>, ask: &Ask) -> Vec<(u32, f64)> {
        match row {
            Some(r) => {
                let history: Vec<(u32, f64)> = self.history.row(r).collect();
                self.recommend_from(Some(&history), ask)
            }
            None => self.recommend_from(None, ask),
        }
    }

    /// The top `ask.k` items for a customer who bought `history` (item
    /// numbers ascending, with their weights; None or empty: the popular
    /// items), best first, ties by item.
    pub fn recommend_from(&self, history: Option<&[(u32, f64)]>, ask: &Ask) -> Vec<(u32, f64)> {
        let history = history.filter(|h| !h.is_empty());
        let seen: Vec<u32> = match (history, ask.exclude_seen) {
            (Some(h), true) => h.iter().map(|&(i, _)| i).collect(),
            _ => Vec::new(),
        };
        let keep =
            |i: u32| seen.binary_search(&i).is_err() && ask.exclude.binary_search(&i).is_err();
        let mut scored: Vec<(u32, f64)> = match (history, &self.algorithm) {
            (None, _) | (_, Algorithm::Popular) => self.popular(ask.k, &keep),
            (Some(h), Algorithm::Repeat) => h.iter().copied().filter(|&(i, _)| keep(i)).collect(),
            (Some(h), Algorithm::ItemKnn { matrix, .. }) => {
                let mut acc: Vec<(u32, f64)> = Vec::new();
                let mut at = std::collections::HashMap::<u32, usize>::new();
                for &(i, w) in h {
                    for (j, s) in matrix.row(i as usize) {
                        match at.get(&j) {
                            Some(&p) => acc[p].1 += w * s,
                            None => {
                                at.insert(j, acc.len());
                                acc.push((j, w * s));
                            }
                        }
                    }
                }
                acc.retain(|&(j, _)| keep(j));
                acc
            }
        };
        knn::top_k(&mut scored, ask.k);
        scored
    }

    /// A history given as item ids: the model's item numbers ascending,
    /// one unit of weight per mention (unknown items left out).
    pub fn history_of<'a>(&self, items: impl Iterator<Item = &'a str>) -> Vec<(u32, f64)> {
        let mut known: Vec<u32> = items.filter_map(|i| self.item(i)).collect();
        known.sort_unstable();
        let mut out: Vec<(u32, f64)> = Vec::with_capacity(known.len());
        for i in known {
            match out.last_mut() {
                Some(last) if last.0 == i => last.1 += 1.0,
                _ => out.push((i, 1.0)),
            }
        }
        out
    }

    /// The `k` most popular items `keep` allows, with their customer counts.
    fn popular(&self, k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = (0..self.items.len() as u32)
            .filter(|&i| keep(i))
            .map(|i| (i, self.popularity[i as usize] as f64))
            .collect();
        knn::top_k(&mut all, k);
        all
    }

    /// The `k` items most similar to item `i` (itself left out), with their
    /// similarity; None when the algorithm has no item similarity.
    pub fn similar(&self, i: u32, k: usize) -> Option<Vec<(u32, f64)>> {
        match &self.algorithm {
            Algorithm::ItemKnn { matrix, .. } => {
                let mut row: Vec<(u32, f64)> =
                    matrix.row(i as usize).filter(|&(j, _)| j != i).collect();
                knn::top_k(&mut row, k);
                Some(row)
            }
            _ => None,
        }
    }

    /// Bytes the parsed model holds (its arrays and strings).
    pub fn bytes(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(|s| s.capacity() + 24).sum::<usize>();
        let own = match &self.algorithm {
            Algorithm::ItemKnn { matrix, .. } => matrix.bytes(),
            Algorithm::Popular | Algorithm::Repeat => 0,
        };
        strings(&self.items)
            + strings(&self.customers)
            + self.popularity.capacity() * 8
            + self.history.bytes()
            + own
    }

    /// A summary for `model_info` (no arrays).
    pub fn info(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "algorithm": self.algorithm.name(),
            "items": self.items.len(),
            "customers": self.fitted_customers,
            "interactions": self.fitted_pairs,
            "histories": self.histories,
            "fit_seconds": self.fit_seconds,
            "skipped": self.skipped,
        });
        if let Algorithm::ItemKnn {
            similarity,
            neighbours,
            matrix,
        } = &self.algorithm
        {
            v["similarity"] = similarity.name().into();
            v["neighbours"] = (*neighbours).into();
            v["similarity_entries"] = matrix.indices.len().into();
        }
        v
    }
}

/// What to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fit {
    Popular,
    Repeat,
    ItemKnn {
        similarity: Similarity,
        neighbours: usize,
    },
}
