//! `kpi_series` against pandas (tests/fixtures/kpi/make_series_fixture.py)
//! and against the single-period functions on the same windows.

use crate::common::*;

const SALES: &str = "SELECT customer_id, ts, order_id, amount, country FROM transactions \
                     WHERE quantity > 0 AND unit_price > 0";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/kpi").join(name)).unwrap()
}

fn quoted(sql: &str) -> String {
    sql.replace('\'', "''")
}

/// Months of 2011 with the feedback metrics: every column equals pandas.
#[test]
fn monthly_series_with_feedback_matches_pandas_on_the_sample_lake() {
    let sql = with_reference_sentiment(&format!(
        "SELECT * FROM kpi_series('{}', '2011-01-01', '2011-12-10', 'month', \
           'feedback=(SELECT customer_id, ts, kind, nps_score, csat_score, sentiment FROM scored)') \
         ORDER BY period",
        quoted(SALES)
    ));
    let got = ok(lake_sql(&root().join("data/lake"), &[], &sql));
    assert_rows_match(&got, &fixture("series_month.csv"), "kpi_series month");
}

#[test]
fn weekly_and_segmented_series_match_pandas_on_the_sample_lake() {
    let lake = root().join("data/lake");
    let week = ok(lake_sql(
        &lake,
        &[],
        &format!(
            "SELECT * FROM kpi_series('{}', '2011-09-01', '2011-12-10', 'week') ORDER BY period",
            quoted(SALES)
        ),
    ));
    assert_rows_match(&week, &fixture("series_week.csv"), "kpi_series week");
    let by = ok(lake_sql(
        &lake,
        &[],
        &format!(
            "SELECT * FROM kpi_series('{}', '2011-07-01', '2011-12-10', 'month', 'by=country') \
             ORDER BY segment, period",
            quoted(SALES)
        ),
    ));
    assert_rows_match(
        &by,
        &fixture("series_month_by_country.csv"),
        "kpi_series by country",
    );
}

/// The series' rates equal the single-period functions over the same
/// window: a week's churn rate is `churn_rate` as of its Sunday over 7
/// days, August's (31 days after July's 31) `churn_rate` over 31 days; the
/// repurchase rate, NPS and complaint rate those functions over the
/// period's rows.
#[test]
fn series_rates_equal_the_single_period_functions() {
    let sql = with_reference_sentiment(&format!(
        "CREATE VIEW sales AS {SALES}; \
         WITH w AS (SELECT period, churn_rate, repurchase_rate FROM kpi_series('sales', '2011-10-01', '2011-12-10', 'week') WHERE period = DATE '2011-11-14'), \
              m AS (SELECT churn_rate, nps, complaint_rate, repurchase_rate FROM kpi_series('sales', '2011-08-01', '2011-09-01', 'month', \
                      'feedback=(SELECT customer_id, ts, kind, nps_score, csat_score, sentiment FROM scored)')) \
         SELECT round(w.churn_rate - (SELECT churn_rate(customer_id, ts, '2011-11-20', 7) FROM sales), 12) AS week_churn, \
                round(w.repurchase_rate - (SELECT repurchase_rate(customer_id, order_id) FROM sales WHERE ts >= TIMESTAMP '2011-11-14 00:00:00' AND ts < TIMESTAMP '2011-11-21 00:00:00'), 12) AS week_repurchase, \
                round(m.churn_rate - (SELECT churn_rate(customer_id, ts, '2011-08-31', 31) FROM sales), 12) AS month_churn, \
                round(m.repurchase_rate - (SELECT repurchase_rate(customer_id, order_id) FROM sales WHERE ts >= TIMESTAMP '2011-08-01 00:00:00' AND ts < TIMESTAMP '2011-09-01 00:00:00'), 12) AS month_repurchase, \
                round(m.nps - (SELECT nps(nps_score) FROM scored WHERE ts >= TIMESTAMP '2011-08-01 00:00:00' AND ts < TIMESTAMP '2011-09-01 00:00:00'), 12) AS month_nps, \
                round(m.complaint_rate - (SELECT complaint_rate(customer_id, kind = 'complaint') FROM scored WHERE ts >= TIMESTAMP '2011-08-01 00:00:00' AND ts < TIMESTAMP '2011-09-01 00:00:00'), 12) AS month_complaints \
         FROM w CROSS JOIN m"
    ));
    let got = ok(lake_sql(&root().join("data/lake"), &[], &sql));
    let rows = csv_maps(&got);
    assert_eq!(rows.len(), 1, "{got}");
    for (column, value) in &rows[0] {
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{column}: {value} in {got}"));
        assert_eq!(v.abs(), 0.0, "{column} differs by {value}");
    }
}

#[test]
fn bad_arguments_are_named() {
    let lake = root().join("data/lake");
    user_error(
        lake_sql(
            &lake,
            &[],
            "SELECT * FROM kpi_series('transactions', '2011-01-01', '2011-12-10', 'year')",
        ),
        &["kpi_series: argument 'period': must be one of day, week, month, quarter, got 'year'"],
    );
    user_error(
        lake_sql(
            &lake,
            &[],
            "SELECT * FROM kpi_series('transactions', '2011-12-10', '2011-01-01', 'month')",
        ),
        &["kpi_series: argument 'end': must be after start"],
    );
    user_error(
        lake_sql(
            &lake,
            &[],
            "SELECT * FROM kpi_series('transactions', '2011-01-01', '2011-12-10', 'month', 'by=segment')",
        ),
        &["kpi_series", "segment"],
    );
    user_error(
        lake_sql(
            &lake,
            &[],
            "SELECT * FROM kpi_series('transactions', '2011-01-01', '2011-12-10', 'month', 'by=country, feedback=feedback')",
        ),
        &["kpi_series", "feedback", "country"],
    );
}
