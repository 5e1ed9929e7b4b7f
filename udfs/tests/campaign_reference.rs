//! `campaign_effect` against statsmodels and scipy
//! (tests/fixtures/campaign/make_effect_fixture.py), and its false-positive
//! rate in an A/A simulation (the benchmark benches/campaign_aa.sh runs
//! 1,000 splits of a generated lake).

use datafusion::arrow::array::{Array, AsArray, StructArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::prelude::{SessionConfig, SessionContext};

fn root() -> String {
    let udfs = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    format!("{udfs}/..")
}

async fn ctx() -> SessionContext {
    // Several partitions, so partial states merge.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    crmlake_udfs::register_all(&ctx).unwrap();
    for (name, file) in [
        ("data", "effect_data.csv"),
        ("expected", "effect_expected.csv"),
    ] {
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE {name} STORED AS CSV LOCATION '{}/tests/fixtures/campaign/{file}' OPTIONS ('format.has_header' 'true')",
            root()
        ))
        .await
        .unwrap();
    }
    ctx
}

/// (struct fields as f64 (NaN for NULL), method) of a one-column result, by row.
async fn effects(ctx: &SessionContext, sql: &str) -> Vec<(Vec<f64>, String)> {
    let mut out = Vec::new();
    for b in ctx.sql(sql).await.unwrap().collect().await.unwrap() {
        let s = b.column(0).as_any().downcast_ref::<StructArray>().unwrap();
        for r in 0..s.len() {
            let mut v = Vec::new();
            for c in 0..2 {
                v.push(s.column(c).as_primitive::<Int64Type>().value(r) as f64);
            }
            for c in 2..9 {
                let col = s.column(c).as_primitive::<Float64Type>();
                v.push(if col.is_null(r) {
                    f64::NAN
                } else {
                    col.value(r)
                });
            }
            out.push((v, s.column(9).as_string::<i32>().value(r).to_string()));
        }
    }
    out
}

#[tokio::test]
async fn readouts_match_statsmodels_and_scipy() {
    let ctx = ctx().await;
    let cases = [
        ("rate", "CAST(y AS BOOLEAN)", "two_proportion_z"),
        ("rate_small", "CAST(y AS BOOLEAN)", "two_proportion_z"),
        ("revenue", "y", "welch_t"),
        (
            "cuped",
            "named_struct('outcome', y, 'covariate', x)",
            "welch_t_cuped",
        ),
    ];
    for (case, outcome, method) in cases {
        for level in [0.95, 0.9] {
            let got = effects(
                &ctx,
                &format!(
                    "SELECT campaign_effect({outcome}, treated = 1, 'level={level}') FROM data WHERE \"case\" = '{case}'"
                ),
            )
            .await;
            let (v, m) = &got[0];
            assert_eq!(m, method);
            let want = effects_expected(&ctx, case, level).await;
            // treated_mean, control_mean, difference, low, high, p_value
            let ours = [v[2], v[3], v[4], v[6], v[7], v[8]];
            for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1e-3),
                    "{case} at {level}, field {k}: {a} vs reference {b}"
                );
            }
            assert!((v[5] - v[4] / v[3]).abs() < 1e-12, "relative lift");
        }
    }
}

async fn effects_expected(ctx: &SessionContext, case: &str, level: f64) -> Vec<f64> {
    let b = ctx
        .sql(&format!(
            "SELECT treated_mean, control_mean, difference, low, high, p_value FROM expected \
             WHERE \"case\" = '{case}' AND abs(level - {level}) < 1e-9"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = b.iter().find(|b| b.num_rows() > 0).unwrap();
    (0..6)
        .map(|c| b.column(c).as_primitive::<Float64Type>().value(0))
        .collect()
}

/// Groups without rows or variance give NULL statistics, not errors; bad
/// arguments are errors naming them.
#[tokio::test]
async fn degenerate_groups_and_bad_arguments() {
    let ctx = ctx().await;
    let got = effects(
        &ctx,
        "SELECT campaign_effect(y, t) FROM (VALUES (1.0, true), (2.0, true)) AS v(y, t)",
    )
    .await;
    let (v, _) = &got[0];
    assert_eq!((v[0], v[1]), (2.0, 0.0));
    assert!(v[3].is_nan() && v[4].is_nan() && v[8].is_nan(), "{v:?}");
    for (sql, want) in [
        (
            "SELECT campaign_effect('a', true)",
            "must be BOOLEAN, a number",
        ),
        ("SELECT campaign_effect(1.0, 1)", "treated"),
        (
            "SELECT campaign_effect(named_struct('y', 1.0, 'x', 2.0), true)",
            "named_struct('outcome'",
        ),
        (
            "SELECT campaign_effect(1.0, true, 'level=2')",
            "level must be in (0, 1)",
        ),
    ] {
        let err = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.err(),
            Err(e) => Some(e),
        }
        .unwrap_or_else(|| panic!("no error for {sql}"));
        assert!(err.to_string().contains(want), "{sql}: {err}");
    }
}

/// A/A: 400 random 50/50 splits (holdout_assign with 400 salts) of 4,000
/// customers whose outcome does not depend on the split. At 5 % the z-test
/// should reject about 20 times; the binomial 99.9 % range is 7-36.
#[tokio::test]
async fn aa_splits_reject_at_the_nominal_rate() {
    let ctx = ctx().await;
    let sql = "WITH c AS (SELECT value AS id, (value * 2654435761) % 1000 < 150 AS bought FROM generate_series(1, 4000)), \
                    s AS (SELECT value AS salt FROM generate_series(1, 400)) \
               SELECT count(*) FILTER (WHERE e['p_value'] < 0.05) FROM \
                 (SELECT campaign_effect(c.bought, NOT holdout_assign(c.id, 'aa-' || CAST(s.salt AS VARCHAR), 0.5)) AS e \
                  FROM c CROSS JOIN s GROUP BY s.salt)";
    let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let rejected = b[0].column(0).as_primitive::<Int64Type>().value(0);
    assert!((7..=36).contains(&rejected), "rejected {rejected} of 400");
}
