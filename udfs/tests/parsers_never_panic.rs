//! Whatever a user or a stored file supplies — a model value of any kind
//! (edited, truncated, of the wrong kind), a trailing options string, a
//! `loyalty_tier` rule list — every function answers with a value or an
//! error, never a panic. Generated inputs (proptest), run through SQL as a
//! user would, so the argument checks, the model parsers and validation and
//! the scoring that follows are all exercised. A panic inside DataFusion's
//! execution surfaces either as a panic of this test or as an error naming
//! it; both fail.
//!
//! CI runs 48 cases per target; `CRMLAKE_FUZZ_CASES=N` runs N (a long run is
//! recorded in benches/RESULTS.md, "Parsers never panic").

use std::sync::OnceLock;

use datafusion::prelude::SessionContext;
use proptest::prelude::*;

/// Cases per target: `CRMLAKE_FUZZ_CASES`, else `default`.
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("CRMLAKE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn session() -> &'static SessionContext {
    static CTX: OnceLock<SessionContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = SessionContext::new();
        crmlake_udfs::register_all(&ctx).expect("registers");
        ctx
    })
}

/// Run `sql`; Ok(text of the first cell) or Err(message). Fails the test
/// on a panic reported as an error.
fn run(sql: &str) -> Result<String, String> {
    let result = runtime().block_on(async {
        let df = session().sql(sql).await?;
        df.collect().await
    });
    match result {
        Ok(batches) => Ok(batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| {
                datafusion::arrow::util::display::ArrayFormatter::try_new(
                    b.column(0).as_ref(),
                    &Default::default(),
                )
                .ok()
                .map(|f| f.value(0).to_string())
            })
            .unwrap_or_default()),
        Err(e) => {
            let m = e.to_string();
            assert!(
                !m.to_lowercase().contains("panic"),
                "a panic surfaced as an error: {m}\n{sql}"
            );
            Err(m)
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One fitted model of each kind, as stored (JSON text).
fn models() -> &'static Vec<String> {
    static MODELS: OnceLock<Vec<String>> = OnceLock::new();
    MODELS.get_or_init(|| {
        let summary: Vec<String> = (0..60)
            .map(|i| {
                let f = i % 5;
                let t = 40 + (i * 7) % 60;
                let r = if f == 0 { 0 } else { t - (i % 11) };
                format!("({f}.0, {r}.0, {t}.0, {}.0)", 10 + i % 13)
            })
            .collect();
        let summary = summary.join(", ");
        let fits = [
            format!("SELECT bgnbd_fit(f, r, t) FROM (VALUES {summary}) AS s(f, r, t, m)"),
            format!("SELECT paretonbd_fit(f, r, t) FROM (VALUES {summary}) AS s(f, r, t, m)"),
            format!("SELECT mbgnbd_fit(f, r, t) FROM (VALUES {summary}) AS s(f, r, t, m)"),
            format!("SELECT gamma_gamma_fit(f, m) FROM (VALUES {summary}) AS s(f, r, t, m) WHERE f > 0"),
            format!("SELECT kmeans_fit(named_struct('r', r, 't', t), 3, 'seed=1') FROM (VALUES {summary}) AS s(f, r, t, m)"),
            "SELECT basket_fit(items, 0.2, 0.3) FROM (VALUES (['a', 'b']), (['a', 'b', 'c']), (['b', 'c']), (['a']), (['c', 'd'])) AS b(items)".to_string(),
            format!("SELECT churn_train(named_struct('r', r, 'plan', CASE WHEN f > 2 THEN 'pro' ELSE 'basic' END), f = 0, 'algorithm=gbt, max_iter=5, min_samples_leaf=2') FROM (VALUES {summary}) AS s(f, r, t, m)"),
            format!("SELECT churn_train(named_struct('r', r, 't', t), f = 0, 'algorithm=logistic') FROM (VALUES {summary}) AS s(f, r, t, m)"),
            format!("SELECT churn_train(named_struct('r', r, 't', t), f = 0, 'algorithm=random_forest, n_trees=3, seed=1') FROM (VALUES {summary}) AS s(f, r, t, m)"),
        ];
        let texts: Vec<String> = fits
            .iter()
            .map(|sql| run(sql).unwrap_or_else(|e| panic!("{sql}: {e}")))
            .collect();
        let kinds: Vec<String> = texts
            .iter()
            .map(|t| {
                let v: serde_json::Value = serde_json::from_str(t).expect("a model");
                v["kind"].as_str().unwrap_or("").to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            ["bgnbd", "paretonbd", "mbgnbd", "gamma_gamma", "kmeans", "basket_rules", "churn", "churn", "churn"]
        );
        texts
    })
}

/// Every scoring function given `model` (whatever kind it is).
fn score_with(model: &str) {
    let m = quote(model);
    for sql in [
        format!("SELECT model_info({m})"),
        format!("SELECT p_alive({m}, 2, 30, 60)"),
        format!("SELECT expected_purchases({m}, 30, 2, 30, 60)"),
        format!("SELECT prob_purchases({m}, 1, 30, 2, 30, 60)"),
        format!("SELECT expected_spend({m}, 2, 25.0)"),
        format!("SELECT clv({m}, {m}, 2, 30, 60, 25.0, 6, 0.01)"),
        format!("SELECT kmeans_assign({m}, named_struct('r', 10.0, 't', 50.0))"),
        format!("SELECT kmeans_distance({m}, named_struct('r', 10.0, 't', 50.0))"),
        format!("SELECT recommend({m}, ['a'], 3)"),
        format!("SELECT churn_score({m}, named_struct('r', 10.0, 'plan', 'pro'))"),
        format!("SELECT churn_score({m}, named_struct('r', 10.0, 't', 50.0))"),
        format!("SELECT churn_explain({m}, named_struct('r', 10.0, 't', 50.0), 2)"),
        format!("SELECT kmeans_fit(named_struct('r', r), 2, '', {m}) FROM (VALUES (1.0), (2.0), (9.0), (10.0)) AS t(r)"),
    ] {
        let _ = run(&sql);
    }
}

/// A text edited at random places with JSON-ish tokens, maybe truncated.
fn mutate(
    text: &str,
    edits: &[(prop::sample::Index, &str)],
    cut: &Option<prop::sample::Index>,
) -> String {
    let mut text = text.to_string();
    for (at, with) in edits {
        let i = at.index(text.len().max(1));
        if text.is_char_boundary(i) && text.is_char_boundary(i + 1) && i < text.len() {
            text.replace_range(i..i + 1, with);
        }
    }
    if let Some(c) = cut {
        let i = c.index(text.len().max(1));
        if text.is_char_boundary(i) {
            text.truncate(i);
        }
    }
    text
}

const JSON_TOKENS: &[&str] = &[
    "",
    "0",
    "9",
    "-",
    "1e308",
    "-1e308",
    "4294967295",
    "1e-320",
    "NaN",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "null",
    "-1",
    "true",
    "[]",
    "{}",
    "\"x\"",
];

const OPTION_TOKENS: &[&str] = &[
    "algorithm",
    "gbt",
    "logistic",
    "random_forest",
    "seed",
    "max_iter",
    "num_leaves",
    "max_bins",
    "n_trees",
    "max_depth",
    "max_features",
    "l2",
    "learning_rate",
    "validation_fraction",
    "class_weight",
    "balanced",
    "n_init",
    "tol",
    "max_len",
    "max_rules",
    "max_itemsets",
    "max_consequent",
    "min_lift",
    "max_basket_items",
    "=",
    "=",
    ",",
    ",",
    " ",
    "0",
    "1",
    "-1",
    "1e999",
    "nan",
    "inf",
    "0.5",
    "99999999999999999999",
    "\u{e9}",
    "'",
    "k",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(48)))]

    #[test]
    fn edited_models_of_every_kind_never_panic(
        which in 0usize..9,
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(JSON_TOKENS)), 1..5),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let text = mutate(&models()[which], &edits, &cut);
        score_with(&text);
    }

    #[test]
    fn options_strings_never_panic(
        tokens in prop::collection::vec(prop::sample::select(OPTION_TOKENS), 0..12),
    ) {
        let options = quote(&tokens.concat());
        for sql in [
            format!("SELECT churn_train(named_struct('x', x), x > 2, {options}) FROM (VALUES (1.0), (2.0), (3.0), (4.0)) AS t(x)"),
            format!("SELECT kmeans_fit(named_struct('x', x), 2, {options}) FROM (VALUES (1.0), (2.0), (9.0)) AS t(x)"),
            format!("SELECT kmeans_scan(named_struct('x', x), 1, 2, {options}) FROM (VALUES (1.0), (2.0), (9.0)) AS t(x)"),
            format!("SELECT * FROM frequent_itemsets('SELECT * FROM (VALUES (1, ''a''), (1, ''b''), (2, ''a'')) AS t(basket_id, item)', 0.5, {options})"),
            format!("SELECT * FROM association_rules('SELECT * FROM (VALUES (1, ''a''), (1, ''b''), (2, ''a'')) AS t(basket_id, item)', 0.5, 0.5, {options})"),
            format!("SELECT basket_fit(items, 0.5, 0.5, {options}) FROM (VALUES (['a', 'b']), (['a'])) AS b(items)"),
        ] {
            let _ = run(&sql);
        }
    }

    #[test]
    fn loyalty_tier_rules_never_panic(
        names in prop::collection::vec("[A-Za-z]{0,3}", 0..5),
        bounds in prop::collection::vec(prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -1e9f64..1e9], 0..5),
        value in prop_oneof![Just(f64::NAN), -1e9f64..1e9],
    ) {
        let mut args = Vec::new();
        for (i, n) in names.iter().enumerate() {
            args.push(quote(n));
            if let Some(b) = bounds.get(i) {
                args.push(format!("CAST('{b}' AS DOUBLE)"));
            }
        }
        let _ = run(&format!("SELECT loyalty_tier(CAST('{value}' AS DOUBLE){}{})",
            if args.is_empty() { "" } else { ", " }, args.join(", ")));
        let _ = run(&format!("SELECT loyalty_tier(CAST('{value}' AS DOUBLE), [{}])",
            names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ")));
    }
}
