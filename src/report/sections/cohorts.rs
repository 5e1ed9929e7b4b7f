//! Cohorts: the retention heat map of a `cohorts` table (cohort,
//! period_number, retention_rate), one row per acquisition cohort.

use super::{figure, num, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Section};
use crate::report::source::Source;
use crate::report::svg::heat_map;

pub async fn section(src: &Source<'_>) -> Result<Option<Section>> {
    let Some(t) = src.table_of("cohorts") else {
        return Ok(None);
    };
    let item = match heat(src, t).await {
        Ok(f) => f,
        Err(e) => super::failed("The cohort retention", &e),
    };
    Ok(Some(Section {
        id: "cohorts",
        title: "Cohorts".into(),
        items: vec![item],
    }))
}

async fn heat(src: &Source<'_>, t: &str) -> Result<crate::report::html::Item> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!(
            "SELECT CAST(cohort AS VARCHAR) AS cohort, period_number, retention_rate, customers FROM {cur} ORDER BY cohort, period_number"
        ))
        .await?;
    let cohort = rows.text("cohort");
    let period = rows.f64_or_nan("period_number");
    let rate = rows.f64_or_nan("retention_rate");
    let size = rows.f64_or_nan("customers");
    let mut cohorts: Vec<String> = cohort.clone();
    cohorts.dedup();
    let max_p = period
        .iter()
        .filter(|p| p.is_finite())
        .fold(0.0_f64, |a, b| a.max(*b)) as usize;
    let cols: Vec<String> = (0..=max_p).map(|p| p.to_string()).collect();
    let mut grid = vec![vec![None; cols.len()]; cohorts.len()];
    for i in 0..cohort.len() {
        let r = cohorts.iter().position(|c| *c == cohort[i]).unwrap_or(0);
        if period[i].is_finite() && period[i] >= 0.0 {
            grid[r][period[i] as usize] = Some(rate[i]);
        }
    }
    let month1: Vec<f64> = grid
        .iter()
        .filter_map(|r| r.get(1).copied().flatten())
        .collect();
    let reading = if month1.is_empty() {
        format!(
            "{} cohorts, none observed for a second period yet.",
            cohorts.len()
        )
    } else {
        format!(
            "On average {:.0} % of a cohort buys again in its second period; {} cohorts.",
            100.0 * month1.iter().sum::<f64>() / month1.len() as f64,
            cohorts.len()
        )
    };
    Ok(figure(
        "Retention by acquisition cohort",
        reading,
        heat_map(
            &cohorts,
            &cols,
            &grid,
            "periods since the first purchase",
            "cohort",
            &Unit::Percent,
        ),
        table(
            &["cohort", "period", "customers", "retention"],
            (0..cohort.len())
                .map(|i| {
                    vec![
                        Cell::text(cohort[i].as_str()),
                        num(period[i], &Unit::Count),
                        num(size[i], &Unit::Count),
                        num(rate[i], &Unit::Percent),
                    ]
                })
                .collect(),
        ),
        None,
    ))
}
