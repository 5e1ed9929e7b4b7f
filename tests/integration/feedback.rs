//! Feedback functions against independent references
//! (tests/fixtures/feedback/): `keywords` against a Python implementation
//! of Monroe et al.'s weighted log-odds.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::datasource::MemTable;

use crate::common::*;

#[test]
fn keywords_match_the_python_reference() {
    let tsv = std::fs::read_to_string(root().join("data/feedback/sentences.tsv")).unwrap();
    let (mut labels, mut texts) = (Vec::new(), Vec::new());
    for line in tsv.lines().skip(1) {
        let mut parts = line.splitn(3, '\t');
        labels.push(parts.next().unwrap().parse::<i64>().unwrap());
        texts.push(parts.nth(1).unwrap().to_string());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("label", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(labels)),
            Arc::new(StringArray::from(texts)),
        ],
    )
    .unwrap();
    let expected =
        std::fs::read_to_string(root().join("tests/fixtures/feedback/keywords_uci.csv")).unwrap();
    let expected: Vec<Vec<String>> = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(expected.len(), 40);
    runtime().block_on(async {
        for partitions in [1, 3] {
            let ctx = udf_session(partitions);
            // Two partitions of the sentences, so counts merge.
            let half = batch.num_rows() / 2;
            let table = MemTable::try_new(
                schema.clone(),
                vec![
                    vec![batch.slice(0, half)],
                    vec![batch.slice(half, batch.num_rows() - half)],
                ],
            )
            .unwrap();
            ctx.register_table("sentences", Arc::new(table)).unwrap();
            let got = query(
                &ctx,
                "SELECT label, rank, term, count, count_rest, log_odds, z \
                 FROM keywords('sentences', 'label', 20) ORDER BY label, rank",
            )
            .await;
            let mut rows = Vec::new();
            for b in &got {
                let int = |c: usize| cast(b.column(c), &DataType::Int64).unwrap();
                let (label, rank, count, rest) = (int(0), int(1), int(3), int(4));
                let term = cast(b.column(2), &DataType::Utf8).unwrap();
                for i in 0..b.num_rows() {
                    rows.push((
                        label.as_primitive::<Int64Type>().value(i),
                        rank.as_primitive::<Int64Type>().value(i),
                        term.as_string::<i32>().value(i).to_string(),
                        count.as_primitive::<Int64Type>().value(i),
                        rest.as_primitive::<Int64Type>().value(i),
                        b.column(5).as_primitive::<Float64Type>().value(i),
                        b.column(6).as_primitive::<Float64Type>().value(i),
                    ));
                }
            }
            assert_eq!(rows.len(), expected.len());
            for (got, want) in rows.iter().zip(&expected) {
                let what = format!("{partitions} partitions: got {got:?}, want {want:?}");
                assert_eq!(got.0.to_string(), want[0], "{what}");
                assert_eq!(got.1.to_string(), want[1], "{what}");
                assert_eq!(got.2, want[2], "{what}");
                assert_eq!(got.3.to_string(), want[3], "{what}");
                assert_eq!(got.4.to_string(), want[4], "{what}");
                let close = |a: f64, b: &str| (a - b.parse::<f64>().unwrap()).abs() < 1e-9;
                assert!(close(got.5, &want[5]) && close(got.6, &want[6]), "{what}");
            }
        }
    });
}

/// `sentiment_train` through SQL under scikit-learn's own stratified
/// 10-fold split (tests/fixtures/feedback/sentiment_folds.csv): on each
/// shipped file it reaches at least the held-out accuracy of TF-IDF (word
/// 1–2 grams) + LogisticRegression (sentiment_cv_sklearn.json).
#[test]
fn sentiment_train_reaches_scikit_learn_accuracy_under_the_same_folds() {
    let tsv = std::fs::read_to_string(root().join("data/feedback/sentences.tsv")).unwrap();
    let folds = std::fs::read_to_string(root().join("tests/fixtures/feedback/sentiment_folds.csv"))
        .unwrap();
    let mut fold_of = std::collections::HashMap::new();
    for line in folds.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        fold_of.insert(
            (f[0].to_string(), f[1].parse::<usize>().unwrap()),
            f[3].parse::<i64>().unwrap(),
        );
    }
    let (mut sources, mut labels, mut texts, mut fold) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for line in tsv.lines().skip(1) {
        let mut parts = line.splitn(3, '\t');
        let label = parts.next().unwrap().parse::<i64>().unwrap();
        let source = parts.next().unwrap().to_string();
        let row = seen.entry(source.clone()).or_default();
        fold.push(fold_of[&(source.clone(), *row)]);
        *row += 1;
        labels.push(label);
        texts.push(parts.next().unwrap().to_string());
        sources.push(source);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("label", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("fold", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(sources)),
            Arc::new(Int64Array::from(labels)),
            Arc::new(StringArray::from(texts)),
            Arc::new(Int64Array::from(fold)),
        ],
    )
    .unwrap();
    let sklearn: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/feedback/sentiment_cv_sklearn.json"))
            .unwrap(),
    )
    .unwrap();
    runtime().block_on(async {
        let ctx = udf_session(2);
        let table = MemTable::try_new(schema.clone(), vec![vec![batch]]).unwrap();
        ctx.register_table("sentences", Arc::new(table)).unwrap();
        let got = query(
            &ctx,
            "WITH k AS (SELECT value AS k FROM generate_series(0, 9)), \
                  m AS (SELECT s.source, k.k, sentiment_train(s.text, s.label) AS model \
                        FROM sentences s JOIN k ON s.fold <> k.k GROUP BY s.source, k.k) \
             SELECT s.source, avg(CASE WHEN (sentiment_score(m.model, s.text) >= 0.5) = (s.label = 1) \
                                       THEN 1.0 ELSE 0.0 END) AS accuracy \
             FROM sentences s JOIN m ON s.source = m.source AND s.fold = m.k \
             GROUP BY s.source ORDER BY s.source",
        )
        .await;
        let b = &got[0];
        let names = cast(b.column(0), &DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            let source = names.as_string::<i32>().value(i);
            let ours = b.column(1).as_primitive::<Float64Type>().value(i);
            let theirs = sklearn["sources"][source]["accuracy"].as_f64().unwrap();
            eprintln!("{source}: crmlake {ours:.4}, scikit-learn {theirs:.4}");
            assert!(ours >= theirs, "{source}: crmlake {ours} < scikit-learn {theirs}");
        }
        assert_eq!(b.num_rows(), 2);
    });
}

/// Texts over 64 KiB are read on their first 64 KiB: a warning on stderr,
/// and the count in the step's manifest record (`warnings.text_truncated`).
#[test]
fn texts_over_64_kib_are_cut_and_counted_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = dir.path().join("long.toml");
    // Three texts of 100,005+ bytes and one short one; only the long ones count.
    std::fs::write(
        &job,
        "name = \"long\"\n[[steps]]\ntable = \"scores\"\n\
         sql = \"SELECT value AS i, sentiment(CASE WHEN value < 4 THEN repeat('good ', 20000 + value) ELSE 'good' END) AS s FROM generate_series(1, 4)\"\n",
    )
    .unwrap();
    let run = run_job_on(&job, &sample_lake(), &out, "2024-01-31", &[]);
    let err = stderr(&run);
    ok(run);
    assert!(
        err.contains("sentiment: 3 texts longer than 65536 bytes"),
        "no warning:\n{err}"
    );
    let runs = manifests(&out);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["steps"][0]["warnings"]["text_truncated"], 3);
    // The cut text still scores: 'good' repeated is positive.
    let scores = ok(lake_sql(
        &out,
        &[],
        "SELECT count(*) AS n FROM scores WHERE i < 4 AND s > 0.9",
    ));
    assert_eq!(scores, "n\n3\n");
}

/// A lake file whose string column is not UTF-8: the error names the file
/// and the column, from `sql -c` and from a job step, exit code 1.
#[test]
fn invalid_utf8_in_a_lake_file_is_reported_with_the_file_and_column() {
    use datafusion::arrow::buffer::{Buffer, OffsetBuffer};
    use datafusion::parquet::arrow::ArrowWriter;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    for (table, file) in [
        ("feedback", "a-good.parquet"),
        ("feedback", "b-bad.parquet"),
    ] {
        std::fs::create_dir_all(lake.join(table)).unwrap();
        let bytes: &[u8] = if file.contains("bad") {
            b"goodbad\xff\xfeok"
        } else {
            b"goodbad  ok"
        };
        // SAFETY: offsets are in bounds and increasing; the bytes are
        // deliberately not UTF-8 in the bad file (what the test is about).
        let text = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new(vec![0i32, 4, 9, 11].into()),
                Buffer::from(bytes),
                None,
            )
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(text)],
        )
        .unwrap();
        let f = std::fs::File::create(lake.join(table).join(file)).unwrap();
        let mut w = ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    user_error(
        lake_sql(&lake, &[], "SELECT max(sentiment(text)) FROM feedback"),
        &["feedback/b-bad.parquet: column 'text'", "not valid UTF-8"],
    );
    let job = dir.path().join("scores.toml");
    std::fs::write(
        &job,
        "name = \"scores\"\n[[steps]]\ntable = \"scores\"\nsql = \"SELECT customer_id, sentiment(text) AS s FROM feedback\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    user_error(
        run_job_on(&job, lake.to_str().unwrap(), &out, "2024-01-31", &[]),
        &["b-bad.parquet: column 'text'", "not valid UTF-8"],
    );
}

/// `feedback_features` equals the documented definitions computed in pandas
/// (tests/fixtures/feedback/make_features_fixture.py) on the sample lake.
#[test]
fn feedback_features_match_pandas_on_the_sample_lake() {
    let sql = with_reference_sentiment(
        "SELECT * FROM feedback_features('scored', '2011-09-10') ORDER BY customer_id",
    );
    let got = ok(lake_sql(&root().join("data/lake"), &[], &sql));
    let expected =
        std::fs::read_to_string(root().join("tests/fixtures/feedback/features_2011-09-10.csv"))
            .unwrap();
    assert_rows_match(&got, &expected, "feedback_features");
}

/// `feedback_summary` by month equals the documented definitions computed
/// in pandas, NPS and CSAT intervals included.
#[test]
fn feedback_summary_matches_pandas_on_the_sample_lake() {
    let sql = with_reference_sentiment(
        "SELECT period, channel, topic, messages, customers, \
                nps['value'] AS nps_value, nps['low'] AS nps_low, nps['high'] AS nps_high, nps['n'] AS nps_n, \
                csat['value'] AS csat_value, csat['low'] AS csat_low, csat['high'] AS csat_high, csat['n'] AS csat_n, \
                complaint_rate, mean_sentiment, negative_share, response_hours_median, response_hours_p90, \
                resolution_hours_median, resolution_hours_p90, open_complaints \
         FROM feedback_summary('SELECT customer_id, ts, channel, kind, nps_score, csat_score, sentiment, first_response_at, resolved_at FROM scored', '2011-12-01', 'month') \
         ORDER BY period, channel",
    );
    let got = ok(lake_sql(&root().join("data/lake"), &[], &sql));
    let expected = std::fs::read_to_string(
        root().join("tests/fixtures/feedback/summary_month_2011-12-01.csv"),
    )
    .unwrap();
    assert_rows_match(&got, &expected, "feedback_summary");
}
