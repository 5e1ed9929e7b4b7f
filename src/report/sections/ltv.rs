//! Lifetime value (`ltv`: customer_id, clv, p_alive, frequency, recency,
//! t): the CLV distribution on a log scale, its concentration (Lorenz
//! curve, share held by the top 10 % and 20 %), and P(alive) by frequency
//! and recency. Large tables are binned in SQL, never read whole.

use super::{failed, figure, num, share, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{heat_map, histogram, line_chart, Bin, Series};

/// Bins per power of ten in the CLV histogram.
const PER_DECADE: f64 = 4.0;

pub async fn section(src: &Source<'_>, money: &Unit) -> Result<Option<Section>> {
    let Some(t) = src.table_of("ltv") else {
        return Ok(None);
    };
    let cur = src.current(t).await?;
    let mut items = Vec::new();
    match distribution(src, &cur, money).await {
        Ok(f) => items.push(f),
        Err(e) => items.push(failed("The CLV distribution", &e)),
    }
    match concentration(src, &cur, money).await {
        Ok(f) => items.push(f),
        Err(e) => items.push(failed("The CLV concentration", &e)),
    }
    match p_alive(src, &cur).await {
        Ok(f) => items.push(f),
        Err(e) => items.push(failed("P(alive) by frequency and recency", &e)),
    }
    Ok(Some(Section {
        id: "ltv",
        title: "Lifetime value".into(),
        items,
    }))
}

/// `clv` is a finite number (also the CLV fan's filter).
pub(super) const FINITE: &str =
    "clv IS NOT NULL AND NOT isnan(clv) AND abs(clv) < 'Infinity'::DOUBLE";

async fn distribution(src: &Source<'_>, cur: &str, money: &Unit) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT greatest(floor(log10(clv) * {PER_DECADE}), -1) AS b, count(*) AS n FROM {cur} WHERE {FINITE} AND clv > 0 GROUP BY 1 ORDER BY 1"
        ))
        .await?;
    let other = src
        .query(&format!(
            "SELECT sum(CASE WHEN {FINITE} AND clv <= 0 THEN 1 ELSE 0 END) AS zero, sum(CASE WHEN {FINITE} THEN 0 ELSE 1 END) AS bad, count(*) AS n FROM {cur}"
        ))
        .await?;
    let zero = other.f64("zero")[0].unwrap_or(0.0);
    let bad = other.f64("bad")[0].unwrap_or(0.0);
    let total = other.f64("n")[0].unwrap_or(0.0);
    let b = rows.f64_or_nan("b");
    let n = rows.f64_or_nan("n");
    let edge = |k: f64| crate::report::format::two_digits(10f64.powf(k / PER_DECADE));
    let bins: Vec<Bin> = b
        .iter()
        .zip(&n)
        .map(|(k, n)| Bin {
            // Everything under one unit of money shares the first bin.
            label: if *k < 0.0 {
                format!("under {}", money.tick(1.0))
            } else {
                format!("{}–{}", money.tick(edge(*k)), money.tick(edge(k + 1.0)))
            },
            count: *n,
        })
        .collect();
    let peak = bins.iter().max_by(|a, b| a.count.total_cmp(&b.count));
    let reading = match peak {
        Some(p) => format!(
            "The most common CLV is {} ({:.0} % of {} customers).",
            p.label,
            100.0 * share(p.count, total),
            Unit::Count.fmt(total)
        ),
        None => "No customer has a positive CLV.".into(),
    };
    let mut note = format!(
        "Log scale: {} bins per power of ten from {}; smaller positive values share the first bin.",
        PER_DECADE,
        money.tick(1.0)
    );
    if zero > 0.0 {
        note += &format!(
            " {} customers with a CLV of 0 or less are not on the log scale.",
            Unit::Count.fmt(zero)
        );
    }
    if bad > 0.0 {
        note += &format!(
            " {} customers without a finite CLV (NULL, NaN or infinite) are left out.",
            Unit::Count.fmt(bad)
        );
    }
    Ok(figure(
        "Distribution of customer lifetime value",
        reading,
        histogram(&bins, "CLV (log scale)", "customers"),
        table(
            &["CLV from–to", "customers"],
            bins.iter()
                .map(|b| vec![Cell::text(b.label.as_str()), num(b.count, &Unit::Count)])
                .collect(),
        ),
        Some(note),
    ))
}

async fn concentration(src: &Source<'_>, cur: &str, money: &Unit) -> Result<Item> {
    // Twenty equal groups of customers, highest CLV first.
    let rows = src
        .query(&format!(
            "SELECT tile, sum(clv) AS v, count(*) AS n FROM (SELECT clv, ntile(20) OVER (ORDER BY clv DESC) AS tile FROM {cur} WHERE {FINITE}) GROUP BY tile ORDER BY tile"
        ))
        .await?;
    let v = rows.f64_or_nan("v");
    let n = rows.f64_or_nan("n");
    let total: f64 = v.iter().sum();
    let customers: f64 = n.iter().sum();
    let top = |k: usize| share(v.iter().take(k).sum(), total);
    // The Lorenz curve: the lowest x % of customers hold y % of the value.
    let mut labels = vec!["0 %".to_string()];
    let mut curve = vec![Some(0.0)];
    let mut equal = vec![Some(0.0)];
    let (mut cum_v, mut cum_n) = (0.0, 0.0);
    for i in (0..v.len()).rev() {
        cum_v += v[i];
        cum_n += n[i];
        labels.push(format!("{:.0} %", 100.0 * share(cum_n, customers)));
        curve.push(Some(share(cum_v, total)));
        equal.push(Some(share(cum_n, customers)));
    }
    let reading = format!(
        "The top 10 % of customers hold {:.0} % of expected value, the top 20 % hold {:.0} % (total {}).",
        100.0 * top(2),
        100.0 * top(4),
        money.fmt(total)
    );
    Ok(figure(
        "Concentration of value (Lorenz curve)",
        reading,
        line_chart(
            &labels,
            &[
                Series {
                    name: "share of CLV held".into(),
                    values: curve.clone(),
                    band: None,
                },
                Series {
                    name: "equal shares".into(),
                    values: equal,
                    band: None,
                },
            ],
            "customers, lowest CLV first (cumulative share)",
            "share of total CLV",
            &Unit::Percent,
        ),
        table(
            &["customers (cumulative, lowest CLV first)", "share of CLV"],
            labels
                .iter()
                .zip(&curve)
                .map(|(l, c)| {
                    vec![
                        Cell::text(l.as_str()),
                        num(c.unwrap_or(f64::NAN), &Unit::Percent),
                    ]
                })
                .collect(),
        ),
        Some("Customers in 20 equal groups by CLV.".into()),
    ))
}

async fn p_alive(src: &Source<'_>, cur: &str) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT CASE WHEN frequency <= 2 THEN CAST(frequency AS VARCHAR) WHEN frequency <= 4 THEN '3–4' WHEN frequency <= 9 THEN '5–9' WHEN frequency <= 19 THEN '10–19' ELSE '20+' END AS f, \
                    least(CAST(floor(CASE WHEN t > 0 THEN recency / t ELSE 0 END * 5) AS BIGINT), 4) AS r, \
                    min(frequency) AS fmin, avg(p_alive) AS p, count(*) AS n \
             FROM {cur} WHERE p_alive IS NOT NULL AND frequency IS NOT NULL GROUP BY 1, 2 ORDER BY fmin, r"
        ))
        .await?;
    let f = rows.text("f");
    let r = rows.f64_or_nan("r");
    let p = rows.f64_or_nan("p");
    let n = rows.f64_or_nan("n");
    let mut freqs = f.clone();
    freqs.dedup();
    let cols: Vec<String> = (0..5)
        .map(|k| format!("{}–{} %", k * 20, k * 20 + 20))
        .collect();
    let mut grid = vec![vec![None; 5]; freqs.len()];
    for i in 0..f.len() {
        let row = freqs.iter().position(|x| *x == f[i]).unwrap_or(0);
        if r[i].is_finite() && (0.0..5.0).contains(&r[i]) {
            grid[row][r[i] as usize] = Some(p[i]);
        }
    }
    let low: f64 = (0..f.len()).filter(|&i| p[i] < 0.5).map(|i| n[i]).sum();
    let all: f64 = n.iter().sum();
    Ok(figure(
        "P(alive) by repeat purchases and recency",
        format!(
            "{:.0} % of customers are in cells whose mean P(alive) is below 50 %; recent repeat buyers are the safest.",
            100.0 * share(low, all)
        ),
        heat_map(&freqs, &cols, &grid, "last purchase, as a share of the customer's time since the first", "repeat purchases", &Unit::Percent),
        table(
            &["repeat purchases", "recency bin", "customers", "mean P(alive)"],
            (0..f.len())
                .map(|i| {
                    vec![
                        Cell::text(f[i].as_str()),
                        Cell::text(cols.get(r[i] as usize).cloned().unwrap_or_default()),
                        num(n[i], &Unit::Count),
                        num(p[i], &Unit::Percent),
                    ]
                })
                .collect(),
        ),
        None,
    ))
}
