//! Uncertainty and campaigns: the CLV interval fan (`ltv` with clv_low and
//! clv_high, from `customer_ltv(..., 'interval=...')`), the calibration plot
//! (`calibration`: the columns of `reliability()`) and campaign
//! readouts with their intervals (`campaign`: outcome, difference, low,
//! high, control_mean, p_value).

use super::{failed, figure, num, share, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{interval_chart, line_chart, Series};

pub async fn section(src: &Source<'_>, money: &Unit) -> Result<Option<Section>> {
    let mut items = Vec::new();
    if let Some(t) = src.table_of("ltv") {
        let cur = src.current(t).await?;
        let cols = src.columns(&cur).await?;
        if cols.iter().any(|c| c == "clv_low") && cols.iter().any(|c| c == "clv_high") {
            match fan(src, &cur, money).await {
                Ok(f) => items.push(f),
                Err(e) => items.push(failed("The CLV interval fan", &e)),
            }
        }
    }
    if let Some(t) = src.table_of("calibration") {
        match calibration(src, t).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The calibration plot", &e)),
        }
    }
    if let Some(t) = src.table_of("campaign") {
        match campaign(src, t, money).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The campaign readout", &e)),
        }
    }
    Ok(super::non_empty(
        "uncertainty",
        "Uncertainty and campaigns",
        items,
    ))
}

async fn fan(src: &Source<'_>, cur: &str, money: &Unit) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT tile, avg(clv) AS v, avg(clv_low) AS lo, avg(clv_high) AS hi, count(*) AS n \
             FROM (SELECT clv, clv_low, clv_high, ntile(20) OVER (ORDER BY clv) AS tile FROM {cur} \
                   WHERE {} AND clv_low IS NOT NULL AND clv_high IS NOT NULL) \
             GROUP BY tile ORDER BY tile",
            super::ltv::FINITE
        ))
        .await?;
    let (v, lo, hi) = (rows.f64("v"), rows.f64("lo"), rows.f64("hi"));
    let labels: Vec<String> = (1..=v.len()).map(|k| format!("{} %", k * 5)).collect();
    let band: Vec<Option<(f64, f64)>> = lo.iter().zip(&hi).map(|(l, h)| l.zip(*h)).collect();
    let mid = v.len() / 2;
    let reading = match (v.get(mid).copied().flatten(), lo.get(mid).copied().flatten(), hi.get(mid).copied().flatten()) {
        (Some(m), Some(l), Some(h)) => format!(
            "For the median customer the CLV of {} has a 90 % interval {} to {} (± {:.0} % of the estimate).",
            money.fmt(m),
            money.fmt(l),
            money.fmt(h),
            100.0 * share((h - l) / 2.0, m)
        ),
        _ => "No intervals.".into(),
    };
    Ok(figure(
        "CLV with its confidence interval",
        reading,
        line_chart(
            &labels,
            &[Series { name: "mean CLV".into(), values: v.clone(), band: Some(band) }],
            "customers by CLV (5 % groups, lowest first)",
            "CLV",
            money,
        ),
        table(
            &["group (by CLV)", "mean CLV", "mean low", "mean high"],
            (0..v.len())
                .map(|i| {
                    vec![
                        Cell::text(labels[i].as_str()),
                        num(v[i].unwrap_or(f64::NAN), money),
                        num(lo[i].unwrap_or(f64::NAN), money),
                        num(hi[i].unwrap_or(f64::NAN), money),
                    ]
                })
                .collect(),
        ),
        Some("Confidence intervals on each customer's expected value (parameter uncertainty), averaged over 20 groups of customers; not predictive intervals.".into()),
    ))
}

/// A reliability table (`reliability()`'s columns: lower, upper, rows,
/// mean_score, observed_rate) as a calibration plot.
async fn calibration(src: &Source<'_>, t: &str) -> Result<Item> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!("SELECT * FROM {cur} ORDER BY lower"))
        .await?;
    let (lower, upper) = (rows.f64_or_nan("lower"), rows.f64_or_nan("upper"));
    let (n, score, observed) = (
        rows.f64_or_nan("rows"),
        rows.f64("mean_score"),
        rows.f64("observed_rate"),
    );
    let labels: Vec<String> = lower
        .iter()
        .zip(&upper)
        .map(|(l, u)| format!("{:.0}–{:.0} %", 100.0 * l, 100.0 * u))
        .collect();
    let total: f64 = n.iter().filter(|v| v.is_finite()).sum();
    // The expected calibration error: the row-weighted mean gap.
    let ece: f64 = (0..n.len())
        .filter_map(|i| Some(n[i] * (score[i]? - observed[i]?).abs()))
        .sum::<f64>()
        / total.max(1.0);
    Ok(figure(
        "Calibration of churn probabilities",
        format!(
            "Over {} customers whose outcome is known, predicted and observed churn differ by {:.1} points on average (expected calibration error).",
            Unit::Count.fmt(total),
            100.0 * ece
        ),
        line_chart(
            &labels,
            &[
                Series { name: "observed churn rate".into(), values: observed.clone(), band: None },
                Series { name: "mean predicted probability".into(), values: score.clone(), band: None },
            ],
            "predicted probability bin",
            "rate",
            &Unit::Percent,
        ),
        table(
            &["bin", "customers", "mean predicted", "observed"],
            (0..labels.len())
                .map(|i| {
                    vec![
                        Cell::text(labels[i].as_str()),
                        num(n[i], &Unit::Count),
                        num(score[i].unwrap_or(f64::NAN), &Unit::Percent),
                        num(observed[i].unwrap_or(f64::NAN), &Unit::Percent),
                    ]
                })
                .collect(),
        ),
        Some("A well-calibrated model's two lines lie on each other.".into()),
    ))
}

async fn campaign(src: &Source<'_>, t: &str, money: &Unit) -> Result<Item> {
    let cur = src.current(t).await?;
    let rows = src
        .query(&format!("SELECT * FROM {cur} ORDER BY outcome"))
        .await?;
    let outcome = rows.text("outcome");
    let method = rows.text("method");
    let (diff, lo, hi, control, p) = (
        rows.f64_or_nan("difference"),
        rows.f64_or_nan("low"),
        rows.f64_or_nan("high"),
        rows.f64_or_nan("control_mean"),
        rows.f64_or_nan("p_value"),
    );
    // Relative to the control group, so rates and amounts share an axis.
    let rel = |x: f64, c: f64| if c != 0.0 { x / c.abs() } else { f64::NAN };
    let iv: Vec<(String, f64, f64, f64)> = (0..outcome.len())
        .map(|i| {
            (
                outcome[i].clone(),
                rel(diff[i], control[i]),
                rel(lo[i], control[i]),
                rel(hi[i], control[i]),
            )
        })
        .collect();
    let significant = (0..outcome.len()).filter(|&i| p[i] < 0.05).count();
    Ok(figure(
        "Campaign effect against the holdout",
        format!(
            "{} outcome(s) measured; {} with p < 0.05. A bar crossing 0 means no effect can be told from chance.",
            outcome.len(),
            significant
        ),
        interval_chart(&iv, "difference from the control group, relative to its mean", &Unit::Percent),
        table(
            &["outcome", "method", "difference", "low", "high", "relative lift", "p value"],
            (0..outcome.len())
                .map(|i| {
                    let unit = if method[i].contains("proportion") { Unit::Percent } else { money.clone() };
                    vec![
                        Cell::text(outcome[i].as_str()),
                        Cell::text(method[i].as_str()),
                        num(diff[i], &unit),
                        num(lo[i], &unit),
                        num(hi[i], &unit),
                        num(iv[i].1, &Unit::Percent),
                        num(p[i], &Unit::Plain(3)),
                    ]
                })
                .collect(),
        ),
        None,
    ))
}
