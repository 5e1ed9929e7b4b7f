//! Incremental job inputs (`[inputs.feedback] incremental = true`), runs
//! killed at every commit point and redone, files landing during a run,
//! files rewritten in place, and `crmlake run --every`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const DATE: &str = "2011-12-09";

/// A job with one incremental input: two appending steps, one whole-day
/// step, and a check listing each angry message. `extra_steps` go after
/// the first step.
fn job_text(extra_steps: &str) -> String {
    format!(
        r#"
name = "inc"
[settings]
alerts_table = "inc_alerts"
[inputs.feedback]
incremental = true

[[steps]]
table = "seen"
sql = "SELECT feedback_id, customer_id, sentiment(text) AS sentiment FROM feedback"
{extra_steps}
[[steps]]
table = "angry"
sql = "SELECT feedback_id, customer_id, sentiment FROM feedback_features_input WHERE sentiment < -0.05"

[[steps]]
table = "customer_count"
sql = "SELECT count(*) AS n FROM customers"

[[checks]]
name = "angry_message"
sql = "SELECT CAST(feedback_id AS VARCHAR) AS segment, sentiment FROM angry"
metric = "sentiment"
min = -0.05
no_rows_ok = true
"#
    )
    .replace("feedback_features_input", "seen")
}

/// A lake with the sample's customers and an empty feedback folder.
fn new_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    std::fs::create_dir_all(lake.join("feedback")).unwrap();
    std::fs::create_dir_all(lake.join("customers")).unwrap();
    std::fs::copy(
        root().join("data/lake/customers/part-00000.parquet"),
        lake.join("customers/part-00000.parquet"),
    )
    .unwrap();
    lake
}

/// Write the sample's feedback rows `from..to` (by feedback_id) as
/// `lake/feedback/<file>`.
fn add_feedback(lake: &Path, file: &str, from: usize, to: usize) {
    let target = lake.join("feedback").join(file);
    let staged = lake.join(format!("{file}.tmp"));
    ok(crmlake(&[
        "sql",
        "--lake",
        &sample_lake(),
        "-c",
        &format!(
            "COPY (SELECT * FROM feedback ORDER BY feedback_id LIMIT {} OFFSET {from}) TO '{}' STORED AS PARQUET",
            to - from,
            staged.display()
        ),
    ]));
    // Land it whole, as a writer to a lake should.
    std::fs::rename(staged, target).unwrap();
}

/// The sample's feedback ids `from..to`.
fn ids(from: usize, to: usize) -> Vec<String> {
    let csv = ok(crmlake(&[
        "sql",
        "--lake",
        &sample_lake(),
        "--format",
        "csv",
        "-c",
        &format!(
            "SELECT feedback_id FROM feedback ORDER BY feedback_id LIMIT {} OFFSET {from}",
            to - from
        ),
    ]));
    csv.lines().skip(1).map(String::from).collect()
}

/// One column of `table` in the output root, every committed run's rows.
fn column(out: &Path, table: &str, column: &str) -> Vec<String> {
    if !out.join(table).exists() {
        return Vec::new();
    }
    let csv = ok(lake_sql(
        out,
        &[],
        &format!("SELECT {column} FROM {table} ORDER BY {column}"),
    ));
    csv.lines().skip(1).map(String::from).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every message of `expected` is in `seen` exactly once, each angry one
/// in `angry` and alerted exactly once.
fn assert_exactly_once(out: &Path, expected: &[String], what: &str) {
    let seen = column(out, "seen", "feedback_id");
    assert_eq!(seen, sorted(expected.to_vec()), "{what}: seen");
    let angry = column(out, "angry", "feedback_id");
    let mut distinct = angry.clone();
    distinct.dedup();
    assert_eq!(angry, distinct, "{what}: an angry message twice");
    let alerted = column(out, "inc_alerts", "segment");
    assert_eq!(alerted, angry, "{what}: alerts vs angry messages");
}

fn run(job: &Path, lake: &Path, out: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crmlake"));
    c.args([
        "run",
        job.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-date",
        DATE,
    ])
    .current_dir(root())
    .env("RUST_LOG", "warn")
    .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn incremental_records(m: &serde_json::Value) -> Vec<(String, u64, u64, usize)> {
    m["incremental"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["table"].as_str().unwrap().to_string(),
                r["new_files"].as_u64().unwrap(),
                r["consumed_before"].as_u64().unwrap(),
                r["rewritten"].as_array().unwrap().len(),
            )
        })
        .collect()
}

fn feedback_inputs(m: &serde_json::Value) -> Vec<String> {
    m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["table"] == "feedback")
        .map(|i| {
            let p = i["path"].as_str().unwrap();
            p.rsplit('/').next().unwrap().to_string()
        })
        .collect()
}

#[test]
fn each_file_is_read_once_and_a_rewritten_one_again() {
    let dir = tempfile::tempdir().unwrap();
    let lake = new_lake(dir.path());
    let out = dir.path().join("out");
    let job = write_job(dir.path(), "inc.toml", &job_text(""));
    add_feedback(&lake, "a.parquet", 0, 300);

    ok(run(&job, &lake, &out, &[]));
    assert_exactly_once(&out, &ids(0, 300), "first run");
    let m = manifests(&out);
    assert_eq!(m.len(), 1);
    assert_eq!(incremental_records(&m[0]), [("feedback".into(), 1, 0, 0)]);
    assert_eq!(feedback_inputs(&m[0]), ["a.parquet"]);
    assert!(
        out.join("seen/run_date=2011-12-09")
            .read_dir()
            .unwrap()
            .all(|e| e.unwrap().file_name().to_string_lossy().starts_with("run=")),
        "appending steps write run=<id>/ parts"
    );

    // Nothing new: no run at all.
    let o = ok(run(&job, &lake, &out, &[]));
    assert!(o.contains("no new input files"), "{o}");
    assert_eq!(manifests(&out).len(), 1);

    add_feedback(&lake, "b.parquet", 300, 500);
    ok(run(&job, &lake, &out, &[]));
    assert_exactly_once(&out, &ids(0, 500), "second file");
    let m = manifests(&out);
    assert_eq!(incremental_records(&m[1]), [("feedback".into(), 1, 1, 0)]);
    assert_eq!(feedback_inputs(&m[1]), ["b.parquet"]);
    // The whole-day step replaced its day: one count, of all customers.
    assert_eq!(column(&out, "customer_count", "n"), ["4372"]);

    // a.parquet rewritten in place with other rows: read again, and said.
    std::thread::sleep(Duration::from_millis(20));
    add_feedback(&lake, "a.parquet", 500, 600);
    let o = run(&job, &lake, &out, &[]);
    let log = stderr(&o);
    ok(o);
    assert!(log.contains("a.parquet' was rewritten"), "{log}");
    let m = manifests(&out);
    assert_eq!(incremental_records(&m[2]), [("feedback".into(), 1, 1, 1)]);
    assert_exactly_once(&out, &[ids(0, 500), ids(500, 600)].concat(), "rewritten");
}

/// Kill a run (abort: no clean-up, as SIGKILL) at each commit point of an
/// incremental run; the next run leaves every message committed and
/// alerted exactly once.
#[test]
fn a_run_killed_at_any_point_is_redone_exactly_once() {
    let points = [
        ("before_steps", true),
        ("after_step_1", true),
        ("after_step_2", true),
        ("after_step_3", true),
        ("after_checks", true),
        ("after_manifest", false),
        ("after_index", false),
    ];
    for (point, redone) in points {
        let dir = tempfile::tempdir().unwrap();
        let lake = new_lake(dir.path());
        let out = dir.path().join("out");
        let job = write_job(dir.path(), "inc.toml", &job_text(""));
        add_feedback(&lake, "a.parquet", 0, 200);
        ok(run(&job, &lake, &out, &[]));
        add_feedback(&lake, "b.parquet", 200, 400);
        let killed = run(&job, &lake, &out, &[("CRMLAKE_KILL_AT", point)]);
        assert!(
            !killed.status.success() && killed.status.code().is_none(),
            "{point}: the run should die by a signal: {:?} {}",
            killed.status,
            stderr(&killed)
        );
        let o = ok(run(&job, &lake, &out, &[]));
        if redone {
            assert!(!o.contains("no new input files"), "{point}: redone: {o}");
        } else {
            assert!(o.contains("no new input files"), "{point}: committed: {o}");
        }
        assert_exactly_once(&out, &ids(0, 400), point);
        let pending = out.join("_runs/inc/_incremental/pending");
        assert!(
            !pending.exists() || pending.read_dir().unwrap().next().is_none(),
            "{point}: a pending record is left"
        );
    }
}

/// Wait until `path` exists (or panic after `limit`).
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn committed_runs(out: &Path, table: &str) -> usize {
    std::fs::read_dir(out.join(table).join(format!("run_date={DATE}")))
        .map(|d| {
            d.filter(|e| {
                let e = e.as_ref().unwrap();
                e.path().join("_SUCCESS").exists()
            })
            .count()
        })
        .unwrap_or(0)
}

/// A slow step between the first and the rest, so a test can act while a
/// run is in it.
const SLOW: &str = r#"
[[steps]]
table = "slow"
sql = "SELECT sum(value % 7) AS s FROM generate_series(1, 400000000)"

[[steps]]
table = "counted"
sql = "SELECT count(*) AS n FROM feedback"
"#;

/// A real SIGKILL in the middle of a run (after its first step committed)
/// and a file landing during a run: the killed run's part is removed and
/// redone; the file waits for the next run, even for steps that read the
/// table after it landed.
#[test]
fn sigkill_mid_run_and_files_landing_during_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = new_lake(dir.path());
    let out = dir.path().join("out");
    let job = write_job(dir.path(), "inc.toml", &job_text(SLOW));
    add_feedback(&lake, "a.parquet", 0, 200);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_crmlake"))
            .args(["run", job.to_str().unwrap(), "--lake"])
            .arg(&lake)
            .arg("--out")
            .arg(&out)
            .args(["--run-date", DATE])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Killed while the slow step runs: `seen` of that run is committed.
    let mut child = spawn();
    wait_for("the first step's commit", Duration::from_secs(120), || {
        committed_runs(&out, "seen") == 1
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        committed_runs(&out, "seen"),
        1,
        "the killed run's part is there"
    );

    let day = out.join(format!("seen/run_date={DATE}"));
    let runs = |day: &Path| -> Vec<String> {
        std::fs::read_dir(day)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let killed = runs(&day);

    // The next run removes it, redoes the file, and a file landing while it
    // is in the slow step waits.
    let child = spawn();
    wait_for("the redo's first step", Duration::from_secs(120), || {
        let now = runs(&day);
        now.len() == 1 && now != killed && day.join(&now[0]).join("_SUCCESS").exists()
    });
    add_feedback(&lake, "b.parquet", 200, 300);
    let o = child.wait_with_output().unwrap();
    ok(o);
    let m = manifests(&out);
    let last = m.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(feedback_inputs(last), ["a.parquet"]);
    assert_eq!(
        column(&out, "counted", "n"),
        ["200"],
        "a later step read only a"
    );
    assert_exactly_once(&out, &ids(0, 200), "after the redo");

    // b is the next run's.
    ok(run(&job, &lake, &out, &[]));
    assert_eq!(
        feedback_inputs(manifests(&out).last().unwrap()),
        ["b.parquet"]
    );
    assert_exactly_once(&out, &ids(0, 300), "after b");
}

#[test]
fn every_polls_for_new_files_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let lake = new_lake(dir.path());
    let out = dir.path().join("out");
    let job = write_job(dir.path(), "inc.toml", &job_text(""));
    add_feedback(&lake, "a.parquet", 0, 100);
    let child = Command::new(env!("CARGO_BIN_EXE_crmlake"))
        .args(["run", job.to_str().unwrap(), "--lake"])
        .arg(&lake)
        .arg("--out")
        .arg(&out)
        .args(["--run-date", DATE, "--every", "1s"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let succeeded = |out: &Path| {
        manifests(out)
            .iter()
            .filter(|m| m["status"] == "succeeded")
            .count()
    };
    wait_for("the first run", Duration::from_secs(120), || {
        succeeded(&out) == 1
    });
    add_feedback(&lake, "b.parquet", 100, 150);
    wait_for("the second run", Duration::from_secs(120), || {
        succeeded(&out) == 2
    });
    // Idle ticks make no runs.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(manifests(&out).len(), 2);
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let o = child.wait_with_output().unwrap();
    let log = stderr(&o);
    assert!(o.status.success(), "exit {:?}: {log}", o.status);
    assert!(
        log.contains("stop signal") && log.contains("stopped"),
        "{log}"
    );
    assert_exactly_once(&out, &ids(0, 150), "every");
}

#[test]
fn incremental_job_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let lake = new_lake(dir.path());
    let out = dir.path().join("out");
    add_feedback(&lake, "a.parquet", 0, 10);
    // An incremental input the lake does not have.
    let job = write_job(
        dir.path(),
        "missing.toml",
        &job_text("").replace("[inputs.feedback]", "[inputs.complaints]"),
    );
    user_error(
        run(&job, &lake, &out, &[]),
        &[
            "[inputs.complaints] incremental = true",
            "no table 'complaints'",
        ],
    );
    // --every needs an incremental input.
    let whole = write_job(
        dir.path(),
        "whole.toml",
        "name = \"whole\"\n[[steps]]\ntable = \"t\"\nsql = \"SELECT 1 AS x\"\n",
    );
    user_error(
        crmlake(&["run", whole.to_str().unwrap(), "--every", "5m"]),
        &["--every needs an incremental input"],
    );
    user_error(
        crmlake(&["run", whole.to_str().unwrap(), "--every", "5 minutes"]),
        &["--every '5 minutes'", "30s, 5m, 1h"],
    );
    // A whole-day job and an incremental one cannot share a table.
    let nightly = write_job(
        dir.path(),
        "nightly.toml",
        "name = \"nightly\"\n[[steps]]\ntable = \"seen\"\nsql = \"SELECT 'x' AS feedback_id\"\n",
    );
    ok(run(&nightly, &lake, &out, &[]));
    let job = write_job(dir.path(), "inc.toml", &job_text(""));
    user_error(
        run(&job, &lake, &out, &[]),
        &[
            "seen/run_date=2011-12-09",
            "holds a whole day",
            "name its table differently",
        ],
    );
    // settings.alerts_table is checked.
    let bad = write_job(
        dir.path(),
        "bad.toml",
        &job_text("").replace("\"inc_alerts\"", "\"Alerts\""),
    );
    user_error(
        run(&bad, &lake, &out, &[]),
        &["settings.alerts_table = 'Alerts'"],
    );
}

/// The bundled early-warning job on the demo's output: a new angry message
/// from a customer the nightly churn scores call likely to leave is on the
/// urgent list, with the reasons, and alerted.
#[test]
fn early_warning_job_lists_new_angry_messages_of_likely_leavers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    for table in ["customers", "transactions", "feedback", "feedback_taxonomy"] {
        std::fs::create_dir_all(lake.join(table)).unwrap();
        for f in std::fs::read_dir(root().join("data/lake").join(table)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), lake.join(table).join(f.file_name())).unwrap();
        }
    }
    let out = dir.path().join("out");
    let lake_s = lake.to_str().unwrap();
    ok(run_job_on(
        &root().join("jobs/demo.toml"),
        lake_s,
        &out,
        DATE,
        &[],
    ));
    let early = root().join("jobs/early_warning.toml");
    ok(run_job_on(&early, lake_s, &out, DATE, &[]));
    assert!(!column(&out, "urgent_feedback", "feedback_id").is_empty());

    // A new file: one angry message from the likeliest leaver with a CLV.
    let who = ok(lake_sql(
        &out,
        &[],
        "SELECT s.customer_id FROM churn_scores s JOIN ltv l USING (customer_id) \
         WHERE l.clv > 100 ORDER BY s.churn_probability DESC, s.customer_id LIMIT 1",
    ));
    let who = who.lines().nth(1).unwrap().to_string();
    let alerted = |out: &Path| {
        column(out, "urgent_alerts", "segment")
            .iter()
            .filter(|s| **s == who)
            .count()
    };
    let before = alerted(&out);
    // Strings as plain Utf8, as the sample's file has them (DataFusion
    // would write its Utf8View, which the lake cannot merge with Utf8).
    let staged = lake.join("new.tmp");
    ok(lake_sql(
        &lake,
        &[],
        &format!(
            "COPY (SELECT arrow_cast('new-1', 'Utf8') AS feedback_id, CAST({who} AS BIGINT) AS customer_id, ts, \
                    arrow_cast('email', 'Utf8') AS channel, arrow_cast('complaint', 'Utf8') AS kind, \
                    nps_score, csat_score, \
                    arrow_cast('The parcel arrived broken and nobody answers. Terrible, I am furious.', 'Utf8') AS text, \
                    first_response_at, resolved_at \
                  FROM feedback ORDER BY feedback_id LIMIT 1) TO '{}' STORED AS PARQUET",
            staged.display()
        ),
    ));
    std::fs::rename(&staged, lake.join("feedback/new.parquet")).unwrap();
    let o = ok(run_job_on(&early, lake_s, &out, DATE, &[]));
    assert!(o.contains("ALERT warn valuable_customer_unhappy"), "{o}");
    let csv = ok(lake_sql(
        &out,
        &[],
        "SELECT customer_id, kind, sentiment < -0.05 AS angry, churn_probability >= 0.5 AS likely, \
                value_at_risk > 50 AS valuable, cardinality(reasons) AS reasons \
         FROM urgent_feedback WHERE feedback_id = 'new-1'",
    ));
    let rows = csv_maps(&csv);
    assert_eq!(rows.len(), 1, "{csv}");
    let r: &BTreeMap<String, String> = &rows[0];
    assert_eq!(r["kind"], "complaint");
    assert_eq!(r["angry"], "true");
    assert_eq!(r["likely"], "true");
    assert_eq!(r["valuable"], "true");
    assert_eq!(r["reasons"], "3");
    assert_eq!(r["customer_id"], who);
    assert_eq!(alerted(&out), before + 1);
}
