//! The run: job, date, duration, each step's rows, time and memory, rejects
//! by reason, and the inputs read. Everything comes from the manifest.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{figure, num, table};
use crate::report::format::bytes;
use crate::report::format::Unit;
use crate::report::html::{Card, Cell, Item, Section};
use crate::report::svg::bar_chart;

pub fn section(m: &Value) -> Section {
    let steps: Vec<&Value> = m["steps"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let seconds = seconds_between(m["started_at"].as_str(), m["finished_at"].as_str());
    let rows_out: f64 = steps
        .iter()
        .filter(|s| s["kind"] == "table")
        .filter_map(|s| s["rows_out"].as_f64())
        .sum();
    let rejected: f64 = steps
        .iter()
        .filter_map(|s| s["rejected_total"].as_f64())
        .sum();
    let peak = steps
        .iter()
        .filter_map(|s| s["peak_rss_bytes"].as_f64())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let mut items = vec![Item::Cards(vec![
        Card {
            label: "status".into(),
            value: m["status"].as_str().unwrap_or("?").to_string(),
            change: m["error"].as_str().map(str::to_string),
        },
        Card {
            label: "duration".into(),
            value: seconds.map_or("–".into(), |s| format!("{s:.1} s")),
            change: None,
        },
        Card {
            label: "steps".into(),
            value: Unit::Count.fmt(steps.len() as f64),
            change: None,
        },
        Card {
            label: "rows written".into(),
            value: Unit::Count.fmt(rows_out),
            change: None,
        },
        Card {
            label: "rows rejected".into(),
            value: Unit::Count.fmt(rejected),
            change: None,
        },
        Card {
            label: "peak memory".into(),
            value: peak.map_or("–".into(), bytes),
            change: None,
        },
    ])];

    let times: Vec<(String, f64)> = steps
        .iter()
        .map(|s| {
            (
                s["table"].as_str().unwrap_or("?").to_string(),
                s["seconds"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let total: f64 = times.iter().map(|(_, t)| t).filter(|t| t.is_finite()).sum();
    let slowest = times
        .iter()
        .filter(|(_, t)| t.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let reading = match slowest {
        Some((t, s)) => format!(
            "The steps took {total:.1} s in all; the slowest, {t}, took {s:.1} s ({:.0} %).",
            100.0 * super::share(*s, total)
        ),
        None => "No step ran.".to_string(),
    };
    let rows = steps
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
            vec![
                Cell::text(s["table"].as_str().unwrap_or("?")),
                Cell::text(s["kind"].as_str().unwrap_or("")),
                Cell::text(s["status"].as_str().unwrap_or("")),
                num(f("rows_in"), &Unit::Count),
                num(f("rows_out"), &Unit::Count),
                num(f("rejected_total"), &Unit::Count),
                Cell::num(format!("{:.2}", f("seconds")), f("seconds")),
                Cell::num(
                    s["peak_rss_bytes"].as_f64().map_or("–".into(), bytes),
                    f("peak_rss_bytes"),
                ),
            ]
        })
        .collect();
    items.push(figure(
        "Time per step",
        reading,
        bar_chart(&times, "seconds", &Unit::Plain(2)),
        table(
            &[
                "table",
                "kind",
                "status",
                "rows in",
                "rows out",
                "rejected",
                "seconds",
                "peak memory",
            ],
            rows,
        ),
        None,
    ));

    let mut reasons: BTreeMap<String, f64> = BTreeMap::new();
    let mut reject_rows = Vec::new();
    for s in &steps {
        if let Some(r) = s["rejected"].as_object() {
            for (reason, n) in r {
                let n = n.as_f64().unwrap_or(0.0);
                *reasons.entry(reason.clone()).or_insert(0.0) += n;
                reject_rows.push(vec![
                    Cell::text(s["table"].as_str().unwrap_or("?")),
                    Cell::text(reason.as_str()),
                    num(n, &Unit::Count),
                ]);
            }
        }
    }
    if !reasons.is_empty() {
        let mut bars: Vec<(String, f64)> = reasons.into_iter().collect();
        bars.sort_by(|a, b| b.1.total_cmp(&a.1));
        let all: f64 = bars.iter().map(|b| b.1).sum();
        let reading = format!(
            "{} rows were rejected, most as {} ({:.0} %); they are kept under _rejects/ with their reason.",
            Unit::Count.fmt(all),
            bars[0].0,
            100.0 * super::share(bars[0].1, all)
        );
        items.push(figure(
            "Rejected rows by reason",
            reading,
            bar_chart(&bars, "rows rejected", &Unit::Count),
            table(&["table", "reason", "rows"], reject_rows),
            None,
        ));
    }

    let mut inputs: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for f in m["inputs"].as_array().into_iter().flatten() {
        let e = inputs
            .entry(f["table"].as_str().unwrap_or("?").to_string())
            .or_insert((0.0, 0.0));
        e.0 += 1.0;
        e.1 += f["size"].as_f64().unwrap_or(0.0);
    }
    items.push(Item::Table {
        title: "Inputs read".into(),
        table: table(
            &["lake table", "files", "size"],
            inputs
                .into_iter()
                .map(|(t, (n, b))| {
                    vec![Cell::text(t), num(n, &Unit::Count), Cell::num(bytes(b), b)]
                })
                .collect(),
        ),
    });
    Section {
        id: "run",
        title: "Run".into(),
        items,
    }
}

/// Seconds between two RFC 3339 timestamps of the manifest.
fn seconds_between(start: Option<&str>, end: Option<&str>) -> Option<f64> {
    let s = chrono::DateTime::parse_from_rfc3339(start?).ok()?;
    let e = chrono::DateTime::parse_from_rfc3339(end?).ok()?;
    Some((e - s).num_milliseconds() as f64 / 1000.0)
}
