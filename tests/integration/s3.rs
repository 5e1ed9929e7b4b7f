//! `s3://` lakes against a local S3 server (moto, on loopback), configured only
//! through the standard `AWS_*` variables, `AWS_ENDPOINT_URL` and
//! `AWS_ALLOW_HTTP` included.
//!
//! The server is `moto_server` from PyPI (`pip install 'moto[server]'`), found on
//! PATH or at `$CRMLAKE_MOTO_SERVER`; `.ci/run` installs it. Without it the test
//! says so and passes locally, but fails under CI (`CI` set), so CI can never
//! skip it silently.

use std::process::{Command, Output, Stdio};

use crate::common::*;
use crate::local_server::{free_port, program, Server};

/// moto on a free port, with bucket `lakebucket` made.
fn start() -> Option<Server> {
    let bin = program(
        "CRMLAKE_MOTO_SERVER",
        "moto_server",
        &[],
        "pip install 'moto[server]'",
    )?;
    let port = free_port();
    let server = Server::start(
        &bin,
        &["-H", "127.0.0.1", "-p", &port.to_string()],
        port,
        None,
    );
    server.until(
        || format!("PUT /lakebucket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        "HTTP/1.1 200",
    );
    Some(server)
}

/// `crmlake ARGS` against the local server, with secret key `secret`.
fn s3_command(port: u16, secret: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crmlake"));
    c.args(args)
        .current_dir(root())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null());
    c
}

fn crmlake_s3(port: u16, args: &[&str]) -> Output {
    s3_command(port, "test", args)
        .output()
        .expect("crmlake runs")
}

#[test]
fn s3_lake_write_discover_and_query() {
    let Some(server) = start() else { return };
    let port = server.port;
    let src = root().join("data/lake/customers");
    // Write a Hive-partitioned table into the bucket with COPY ...
    ok(crmlake_s3(
        port,
        &[
            "sql",
            "--lake",
            "s3://lakebucket/lake",
            "-c",
            &format!(
                "CREATE EXTERNAL TABLE c STORED AS PARQUET LOCATION '{}/'; \
                 COPY (SELECT customer_id, country FROM c WHERE country IN ('Iceland', 'Finland')) \
                 TO 's3://lakebucket/lake/nordics/' STORED AS PARQUET PARTITIONED BY (country)",
                src.display()
            ),
        ],
    ));
    // ... and find it again as a lake table.
    let csv = ok(crmlake_s3(
        port,
        &[
            "sql",
            "--lake",
            "s3://lakebucket/lake/",
            "--format",
            "csv",
            "-c",
            "SELECT country, count(*) AS customers FROM nordics GROUP BY country ORDER BY country",
        ],
    ));
    // UCI Online Retail customers by country of first purchase.
    let expected = ok(crmlake(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT country, count(*) AS customers FROM customers WHERE country IN ('Iceland', 'Finland') \
         GROUP BY country ORDER BY country",
    ]));
    assert_eq!(csv, expected);
    assert!(csv.starts_with("country,customers\nFinland,"), "{csv}");
    // A bucket that does not exist: exit 1 naming the lake.
    user_error(
        crmlake_s3(
            port,
            &[
                "sql",
                "--lake",
                "s3://missing-bucket/lake",
                "-c",
                "SELECT 1",
            ],
        ),
        &["s3://missing-bucket/lake"],
    );
}

/// The test bucket, through object_store (signed requests, as crmlake makes).
fn bucket(port: u16) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
        .with_bucket_name("lakebucket")
        .build()
        .unwrap()
}

/// The keys under `prefix` in the test bucket.
fn keys(port: u16, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let store = bucket(port);
    let prefix = object_store::path::Path::from(prefix);
    let mut keys: Vec<String> = runtime().block_on(async {
        object_store::ObjectStore::list(&store, Some(&prefix))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap()
    });
    keys.sort();
    keys
}

fn object(port: u16, key: &str) -> String {
    use object_store::ObjectStoreExt;
    let store = bucket(port);
    runtime().block_on(async {
        let bytes = store
            .get(&object_store::path::Path::from(key))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    })
}

#[test]
fn s3_job_commits_like_a_local_one_and_never_shows_credentials() {
    let Some(server) = start() else { return };
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        r#"name = "s3"
[[steps]]
table = "countries"
sql = "SELECT country, customer_id FROM customers"
reject = [{ reason = "nordic", when = "country IN ('Iceland', 'Finland', 'Norway', 'Sweden', 'Denmark')" }]
[[steps]]
table = "summary"
sql = "SELECT country, count(*) AS customers FROM countries GROUP BY country ORDER BY country"
"#,
    )
    .unwrap();
    let secret = "s3cr3t-must-not-leak";
    let run = |out: &str| {
        s3_command(
            port,
            secret,
            &[
                "run",
                job.to_str().unwrap(),
                "--lake",
                &sample_lake(),
                "--out",
                out,
                "--run-date",
                "2024-01-31",
            ],
        )
        .env("RUST_LOG", "debug")
        .output()
        .expect("crmlake runs")
    };
    for _ in 0..2 {
        let o = run("s3://lakebucket/out");
        for text in [stdout(&o), stderr(&o)] {
            assert!(!text.contains(secret), "credentials in the output:\n{text}");
        }
        ok(o);
    }
    // The layout: one part file and _SUCCESS per table partition, the
    // rejects, two manifests and the run marker; nothing left in staging.
    let all = keys(port, "out");
    let expected_files = [
        "out/_rejects/countries/run_date=2024-01-31/_SUCCESS",
        "out/_rejects/countries/run_date=2024-01-31/part-00000.parquet",
        "out/_runs/s3/run_date=2024-01-31/_SUCCESS",
        "out/countries/run_date=2024-01-31/_SUCCESS",
        "out/countries/run_date=2024-01-31/part-00000.parquet",
        "out/summary/run_date=2024-01-31/_SUCCESS",
        "out/summary/run_date=2024-01-31/part-00000.parquet",
    ];
    let manifests: Vec<&String> = all.iter().filter(|k| k.ends_with(".json")).collect();
    assert_eq!(manifests.len(), 2, "{all:?}");
    // A run report per run, and the date's pointer at the latest, written
    // to the store like everything else, without credentials.
    let reports: Vec<&String> = all.iter().filter(|k| k.ends_with(".html")).collect();
    assert_eq!(reports.len(), 3, "{all:?}");
    assert!(reports.contains(&&"out/_runs/run_date=2024-01-31/report.html".to_string()));
    for r in &reports {
        assert!(!object(port, r).contains(secret), "credentials in {r}");
    }
    let others: Vec<&str> = all
        .iter()
        .filter(|k| !k.ends_with(".json") && !k.ends_with(".html"))
        .map(String::as_str)
        .collect();
    assert_eq!(others, expected_files);
    let manifest = object(port, manifests[1]);
    assert!(manifest.contains("\"status\": \"succeeded\""), "{manifest}");
    assert!(
        manifest.contains("\"out\": \"s3://lakebucket/out/\""),
        "{manifest}"
    );
    assert!(!manifest.contains(secret));
    assert_eq!(
        object(port, "out/_runs/s3/run_date=2024-01-31/_SUCCESS").trim(),
        manifests[1]
            .trim_start_matches("out/_runs/")
            .trim_end_matches(".json")
    );

    // The bucket output reads back like the same job's local output.
    let query = "SELECT (SELECT count(*) FROM countries) AS kept, \
                 (SELECT sum(customers) FROM summary) AS summed, \
                 (SELECT count(*) FROM summary) AS countries";
    let from_s3 = ok(crmlake_s3(
        port,
        &[
            "sql",
            "--lake",
            "s3://lakebucket/out",
            "--format",
            "csv",
            "-c",
            query,
        ],
    ));
    let local = dir.path().join("out");
    ok(run(local.to_str().unwrap()));
    let from_disk = ok(crmlake(&[
        "sql",
        "--lake",
        local.to_str().unwrap(),
        "--format",
        "csv",
        "-c",
        query,
    ]));
    assert_eq!(from_s3, from_disk);
    let rejects = ok(crmlake_s3(
        port,
        &[
            "sql",
            "--lake",
            "s3://lakebucket/out/_rejects",
            "--format",
            "csv",
            "-c",
            "SELECT reason, count(*) AS n FROM countries GROUP BY reason",
        ],
    ));
    // The sample lake's customers from Nordic countries.
    let nordic = ok(crmlake(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT 'nordic' AS reason, count(*) AS n FROM customers \
         WHERE country IN ('Iceland', 'Finland', 'Norway', 'Sweden', 'Denmark')",
    ]));
    assert_eq!(rejects, nordic);

    // A bucket that does not exist: exit 1 naming the output root.
    let o = run("s3://missing-bucket/out");
    assert!(!stderr(&o).contains(secret));
    user_error(o, &["s3://missing-bucket/out"]);
}

fn put_object(port: u16, key: &str, text: &str) {
    use object_store::ObjectStoreExt;
    let store = bucket(port);
    runtime().block_on(async {
        store
            .put(
                &object_store::path::Path::from(key),
                object_store::PutPayload::from(text.to_string()),
            )
            .await
            .unwrap();
    });
}

#[test]
fn s3_output_root_lock_refuses_a_live_lease_and_takes_over_an_expired_one() {
    let Some(server) = start() else { return };
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        "name = \"s3lock\"\n[[steps]]\ntable = \"countries\"\nsql = \"SELECT DISTINCT country FROM customers\"\n",
    )
    .unwrap();
    let run = || {
        crmlake_s3(
            port,
            &[
                "run",
                job.to_str().unwrap(),
                "--lake",
                &sample_lake(),
                "--out",
                "s3://lakebucket/locked",
                "--run-date",
                "2024-01-31",
            ],
        )
    };
    let lease = |expires: chrono::DateTime<chrono::Utc>| {
        format!(
            r#"{{"run_id":"20261204T020000.000Z-4242","job":"nightly","pid":4242,"host":"batch-7","started_at":"2026-12-04T02:00:00Z","expires_at":"{}"}}"#,
            expires.to_rfc3339()
        )
    };
    // A live lease: the run exits 1 naming the holder and writes nothing.
    put_object(
        port,
        "locked/_lock",
        &lease(chrono::Utc::now() + chrono::Duration::minutes(10)),
    );
    user_error(
        run(),
        &["locked", "20261204T020000.000Z-4242", "pid 4242", "batch-7"],
    );
    assert_eq!(keys(port, "locked"), vec!["locked/_lock"]);
    // An expired lease (its holder died): taken over, said in the log, and
    // the lock object is gone once the run has committed.
    put_object(
        port,
        "locked/_lock",
        &lease(chrono::Utc::now() - chrono::Duration::minutes(10)),
    );
    let o = run();
    let err = stderr(&o);
    assert!(err.contains("took over the expired lock"), "{err}");
    ok(o);
    let all = keys(port, "locked");
    assert!(!all.iter().any(|k| k.ends_with("_lock")), "{all:?}");
    assert!(
        all.contains(&"locked/_runs/s3lock/run_date=2024-01-31/_SUCCESS".to_string()),
        "{all:?}"
    );
    // A run that creates the lock itself (If-None-Match) and releases it.
    ok(run());
}

/// An incremental job with lake and output on S3: each object read once,
/// a run killed after its first step redone exactly once, and an object
/// overwritten (a new ETag) read again.
#[test]
fn s3_incremental_runs_read_each_object_once() {
    let Some(server) = start() else { return };
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("inc.toml");
    std::fs::write(
        &job,
        r#"name = "inc"
[inputs.feedback]
incremental = true
[[steps]]
table = "seen"
sql = "SELECT feedback_id, sentiment(text) AS sentiment FROM feedback"
[[steps]]
table = "angry"
sql = "SELECT feedback_id FROM seen WHERE sentiment < -0.05"
[[checks]]
name = "angry_message"
sql = "SELECT CAST(feedback_id AS VARCHAR) AS segment, sentiment FROM seen WHERE sentiment < -0.05"
metric = "sentiment"
min = -0.05
no_rows_ok = true
"#,
    )
    .unwrap();
    let put = |key: &str, from: usize, n: usize| {
        ok(crmlake_s3(
            port,
            &[
                "sql",
                "--lake",
                &sample_lake(),
                "-c",
                &format!(
                    "COPY (SELECT * FROM feedback ORDER BY feedback_id LIMIT {n} OFFSET {from}) \
                     TO 's3://lakebucket/inclake/feedback/{key}' STORED AS PARQUET"
                ),
            ],
        ));
    };
    let run = |kill: Option<&str>| {
        let mut c = s3_command(
            port,
            "test",
            &[
                "run",
                job.to_str().unwrap(),
                "--lake",
                "s3://lakebucket/inclake",
                "--out",
                "s3://lakebucket/incout",
                "--run-date",
                "2024-01-31",
            ],
        );
        c.env("RUST_LOG", "warn");
        if let Some(point) = kill {
            c.env("CRMLAKE_KILL_AT", point);
        }
        c.output().unwrap()
    };
    // Committed rows: seen, distinct seen, angry, alerts.
    let counts = || {
        let csv = ok(crmlake_s3(
            port,
            &[
                "sql",
                "--lake",
                "s3://lakebucket/incout",
                "--format",
                "csv",
                "-c",
                "SELECT (SELECT count(*) FROM seen) AS seen, \
                        (SELECT count(DISTINCT feedback_id) FROM seen) AS distinct_seen, \
                        (SELECT count(*) FROM angry) AS angry, \
                        (SELECT count(*) FROM alerts) AS alerts",
            ],
        ));
        csv.lines().nth(1).unwrap().to_string()
    };
    put("a.parquet", 0, 200);
    ok(run(None));
    let o = ok(run(None));
    assert!(o.contains("no new input files"), "{o}");
    put("b.parquet", 200, 200);
    let killed = run(Some("after_step_1"));
    assert!(killed.status.code().is_none(), "{}", stderr(&killed));
    // The killed run's lease would be taken over once it expires (60 s;
    // tested above); end it now.
    runtime().block_on(async {
        use object_store::ObjectStoreExt;
        bucket(port)
            .delete(&object_store::path::Path::from("incout/_lock"))
            .await
            .unwrap()
    });
    ok(run(None));
    let c = counts();
    let f: Vec<u64> = c.split(',').map(|x| x.parse().unwrap()).collect();
    assert_eq!((f[0], f[1]), (400, 400), "{c}");
    assert!(f[2] > 0 && f[2] == f[3], "angry messages and alerts: {c}");
    let pending = keys(port, "incout/_runs/inc/_incremental/pending");
    assert!(pending.is_empty(), "{pending:?}");
    // a.parquet overwritten: a new ETag, read again.
    put("a.parquet", 400, 50);
    let o = run(None);
    let log = stderr(&o);
    ok(o);
    assert!(log.contains("a.parquet' was rewritten"), "{log}");
    let c = counts();
    assert!(c.starts_with("450,450,"), "{c}");
}
