//! Early warning in jobs: `[[checks]]` (alerts written through the commit
//! protocol, in the manifest and the summary; exit code 3 for `fail`;
//! boundaries and `no_data`; the `notify` command, working and failing),
//! and a job reading its own previous output (`previous(table)`,
//! `${previous_run_date}`).

use std::fs;

use crate::common::*;

const DATE: &str = "2011-12-09";

fn job_text(notify: &str, checks: &str) -> String {
    format!(
        r#"name = "early"
[settings]
notify = "{notify}"

[[steps]]
table = "kpi_month"
sql = """
SELECT * FROM kpi_series('SELECT customer_id, ts, order_id, amount, country FROM transactions WHERE quantity > 0 AND unit_price > 0',
                         '2011-06-01', DATE ${{run_date}} + INTERVAL '1 day', 'month', 'by=country')
"""
{checks}
"#
    )
}

const CHECKS: &str = r#"
[[checks]]
name = "uk_customers_floor"
sql = "SELECT segment, active_customers FROM kpi_month WHERE period = DATE '2011-11-01' AND segment = 'United Kingdom'"
metric = "active_customers"
min = 100000
severity = "fail"

[[checks]]
name = "at_target"
sql = "SELECT 100.0 AS revenue"
metric = "revenue"
min = 100
max = 100

[[checks]]
name = "big_countries"
sql = "SELECT segment, active_customers, active_customers_change FROM kpi_month WHERE period = DATE '2011-11-01' AND segment IN ('Germany', 'France', 'United Kingdom')"
metric = "active_customers"
max = 90
change_max = 1000

[[checks]]
name = "no_rows"
sql = "SELECT 1.0 AS x WHERE false"
metric = "x"
min = 0

[[checks]]
name = "null_value"
sql = "SELECT CAST(NULL AS DOUBLE) AS x"
metric = "x"
max = 1
"#;

#[test]
fn checks_write_alerts_notify_and_exit_3_after_committing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let heard = dir.path().join("heard.jsonl");
    let job = write_job(
        dir.path(),
        "early.toml",
        &job_text(&format!("cat > '{}'", heard.display()), CHECKS),
    );
    let o = run_job_on(&job, &sample_lake(), &out, DATE, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fail alert(s) fired: uk_customers_floor"),
        "{}",
        stderr(&o)
    );
    // Everything committed: the step, the alerts, the run marker.
    assert!(out
        .join(format!("_runs/early/run_date={DATE}/_SUCCESS"))
        .exists());
    assert!(out
        .join(format!("alerts/run_date={DATE}/_SUCCESS"))
        .exists());
    let summary = stdout(&o);
    assert!(
        summary.contains("ALERT fail uk_customers_floor"),
        "{summary}"
    );
    let alerts = ok(lake_sql(
        &out,
        &[],
        "SELECT \"check\", segment, metric, value, target, rule, severity FROM alerts ORDER BY \"check\", segment",
    ));
    let rows = csv_maps(&alerts);
    let fired: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r["check"].clone(), r["segment"].clone(), r["rule"].clone()))
        .collect();
    // The value exactly at min and max (at_target) does not fire; only the
    // United Kingdom has more than 90 customers; the changes are all under
    // 1000; an empty result and a NULL are no_data.
    assert_eq!(
        fired,
        [
            (
                "big_countries".into(),
                "United Kingdom".into(),
                "max".into()
            ),
            ("no_rows".into(), "".into(), "no_data".into()),
            ("null_value".into(), "".into(), "no_data".into()),
            (
                "uk_customers_floor".into(),
                "United Kingdom".into(),
                "min".into()
            ),
        ],
        "{alerts}"
    );
    let uk = &rows[3];
    assert_eq!(
        (uk["target"].as_str(), uk["severity"].as_str()),
        ("100000.0", "fail")
    );
    let m = manifests(&out);
    let last = m.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["alerts"].as_array().unwrap().len(), 4);
    assert_eq!(last["notify"]["status"], "succeeded", "{last}");
    // notify heard every alert as a JSON line with the run's id and date.
    let lines: Vec<serde_json::Value> = fs::read_to_string(&heard)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines
        .iter()
        .all(|l| l["run_id"] == last["run_id"] && l["run_date"] == DATE));
}

#[test]
fn a_failing_notify_is_recorded_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let warn_only = r#"
[[checks]]
name = "null_value"
sql = "SELECT CAST(NULL AS DOUBLE) AS x"
metric = "x"
max = 1
"#;
    let job = write_job(
        dir.path(),
        "early.toml",
        &job_text("echo no chat today >&2; exit 7", warn_only),
    );
    let o = run_job_on(&job, &sample_lake(), &out, DATE, &[]);
    // Only a warn alert: exit 0, with the notify failure logged.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("notify command failed"),
        "{}",
        stderr(&o)
    );
    let m = manifests(&out);
    let notify = &m.last().unwrap()["notify"];
    assert_eq!(
        (notify["status"].as_str(), notify["exit_code"].as_i64()),
        (Some("failed"), Some(7))
    );
    assert!(notify["error"].as_str().unwrap().contains("no chat today"));
    assert!(out
        .join(format!("kpi_month/run_date={DATE}/_SUCCESS"))
        .exists());
    assert!(out
        .join(format!("_runs/early/run_date={DATE}/_SUCCESS"))
        .exists());
}

#[test]
fn bad_checks_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (checks, needle) in [
        (
            "[[checks]]\nname = \"a\"\nsql = \"SELECT 1 AS x\"\nmetric = \"x\"\nmin = 5\nmax = 1\n",
            "check 1 ('a'): min 5 is above max 1",
        ),
        (
            "[[checks]]\nname = \"a\"\nsql = \"SELECT 1 AS x\"\nmetric = \"x\"\n",
            "check 1 ('a'): give a target: min, max or change_max",
        ),
        (
            "[[checks]]\nname = \"a\"\nsql = \"SELECT 1 AS x\"\nmetric = \"x\"\nmin = 1\nseverity = \"loud\"\n",
            "unknown variant `loud`",
        ),
        (
            "[[checks]]\nname = \"a\"\nsql = \"SELECT 1 AS y\"\nmetric = \"x\"\nmin = 1\n",
            "check 1 ('a'): the query has no column 'x' (metric); its columns: y",
        ),
        (
            "[[checks]]\nname = \"a\"\nsql = \"SELECT 1 AS x\"\nmetric = \"x\"\nchange_max = 1\n",
            "change_max needs a column 'x_change'",
        ),
    ] {
        let job = write_job(dir.path(), "bad.toml", &job_text("true", checks));
        user_error(run_job_on(&job, &sample_lake(), &out, DATE, &[]), &[needle]);
    }
}

const PREVIOUS_JOB: &str = r#"
name = "again"
[[steps]]
table = "scores"
sql = "SELECT country, count(*) + date_part('day', CAST(${run_date} AS DATE)) AS n FROM customers GROUP BY country"
[[steps]]
table = "delta"
sql = """
SELECT s.country, s.n, p.n AS previous_n, CAST(${previous_run_date} AS DATE) AS previous_date
FROM scores s LEFT JOIN (SELECT country AS previous_country, n FROM previous(scores)) p
  ON p.previous_country = s.country
ORDER BY s.country
"""
"#;

#[test]
fn previous_reads_the_last_committed_partition_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = write_job(dir.path(), "again.toml", PREVIOUS_JOB);
    let delta = |date: &str| {
        ok(lake_sql(
            &out,
            &[],
            &format!(
                "SELECT count(*) AS rows, count(previous_n) AS with_previous, \
                        min(n - previous_n) AS lo, max(n - previous_n) AS hi, \
                        CAST(min(previous_date) AS VARCHAR) AS previous_date \
                 FROM delta WHERE run_date = DATE '{date}'"
            ),
        ))
    };
    // A first run: previous(scores) has no rows (this run's columns), and
    // ${previous_run_date} is NULL.
    ok(run_job_on(&job, &sample_lake(), &out, "2024-01-03", &[]));
    let first = csv_maps(&delta("2024-01-03"));
    assert_eq!(first[0]["with_previous"], "0", "{first:?}");
    assert_eq!(first[0]["previous_date"], "");
    // Two days later: the partition of 2024-01-03, 2 more per country.
    ok(run_job_on(&job, &sample_lake(), &out, "2024-01-05", &[]));
    let later = csv_maps(&delta("2024-01-05"));
    assert_eq!(later[0]["with_previous"], later[0]["rows"], "{later:?}");
    assert_eq!(
        (later[0]["lo"].as_str(), later[0]["hi"].as_str()),
        ("2", "2")
    );
    assert_eq!(later[0]["previous_date"], "2024-01-03");
    // A rerun of an earlier date reads what came before it, not after.
    ok(run_job_on(&job, &sample_lake(), &out, "2024-01-04", &[]));
    let between = csv_maps(&delta("2024-01-04"));
    assert_eq!(
        (
            between[0]["lo"].as_str(),
            between[0]["previous_date"].as_str()
        ),
        ("1", "2024-01-03")
    );
    let m = manifests(&out);
    assert_eq!(m.last().unwrap()["previous_run_date"], "2024-01-03");
    // A table neither written before nor in this run: an error naming it.
    let bad = write_job(
        dir.path(),
        "bad.toml",
        "name = \"bad\"\n[[steps]]\ntable = \"x\"\nsql = \"SELECT * FROM previous(nothing_here)\"\n",
    );
    user_error(
        run_job_on(&bad, &sample_lake(), &out, "2024-01-05", &[]),
        &["previous(nothing_here): no committed partition of 'nothing_here' before 2024-01-05"],
    );
}
