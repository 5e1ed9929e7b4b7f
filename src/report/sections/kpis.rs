//! KPIs: the headline numbers of a one-row `kpis` table with their change
//! against the previous run, and line charts of a `kpi_series` table (one
//! row per `period`).

use super::{failed, figure, ident, num, table, unit_for};
use crate::error::Result;
use crate::report::format::{period_label, Unit};
use crate::report::html::{Card, Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{line_chart, Series};

/// Series columns charted when present, in this order (at most three).
const SERIES: &[&str] = &[
    "revenue",
    "active_customers",
    "retention_rate",
    "new_customers",
    "churn_rate",
    "repurchase_rate",
    "orders",
];

pub async fn section(src: &Source<'_>, money: &Unit) -> Result<Option<Section>> {
    let mut items = Vec::new();
    if let Some(t) = src.table_of("kpis") {
        match cards(src, t, money).await {
            Ok(c) => items.push(c),
            Err(e) => items.push(failed("The headline KPIs", &e)),
        }
    }
    if let Some(t) = src.table_of("kpi_series") {
        match series(src, t, money).await {
            Ok(mut f) => items.append(&mut f),
            Err(e) => items.push(failed("The KPI series", &e)),
        }
    }
    Ok(super::non_empty("kpis", "KPIs", items))
}

async fn cards(src: &Source<'_>, t: &str, money: &Unit) -> Result<Item> {
    let cur = src.current(t).await?;
    let cols: Vec<(String, bool)> = src
        .numeric_columns(&cur)
        .await?
        .into_iter()
        .filter(|(c, _)| c != "run_date")
        .collect();
    let now = src.query(&format!("SELECT * FROM {cur} LIMIT 1")).await?;
    let before = match src.previous(t).await? {
        Some(p) => Some(src.query(&format!("SELECT * FROM {p} LIMIT 1")).await?),
        None => None,
    };
    let cards = cols
        .iter()
        .map(|(c, integer)| {
            let unit = unit_for(c, *integer, money);
            let v = now.f64(c).first().copied().flatten().unwrap_or(f64::NAN);
            let was = before
                .as_ref()
                .and_then(|b| b.f64(c).first().copied().flatten());
            Card {
                label: c.replace('_', " "),
                value: unit.fmt(v),
                change: Some(match was {
                    Some(w) => change(v, w, &unit),
                    None => "no previous run".into(),
                }),
            }
        })
        .collect();
    Ok(Item::Cards(cards))
}

/// The change from `was` to `v`: points for percentages, % otherwise.
pub fn change(v: f64, was: f64, unit: &Unit) -> String {
    if !v.is_finite() || !was.is_finite() {
        return "–".into();
    }
    // Shown to one decimal: a change that rounds to 0.0 has no sign.
    let sign = |d: f64| match d {
        d if d.abs() < 0.05 => "±",
        d if d > 0.0 => "+",
        _ => "−",
    };
    match unit {
        Unit::Percent => {
            let d = (v - was) * 100.0;
            format!("{}{:.1} points vs previous run", sign(d), d.abs())
        }
        _ if was != 0.0 => {
            let d = (v - was) / was.abs() * 100.0;
            format!("{}{:.1} % vs previous run", sign(d), d.abs())
        }
        _ => format!("was {}", unit.fmt(was)),
    }
}

async fn series(src: &Source<'_>, t: &str, money: &Unit) -> Result<Vec<Item>> {
    let cur = src.current(t).await?;
    let numeric = src.numeric_columns(&cur).await?;
    let mut chosen: Vec<(String, bool)> = SERIES
        .iter()
        .filter_map(|s| numeric.iter().find(|(c, _)| c == s).cloned())
        .take(3)
        .collect();
    if chosen.is_empty() {
        chosen = numeric
            .into_iter()
            .filter(|(c, _)| !c.ends_with("_previous") && !c.ends_with("_change"))
            .take(2)
            .collect();
    }
    let rows = src
        .query(&format!("SELECT * FROM {cur} ORDER BY {}", ident("period")))
        .await?;
    let periods: Vec<String> = rows
        .text("period")
        .iter()
        .map(|p| period_label(p))
        .collect();
    let incomplete = rows.f64("complete").last().copied().flatten() == Some(0.0);
    let mut items = Vec::new();
    for (c, integer) in chosen {
        let unit = unit_for(&c, integer, money);
        let values = rows.f64(&c);
        let first = values.iter().flatten().next().copied();
        let last = values.iter().flatten().last().copied();
        let reading = match (first, last, periods.first(), periods.last()) {
            (Some(a), Some(b), Some(p0), Some(p1)) => format!(
                "{} went from {} in {p0} to {} in {p1}.",
                c.replace('_', " "),
                unit.fmt(a),
                unit.fmt(b)
            ),
            _ => format!("No {c} values."),
        };
        let tbl = table(
            &["period", &c],
            periods
                .iter()
                .zip(&values)
                .map(|(p, v)| vec![Cell::text(p.as_str()), num(v.unwrap_or(f64::NAN), &unit)])
                .collect(),
        );
        items.push(figure(
            &format!("{} by period ({t})", c.replace('_', " ")),
            reading,
            line_chart(
                &periods,
                &[Series {
                    name: c.clone(),
                    values,
                    band: None,
                }],
                "period",
                &c.replace('_', " "),
                &unit,
            ),
            tbl,
            incomplete.then(|| {
                "The last period is cut short by the run date (complete = false).".to_string()
            }),
        ));
    }
    Ok(items)
}
