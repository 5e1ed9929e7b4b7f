//! Segments: RFM segment sizes and revenue share (`rfm`: customer_id,
//! segment, monetary), the k-means segments' profile (`kmeans`:
//! customer_id, segment_id; its other numeric columns, or else the RFM
//! table's recency, frequency and monetary) and each RFM segment's
//! customers since the previous run (a migration matrix).

use super::{failed, figure, ident, num, share, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{bar_chart, heat_map};

pub async fn section(src: &Source<'_>, money: &Unit) -> Result<Option<Section>> {
    let mut items = Vec::new();
    if let Some(t) = src.table_of("rfm") {
        match rfm(src, t, money).await {
            Ok(mut f) => items.append(&mut f),
            Err(e) => items.push(failed("The RFM segments", &e)),
        }
    }
    if let Some(t) = src.table_of("kmeans") {
        match kmeans(src, t).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The k-means profile", &e)),
        }
    }
    Ok(super::non_empty("segments", "Segments", items))
}

async fn rfm(src: &Source<'_>, t: &str, money: &Unit) -> Result<Vec<Item>> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!(
            "SELECT segment, count(*) AS n, sum(monetary) AS m FROM {cur} GROUP BY segment ORDER BY n DESC, segment"
        ))
        .await?;
    let seg = rows.text("segment");
    let n = rows.f64_or_nan("n");
    let m = rows.f64_or_nan("m");
    let (total_n, total_m): (f64, f64) = (n.iter().sum(), m.iter().filter(|v| v.is_finite()).sum());
    let mut items = Vec::new();
    let tbl = table(
        &[
            "segment",
            "customers",
            "share of customers",
            "revenue",
            "share of revenue",
        ],
        (0..seg.len())
            .map(|i| {
                vec![
                    Cell::text(seg[i].as_str()),
                    num(n[i], &Unit::Count),
                    num(share(n[i], total_n), &Unit::Percent),
                    num(m[i], money),
                    num(share(m[i], total_m), &Unit::Percent),
                ]
            })
            .collect(),
    );
    let top = (0..seg.len()).max_by(|&a, &b| m[a].total_cmp(&m[b]));
    let reading = match top {
        Some(i) => format!(
            "{} holds {:.0} % of revenue with {:.0} % of customers; {} customers in {} segments.",
            seg[i],
            100.0 * share(m[i], total_m),
            100.0 * share(n[i], total_n),
            Unit::Count.fmt(total_n),
            seg.len()
        ),
        None => "No customers.".into(),
    };
    let sizes: Vec<(String, f64)> = seg.iter().cloned().zip(n.iter().copied()).collect();
    items.push(figure(
        "RFM segment sizes",
        reading.clone(),
        bar_chart(&sizes, "customers", &Unit::Count),
        tbl.clone(),
        None,
    ));
    let shares: Vec<(String, f64)> = seg
        .iter()
        .cloned()
        .zip(m.iter().map(|v| share(*v, total_m)))
        .collect();
    items.push(figure(
        "Share of revenue by RFM segment",
        reading,
        bar_chart(&shares, "share of revenue", &Unit::Percent),
        tbl,
        None,
    ));
    match src.previous(t).await? {
        Some(prev) => {
            let rows = src
                .query(&format!(
                    "SELECT p.segment AS was, c.segment AS now, count(*) AS n FROM {prev} p JOIN {cur} c USING (customer_id) GROUP BY p.segment, c.segment"
                ))
                .await?;
            let (was, now, n) = (rows.text("was"), rows.text("now"), rows.f64_or_nan("n"));
            let mut names: Vec<String> = was.iter().chain(&now).cloned().collect();
            names.sort();
            names.dedup();
            let pos = |s: &String| names.iter().position(|x| x == s).unwrap_or(0);
            let mut grid = vec![vec![None; names.len()]; names.len()];
            let (mut moved, mut all) = (0.0, 0.0);
            for i in 0..n.len() {
                grid[pos(&was[i])][pos(&now[i])] = Some(n[i]);
                all += n[i];
                if was[i] != now[i] {
                    moved += n[i];
                }
            }
            items.push(figure(
                "Segment migration since the previous run",
                format!(
                    "{:.0} % of the customers in both runs changed segment ({} of {}).",
                    100.0 * share(moved, all),
                    Unit::Count.fmt(moved),
                    Unit::Count.fmt(all)
                ),
                heat_map(&names, &names, &grid, "segment now", "segment in the previous run", &Unit::Count),
                table(
                    &["previous segment", "segment now", "customers"],
                    (0..n.len())
                        .map(|i| vec![Cell::text(was[i].as_str()), Cell::text(now[i].as_str()), num(n[i], &Unit::Count)])
                        .collect(),
                ),
                None,
            ));
        }
        None => items.push(Item::Note(
            "Segment migration: no previous run of this job wrote this table, so there is nothing to compare with yet.".into(),
        )),
    }
    Ok(items)
}

async fn kmeans(src: &Source<'_>, t: &str) -> Result<Item> {
    let cur = src.current(t).await?;
    let own: Vec<String> = src
        .numeric_columns(&cur)
        .await?
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| !["customer_id", "segment_id", "distance"].contains(&c.as_str()))
        .collect();
    let (from, features) = if !own.is_empty() {
        (cur.clone(), own)
    } else if let Some(r) = src.table_of("rfm") {
        let rfm = src.current(r).await?;
        (
            format!("(SELECT k.segment_id, r.recency_days, r.frequency, r.monetary FROM {cur} k JOIN {rfm} r USING (customer_id))"),
            vec!["recency_days".to_string(), "frequency".to_string(), "monetary".to_string()],
        )
    } else {
        (cur.clone(), Vec::new())
    };
    // Each feature's segment mean in standard deviations from the mean of
    // all customers, so features of different units share one colour scale.
    let mut select = vec!["segment_id".to_string(), "count(*) AS n".to_string()];
    for f in &features {
        let q = ident(f);
        select.push(format!(
            "avg(CAST({q} AS DOUBLE)) AS {}",
            ident(&format!("mean_{f}"))
        ));
    }
    let overall: Vec<String> = features
        .iter()
        .map(|f| {
            let q = ident(f);
            format!(
                "avg(CAST({q} AS DOUBLE)) AS {}, stddev(CAST({q} AS DOUBLE)) AS {}",
                ident(&format!("mean_{f}")),
                ident(&format!("sd_{f}"))
            )
        })
        .collect();
    let per = src
        .query(&format!(
            "SELECT {} FROM {from} GROUP BY segment_id ORDER BY segment_id",
            select.join(", ")
        ))
        .await?;
    let all = if features.is_empty() {
        None
    } else {
        Some(
            src.query(&format!("SELECT {} FROM {from}", overall.join(", ")))
                .await?,
        )
    };
    let ids = per.text("segment_id");
    let n = per.f64_or_nan("n");
    let rows: Vec<String> = ids
        .iter()
        .zip(&n)
        .map(|(id, n)| format!("segment {id} ({})", Unit::Count.fmt(*n)))
        .collect();
    let mut grid = vec![Vec::new(); ids.len()];
    let mut cells = vec![Vec::new(); ids.len()];
    for f in &features {
        let means = per.f64_or_nan(&format!("mean_{f}"));
        let (mu, sd) = all.as_ref().map_or((f64::NAN, f64::NAN), |a| {
            (
                a.f64_or_nan(&format!("mean_{f}"))[0],
                a.f64_or_nan(&format!("sd_{f}"))[0],
            )
        });
        for (i, m) in means.iter().enumerate() {
            let z = if sd > 0.0 { (m - mu) / sd } else { 0.0 };
            grid[i].push(Some(z));
            cells[i].push(num(*m, &Unit::Plain(2)));
        }
    }
    let mut header = vec!["segment", "customers"];
    let names: Vec<String> = features.iter().map(|f| format!("mean {f}")).collect();
    header.extend(names.iter().map(String::as_str));
    let tbl = table(
        &header,
        (0..ids.len())
            .map(|i| {
                let mut r = vec![Cell::text(ids[i].as_str()), num(n[i], &Unit::Count)];
                r.extend(cells[i].clone());
                r
            })
            .collect(),
    );
    Ok(figure(
        "k-means segment profile",
        format!(
            "{} segments; each cell is the segment's mean of a feature in standard deviations from the mean of all customers.",
            ids.len()
        ),
        heat_map(&rows, &features, &grid, "feature", "segment", &Unit::Plain(1)),
        tbl,
        None,
    ))
}
