//! Lifetime value end to end: parameter recovery on a synthetic lake with known
//! parameters, and customer_ltv / the demo's `ltv` table on real data.

use crate::common::*;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `sql` on the sample lake, as JSON rows.
fn sample_json(sql: &str) -> serde_json::Value {
    json(&ok(crmlake(&[
        "sql",
        "--lake",
        &sample_lake(),
        "--format",
        "json",
        "-c",
        sql,
    ])))
}

/// `crmlake generate` draws 100,000 customers from BG/NBD (daily units) and
/// Gamma-Gamma; the fits must land within 3 reported standard errors of the
/// truth in `_truth.json`.
///
/// BG/NBD is fitted on order-level times in fractional days (the generator's
/// continuous-time process). customer_summary's day convention merges orders
/// placed on the same calendar day; with the generator's daily rates that
/// merges about 3 % of repeat purchases, concentrated on the heaviest buyers,
/// which biases α by about 5 standard errors at this size (measured: 32.66 vs
/// 30.898, SE 0.36) — a property of the convention, not of the fitter. The
/// Gamma-Gamma fit uses customer_summary's monetary values.
#[test]
fn fits_recover_generated_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    ok(crmlake(&[
        "generate",
        "--customers",
        "100000",
        "--seed",
        "11",
        "--out",
        lake,
    ]));
    let truth = json(&std::fs::read_to_string(dir.path().join("lake/_truth.json")).unwrap());
    let end = truth["end"].as_str().unwrap();
    let sql = format!(
        "WITH o AS (SELECT customer_id, order_id, min(ts) AS ts FROM transactions GROUP BY 1, 2), \
              s AS (SELECT customer_id, count(*) - 1 AS x, \
                           (date_part('epoch', max(ts)) - date_part('epoch', min(ts))) / 86400.0 AS tx, \
                           (date_part('epoch', TIMESTAMP '{end} 00:00:00') - date_part('epoch', min(ts))) / 86400.0 AS t \
                    FROM o GROUP BY 1) \
         SELECT (SELECT bgnbd_fit(x, tx, t) FROM s) AS bg, \
                (SELECT gamma_gamma_fit(frequency, monetary) FROM customer_summary('transactions', '{end}')) AS gg"
    );
    let out = ok(crmlake(&[
        "sql", "--lake", lake, "--format", "json", "-c", &sql,
    ]));
    let row = &json(&out)[0];
    for (column, truth_key, names) in [
        ("bg", "bgnbd", &["r", "alpha", "a", "b"][..]),
        ("gg", "gamma_gamma", &["p", "q", "gamma"][..]),
    ] {
        let model = json(row[column].as_str().unwrap());
        assert_eq!(model["converged"], true, "{model}");
        assert_eq!(
            model["n"].as_f64(),
            Some(if column == "bg" {
                100000.0
            } else {
                model["n"].as_f64().unwrap()
            })
        );
        for name in names {
            let fitted = model["params"][name].as_f64().unwrap();
            let se = model["std_errors"][name].as_f64().unwrap();
            let true_value = truth[truth_key][name].as_f64().unwrap();
            assert!(
                (fitted - true_value).abs() <= 3.0 * se,
                "{truth_key}.{name}: fitted {fitted}, truth {true_value}, SE {se}"
            );
        }
    }
}

/// customer_ltv on the sample lake: one row per customer with a purchase up to
/// as_of, probabilities in [0, 1], non-negative money, and the same numbers as
/// the step-by-step functions.
#[test]
fn customer_ltv_equals_its_steps_on_the_sample_lake() {
    let input = "SELECT customer_id, ts, amount FROM transactions WHERE customer_id IS NOT NULL AND quantity > 0 AND unit_price > 0";
    let q = input.replace('\'', "''");
    let sql = format!(
        "WITH l AS (SELECT * FROM customer_ltv('{q}', '2011-12-09', 180)), \
              s AS (SELECT * FROM customer_summary('{q}', '2011-12-09')), \
              m AS (SELECT bgnbd_fit(frequency, recency, t) AS pm, gamma_gamma_fit(frequency, monetary) AS sm FROM s) \
         SELECT count(*) AS n, \
                count(*) FILTER (WHERE l.p_alive BETWEEN 0 AND 1 AND l.expected_purchases >= 0 AND l.clv >= 0) AS sane, \
                max(abs(l.p_alive - p_alive(m.pm, s.frequency, s.recency, s.t))) AS d_alive, \
                max(abs(l.clv - clv(m.pm, m.sm, s.frequency, s.recency, s.t, s.monetary, 6, 0.01))) AS d_clv \
         FROM l JOIN s ON l.customer_id = s.customer_id CROSS JOIN m"
    );
    let out = sample_json(&sql);
    let row = &out[0];
    assert_eq!(row["n"], 4338, "{row}");
    assert_eq!(row["sane"], 4338, "{row}");
    assert!(row["d_alive"].as_f64().unwrap() < 1e-12, "{row}");
    assert!(row["d_clv"].as_f64().unwrap() < 1e-9, "{row}");
}

/// As of 2011-11-30 the sample lake's BG/NBD fit runs to the boundary (no
/// customer seems to drop out: a → 0, b → ∞), where the information matrix
/// is singular: customer_ltv keeps its estimates and gives NULL delta
/// intervals with fits_converged false, where the demo job used to stop;
/// a scoring function asked for a delta interval says why, and
/// `no_covariance=null` gives it NULL bounds.
#[test]
fn a_boundary_fit_gives_null_intervals_not_an_error() {
    let input = "SELECT customer_id, ts, amount FROM transactions WHERE customer_id IS NOT NULL AND quantity > 0 AND unit_price > 0 AND ts < TIMESTAMP '2011-12-01 00:00:00'";
    let q = input.replace('\'', "''");
    let sql = format!(
        "SELECT count(*) AS n, count(clv) AS estimates, count(clv_low) AS lows, count(p_alive_high) AS highs, \
                bool_or(fits_converged) AS converged \
         FROM customer_ltv('{q}', '2011-11-30', 180, 'interval=0.9')"
    );
    let out = sample_json(&sql);
    let row = &out[0];
    assert!(row["n"].as_i64().unwrap() > 4000, "{row}");
    assert_eq!(row["estimates"], row["n"], "every estimate kept: {row}");
    assert_eq!(row["lows"], 0, "{row}");
    assert_eq!(row["highs"], 0, "{row}");
    assert_eq!(row["converged"], false, "{row}");

    let scored = |options: &str| {
        format!(
            "WITH s AS (SELECT * FROM customer_summary('{q}', '2011-11-30')), \
                  m AS (SELECT bgnbd_fit(frequency, recency, t) AS pm FROM s) \
             SELECT count(*) AS n, count(p_alive(m.pm, s.frequency, s.recency, s.t, '{options}')['low']) AS lows \
             FROM s CROSS JOIN m"
        )
    };
    user_error(
        crmlake(&[
            "sql",
            "--lake",
            &sample_lake(),
            "-c",
            &scored("interval=0.9"),
        ]),
        &["no covariance", "no_covariance=null"],
    );
    let out = sample_json(&scored("interval=0.9, no_covariance=null"));
    assert_eq!(out[0]["lows"], 0, "{out}");
}
