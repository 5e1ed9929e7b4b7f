//! RFM and cohort retention on the sample lake against the pandas reference
//! in tests/fixtures/segment/ (made by make_fixtures.py there).

use std::collections::BTreeMap;

use crate::common::*;

const CLEAN: &str = "SELECT customer_id, ts, order_id, amount FROM transactions \
                     WHERE customer_id IS NOT NULL AND order_id NOT LIKE ''C%'' AND quantity > 0 AND unit_price > 0";

/// CSV text (no quoted fields) as rows of named fields.
fn rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn fixture(name: &str) -> Vec<BTreeMap<String, String>> {
    rows(&std::fs::read_to_string(root().join("tests/fixtures/segment").join(name)).unwrap())
}

fn close(a: &str, b: &str, what: &str) {
    let (x, y): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
    assert!(
        (x - y).abs() <= 1e-9 * y.abs().max(1.0),
        "{what}: {a} vs reference {b}"
    );
}

#[test]
fn rfm_matches_the_pandas_reference() {
    let sql = format!(
        "SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_cell, segment \
         FROM rfm('{CLEAN}', '2011-12-09') ORDER BY customer_id"
    );
    let got = rows(&ok(crmlake(&[
        "sql",
        "--lake",
        &sample_lake(),
        "--format",
        "csv",
        "-c",
        &sql,
    ])));
    let want = fixture("rfm_sample_lake.csv");
    assert_eq!(got.len(), 4338);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let id = &w["customer_id"];
        assert_eq!(&g["customer_id"], id);
        for k in [
            "recency_days",
            "frequency",
            "r_score",
            "f_score",
            "m_score",
            "segment",
        ] {
            assert_eq!(g[k], w[k], "customer {id}: {k}");
        }
        close(
            &g["monetary"],
            &w["monetary"],
            &format!("customer {id}: monetary"),
        );
        assert_eq!(
            g["rfm_cell"],
            format!("{}{}{}", w["r_score"], w["f_score"], w["m_score"])
        );
    }
}

#[test]
fn cohort_retention_matches_the_pandas_reference() {
    for period in ["month", "week"] {
        let sql = format!(
            "SELECT * FROM cohort_retention('{CLEAN}', '{period}') ORDER BY cohort, period_number"
        );
        let got = rows(&ok(crmlake(&[
            "sql",
            "--lake",
            &sample_lake(),
            "--format",
            "csv",
            "-c",
            &sql,
        ])));
        let want = fixture(&format!("cohort_{period}_sample_lake.csv"));
        assert_eq!(got.len(), want.len(), "{period}");
        for (g, w) in got.iter().zip(&want) {
            let what = format!("{period} cohort {} +{}", w["cohort"], w["period_number"]);
            for k in ["cohort", "period_number", "customers", "active"] {
                assert_eq!(g[k], w[k], "{what}: {k}");
            }
            close(&g["retention_rate"], &w["retention_rate"], &what);
        }
    }
}
