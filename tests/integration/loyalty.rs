//! The loyalty programme's points ledger and balances against the
//! hand-worked fixture (`tests/fixtures/loyalty/README.md`) on 1, 3 and 8
//! partitions, and against the pandas reference on the sample lake
//! (`make_reference.py`).

use std::collections::BTreeMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::common::*;

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/loyalty")
        .join(name)
        .display()
        .to_string()
}

fn rules() -> String {
    std::fs::read_to_string(fixture("rules.json"))
        .unwrap()
        .replace('\'', "''")
}

/// The fixture's transactions and events as tables with typed columns.
async fn session(partitions: usize) -> SessionContext {
    let ctx = udf_session(partitions);
    for (table, columns) in [
        (
            "tx_raw",
            "customer_id BIGINT, ts VARCHAR, amount DOUBLE, order_id VARCHAR, category VARCHAR",
        ),
        (
            "ev_raw",
            "customer_id BIGINT, ts VARCHAR, kind VARCHAR, points DOUBLE, source_id VARCHAR",
        ),
    ] {
        let file = if table == "tx_raw" {
            "transactions.csv"
        } else {
            "events.csv"
        };
        query(
            &ctx,
            &format!(
                "CREATE EXTERNAL TABLE {table} ({columns}) STORED AS CSV LOCATION '{}' \
                 OPTIONS ('format.has_header' 'true')",
                fixture(file)
            ),
        )
        .await;
    }
    query(
        &ctx,
        "CREATE VIEW transactions AS SELECT customer_id, CAST(ts AS TIMESTAMP) AS ts, amount, \
         order_id, category FROM tx_raw",
    )
    .await;
    query(
        &ctx,
        "CREATE VIEW events AS SELECT customer_id, CAST(ts AS TIMESTAMP) AS ts, kind, points, \
         source_id FROM ev_raw",
    )
    .await;
    ctx
}

/// Batches as CSV text, timestamps as `YYYY-MM-DDTHH:MM:SS`.
fn csv(batches: &[RecordBatch]) -> String {
    let mut out = Vec::new();
    {
        let mut w = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_timestamp_format("%Y-%m-%dT%H:%M:%S".to_string())
            .build(&mut out);
        for b in batches {
            w.write(b).unwrap();
        }
    }
    String::from_utf8(out).unwrap()
}

/// Every expected field equals crmlake's: numbers as numbers, `rejected`
/// and `note` as a part of crmlake's text (both empty when not given).
fn assert_matches(got: &str, expected: &str, what: &str) {
    let (got, expected) = (csv_maps(got), csv_maps(expected));
    assert_eq!(got.len(), expected.len(), "{what}: rows\n{got:#?}");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        for (column, want) in e {
            let have = &g[column];
            let same = match column.as_str() {
                "rejected" | "note" => {
                    (want.is_empty() && have.is_empty())
                        || (!want.is_empty() && have.contains(want.as_str()))
                }
                _ => match (have.parse::<f64>(), want.parse::<f64>()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => have == want,
                },
            };
            assert!(
                same,
                "{what}: row {i} column {column}: crmlake {have:?}, expected {want:?}\n{g:?}"
            );
        }
    }
}

fn ledger_sql(partitions_note: &str) -> String {
    format!(
        "SELECT customer_id, ts, kind, points, balance, expires_at, source_id, rejected, note \
         FROM points_ledger('transactions', 'events', '{}', '2012-06-30') \
         ORDER BY customer_id, ts -- {partitions_note}",
        rules()
    )
}

#[test]
fn hand_worked_ledger_and_balances_on_any_partitioning() {
    let rt = runtime();
    let expected_ledger = std::fs::read_to_string(fixture("expected_ledger.csv")).unwrap();
    let expected_balance = std::fs::read_to_string(fixture("expected_balance.csv")).unwrap();
    for partitions in [1, 3, 8] {
        rt.block_on(async {
            let ctx = session(partitions).await;
            let got = csv(&query(&ctx, &ledger_sql(&partitions.to_string())).await);
            assert_matches(
                &got,
                &expected_ledger,
                &format!("ledger, {partitions} partitions"),
            );
            let got = csv(&query(
                &ctx,
                &format!(
                    "SELECT * FROM points_balance('transactions', 'events', '{}', '2012-06-30') \
                         ORDER BY customer_id",
                    rules()
                ),
            )
            .await);
            assert_matches(
                &got,
                &expected_balance,
                &format!("balance, {partitions} partitions"),
            );
        });
    }
}

#[test]
fn hand_worked_tiers_upgrade_then_downgrade_after_grace() {
    let rt = runtime();
    let expected = std::fs::read_to_string(fixture("expected_tiers.csv")).unwrap();
    for partitions in [1, 3, 8] {
        rt.block_on(async {
            let ctx = session(partitions).await;
            let got = csv(
                &query(
                    &ctx,
                    &format!(
                        "SELECT * FROM tier_history('transactions', '{}', NULL, '2012-06-30') \
                         ORDER BY customer_id, valid_from",
                        rules()
                    ),
                )
                .await,
            );
            assert_matches(&got, &expected, &format!("tiers, {partitions} partitions"));
            // The tier on a day is the interval holding it.
            let got = csv(
                &query(
                    &ctx,
                    &format!(
                        "SELECT customer_id, tier, since, reason FROM tier_as_of('transactions', '{}', '2012-04-13') \
                         WHERE customer_id >= 13 ORDER BY customer_id",
                        rules()
                    ),
                )
                .await,
            );
            assert_eq!(
                got,
                "customer_id,tier,since,reason\n13,Gold,2011-06-01,upgraded\n14,Silver,2011-02-01,qualified\n"
            );
        });
    }
}

/// KPIs of the hand-worked fixture, worked from the expected ledger and
/// tiers: June 2012 and the two tier moves of customer 13.
#[test]
fn hand_worked_kpis() {
    let rt = runtime();
    rt.block_on(async {
        let ctx = session(3).await;
        let kpis = |options: &str, filter: &str| {
            format!(
                "SELECT * FROM loyalty_kpis('transactions', 'events', '{}', '2011-01-01', '2012-06-30'{options}) {filter}",
                rules()
            )
        };
        let got = csv(
            &query(
                &ctx,
                &format!(
                    "SELECT members, active_members, points_earned, points_redeemed, points_expired, breakage, \
                            liability_points, liability_value, revenue, members_revenue FROM ({}) ",
                    kpis("", "WHERE period = DATE '2012-06-01'")
                ),
            )
            .await,
        );
        // 14 members; only customer 12 earned in June (10 points, £10);
        // customers 4 (250) and 13 (1,500) expired; the balances add up to
        // 1,465 points, £14.65 at 0.01.
        assert_matches(
            &got,
            "members,active_members,points_earned,points_redeemed,points_expired,breakage,liability_points,liability_value,revenue,members_revenue\n\
             14,1,10,0,1750,175,1465,14.65,10,10\n",
            "June 2012",
        );
        // December 2011: earned 200+200 (c2) + 120+60 (c3) + 200 (c6) = 780,
        // less returns 50 (c6) and 100 (c8) = 630; redeemed 150 (c6).
        let got = csv(
            &query(
                &ctx,
                &format!(
                    "SELECT points_earned, points_redeemed, redemption_rate FROM ({})",
                    kpis("", "WHERE period = DATE '2011-12-01'")
                ),
            )
            .await,
        );
        assert_matches(
            &got,
            &format!("points_earned,points_redeemed,redemption_rate\n630,150,{}\n", 150.0 / 630.0),
            "December 2011",
        );
        let got = csv(
            &query(
                &ctx,
                &kpis(", 'view=migration'", "WHERE from_tier IS NOT NULL ORDER BY period"),
            )
            .await,
        );
        assert_eq!(
            got,
            "period,from_tier,to_tier,customers\n2011-06-01,Silver,Gold,1\n2012-04-01,Gold,Silver,1\n"
        );
        let got = csv(
            &query(
                &ctx,
                &format!(
                    "SELECT tier, members FROM ({}) ORDER BY tier",
                    kpis(", 'view=tiers'", "WHERE period = DATE '2012-06-01'")
                ),
            )
            .await,
        );
        assert_eq!(got, "tier,members\nBronze,10\nGold,0\nSilver,2\n");
    });
}

#[test]
fn bad_rules_and_events_name_what_is_wrong() {
    let rt = runtime();
    rt.block_on(async {
        let ctx = session(2).await;
        for (rules, needles) in [
            (r#"{"earn_rate": -1}"#, vec!["points_ledger", "rules.earn_rate"]),
            (r#"{"earn_rate": 1, "earn_rat": 2}"#, vec!["unknown field `earn_rat`"]),
            (
                r#"{"earn_rate": 1, "tiers": {"basis": "amount", "window": "rolling_12_months", "levels": [{"name": "Bronze", "threshold": 0}, {"name": "Silver", "threshold": 500}, {"name": "Gold", "threshold": 400}]}}"#,
                vec!["'Gold'", "threshold 400"],
            ),
        ] {
            let e = query_error(
                &ctx,
                &format!("SELECT * FROM points_ledger('transactions', NULL, '{rules}', '2012-06-30')"),
            )
            .await;
            for n in needles {
                assert!(e.contains(n), "{rules}: {e}");
            }
        }
        let e = query_error(
            &ctx,
            &format!(
                "SELECT * FROM points_ledger('transactions', 'SELECT customer_id, ts, ''gift'' AS kind, points FROM events', '{}', '2012-06-30')",
                rules()
            ),
        )
        .await;
        assert!(e.contains("'gift' is not an event kind"), "{e}");
        let e = query_error(
            &ctx,
            &format!(
                "SELECT * FROM points_ledger('SELECT customer_id, ts FROM transactions', NULL, '{}', '2012-06-30')",
                rules()
            ),
        )
        .await;
        assert!(e.contains("transactions") && e.contains("'amount'"), "{e}");
    });
}

/// Balances on the sample lake equal the pandas reference for every customer.
#[test]
fn sample_lake_balances_equal_the_pandas_reference() {
    let rt = runtime();
    let expected = std::fs::read_to_string(fixture("sample_balances.csv")).unwrap();
    let rules = std::fs::read_to_string(fixture("sample_rules.json")).unwrap();
    rt.block_on(async {
        let ctx = udf_session(4);
        ctx.register_parquet(
            "transactions",
            &format!("{}/transactions", sample_lake()),
            Default::default(),
        )
        .await
        .unwrap();
        let got = csv(
            &query(
                &ctx,
                &format!(
                    "SELECT customer_id, earned, redeemed, expired, balance, expiring_30, expiring_90 \
                     FROM points_balance('transactions', NULL, '{}', '2011-12-09') ORDER BY customer_id",
                    rules.replace('\'', "''")
                ),
            )
            .await,
        );
        let got_rows = csv_maps(&got);
        let want_rows = csv_maps(&expected);
        assert_eq!(got_rows.len(), want_rows.len(), "customers");
        let mut differ: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> = Vec::new();
        for (g, w) in got_rows.iter().zip(&want_rows) {
            let same = w.iter().all(|(c, v)| {
                match (g[c].parse::<f64>(), v.parse::<f64>()) {
                    (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    _ => &g[c] == v,
                }
            });
            if !same {
                differ.push((g.clone(), w.clone()));
            }
        }
        assert!(
            differ.is_empty(),
            "{} customers differ, e.g. {:?}",
            differ.len(),
            &differ[..differ.len().min(3)]
        );
    });
}

/// Rules given as a table (a programme's versions, one picked by a query)
/// give the same ledger as the same rules given as JSON text; a rules table
/// without exactly one row, or with rules that do not check, is an error
/// saying so. The KPIs read point_value from the table too.
#[test]
fn rules_as_a_table_equal_rules_as_text() {
    let rt = runtime();
    rt.block_on(async {
        let ctx = session(3).await;
        let json = rules();
        query(
            &ctx,
            &format!(
                "CREATE TABLE programmes AS SELECT * FROM (VALUES (1, '{{\"earn_rate\": 5}}'), (2, '{json}')) AS p(version, rules)"
            ),
        )
        .await;
        let by_text = csv(&query(
            &ctx,
            &format!(
                "SELECT * FROM points_balance('transactions', 'events', '{json}', '2012-06-30') ORDER BY customer_id"
            ),
        )
        .await);
        let by_table = csv(&query(
            &ctx,
            "SELECT * FROM points_balance('transactions', 'events', \
             'SELECT rules FROM programmes WHERE version = 2', '2012-06-30') ORDER BY customer_id",
        )
        .await);
        assert_eq!(by_table, by_text);
        let expected_ledger = std::fs::read_to_string(fixture("expected_ledger.csv")).unwrap();
        let ledger = csv(&query(
            &ctx,
            "SELECT customer_id, ts, kind, points, balance, expires_at, source_id, rejected, note \
             FROM points_ledger('transactions', 'events', \
             'SELECT rules FROM programmes WHERE version = 2', '2012-06-30') ORDER BY customer_id, ts",
        )
        .await);
        assert_matches(&ledger, &expected_ledger, "ledger, rules from a table");
        let kpis = |rules: String| {
            let ctx = &ctx;
            async move {
                csv(&query(
                    ctx,
                    &format!(
                        "SELECT * FROM loyalty_kpis('transactions', 'events', {rules}, '2011-01-01', '2012-06-30') ORDER BY period"
                    ),
                )
                .await)
            }
        };
        assert_eq!(
            kpis("'SELECT rules FROM programmes WHERE version = 2'".into()).await,
            kpis(format!("'{json}'")).await
        );
        let tiers_text = csv(&query(
            &ctx,
            &format!("SELECT * FROM tier_history('transactions', '{json}', NULL, '2012-06-30') ORDER BY customer_id, valid_from"),
        )
        .await);
        let tiers_table = csv(&query(
            &ctx,
            "SELECT * FROM tier_history('transactions', 'SELECT rules FROM programmes WHERE version = 2', NULL, '2012-06-30') ORDER BY customer_id, valid_from",
        )
        .await);
        assert_eq!(tiers_table, tiers_text);
        for (rules, needle) in [
            ("programmes", "must hold exactly one row"),
            (
                "SELECT '{\"earn_rate\": -1}' AS rules",
                "rules.earn_rate",
            ),
        ] {
            let e = query_error(
                &ctx,
                &format!(
                    "SELECT * FROM points_balance('transactions', NULL, '{}', '2012-06-30')",
                    rules.replace('\'', "''")
                ),
            )
            .await;
            assert!(e.contains("points_balance_lists") && e.contains(needle), "{rules}: {e}");
        }
    });
}
