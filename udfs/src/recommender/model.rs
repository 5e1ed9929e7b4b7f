//! A fitted recommender and how it scores: the items, each customer's
//! history (for `exclude_seen`, `repeat` and item–item scores), item
//! popularity (for unknown customers) and the algorithm's own part.

use serde::{Deserialize, Serialize};

use super::als::{self, AlsParams};
use super::content::Ngrams;
use super::ease;
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
    /// Implicit-feedback matrix factorisation ([`als`]): the item vectors
    /// (items × factors, row-major) and YᵀY + λI (factors × factors), from
    /// which a customer's vector is solved at scoring.
    Als {
        params: AlsParams,
        item_factors: Vec<f32>,
        gram: Vec<f64>,
    },
    /// Steck's EASE ([`ease`]): row i holds item i's weights on the items
    /// it predicts, cut to the `neighbours` largest in absolute value.
    Ease {
        lambda: f64,
        neighbours: usize,
        matrix: Csr,
    },
    /// Content-based ([`content`]): row i holds item i's most similar items
    /// by the cosine of their TF-IDF text vectors.
    Content {
        ngrams: Ngrams,
        neighbours: usize,
        features: usize,
        matrix: Csr,
    },
    /// A blend of parts, fitted on the same interactions
    /// (`algorithm=hybrid`) or separately and blended by `hybrid_fit`
    /// ([`super::blend`]): each part's scores for the customer divided by
    /// that part's largest, then summed with the part's weight.
    Hybrid { parts: Vec<(f64, Algorithm)> },
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Popular => "popular",
            Algorithm::Repeat => "repeat",
            Algorithm::ItemKnn { .. } => "item_knn",
            Algorithm::Als { .. } => "als",
            Algorithm::Ease { .. } => "ease",
            Algorithm::Hybrid { .. } => "hybrid",
            Algorithm::Content { .. } => "content",
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Algorithm::ItemKnn { matrix, .. }
            | Algorithm::Ease { matrix, .. }
            | Algorithm::Content { matrix, .. } => matrix.bytes(),
            Algorithm::Als {
                item_factors, gram, ..
            } => item_factors.capacity() * 4 + gram.capacity() * 8,
            Algorithm::Hybrid { parts } => parts.iter().map(|(_, a)| a.bytes()).sum(),
            Algorithm::Popular | Algorithm::Repeat => 0,
        }
    }

    /// What `model_info` shows of the algorithm's own part.
    fn info(&self, v: &mut serde_json::Value) {
        match self {
            Algorithm::ItemKnn {
                similarity,
                neighbours,
                matrix,
            } => {
                v["similarity"] = similarity.name().into();
                v["neighbours"] = (*neighbours).into();
                v["similarity_entries"] = matrix.indices.len().into();
            }
            Algorithm::Als { params, .. } => {
                v["factors"] = params.factors.into();
                v["regularization"] = params.regularization.into();
                v["alpha"] = params.alpha.into();
                v["iterations"] = params.iterations.into();
                v["cg_steps"] = params.cg_steps.into();
                v["seed"] = params.seed.into();
                v["confidence"] = if params.linear { "linear" } else { "one_plus" }.into();
            }
            Algorithm::Ease {
                lambda,
                neighbours,
                matrix,
            } => {
                v["lambda"] = (*lambda).into();
                v["neighbours"] = (*neighbours).into();
                v["weight_entries"] = matrix.indices.len().into();
            }
            Algorithm::Hybrid { parts } => {
                v["parts"] = parts
                    .iter()
                    .map(|(w, a)| {
                        let mut p = serde_json::json!({"algorithm": a.name(), "weight": w});
                        a.info(&mut p);
                        p
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
            Algorithm::Content {
                ngrams,
                neighbours,
                features,
                matrix,
            } => {
                v["ngrams"] = ngrams.name().into();
                v["neighbours"] = (*neighbours).into();
                v["features"] = (*features).into();
                v["similarity_entries"] = matrix.indices.len().into();
            }
            Algorithm::Popular | Algorithm::Repeat => {}
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
        let (fitted, customers, history) = match algorithm {
            Fit::Popular | Fit::Repeat => {
                let fitted = fit_part(&algorithm, &matrix, &Csr::default());
                let (customers, history) = keep(histories, customers, matrix);
                (fitted, customers, history)
            }
            // Item-item neighbours need only the transpose: without
            // histories the customer x item matrix goes before the item-item
            // work, so the fit holds two copies at most.
            Fit::ItemKnn {
                similarity,
                neighbours,
            } => {
                let transposed = matrix.transpose(items.len());
                let (customers, history) = keep(histories, customers, matrix);
                let fitted = item_knn(transposed, fitted_customers, similarity, neighbours);
                (fitted, customers, history)
            }
            ref other => {
                let transposed = matrix.transpose(items.len());
                let fitted = fit_part(other, &matrix, &transposed);
                drop(transposed);
                let (customers, history) = keep(histories, customers, matrix);
                (fitted, customers, history)
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

    /// A content-based model of `items` (sorted, distinct) described by
    /// `texts` (see [`super::content`]). It knows no customers: recommend
    /// from a list of items.
    pub fn content(
        items: Vec<String>,
        texts: &[String],
        ngrams: Ngrams,
        min_df: usize,
        neighbours: usize,
    ) -> RecommenderModel {
        let started = std::time::Instant::now();
        let (matrix, features) = super::content::similarities(texts, ngrams, min_df, neighbours);
        RecommenderModel {
            algorithm: Algorithm::Content {
                ngrams,
                neighbours,
                features,
                matrix,
            },
            popularity: vec![0; items.len()],
            items,
            customers: Vec::new(),
            history: Csr::default(),
            fit_seconds: started.elapsed().as_secs_f64(),
            histories: false,
            fitted_customers: 0,
            fitted_pairs: 0,
            skipped: serde_json::Map::new(),
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
        let mut scored = match history {
            None => self.popular(ask.k, &keep),
            Some(h) => self.candidates(&self.algorithm, h, ask.k, &keep),
        };
        knn::top_k(&mut scored, ask.k);
        scored
    }

    /// Every item `algorithm` scores for a customer who bought `h` and
    /// `keep` allows, unsorted (`popular`: the top `k`).
    fn candidates(
        &self,
        algorithm: &Algorithm,
        h: &[(u32, f64)],
        k: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f64)> {
        match algorithm {
            Algorithm::Popular => self.popular(k, keep),
            Algorithm::Repeat => h.iter().copied().filter(|&(i, _)| keep(i)).collect(),
            Algorithm::ItemKnn { matrix, .. }
            | Algorithm::Ease { matrix, .. }
            | Algorithm::Content { matrix, .. } => {
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
            Algorithm::Als {
                params,
                item_factors,
                gram,
            } => {
                let x = als::customer_vector(h, item_factors, gram, params);
                als::scores(&x, item_factors, params.factors)
                    .into_iter()
                    .enumerate()
                    .map(|(j, s)| (j as u32, s))
                    .filter(|&(j, _)| keep(j))
                    .collect()
            }
            Algorithm::Hybrid { parts } => {
                let mut total = vec![0.0; self.items.len()];
                let mut scored = vec![false; self.items.len()];
                for (weight, part) in parts {
                    // A part of weight 0 adds nothing, not even items at 0.
                    if *weight <= 0.0 {
                        continue;
                    }
                    // Popular counts as a part over the whole catalogue.
                    let list = self.candidates(part, h, self.items.len(), keep);
                    let top = list.iter().map(|&(_, s)| s).fold(0.0_f64, f64::max);
                    if top <= 0.0 {
                        continue;
                    }
                    for (j, s) in list {
                        if s > 0.0 {
                            total[j as usize] += weight * s / top;
                            scored[j as usize] = true;
                        }
                    }
                }
                (0..self.items.len())
                    .filter(|&j| scored[j])
                    .map(|j| (j as u32, total[j]))
                    .collect()
            }
        }
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

    /// The `k` most popular items `keep` allows, with their customer counts
    /// (none for a content model, which knows no customers).
    fn popular(&self, k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = (0..self.items.len() as u32)
            .filter(|&i| keep(i) && self.popularity[i as usize] > 0)
            .map(|i| (i, self.popularity[i as usize] as f64))
            .collect();
        knn::top_k(&mut all, k);
        all
    }

    /// The `k` items most similar to item `i` (itself left out), with their
    /// similarity; None when the algorithm has no item similarity.
    pub fn similar(&self, i: u32, k: usize) -> Option<Vec<(u32, f64)>> {
        let mut row: Vec<(u32, f64)> = match &self.algorithm {
            Algorithm::ItemKnn { matrix, .. }
            | Algorithm::Ease { matrix, .. }
            | Algorithm::Content { matrix, .. } => {
                matrix.row(i as usize).filter(|&(j, _)| j != i).collect()
            }
            // The cosine of the item vectors.
            Algorithm::Als {
                params,
                item_factors,
                ..
            } => {
                let f = params.factors;
                let norm = |j: usize| {
                    item_factors[j * f..(j + 1) * f]
                        .iter()
                        .map(|&v| (v as f64) * (v as f64))
                        .sum::<f64>()
                        .sqrt()
                };
                let ni = norm(i as usize);
                let xi: Vec<f64> = item_factors[i as usize * f..(i as usize + 1) * f]
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                als::scores(&xi, item_factors, f)
                    .into_iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i as usize)
                    .map(|(j, s)| {
                        let d = ni * norm(j);
                        (j as u32, if d > 0.0 { s / d } else { 0.0 })
                    })
                    .collect()
            }
            _ => return None,
        };
        knn::top_k(&mut row, k);
        Some(row)
    }

    /// Bytes the parsed model holds (its arrays and strings).
    pub fn bytes(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(|s| s.capacity() + 24).sum::<usize>();
        let own = self.algorithm.bytes();
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
        self.algorithm.info(&mut v);
        v
    }
}

/// What to fit.
#[derive(Debug, Clone, PartialEq)]
pub enum Fit {
    Popular,
    Repeat,
    ItemKnn {
        similarity: Similarity,
        neighbours: usize,
    },
    Als(AlsParams),
    Ease {
        lambda: f64,
        neighbours: usize,
    },
    Hybrid(Vec<(f64, Fit)>),
}

/// The customers and their histories when the model keeps them.
fn keep(histories: bool, customers: Vec<String>, matrix: Csr) -> (Vec<String>, Csr) {
    if histories {
        (customers, matrix)
    } else {
        (Vec::new(), Csr::default())
    }
}

/// Item–item neighbours from the item × customer matrix (consumed: the
/// weighting works in place).
fn item_knn(
    by_item: Csr,
    customers: usize,
    similarity: Similarity,
    neighbours: usize,
) -> Algorithm {
    let w = knn::weighted(by_item, customers, similarity);
    Algorithm::ItemKnn {
        similarity,
        neighbours,
        matrix: knn::neighbours(&w, customers, neighbours),
    }
}

/// Fit one algorithm on the customer × item matrix and its transpose.
fn fit_part(fit: &Fit, by_customer: &Csr, by_item: &Csr) -> Algorithm {
    let customers = by_customer.rows();
    match fit {
        Fit::Popular => Algorithm::Popular,
        Fit::Repeat => Algorithm::Repeat,
        Fit::ItemKnn {
            similarity,
            neighbours,
        } => item_knn(by_item.clone(), customers, *similarity, *neighbours),
        Fit::Als(params) => {
            let item_factors = als::fit(by_customer, by_item, params);
            let gram = als::gram(&item_factors, params.factors, params.regularization);
            Algorithm::Als {
                params: *params,
                item_factors,
                gram,
            }
        }
        Fit::Ease { lambda, neighbours } => {
            let n = by_item.rows();
            let g = ease::gram(by_item, by_customer, *lambda);
            Algorithm::Ease {
                lambda: *lambda,
                neighbours: *neighbours,
                // lambda > 0 makes G positive definite.
                matrix: ease::weights(g, n, *neighbours).unwrap_or_default(),
            }
        }
        Fit::Hybrid(parts) => Algorithm::Hybrid {
            parts: parts
                .iter()
                .map(|(w, f)| (*w, fit_part(f, by_customer, by_item)))
                .collect(),
        },
    }
}
