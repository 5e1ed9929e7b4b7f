//! The command line, end to end: `crmlake sql` (-c, -f, -o, --format, shell),
//! `functions`, `demo`, and every user error the foundation promises (exit 1,
//! one line naming the thing at fault).

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::*;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

#[test]
fn sql_runs_several_statements_and_prints_the_last_as_json() {
    let out = ok(crmlake(&[
        "sql",
        "--format",
        "json",
        "-c",
        "CREATE VIEW v AS SELECT customer_id, amount FROM transactions WHERE customer_id = 12347; \
         SELECT count(*) AS lines, round(sum(amount), 2) AS revenue FROM v",
    ]));
    let rows: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON document");
    let rows = rows.as_array().expect("a JSON array of rows");
    assert_eq!(rows.len(), 1);
    // Customer 12347 in UCI Online Retail: 182 lines, 4310.00 revenue.
    assert_eq!(rows[0]["lines"], 182);
    assert_eq!(rows[0]["revenue"], 4310.0);
}

#[test]
fn sql_prints_csv_and_table() {
    let csv = ok(crmlake(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT customer_id, country FROM customers WHERE customer_id IN (12346, 12347) ORDER BY customer_id",
    ]));
    assert_eq!(
        csv,
        "customer_id,country\n12346,United Kingdom\n12347,Iceland\n"
    );
    let table = ok(crmlake(&["sql", "-c", "SELECT 1 + 1 AS two"]));
    assert!(
        table.contains("| two |") && table.contains("| 2   |"),
        "{table}"
    );
    let empty = ok(crmlake(&[
        "sql",
        "--format",
        "json",
        "-c",
        "SELECT 1 AS x WHERE false",
    ]));
    assert_eq!(empty.trim(), "[]");
}

#[test]
fn sql_file_and_parquet_output_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("q.sql");
    fs::write(
        &script,
        "-- revenue per country\nSELECT country, count(DISTINCT customer_id) AS customers\nFROM transactions\nWHERE customer_id IS NOT NULL\nGROUP BY country\nORDER BY customers DESC, country\nLIMIT 3;\n",
    )
    .unwrap();
    let out_file = dir.path().join("top.parquet");
    let lake = sample_lake();
    ok(crmlake(&[
        "sql",
        "--lake",
        &lake,
        "-f",
        script.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]));
    let file = fs::File::open(&out_file).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 3);
    let countries = datafusion::arrow::compute::cast(
        batch.column(0),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let countries = countries.as_string::<i32>();
    let customers = batch.column(1).as_primitive::<Int64Type>();
    // UCI Online Retail: 3,950 UK customers, then Germany 95, France 87.
    assert_eq!(countries.value(0), "United Kingdom");
    assert_eq!(customers.value(0), 3950);
    assert_eq!((countries.value(1), customers.value(1)), ("Germany", 95));
    assert_eq!((countries.value(2), customers.value(2)), ("France", 87));
    // No temporary file left beside it.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn create_external_table_and_partitioned_copy_then_discovered_as_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake2 = dir.path().join("lake2");
    fs::create_dir(&lake2).unwrap();
    let sales = lake2.join("sales");
    let src = crate::common::root().join("data/lake/transactions");
    ok(crmlake(&[
        "sql",
        "--lake",
        lake2.to_str().unwrap(),
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE raw STORED AS PARQUET LOCATION '{}/'; \
             COPY (SELECT customer_id, amount, country FROM raw WHERE country IN ('France', 'Germany') AND customer_id IS NOT NULL) \
             TO '{}/' STORED AS PARQUET PARTITIONED BY (country)",
            src.display(),
            sales.display()
        ),
    ]));
    assert!(sales.join("country=France").is_dir());
    assert!(sales.join("country=Germany").is_dir());
    let out = ok(crmlake(&[
        "sql",
        "--lake",
        lake2.to_str().unwrap(),
        "--format",
        "csv",
        "-c",
        "SELECT country, count(DISTINCT customer_id) AS n FROM sales GROUP BY country ORDER BY country",
    ]));
    assert_eq!(out, "country,n\nFrance,87\nGermany,95\n");
}

#[test]
fn memory_urls_work_for_lake_and_tables() {
    let out = ok(crmlake(&[
        "sql",
        "--lake",
        "memory://scratch/",
        "--format",
        "csv",
        "-c",
        "COPY (SELECT 7 AS x) TO 'memory://scratch/t/part.parquet' STORED AS PARQUET; \
         CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'memory://scratch/t/'; \
         SELECT x * 6 AS y FROM t",
    ]));
    assert_eq!(out, "y\n42\n");
}

#[test]
fn functions_lists_every_function_with_an_example() {
    let out = ok(crmlake(&["functions"]));
    for name in crmlake_udfs::function_names() {
        assert!(
            out.contains(&format!("{name}  (")),
            "{name} missing:\n{out}"
        );
    }
    assert_eq!(
        out.matches("example: ").count(),
        crmlake_udfs::function_names().len()
    );
}

/// CSV has no nested types: lists and structs print as the table shows them.
#[test]
fn csv_prints_lists_and_structs_as_text() {
    let out = ok(crmlake(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT ['a', 'b'] AS l, named_struct('x', 1) AS s, CAST(NULL AS INT[]) AS n, 3 AS i",
    ]));
    assert_eq!(out, "l,s,n,i\n\"[a, b]\",{x: 1},,3\n");
}

#[test]
fn every_documented_example_runs() {
    for entry in crmlake_udfs::catalog() {
        let sql = entry.example.split("; --").next().unwrap();
        let expected = entry.example.split("; --").nth(1).map(str::trim);
        let out = ok(crmlake(&["sql", "--format", "csv", "-c", sql]));
        if let Some(expected) = expected {
            let value = out.lines().nth(1).unwrap_or_default();
            let matches = value == expected
                || value
                    .parse::<f64>()
                    .ok()
                    .zip(expected.parse::<f64>().ok())
                    .is_some_and(|(a, b)| a == b);
            assert!(
                matches,
                "{}: example gave {value}, doc says {expected}",
                entry.name
            );
        }
    }
}

#[test]
fn shell_lists_tables_functions_and_runs_multiline_sql() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crmlake"))
        .args(["sql", "--lake", &sample_lake()])
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 +\n 2 AS answer;\n\\d\n\\df\n\\q\nSELECT 'not reached';\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("| 42 "), "{text}");
    assert!(
        text.contains("transactions") && text.contains("customer_id Int64"),
        "{text}"
    );
    assert!(
        text.contains("loyalty_tier") && text.contains("nps"),
        "{text}"
    );
    assert!(!text.contains("not reached"), "{text}");
}

// ---- user errors: exit 1, one line naming the culprit ----

#[test]
fn missing_lake_is_a_user_error() {
    user_error(
        crmlake(&["sql", "--lake", "/no/such/lake", "-c", "SELECT 1"]),
        &["/no/such/lake", "not found"],
    );
}

#[test]
fn unknown_table_is_a_user_error() {
    user_error(
        crmlake(&["sql", "-c", "SELECT * FROM no_such_table"]),
        &["no_such_table"],
    );
}

#[test]
fn bad_sql_is_a_user_error() {
    user_error(crmlake(&["sql", "-c", "SELEC 1"]), &["SELEC"]);
    user_error(
        crmlake(&["sql", "-c", "SELECT 1; SELECT nope FROM transactions"]),
        &["statement 2 of 2", "nope"],
    );
}

#[test]
fn unreadable_file_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("broken");
    fs::create_dir(&t).unwrap();
    fs::write(t.join("part-0.parquet"), b"this is not parquet").unwrap();
    user_error(
        crmlake(&[
            "sql",
            "--lake",
            dir.path().to_str().unwrap(),
            "-c",
            "SELECT 1",
        ]),
        &["broken"],
    );
    user_error(
        crmlake(&["sql", "-f", "/no/such/script.sql"]),
        &["/no/such/script.sql"],
    );
}

#[test]
fn unknown_url_scheme_is_a_user_error() {
    user_error(
        crmlake(&["sql", "--lake", "ftp://host/lake", "-c", "SELECT 1"]),
        &["ftp"],
    );
    user_error(
        crmlake(&[
            "sql",
            "-c",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'ftp://host/x/'",
        ]),
        &["ftp"],
    );
}

#[test]
fn bad_arguments_are_user_errors() {
    let o = crmlake(&["sql", "--format", "xml", "-c", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("xml"));
    user_error(
        crmlake(&["generate", "--customers", "0", "--out", "/tmp/x"]),
        &["--customers"],
    );
    user_error(
        crmlake(&[
            "generate",
            "--customers",
            "5",
            "--out",
            "/tmp/x",
            "--bgnbd",
            "1,2,3",
        ]),
        &["--bgnbd"],
    );
}

#[test]
fn bad_job_file_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    fs::write(
        &job,
        "name = \"x\"\n[[steps]]\ntable = \"t\"\nsql = \"SELECT * FROM missing_table\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    user_error(
        crmlake(&[
            "run",
            job.to_str().unwrap(),
            "--lake",
            &sample_lake(),
            "--out",
            out.to_str().unwrap(),
        ]),
        &["step 1 of 1", "missing_table"],
    );
    fs::write(&job, "name = \"x\"\nstepz = 1\n").unwrap();
    user_error(
        crmlake(&["run", job.to_str().unwrap()]),
        &["job.toml", "stepz"],
    );
}

#[test]
fn timing_prints_rows_and_elapsed_per_statement() {
    let out = crmlake(&[
        "sql",
        "--timing",
        "-c",
        "SELECT 1; SELECT * FROM (VALUES (1), (2), (3)) AS t(x)",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(" rows in ")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("-c: statement 1 of 2: 1 rows in ") && lines[0].ends_with(" s"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("-c: statement 2 of 2: 3 rows in "),
        "{err}"
    );
}
