//! Calibration functions against scikit-learn and the published formulas
//! (`tests/fixtures/calibration/`, made by `make_fixtures.py`).

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::CsvReadOptions;

use crate::common::*;

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/calibration")
        .join(name)
        .display()
        .to_string()
}

async fn session(partitions: usize) -> datafusion::prelude::SessionContext {
    let ctx = udf_session(partitions);
    ctx.register_csv(
        "data",
        &fixture("calibration_data.csv"),
        CsvReadOptions::new(),
    )
    .await
    .unwrap();
    ctx
}

/// Rows of a fixture CSV as column -> text (no quoted fields in these).
fn rows(name: &str) -> Vec<BTreeMap<String, String>> {
    csv_maps(&std::fs::read_to_string(fixture(name)).unwrap())
}

fn f64s(batches: &[RecordBatch], column: usize) -> Vec<Option<f64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column(column).as_primitive::<Float64Type>();
            (0..c.len())
                .map(|i| c.is_valid(i).then(|| c.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each method's calibrated probabilities at the fixture's scores, fitted
/// per dataset with GROUP BY (every partitioning gives the same).
#[test]
fn calibrate_equals_scikit_learn_and_the_venn_abers_formula() {
    let expected = rows("calibration_expected.csv");
    runtime().block_on(async {
        for partitions in [1, 3] {
            let ctx = session(partitions).await;
            for (method, reference, tolerance) in [
                ("platt", "platt_sklearn", 1e-6),
                ("platt", "platt_optimum", 1e-9),
                ("isotonic", "isotonic", 1e-12),
                ("venn_abers", "venn_abers", 1e-12),
            ] {
                let cases: Vec<&BTreeMap<String, String>> =
                    expected.iter().filter(|r| r["method"] == reference).collect();
                assert!(!cases.is_empty());
                let values: Vec<String> = cases
                    .iter()
                    .enumerate()
                    .map(|(i, r)| format!("({i}, '{}', {})", r["dataset"], r["score"]))
                    .collect();
                let sql = format!(
                    "WITH m AS (SELECT dataset, calibrate_fit(score, label, 'method={method}') AS model \
                                FROM data GROUP BY dataset), \
                          x(i, dataset, score) AS (VALUES {}) \
                     SELECT calibrate(m.model, x.score), \
                            CASE WHEN '{method}' = 'venn_abers' THEN calibrate_interval(m.model, x.score)['p0'] END, \
                            CASE WHEN '{method}' = 'venn_abers' THEN calibrate_interval(m.model, x.score)['p1'] END \
                     FROM x JOIN m ON m.dataset = x.dataset ORDER BY x.i",
                    values.join(", ")
                );
                let batches = query(&ctx, &sql).await;
                let (got, p0, p1) = (f64s(&batches, 0), f64s(&batches, 1), f64s(&batches, 2));
                assert_eq!(got.len(), cases.len());
                for (k, r) in cases.iter().enumerate() {
                    let want: f64 = r["probability"].parse().unwrap();
                    let g = got[k].unwrap();
                    assert!(
                        (g - want).abs() <= tolerance,
                        "{reference} {} at {}: {g} vs {want}",
                        r["dataset"],
                        r["score"]
                    );
                    if method == "venn_abers" {
                        let (w0, w1): (f64, f64) = (r["p0"].parse().unwrap(), r["p1"].parse().unwrap());
                        assert!((p0[k].unwrap() - w0).abs() <= 1e-12 && (p1[k].unwrap() - w1).abs() <= 1e-12);
                    }
                }
            }
        }
    });
}

#[test]
fn brier_calibration_error_reliability_and_conformal_sets_match() {
    let expected = rows("metrics_expected.csv");
    runtime().block_on(async {
        let ctx = session(3).await;
        for r in &expected {
            let dataset = &r["dataset"];
            let metric = r["metric"].as_str();
            if metric == "brier" || metric == "calibration_error" {
                let call = if metric == "brier" {
                    "brier(score, label)".to_string()
                } else {
                    format!("calibration_error(score, label, {})", r["bins"])
                };
                let sql = format!("SELECT {call} FROM data WHERE dataset = '{dataset}'");
                let got = f64s(&query(&ctx, &sql).await, 0)[0].unwrap();
                let want: f64 = r["value"].parse().unwrap();
                assert!((got - want).abs() < 1e-12, "{dataset} {metric}: {got} vs {want}");
            }
        }
        // Reliability: the non-empty bins are scikit-learn's calibration_curve
        // with its bin counts; the empty ones have no rows.
        for bins in ["10", "7"] {
            for dataset in ["overconfident", "small"] {
                let sql = format!(
                    "SELECT bin, rows, mean_score, observed_rate FROM reliability(\
                     'SELECT score, label FROM data WHERE dataset = ''{dataset}''', {bins})"
                );
                let csv = crate::common::ok(crate::common::crmlake(&[
                    "sql",
                    "--format",
                    "csv",
                    "-c",
                    &format!(
                        "CREATE EXTERNAL TABLE data STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); {sql}",
                        fixture("calibration_data.csv")
                    ),
                ]));
                let got = csv_maps(&csv);
                assert_eq!(got.len(), bins.parse::<usize>().unwrap());
                let want: Vec<&BTreeMap<String, String>> = expected
                    .iter()
                    .filter(|r| r["metric"] == "reliability" && r["bins"] == bins && r["dataset"] == dataset)
                    .collect();
                for g in &got {
                    match want.iter().find(|w| w["bin"] == g["bin"]) {
                        Some(w) => {
                            assert_eq!(g["rows"], w["rows"], "{dataset} bin {}", g["bin"]);
                            for (col, wcol) in [("mean_score", "mean_score"), ("observed_rate", "observed_rate")] {
                                let (a, b): (f64, f64) = (g[col].parse().unwrap(), w[wcol].parse().unwrap());
                                assert!((a - b).abs() < 1e-12, "{dataset} bin {} {col}: {a} vs {b}", g["bin"]);
                            }
                        }
                        None => assert_eq!(g["rows"], "0", "{dataset} bin {}", g["bin"]),
                    }
                }
            }
        }
        // Conformal sets at 21 scores, Mondrian and plain, alpha 0.1 and 0.2.
        for r in expected.iter().filter(|r| r["metric"].starts_with("conformal_")) {
            let parts: Vec<&str> = r["metric"].split('_').collect();
            let (mondrian, alpha) = (parts[1] == "mondrian", parts[2]);
            let sql = format!(
                "SELECT array_to_string(conformal_set(m.model, {}), '|') FROM \
                 (SELECT conformal_fit(score, label, {alpha}, 'mondrian={mondrian}') AS model \
                  FROM data WHERE dataset = '{}') AS m",
                r["bin"], r["dataset"]
            );
            let batches = query(&ctx, &sql).await;
            let got = datafusion::arrow::compute::cast(
                batches[0].column(0),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let got = got.as_string::<i32>().value(0).to_string();
            assert_eq!(got, r["value"], "{} {} at {}", r["dataset"], r["metric"], r["bin"]);
        }
    });
}

#[test]
fn calibration_errors_name_the_argument() {
    let e = user_error(
        crmlake(&[
            "sql",
            "-c",
            "SELECT calibrate_fit(s, l, 'method=magic') FROM (VALUES (0.5, true)) t(s, l)",
        ]),
        &[
            "calibrate_fit",
            "method must be platt, isotonic or venn_abers",
        ],
    );
    let _ = e;
    user_error(
        crmlake(&[
            "sql",
            "-c",
            "SELECT calibrate_fit(s, l) FROM (VALUES (0.5, true), (0.7, true)) t(s, l)",
        ]),
        &["calibrate_fit", "needs both labels"],
    );
    user_error(
        crmlake(&[
            "sql",
            "-c",
            "SELECT conformal_fit(s, l, 1.5) FROM (VALUES (0.5, true)) t(s, l)",
        ]),
        &["conformal_fit", "alpha", "(0, 1)"],
    );
    user_error(
        crmlake(&[
            "sql",
            "-c",
            "SELECT brier(s, l) FROM (VALUES (1.5, true)) t(s, l)",
        ]),
        &["brier", "score", "probability in [0, 1]"],
    );
    user_error(
        crmlake(&[
            "sql",
            "-c",
            "SELECT calibration_error(s, l, 0) FROM (VALUES (0.5, true)) t(s, l)",
        ]),
        &["calibration_error", "bins", "from 1 to 1000"],
    );
    user_error(
        crmlake(&["sql", "-c", "SELECT calibrate_interval(m.model, 0.5) FROM (SELECT calibrate_fit(s, l, 'method=isotonic') AS model FROM (VALUES (0.5, true), (0.2, false)) t(s, l)) m"]),
        &["calibrate_interval", "only a venn_abers calibration has an interval"],
    );
    user_error(
        crmlake(&[
            "sql",
            "-c",
            "SELECT brier(s, l) FROM (VALUES (0.5, 2)) t(s, l)",
        ]),
        &["brier", "label", "true/false or 0/1"],
    );
}
