//! Early warning: the run's alerts (from the manifest; also at the top of
//! the page) and the churn watchlist (`watchlist`: customer_id, why,
//! value_at_risk).

use super::{failed, figure, num, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::bar_chart;

pub async fn section(src: &Source<'_>, money: &Unit) -> Result<Option<Section>> {
    let alerts: Vec<&serde_json::Value> = src.manifest["alerts"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let watchlist = src.table_of("watchlist");
    if alerts.is_empty() && watchlist.is_none() {
        return Ok(None);
    }
    let mut items = vec![Item::Table {
        title: format!("Alerts of this run ({})", alerts.len()),
        table: table(
            &["check", "severity", "metric", "value", "target", "message"],
            alerts
                .iter()
                .map(|a| {
                    let f = |k: &str| a[k].as_f64().unwrap_or(f64::NAN);
                    vec![
                        Cell::text(a["check"].as_str().unwrap_or("")),
                        Cell::text(a["severity"].as_str().unwrap_or("")),
                        Cell::text(a["metric"].as_str().unwrap_or("")),
                        num(f("value"), &Unit::Plain(3)),
                        num(f("target"), &Unit::Plain(3)),
                        Cell::text(a["message"].as_str().unwrap_or("")),
                    ]
                })
                .collect(),
        ),
    }];
    if let Some(t) = watchlist {
        match watch(src, t, money).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The watchlist", &e)),
        }
    }
    Ok(Some(Section {
        id: "warning",
        title: "Early warning".into(),
        items,
    }))
}

async fn watch(src: &Source<'_>, t: &str, money: &Unit) -> Result<Item> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!(
            "SELECT COALESCE(why, '(none)') AS why, count(*) AS n, sum(value_at_risk) AS v FROM {cur} GROUP BY 1 ORDER BY n DESC, why"
        ))
        .await?;
    let why = rows.text("why");
    let (n, v) = (rows.f64_or_nan("n"), rows.f64_or_nan("v"));
    let total: f64 = n.iter().sum();
    let value: f64 = v.iter().filter(|x| x.is_finite()).sum();
    Ok(figure(
        "Churn watchlist by reason for listing",
        format!(
            "{} customers on the watchlist, {} of value at risk.",
            Unit::Count.fmt(total),
            money.fmt(value)
        ),
        bar_chart(
            &why.iter()
                .cloned()
                .zip(n.iter().copied())
                .collect::<Vec<_>>(),
            "customers",
            &Unit::Count,
        ),
        table(
            &["why listed", "customers", "value at risk"],
            (0..why.len())
                .map(|i| {
                    vec![
                        Cell::text(why[i].as_str()),
                        num(n[i], &Unit::Count),
                        num(v[i], money),
                    ]
                })
                .collect(),
        ),
        None,
    ))
}
