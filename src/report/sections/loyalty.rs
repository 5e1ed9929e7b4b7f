//! Loyalty: points liability and participation by period (`loyalty_kpis`:
//! period, liability_points, liability_value, participation_rate,
//! redemption_rate) and tier migration (`loyalty_tiers`: customer_id,
//! tier, valid_from, valid_to): each move from one tier to the next, and
//! the members in each tier now.

use super::{failed, figure, num, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{bar_chart, heat_map, line_chart, Series};

pub async fn section(src: &Source<'_>, money: &Unit) -> Result<Option<Section>> {
    let mut items = Vec::new();
    if let Some(t) = src.table_of("loyalty_kpis") {
        match liability(src, t, money).await {
            Ok(mut f) => items.append(&mut f),
            Err(e) => items.push(failed("The points liability", &e)),
        }
    }
    if let Some(t) = src.table_of("loyalty_tiers") {
        match tiers(src, t).await {
            Ok(mut f) => items.append(&mut f),
            Err(e) => items.push(failed("The tier migration", &e)),
        }
    }
    Ok(super::non_empty("loyalty", "Loyalty", items))
}

async fn liability(src: &Source<'_>, t: &str, money: &Unit) -> Result<Vec<Item>> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!("SELECT * FROM {cur} ORDER BY period"))
        .await?;
    let periods: Vec<String> = rows
        .text("period")
        .iter()
        .map(|p| crate::report::format::period_label(p))
        .collect();
    let value = rows.f64("liability_value");
    let (values, unit, what) = if value.iter().any(Option::is_some) {
        (value, money.clone(), "outstanding liability")
    } else {
        (
            rows.f64("liability_points"),
            Unit::Count,
            "outstanding points",
        )
    };
    let points = rows.f64_or_nan("liability_points");
    let participation = rows.f64("participation_rate");
    let redemption = rows.f64("redemption_rate");
    let last = values.iter().rposition(Option::is_some);
    let reading = match last {
        Some(i) => format!(
            "At the end of {} members held {} points, an {what} of {}.",
            periods[i],
            Unit::Count.fmt(points[i]),
            unit.fmt(values[i].unwrap_or(f64::NAN))
        ),
        None => "No liability recorded.".into(),
    };
    let tbl = table(
        &[
            "period",
            "liability points",
            what,
            "participation rate",
            "redemption rate",
        ],
        (0..periods.len())
            .map(|i| {
                vec![
                    Cell::text(periods[i].as_str()),
                    num(points[i], &Unit::Count),
                    num(values[i].unwrap_or(f64::NAN), &unit),
                    num(participation[i].unwrap_or(f64::NAN), &Unit::Percent),
                    num(redemption[i].unwrap_or(f64::NAN), &Unit::Percent),
                ]
            })
            .collect(),
    );
    Ok(vec![
        figure(
            "Points liability by period",
            reading,
            line_chart(&periods, &[Series { name: what.into(), values, band: None }], "period", what, &unit),
            tbl.clone(),
            None,
        ),
        figure(
            "Participation and redemption",
            "Participation: members who earned or redeemed over customers; redemption: points redeemed over points earned.".into(),
            line_chart(
                &periods,
                &[
                    Series { name: "participation rate".into(), values: participation, band: None },
                    Series { name: "redemption rate".into(), values: redemption, band: None },
                ],
                "period",
                "rate",
                &Unit::Percent,
            ),
            tbl,
            None,
        ),
    ])
}

async fn tiers(src: &Source<'_>, t: &str) -> Result<Vec<Item>> {
    let cur = src.current(t).await?;
    let moves = src
        .query(&format!(
            "SELECT was, tier, count(*) AS n FROM (SELECT tier, lag(tier) OVER (PARTITION BY customer_id ORDER BY valid_from) AS was FROM {cur}) \
             WHERE was IS NOT NULL GROUP BY was, tier ORDER BY was, tier"
        ))
        .await?;
    let now = src
        .query(&format!("SELECT tier, count(*) AS n FROM {cur} WHERE valid_to IS NULL GROUP BY tier ORDER BY n DESC, tier"))
        .await?;
    let (was, tier, n) = (moves.text("was"), moves.text("tier"), moves.f64_or_nan("n"));
    // Tiers in the order of their members now (most first: the entry tier
    // usually), then any tier that has none.
    let mut names: Vec<String> = now.text("tier");
    for t in was.iter().chain(&tier) {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    let pos = |s: &String| names.iter().position(|x| x == s).unwrap_or(0);
    let mut grid = vec![vec![None; names.len()]; names.len()];
    for i in 0..n.len() {
        grid[pos(&was[i])][pos(&tier[i])] = Some(n[i]);
    }
    let moved: f64 = n.iter().sum();
    let counts: Vec<(String, f64)> = now
        .text("tier")
        .into_iter()
        .zip(now.f64_or_nan("n"))
        .collect();
    let members: f64 = counts.iter().map(|c| c.1).sum();
    Ok(vec![
        figure(
            "Members by tier now",
            format!("{} members hold a tier today.", Unit::Count.fmt(members)),
            bar_chart(&counts, "members", &Unit::Count),
            table(
                &["tier", "members"],
                counts
                    .iter()
                    .map(|(t, n)| vec![Cell::text(t.as_str()), num(*n, &Unit::Count)])
                    .collect(),
            ),
            None,
        ),
        figure(
            "Tier migration",
            format!(
                "{} moves between tiers in the tier history.",
                Unit::Count.fmt(moved)
            ),
            heat_map(
                &names,
                &names,
                &grid,
                "moved to",
                "moved from",
                &Unit::Count,
            ),
            table(
                &["from", "to", "moves"],
                (0..n.len())
                    .map(|i| {
                        vec![
                            Cell::text(was[i].as_str()),
                            Cell::text(tier[i].as_str()),
                            num(n[i], &Unit::Count),
                        ]
                    })
                    .collect(),
            ),
            None,
        ),
    ])
}
