//! Churn: the distribution of scores (`churn_scores`: churn_probability,
//! reasons), the strongest reasons across customers, and the model behind
//! them (the run's model step): its version and validation metrics against
//! the previous version, lift by decile and cumulative gains when the model
//! recorded them (`validation_decile_lift`, boosted models).

use serde_json::Value;

use super::{failed, figure, num, share, table};
use crate::error::Result;
use crate::report::format::Unit;
use crate::report::html::{Cell, Item, Section};
use crate::report::source::Source;
use crate::report::svg::{bar_chart, histogram, line_chart, Bin, Series};

/// Metrics shown for the model, in this order, when present.
const METRICS: &[&str] = &[
    "validation_auc",
    "validation_log_loss",
    "train_roc_auc",
    "train_pr_auc",
    "calibration_brier_before",
    "calibration_brier_after",
    "rows",
    "positives",
    "validation_rows",
    "rounds",
];

pub async fn section(src: &Source<'_>) -> Result<Option<Section>> {
    let mut items = Vec::new();
    if let Some(t) = src.table_of("churn_scores") {
        let cur = src.current(t).await?;
        match scores(src, &cur).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The churn score distribution", &e)),
        }
        match reasons(src, &cur).await {
            Ok(f) => items.push(f),
            Err(e) => items.push(failed("The churn reasons", &e)),
        }
    }
    let model_step = src.manifest["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| {
            s["kind"] == "model" && s["status"] == "succeeded" && s["model_metrics"].is_object()
        });
    if let Some(step) = model_step {
        match model(src, step).await {
            Ok(mut f) => items.append(&mut f),
            Err(e) => items.push(failed("The model's metrics", &e)),
        }
    }
    Ok(super::non_empty("churn", "Churn", items))
}

async fn scores(src: &Source<'_>, cur: &str) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT least(CAST(floor(churn_probability * 20) AS BIGINT), 19) AS b, count(*) AS n FROM {cur} \
             WHERE churn_probability BETWEEN 0 AND 1 GROUP BY 1 ORDER BY 1"
        ))
        .await?;
    let all = src
        .query(&format!(
            "SELECT count(*) AS n, sum(CASE WHEN churn_probability >= 0.5 THEN 1 ELSE 0 END) AS high, \
             sum(CASE WHEN churn_probability BETWEEN 0 AND 1 THEN 0 ELSE 1 END) AS bad FROM {cur}"
        ))
        .await?;
    let (b, n) = (rows.f64_or_nan("b"), rows.f64_or_nan("n"));
    let mut counts = [0.0; 20];
    for (b, n) in b.iter().zip(&n) {
        if (0.0..20.0).contains(b) {
            counts[*b as usize] = *n;
        }
    }
    let bins: Vec<Bin> = counts
        .iter()
        .enumerate()
        .map(|(k, c)| Bin {
            label: format!("{}–{} %", k * 5, k * 5 + 5),
            count: *c,
        })
        .collect();
    let total = all.f64("n")[0].unwrap_or(0.0);
    let high = all.f64("high")[0].unwrap_or(0.0);
    let bad = all.f64("bad")[0].unwrap_or(0.0);
    Ok(figure(
        "Distribution of churn probabilities",
        format!(
            "{} of {} scored customers ({:.0} %) have a churn probability of 50 % or more.",
            Unit::Count.fmt(high),
            Unit::Count.fmt(total),
            100.0 * share(high, total)
        ),
        histogram(&bins, "churn probability", "customers"),
        table(
            &["churn probability", "customers"],
            bins.iter()
                .map(|b| vec![Cell::text(b.label.as_str()), num(b.count, &Unit::Count)])
                .collect(),
        ),
        (bad > 0.0).then(|| {
            format!(
                "{} customers without a probability in [0, 1] are left out.",
                Unit::Count.fmt(bad)
            )
        }),
    ))
}

async fn reasons(src: &Source<'_>, cur: &str) -> Result<Item> {
    let rows = src
        .query(&format!(
            "SELECT get_field(r, 'feature') AS feature, count(*) AS n, avg(get_field(r, 'contribution')) AS c \
             FROM (SELECT unnest(reasons) AS r FROM {cur}) GROUP BY 1 ORDER BY n DESC, feature LIMIT 15"
        ))
        .await?;
    let f = rows.text("feature");
    let n = rows.f64_or_nan("n");
    let c = rows.f64_or_nan("c");
    let customers = src
        .query(&format!("SELECT count(*) AS n FROM {cur}"))
        .await?
        .f64("n")[0]
        .unwrap_or(0.0);
    let bars: Vec<(String, f64)> = f.iter().cloned().zip(n.iter().copied()).collect();
    Ok(figure(
        "Top reasons across customers",
        match f.first() {
            Some(top) => format!(
                "{top} is among the strongest reasons for {:.0} % of scored customers.",
                100.0 * share(n[0], customers)
            ),
            None => "No reasons recorded.".into(),
        },
        bar_chart(
            &bars,
            "customers with the reason among their strongest",
            &Unit::Count,
        ),
        table(
            &["feature", "customers", "mean contribution"],
            (0..f.len())
                .map(|i| {
                    vec![
                        Cell::text(f[i].as_str()),
                        num(n[i], &Unit::Count),
                        num(c[i], &Unit::Plain(3)),
                    ]
                })
                .collect(),
        ),
        None,
    ))
}

async fn model(src: &Source<'_>, step: &Value) -> Result<Vec<Item>> {
    let name = step["table"].as_str().unwrap_or("model");
    let version = step["model_version"].as_i64();
    let metrics = &step["model_metrics"];
    let previous: Option<Value> = match (version, src.models().await?) {
        (Some(v), Some(models)) if v > 1 => {
            let rows = src
                .query(&format!(
                    "SELECT metrics FROM {models} WHERE name = '{}' AND version = {} LIMIT 1",
                    name.replace('\'', "''"),
                    v - 1
                ))
                .await?;
            rows.text("metrics")
                .first()
                .and_then(|m| serde_json::from_str(m).ok())
        }
        _ => None,
    };
    let mut rows = Vec::new();
    for m in METRICS {
        let Some(v) = metrics[*m].as_f64() else {
            continue;
        };
        let was = previous.as_ref().and_then(|p| p[*m].as_f64());
        let unit = if m.ends_with("rows") || *m == "positives" || *m == "rounds" {
            Unit::Count
        } else {
            Unit::Plain(3)
        };
        rows.push(vec![
            Cell::text(*m),
            num(v, &unit),
            was.map_or(Cell::text("–"), |w| num(w, &unit)),
        ]);
    }
    let version_text = version.map_or("?".into(), |v| v.to_string());
    let mut items = vec![Item::Table {
        title: format!(
            "Model '{name}' version {version_text} against {}",
            if previous.is_some() {
                "the previous version"
            } else {
                "no previous version"
            }
        ),
        table: table(&["metric", "this version", "previous version"], rows),
    }];
    let lifts: Vec<f64> = metrics["validation_decile_lift"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
        .unwrap_or_default();
    if lifts.len() == 10 {
        let labels: Vec<String> = (1..=10).map(|d| format!("{}", d * 10)).collect();
        let mut gains = Vec::with_capacity(10);
        let mut cum = 0.0;
        for l in &lifts {
            cum += l / 10.0;
            gains.push(cum);
        }
        let tbl = table(
            &[
                "top % of validation rows",
                "lift of the decile",
                "cumulative gain",
            ],
            (0..10)
                .map(|i| {
                    vec![
                        Cell::text(format!("{} %", (i + 1) * 10)),
                        num(lifts[i], &Unit::Plain(2)),
                        num(gains[i], &Unit::Percent),
                    ]
                })
                .collect(),
        );
        let validation_rows = metrics["validation_rows"].as_f64().unwrap_or(f64::NAN);
        let note = Some(format!(
            "On the model's {} held-out validation rows.",
            Unit::Count.fmt(validation_rows)
        ));
        let bars: Vec<(String, f64)> = labels
            .iter()
            .map(|l| format!("decile to {l} %"))
            .zip(lifts.iter().copied())
            .collect();
        items.push(figure(
            "Lift by decile",
            format!(
                "The 10 % of customers the model scores highest churn {:.1} times as often as the average.",
                lifts[0]
            ),
            bar_chart(&bars, "lift (1 = the average churn rate)", &Unit::Plain(2)),
            tbl.clone(),
            note.clone(),
        ));
        let with_zero: Vec<String> = std::iter::once("0".to_string()).chain(labels).collect();
        let model: Vec<Option<f64>> = std::iter::once(Some(0.0))
            .chain(gains.iter().map(|g| Some(*g)))
            .collect();
        let random: Vec<Option<f64>> = (0..=10).map(|k| Some(k as f64 / 10.0)).collect();
        items.push(figure(
            "Cumulative gains",
            format!(
                "Contacting the top 20 % by score reaches {:.0} % of the churners.",
                100.0 * gains[1]
            ),
            line_chart(
                &with_zero,
                &[
                    Series {
                        name: "model".into(),
                        values: model,
                        band: None,
                    },
                    Series {
                        name: "random order".into(),
                        values: random,
                        band: None,
                    },
                ],
                "customers contacted, highest score first (%)",
                "share of churners reached",
                &Unit::Percent,
            ),
            tbl,
            note,
        ));
    } else {
        items.push(Item::Note(
            "Lift by decile and cumulative gains: this model recorded no validation deciles (only boosted models, algorithm=gbt, do).".into(),
        ));
    }
    Ok(items)
}
