//! Lake discovery through the library: plain and Hive-partitioned tables,
//! empty folders and stray files.

use std::fs;

use crmlake::lake::{lake_url, register_lake};
use crmlake::session::{base_session, SessionOptions};

async fn write_parquet(path: &std::path::Path, sql: &str) {
    let ctx = base_session(&SessionOptions::default()).unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let schema = batches[0].schema();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    crmlake::output::write_parquet_file(path, &schema, &batches).unwrap();
}

#[tokio::test]
async fn discovers_plain_and_partitioned_tables_and_warns_about_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_parquet(&root.join("plain/a.parquet"), "SELECT 1 AS id, 'x' AS name").await;
    write_parquet(&root.join("plain/b.parquet"), "SELECT 2 AS id, 'y' AS name").await;
    write_parquet(
        &root.join("events/day=2024-01-01/part-0.parquet"),
        "SELECT 10 AS v",
    )
    .await;
    write_parquet(
        &root.join("events/day=2024-01-02/part-0.parquet"),
        "SELECT 20 AS v UNION ALL SELECT 30",
    )
    .await;
    fs::write(root.join("plain/notes.txt"), "hello").unwrap();
    fs::write(root.join("plain/_SUCCESS"), "").unwrap();
    fs::create_dir(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("_runs")).unwrap();
    write_parquet(&root.join("_staging/x.parquet"), "SELECT 1 AS hidden").await;
    fs::write(
        root.join("loose.parquet"),
        "files at the root are not tables",
    )
    .unwrap();

    let ctx = base_session(&SessionOptions::default()).unwrap();
    let report = register_lake(&ctx, root.to_str().unwrap()).await.unwrap();
    let names: Vec<_> = report.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["events", "plain"]);
    assert_eq!(report.tables[0].partition_columns, vec!["day".to_string()]);
    assert_eq!(report.tables[0].parquet_files, 2);
    assert_eq!(report.tables[1].parquet_files, 2);
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("plain") && w.contains("notes.txt")));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("'empty'") && w.contains("no Parquet")));

    let rows = ctx
        .sql(
            "SELECT CAST(day AS VARCHAR) AS day, sum(v) AS s FROM events GROUP BY day ORDER BY day",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
        .unwrap()
        .to_string();
    assert!(
        text.contains("| 2024-01-01 | 10 |") && text.contains("| 2024-01-02 | 50 |"),
        "{text}"
    );
    let n = ctx
        .sql("SELECT count(*) FROM plain")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(n[0].num_rows(), 1);
}

#[tokio::test]
async fn empty_lake_has_no_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = base_session(&SessionOptions::default()).unwrap();
    let report = register_lake(&ctx, dir.path().to_str().unwrap())
        .await
        .unwrap();
    assert!(report.tables.is_empty() && report.warnings.is_empty());
}

#[test]
fn lake_urls() {
    let dir = tempfile::tempdir().unwrap();
    let u = lake_url(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(u.scheme(), "file");
    assert!(u.path().ends_with('/'));
    let u = lake_url(&format!("file://{}", dir.path().display())).unwrap();
    assert!(u.path().ends_with('/'));
    assert_eq!(
        lake_url("s3://bucket/lake").unwrap().as_str(),
        "s3://bucket/lake/"
    );
    assert_eq!(lake_url("memory://m").unwrap().scheme(), "memory");
    let e = lake_url("ftp://x/y").unwrap_err().to_string();
    assert!(e.contains("ftp"), "{e}");
    let e = lake_url("/definitely/missing").unwrap_err().to_string();
    assert!(e.contains("/definitely/missing"), "{e}");
}
