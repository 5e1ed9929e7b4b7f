//! Baskets and recommendations: the top association rules by lift
//! (`basket_rules`: antecedent, consequent, support, confidence, lift) with
//! product names from a `transactions` table that has `product_id` and
//! `description`, recommendation coverage (`recommendations`:
//! customer_id, products as a list of {item, score}) and the offline
//! evaluation of recommenders (`recommender_eval`: the columns of
//! `recommender_eval()`).

use std::collections::HashMap;

use super::{failed, figure, num, share, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::bar_chart;

/// Rules shown.
const TOP_RULES: usize = 15;

pub async fn section(src: &Source<'_>) -> Result<Option<Section>> {
    let mut items = Vec::new();
    if let Some(t) = src.table_of("basket_rules") {
        match rules(src, t).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The top rules", &e)),
        }
    }
    if let Some(t) = src.table_of("recommendations") {
        match coverage(src, t).await {
            Ok(mut f) => items.append(&mut f),
            Err(e) => items.push(failed("The recommendation coverage", &e)),
        }
    }
    if let Some(t) = src.table_of("recommender_eval") {
        match evaluation(src, t).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The recommender evaluation", &e)),
        }
    }
    Ok(super::non_empty(
        "baskets",
        "Baskets and recommendations",
        items,
    ))
}

async fn rules(src: &Source<'_>, t: &str) -> Result<Item> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!(
            "SELECT array_to_string(antecedent, '\u{1f}') AS a, array_to_string(consequent, '\u{1f}') AS c, support, confidence, lift \
             FROM {cur} ORDER BY lift DESC, confidence DESC, a, c LIMIT {TOP_RULES}"
        ))
        .await?;
    let a = rows.text("a");
    let c = rows.text("c");
    let (support, confidence, lift) = (
        rows.f64_or_nan("support"),
        rows.f64_or_nan("confidence"),
        rows.f64_or_nan("lift"),
    );
    let mut ids: Vec<String> = a
        .iter()
        .chain(&c)
        .flat_map(|s| s.split('\u{1f}').map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    let names = product_names(src, &ids).await.unwrap_or_default();
    let show = |list: &str| {
        list.split('\u{1f}')
            .map(|id| match names.get(id) {
                Some(n) => format!("{n} ({id})"),
                None => id.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let labels: Vec<String> = (0..a.len())
        .map(|i| format!("{} → {}", show(&a[i]), show(&c[i])))
        .collect();
    let bars: Vec<(String, f64)> = labels.iter().cloned().zip(lift.iter().copied()).collect();
    let reading = match labels.first() {
        Some(l) => format!(
            "Strongest: {l}, bought together {:.0} times as often as by chance ({:.0} % confidence).",
            lift[0],
            100.0 * confidence[0]
        ),
        None => "No rules met the thresholds.".into(),
    };
    Ok(figure(
        &format!("Top {TOP_RULES} rules by lift"),
        reading,
        bar_chart(&bars, "lift", &Unit::Plain(1)),
        table(
            &["if a basket holds", "it also holds", "support", "confidence", "lift"],
            (0..a.len())
                .map(|i| {
                    vec![
                        Cell::text(show(&a[i])),
                        Cell::text(show(&c[i])),
                        num(support[i], &Unit::Percent),
                        num(confidence[i], &Unit::Percent),
                        num(lift[i], &Unit::Plain(1)),
                    ]
                })
                .collect(),
        ),
        (!ids.is_empty() && names.is_empty()).then(|| "No table of kind 'transactions' with product_id and description: products are shown by id.".to_string()),
    ))
}

/// Each product's most frequent description, for `ids` only.
async fn product_names(src: &Source<'_>, ids: &[String]) -> Result<HashMap<String, String>> {
    let Some(t) = src.table_of("transactions") else {
        return Ok(HashMap::new());
    };
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let cur = src.current(t).await?;
    let cols = src.columns(&cur).await?;
    if !cols.iter().any(|c| c == "description") || !cols.iter().any(|c| c == "product_id") {
        return Ok(HashMap::new());
    }
    let list: Vec<String> = ids
        .iter()
        .map(|i| format!("'{}'", i.replace('\'', "''")))
        .collect();
    let rows = src
        .query(&format!(
            "SELECT id, description FROM (SELECT CAST(product_id AS VARCHAR) AS id, description, \
             row_number() OVER (PARTITION BY CAST(product_id AS VARCHAR) ORDER BY count(*) DESC, description) AS k \
             FROM {cur} WHERE CAST(product_id AS VARCHAR) IN ({}) AND description IS NOT NULL GROUP BY 1, 2) WHERE k = 1",
            list.join(", ")
        ))
        .await?;
    Ok(rows
        .text("id")
        .into_iter()
        .zip(rows.text("description"))
        .collect())
}

async fn coverage(src: &Source<'_>, t: &str) -> Result<Vec<Item>> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!(
            "SELECT count(*) AS customers, sum(CASE WHEN array_length(products) > 0 THEN 1 ELSE 0 END) AS covered FROM {cur}"
        ))
        .await?;
    let customers = rows.f64("customers")[0].unwrap_or(0.0);
    let covered = rows.f64("covered")[0].unwrap_or(0.0);
    let items = src
        .query(&format!(
            "SELECT CAST(get_field(p, 'item') AS VARCHAR) AS item, count(*) AS n FROM (SELECT unnest(products) AS p FROM {cur}) GROUP BY 1 ORDER BY n DESC, item"
        ))
        .await?;
    let item = items.text("item");
    let n = items.f64_or_nan("n");
    let top: Vec<String> = item.iter().take(15).cloned().collect();
    let names = product_names(src, &top).await.unwrap_or_default();
    let label = |id: &str| {
        names
            .get(id)
            .map_or(id.to_string(), |n| format!("{n} ({id})"))
    };
    let bars: Vec<(String, f64)> = top
        .iter()
        .map(|i| label(i))
        .zip(n.iter().copied())
        .collect();
    let recommended: f64 = n.iter().sum();
    let reading = format!(
        "{:.1} % of {} customers get recommendations; {} distinct products are recommended, the top 15 make {:.0} % of all recommendations.",
        100.0 * share(covered, customers),
        Unit::Count.fmt(customers),
        Unit::Count.fmt(item.len() as f64),
        100.0 * share(n.iter().take(15).sum(), recommended)
    );
    Ok(vec![figure(
        "Most recommended products",
        reading,
        bar_chart(&bars, "customers recommended the product", &Unit::Count),
        table(
            &["product", "customers"],
            top.iter()
                .zip(&n)
                .map(|(i, n)| vec![Cell::text(label(i)), num(*n, &Unit::Count)])
                .collect(),
        ),
        None,
    )])
}

/// `recommender_eval()`'s table: NDCG per algorithm, every metric behind it.
async fn evaluation(src: &Source<'_>, t: &str) -> Result<Item> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!(
            "SELECT * FROM {cur} ORDER BY ndcg DESC, algorithm"
        ))
        .await?;
    let algorithm = rows.text("algorithm");
    let seen = rows.text("exclude_seen");
    let metrics = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"];
    let values: Vec<Vec<f64>> = metrics.iter().map(|m| rows.f64_or_nan(m)).collect();
    let customers = rows.f64_or_nan("customers");
    let label = |i: usize| {
        if seen[i] == "true" {
            format!("{} (new products only)", algorithm[i])
        } else {
            algorithm[i].clone()
        }
    };
    let ndcg = &values[2];
    let bars: Vec<(String, f64)> = (0..algorithm.len()).map(|i| (label(i), ndcg[i])).collect();
    let reading = match bars.first() {
        Some((best, v)) => format!(
            "{best} ranks best by NDCG ({v:.3}) over {} customers' purchases after the split.",
            Unit::Count.fmt(customers[0])
        ),
        None => "No evaluation rows.".into(),
    };
    let mut header = vec!["algorithm", "customers"];
    header.extend(metrics);
    Ok(figure(
        "Recommender evaluation",
        reading,
        bar_chart(&bars, "NDCG at k", &Unit::Plain(3)),
        table(
            &header,
            (0..algorithm.len())
                .map(|i| {
                    let mut r = vec![Cell::text(label(i)), num(customers[i], &Unit::Count)];
                    r.extend(values.iter().map(|v| num(v[i], &Unit::Plain(3))));
                    r
                })
                .collect(),
        ),
        None,
    ))
}
