//! `crmlake generate`: determinism, `_truth.json`, schema and counts.

use std::fs;
use std::path::Path;

use crate::common::*;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for t in ["transactions", "customers", "feedback"] {
        let mut names: Vec<_> = fs::read_dir(dir.join(t))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            out.push((
                format!("{t}/{}", p.file_name().unwrap().to_string_lossy()),
                fs::read(&p).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn same_seed_same_lake_and_truth_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    let args = |out: &Path, seed: &str| {
        ok(crmlake(&[
            "generate",
            "--customers",
            "3000",
            "--seed",
            seed,
            "--customers-per-file",
            "1000",
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    args(&a, "7");
    args(&b, "7");
    args(&c, "8");
    let fa = files(&a);
    assert_eq!(fa.len(), 9, "3 files per table");
    assert!(fa == files(&b), "same seed must give byte-identical files");
    assert!(fa != files(&c), "another seed gives another lake");

    let truth: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(a.join("_truth.json")).unwrap()).unwrap();
    assert_eq!(truth["seed"], 7);
    assert_eq!(truth["customers"], 3000);
    assert_eq!(truth["time_unit"], "day");
    assert_eq!(truth["bgnbd"]["r"], 0.243);
    assert_eq!(truth["bgnbd"]["alpha"], 30.898);
    assert_eq!(truth["gamma_gamma"]["p"], 6.25);
    assert_eq!(truth["basket"]["pairs"].as_array().unwrap().len(), 10);

    // The lake reads with the sample lake's schema, and the counts agree.
    let csv = ok(crmlake(&[
        "sql", "--lake", a.to_str().unwrap(), "--format", "csv", "-c",
        "SELECT (SELECT count(*) FROM transactions) AS rows, \
                (SELECT count(DISTINCT order_id) FROM transactions) AS orders, \
                (SELECT count(*) FROM customers) AS customers, \
                (SELECT count(DISTINCT customer_id) FROM transactions) AS buyers, \
                (SELECT min(ts) >= TIMESTAMP '2023-01-01' AND max(ts) < TIMESTAMP '2024-07-01' FROM transactions) AS in_window",
    ]));
    let line = csv.lines().nth(1).unwrap();
    let expected = format!(
        "{},{},3000,3000,true",
        truth["counts"]["transaction_rows"], truth["counts"]["orders"]
    );
    assert_eq!(line, expected);
    let cols = ok(crmlake(&[
        "sql", "--lake", a.to_str().unwrap(), "--format", "csv", "-c",
        "SELECT table_name, string_agg(column_name, ' ' ORDER BY ordinal_position) FROM information_schema.columns \
         WHERE table_schema = 'public' GROUP BY table_name ORDER BY table_name",
    ]));
    assert!(
        cols.contains("customers,customer_id country first_seen"),
        "{cols}"
    );
    assert!(
        cols.contains("transactions,customer_id ts order_id product_id description quantity unit_price amount country"),
        "{cols}"
    );
    assert!(
        cols.contains("feedback,feedback_id customer_id ts channel kind nps_score csat_score text language first_response_at resolved_at"),
        "{cols}"
    );
    assert_eq!(truth["feedback"]["negative_after_dropout"], 0.7);
    let n = ok(crmlake(&[
        "sql",
        "--lake",
        a.to_str().unwrap(),
        "--format",
        "csv",
        "-c",
        "SELECT count(*) FROM feedback",
    ]));
    assert_eq!(
        n.lines().nth(1).unwrap(),
        truth["counts"]["feedback_rows"].to_string()
    );
}

/// The feedback of a generated lake: real sentences of the shipped files,
/// scores consistent with each sentence's label, responses after the
/// message, and the planted effect: messages written after a customer's
/// last purchase by customers who then bought nothing for 90 days are
/// negative more often (every other message is negative with probability
/// 0.25; the one a customer who drops out writes after its last purchase
/// with 0.7).
#[test]
fn feedback_follows_its_labels_and_carries_the_planted_effect() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ok(crmlake(&[
        "generate",
        "--customers",
        "20000",
        "--seed",
        "5",
        "--out",
        lake.to_str().unwrap(),
    ]));
    let sentences = root().join("data/feedback/sentences.tsv");
    let sql = format!(
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION '{}' OPTIONS ('format.delimiter' E'\\t', 'format.has_header' 'true'); \
         WITH labels AS (SELECT text, max(label) AS label, count(DISTINCT label) AS labels FROM s GROUP BY text), \
              last AS (SELECT customer_id, max(ts) AS last_ts FROM transactions GROUP BY 1), \
              f AS (SELECT f.*, l.label, l.labels, (f.ts > t.last_ts AND t.last_ts < TIMESTAMP '2024-07-01' - INTERVAL '90 days') AS after_lapse \
                    FROM feedback f LEFT JOIN labels l USING (text) JOIN last t USING (customer_id)) \
         SELECT count(*) FILTER (WHERE label IS NULL) AS unknown_text, \
                count(*) FILTER (WHERE labels = 1 AND ((label = 1) <> (nps_score >= 7) OR (label = 1) <> (csat_score >= 4))) AS inconsistent, \
                count(*) FILTER (WHERE first_response_at < ts OR resolved_at < first_response_at) AS time_travel, \
                count(*) FILTER (WHERE kind = 'complaint' AND first_response_at IS NULL AND ts < TIMESTAMP '2024-06-01') AS unanswered, \
                avg(CASE WHEN label = 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE after_lapse) AS negative_after, \
                count(*) FILTER (WHERE after_lapse) AS n_after, \
                avg(CASE WHEN label = 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE NOT after_lapse) AS negative_other, \
                count(*) FILTER (WHERE NOT after_lapse) AS n_other \
         FROM f",
        sentences.display()
    );
    let out = ok(crmlake(&[
        "sql",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
        "-c",
        &sql,
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let r = &rows[0];
    assert_eq!(r["unknown_text"], 0, "{r}");
    assert_eq!(r["inconsistent"], 0, "{r}");
    assert_eq!(r["time_travel"], 0, "{r}");
    assert_eq!(r["unanswered"], 0, "{r}");
    let (after, n_after) = (
        r["negative_after"].as_f64().unwrap(),
        r["n_after"].as_f64().unwrap(),
    );
    let (other, n_other) = (
        r["negative_other"].as_f64().unwrap(),
        r["n_other"].as_f64().unwrap(),
    );
    // Messages not after a lapse are the base rate's (0.25) within 4
    // standard errors; after a lapse, the planted messages raise the share
    // by more than 10 standard errors of the difference.
    let se_other = (0.25 * 0.75 / n_other).sqrt();
    assert!((other - 0.25).abs() < 4.0 * se_other + 0.02, "{r}");
    let se = (after * (1.0 - after) / n_after + other * (1.0 - other) / n_other).sqrt();
    assert!(after - other > 10.0 * se, "{r}");
}

#[test]
fn order_amounts_add_up_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    ok(crmlake(&[
        "generate",
        "--customers",
        "500",
        "--seed",
        "1",
        "--out",
        a.to_str().unwrap(),
    ]));
    let csv = ok(crmlake(&[
        "sql",
        "--lake",
        a.to_str().unwrap(),
        "--format",
        "csv",
        "-c",
        "SELECT count(*) FILTER (WHERE abs(amount - quantity * unit_price) > 1e-9) AS bad_lines, \
                count(*) FILTER (WHERE amount <= 0) AS nonpositive FROM transactions",
    ]));
    assert_eq!(csv, "bad_lines,nonpositive\n0,0\n");
    user_error(
        crmlake(&["generate", "--customers", "5", "--out", a.to_str().unwrap()]),
        &["already holds"],
    );
}
