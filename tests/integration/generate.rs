//! `crmlake generate`: determinism, `_truth.json`, schema and counts.

use std::fs;
use std::path::Path;

use crate::common::*;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for t in ["transactions", "customers"] {
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
    assert_eq!(fa.len(), 6, "3 files per table");
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
