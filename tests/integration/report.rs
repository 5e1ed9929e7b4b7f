//! The run report (`OUT/_runs/<run_id>.html`, `crmlake report`): written by
//! every run after its manifest, rebuilt from the manifest and committed
//! outputs alone, sections chosen by table kinds, and the demo's report
//! opened in headless Chromium (tests/browser/check_report.py).

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::local_server::program;

/// The sections the demo's report has.
const DEMO_SECTIONS: &[&str] = &[
    "run",
    "kpis",
    "warning",
    "segments",
    "cohorts",
    "ltv",
    "churn",
    "baskets",
    "feedback",
    "loyalty",
    "uncertainty",
];

/// The HTML reports in `out/_runs/`, by name.
fn reports(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(out.join("_runs"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".html"))
        .collect();
    names.sort();
    names
}

#[test]
fn demo_report_opens_offline_in_a_browser_with_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let lake = sample_lake();
    // Two runs, so the second has a previous run to compare with. As of
    // 2011-11-30 the purchase fit is at its boundary: that run has NULL
    // CLV intervals and must still succeed.
    for date in ["2011-11-30", "2011-12-09"] {
        ok(crmlake(&[
            "demo",
            "--lake",
            &lake,
            "--out",
            out.to_str().unwrap(),
            "--run-date",
            date,
        ]));
    }
    let names = reports(&out);
    assert_eq!(names.len(), 2, "{names:?}");
    let latest = out.join("_runs").join(&names[1]);
    let html = fs::read_to_string(&latest).unwrap();
    assert!(
        html.len() < 2 * 1024 * 1024,
        "report is {} bytes",
        html.len()
    );
    for id in DEMO_SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    // Against the previous run: KPI changes and segment migration.
    assert!(html.contains("vs previous run"), "KPI changes");
    assert!(html.contains("Segment migration since the previous run"));
    assert!(html.contains("Lift by decile") && html.contains("Cumulative gains"));
    assert!(html.contains("Calibration of churn probabilities"));
    // Money in the job's currency, numbers with separators, product names.
    assert!(html.contains("£8,887,209"), "revenue in pounds");
    assert!(
        html.contains("REGENCY TEA PLATE"),
        "rules show product names"
    );
    // The alert of the run is at the top.
    let alerts = html
        .find("<section class=\"alerts\"")
        .expect("alerts at the top");
    assert!(alerts < html.find("<section id=\"run\">").unwrap());
    // The date's pointer names the latest run.
    let pointer = fs::read_to_string(out.join("_runs/run_date=2011-12-09/report.html")).unwrap();
    assert!(pointer.contains(&format!("../{}", names[1])), "{pointer}");

    // The demo's calibration table is reliability() over the same scores
    // and outcomes (as of 2011-12-09 - 90 days), from the second run's
    // partitions.
    let reference = ok(lake_sql(
        &out,
        &[],
        "SELECT bin, rows, round(mean_score, 12) AS m, round(observed_rate, 12) AS o FROM reliability('SELECT s.churn_probability AS score, f.churned AS label FROM churn_scores s JOIN churn_features(''SELECT customer_id, ts, order_id, amount FROM clean_transactions WHERE run_date = DATE ''''2011-12-09'''''', DATE ''2011-09-10'', 90) f USING (customer_id) WHERE f.churned IS NOT NULL AND s.run_date = DATE ''2011-12-09''', 10) WHERE rows > 0 ORDER BY bin",
    ));
    let table = ok(lake_sql(
        &out,
        &[],
        "SELECT bin, rows, round(mean_score, 12) AS m, round(observed_rate, 12) AS o FROM churn_calibration WHERE run_date = DATE '2011-12-09' ORDER BY bin",
    ));
    assert_eq!(table, reference);
    assert!(table.lines().count() > 5, "{table}");

    // Debian's chromium driven by playwright (`.ci/run` installs both).
    let Some(python) = python_with("playwright.sync_api", "browser check") else {
        return;
    };
    let Some(chromium) = program("CHROMIUM", "chromium", &[], "Debian's chromium") else {
        return;
    };
    let shots = dir.path().join("browser");
    fs::create_dir_all(&shots).unwrap();
    let mut args = vec![
        root()
            .join("tests/browser/check_report.py")
            .to_string_lossy()
            .to_string(),
        latest.to_string_lossy().to_string(),
        shots.to_string_lossy().to_string(),
    ];
    args.extend(DEMO_SECTIONS.iter().map(|s| s.to_string()));
    let o = Command::new(&python)
        .args(&args)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "browser check failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(fs::metadata(shots.join("report.png")).unwrap().len() > 10_000);
    assert!(fs::read(shots.join("report.pdf"))
        .unwrap()
        .starts_with(b"%PDF"));
}

#[test]
fn report_is_rebuilt_from_the_manifest_and_outputs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    // --no-report: no page.
    ok(crmlake(&[
        "demo",
        "--lake",
        &sample_lake(),
        "--out",
        o,
        "--no-report",
    ]));
    assert!(reports(&out).is_empty());
    // `crmlake report` builds the latest run's page from what is committed,
    // and building it twice gives the same bytes.
    let printed = ok(crmlake(&["report", o]));
    let names = reports(&out);
    assert_eq!(names.len(), 1, "{printed}");
    assert!(printed.contains(&names[0]), "{printed}");
    let first = fs::read(out.join("_runs").join(&names[0])).unwrap();
    let run_id = names[0].trim_end_matches(".html");
    ok(crmlake(&["report", o, "--run-id", run_id]));
    assert_eq!(fs::read(out.join("_runs").join(&names[0])).unwrap(), first);

    // Bad input: exit 1 naming what is wrong.
    user_error(
        crmlake(&["report", o, "--run-id", "nope"]),
        &["no manifest for run 'nope'"],
    );
    let empty = dir.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    user_error(
        crmlake(&["report", empty.to_str().unwrap()]),
        &["no run manifests"],
    );
    user_error(
        crmlake(&["report", dir.path().join("missing").to_str().unwrap()]),
        &["no such folder"],
    );
}

#[test]
fn a_users_job_gets_sections_by_declared_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "mine.toml",
        r#"
name = "mine"
[settings]
currency = "EUR"
[[steps]]
table = "my_segments"
report = "rfm"
sql = "SELECT * FROM rfm('SELECT customer_id, ts, order_id, amount FROM transactions WHERE customer_id IS NOT NULL AND amount > 0', DATE '2011-12-09')"
[[steps]]
table = "offline_eval"
report = "recommender_eval"
sql = "SELECT * FROM recommender_eval('SELECT customer_id, ts, product_id AS item FROM transactions WHERE customer_id IS NOT NULL AND quantity > 0', '2011-11-01', 10, 'algorithms=popular+item_knn, exclude_seen=false')"
"#,
    );
    let out = dir.path().join("out");
    ok(run_job_on(&job, &sample_lake(), &out, "2011-12-09", &[]));
    let names = reports(&out);
    assert_eq!(names.len(), 1);
    let html = fs::read_to_string(out.join("_runs").join(&names[0])).unwrap();
    assert!(html.contains("<section id=\"segments\">"));
    assert!(html.contains("RFM segment sizes"));
    assert!(html.contains("€"), "money in the job's currency");
    assert!(html.contains("Recommender evaluation") && html.contains("item_knn"));
    // No kinds, no sections beyond the run.
    assert!(!html.contains("<section id=\"ltv\">"));

    let bad = write_job(
        dir.path(),
        "bad.toml",
        "name = \"bad\"\n[[steps]]\ntable = \"t\"\nreport = \"pie\"\nsql = \"SELECT 1 AS x\"\n",
    );
    user_error(
        run_job_on(&bad, &sample_lake(), &out, "2011-12-09", &[]),
        &["step 1 ('t')", "report = 'pie' is not a report kind", "rfm"],
    );
}

#[test]
fn a_failed_run_gets_a_report_with_its_error_at_the_top() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "fails.toml",
        "name = \"fails\"\n[[steps]]\ntable = \"kpis\"\nsql = \"SELECT count(*) AS customers FROM customers\"\n[[steps]]\ntable = \"broken\"\nsql = \"SELECT no_such_column FROM customers\"\n",
    );
    let out = dir.path().join("out");
    user_error(
        run_job_on(&job, &sample_lake(), &out, "2011-12-09", &[]),
        &["no_such_column"],
    );
    let names = reports(&out);
    assert_eq!(names.len(), 1, "{names:?}");
    let html = fs::read_to_string(out.join("_runs").join(&names[0])).unwrap();
    let alerts = html
        .find("<section class=\"alerts\"")
        .expect("the error at the top");
    assert!(html[alerts..].contains("the run failed"), "{html}");
    assert!(html.contains("no_such_column"));
    // The step committed before the failure has its section.
    assert!(html.contains("<section id=\"kpis\">"));
}
