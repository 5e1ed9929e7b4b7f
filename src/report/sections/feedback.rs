//! Feedback (`feedback`: ts, nps_score, sentiment, topics): the monthly NPS
//! with its 90 % interval band (`nps_interval`, the same interval as
//! `feedback_summary`'s), and message volume and sentiment by topic.

use super::{failed, figure, num, share, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{bar_chart, line_chart, Series};

pub async fn section(src: &Source<'_>) -> Result<Option<Section>> {
    let Some(t) = src.table_of("feedback") else {
        return Ok(None);
    };
    let cur = src.current(t).await?;
    let mut items = Vec::new();
    match nps(src, &cur).await {
        Ok(f) => items.push(f),
        Err(e) => items.push(failed("The NPS trend", &e)),
    }
    match topics(src, &cur).await {
        Ok(f) => items.push(f),
        Err(e) => items.push(failed("The topic volumes", &e)),
    }
    Ok(Some(Section {
        id: "feedback",
        title: "Feedback".into(),
        items,
    }))
}

async fn nps(src: &Source<'_>, cur: &str) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT CAST(p AS VARCHAR) AS period, get_field(s, 'value') AS v, get_field(s, 'low') AS lo, get_field(s, 'high') AS hi, get_field(s, 'n') AS n \
             FROM (SELECT CAST(date_trunc('month', ts) AS DATE) AS p, nps_interval(nps_score, 0.9) AS s FROM {cur} WHERE ts IS NOT NULL GROUP BY 1) ORDER BY 1"
        ))
        .await?;
    let periods: Vec<String> = rows
        .text("period")
        .into_iter()
        .map(|p| p.chars().take(7).collect())
        .collect();
    let (v, lo, hi, n) = (
        rows.f64("v"),
        rows.f64("lo"),
        rows.f64("hi"),
        rows.f64_or_nan("n"),
    );
    let band: Vec<Option<(f64, f64)>> = lo.iter().zip(&hi).map(|(l, h)| l.zip(*h)).collect();
    let last = (0..v.len()).rev().find(|&i| v[i].is_some());
    let reading = match last {
        Some(i) => format!(
            "NPS in {} was {:.0} (90 % interval {:.0} to {:.0}, {} scores).",
            periods[i],
            v[i].unwrap_or(f64::NAN),
            lo[i].unwrap_or(f64::NAN),
            hi[i].unwrap_or(f64::NAN),
            Unit::Count.fmt(n[i])
        ),
        None => "No NPS scores.".into(),
    };
    Ok(figure(
        "NPS by month",
        reading,
        line_chart(
            &periods,
            &[Series {
                name: "NPS".into(),
                values: v.clone(),
                band: Some(band),
            }],
            "month",
            "NPS (−100 to 100)",
            &Unit::Plain(0),
        ),
        table(
            &["month", "NPS", "low (90 %)", "high (90 %)", "scores"],
            (0..periods.len())
                .map(|i| {
                    vec![
                        Cell::text(periods[i].as_str()),
                        num(v[i].unwrap_or(f64::NAN), &Unit::Plain(1)),
                        num(lo[i].unwrap_or(f64::NAN), &Unit::Plain(1)),
                        num(hi[i].unwrap_or(f64::NAN), &Unit::Plain(1)),
                        num(n[i], &Unit::Count),
                    ]
                })
                .collect(),
        ),
        Some(
            "The band is the 90 % interval of nps_interval; months without scores break the line."
                .into(),
        ),
    ))
}

async fn topics(src: &Source<'_>, cur: &str) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT topic, count(*) AS n, avg(sentiment) AS s, avg(CASE WHEN sentiment < -0.05 THEN 1.0 ELSE 0.0 END) AS neg \
             FROM (SELECT unnest(topics) AS topic, sentiment FROM {cur}) GROUP BY topic ORDER BY n DESC, topic"
        ))
        .await?;
    let topic = rows.text("topic");
    let (n, s, neg) = (
        rows.f64_or_nan("n"),
        rows.f64_or_nan("s"),
        rows.f64_or_nan("neg"),
    );
    let all: f64 = n.iter().sum();
    let worst = (0..topic.len())
        .filter(|&i| n[i] >= 10.0)
        .min_by(|&a, &b| s[a].total_cmp(&s[b]));
    let reading = match worst {
        Some(i) => format!(
            "{} messages by topic; the most negative topic with 10 or more messages is {} (mean sentiment {:.2}, {:.0} % negative, {:.0} % of messages).",
            Unit::Count.fmt(all),
            topic[i],
            s[i],
            100.0 * neg[i],
            100.0 * share(n[i], all)
        ),
        None => format!("{} messages by topic.", Unit::Count.fmt(all)),
    };
    let bars: Vec<(String, f64)> = topic.iter().cloned().zip(n.iter().copied()).collect();
    Ok(figure(
        "Messages and sentiment by topic",
        reading,
        bar_chart(
            &bars,
            "messages (a message may have several topics)",
            &Unit::Count,
        ),
        table(
            &["topic", "messages", "mean sentiment", "negative share"],
            (0..topic.len())
                .map(|i| {
                    vec![
                        Cell::text(topic[i].as_str()),
                        num(n[i], &Unit::Count),
                        num(s[i], &Unit::Plain(2)),
                        num(neg[i], &Unit::Percent),
                    ]
                })
                .collect(),
        ),
        None,
    ))
}
