"""The same crmlake queries from datafusion-python and from the `crmlake`
command line, on the sample lake, in one run; prints both times and the ratio.

Usage (from the repository root):

    cargo build --release
    pip install maturin && maturin build --release -m python/Cargo.toml --out /tmp/wheels
    python3 -m venv /tmp/py-bench
    /tmp/py-bench/bin/pip install /tmp/wheels/crmlake-*.whl
    /tmp/py-bench/bin/python benches/python_vs_cli.py [--crmlake target/release/crmlake] [--repeat 3]

Both sides read data/lake/transactions (541,909 lines) through the same
cleaning view and run the same SQL; each figure is the best of --repeat runs
of the query alone (the CLI's own `--timing` figure for the last statement,
so process start-up and lake registration are excluded on both sides).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import datafusion
import crmlake

ROOT = Path(__file__).resolve().parents[1]
CLEAN = (
    "CREATE VIEW sales AS SELECT customer_id, ts, order_id, product_id, amount FROM transactions "
    "WHERE customer_id IS NOT NULL AND order_id NOT LIKE 'C%' AND quantity > 0 AND unit_price > 0"
)
# Churn scoring with the model in a table, passed as a scalar subquery (the
# nightly job's shape): 3,370 customers x 100 = 337,000 rows scored by gbt.
CHURN_SETUP = (
    "CREATE TABLE f AS SELECT named_struct('recency', CAST(recency_days AS DOUBLE), "
    "'frequency', CAST(frequency AS DOUBLE), 'monetary', monetary, 'tenure', CAST(tenure_days AS DOUBLE), "
    "'gap', gap_mean_days, 'trend', trend_90) AS x, churned "
    "FROM churn_features('SELECT customer_id, ts, order_id, amount FROM sales', '2011-09-10', 90); "
    "CREATE TABLE m AS SELECT churn_train(x, churned, 'algorithm=gbt, seed=42') AS model FROM f; "
    # Sorted so that the table holds full 8,192-row batches, as a Parquet scan
    # gives (a cross join's output is one 100-row batch per customer).
    "CREATE TABLE big AS SELECT x FROM f CROSS JOIN unnest(range(100)) AS r(i) ORDER BY i"
)
QUERIES = {
    "churn_score_gbt": "SELECT sum(churn_score((SELECT model FROM m), x)) FROM big",
    "rfm": "SELECT count(*) FROM rfm('sales', '2011-12-09')",
    "customer_ltv": "SELECT sum(clv) FROM customer_ltv('SELECT customer_id, ts, amount FROM sales', '2011-12-09', 180)",
    "association_rules": "SELECT count(*) FROM association_rules("
    "'SELECT order_id AS basket_id, product_id AS item FROM sales', 0.01, 0.3)",
    "churn_features": "SELECT count(*) FROM churn_features('SELECT customer_id, ts, order_id, amount FROM sales', '2011-09-10', 90)",
}


def python_seconds(sql: str, repeat: int) -> float:
    ctx = datafusion.SessionContext()
    crmlake.register(ctx)
    ctx.register_parquet("transactions", str(ROOT / "data" / "lake" / "transactions"))
    ctx.sql(CLEAN).collect()
    for statement in CHURN_SETUP.split("; "):
        ctx.sql(statement).collect()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        ctx.sql(sql).collect()
        best = min(best, time.perf_counter() - start)
    return best


def cli_seconds(binary: str, sql: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        p = subprocess.run(
            [binary, "sql", "--lake", str(ROOT / "data" / "lake"), "--timing", "-c", f"{CLEAN}; {CHURN_SETUP}; {sql}"],
            capture_output=True,
            text=True,
            check=True,
        )
        times = re.findall(r"([0-9.]+) ?s\b", p.stderr)
        if not times:
            raise SystemExit(f"no --timing figure in: {p.stderr}")
        best = min(best, float(times[-1]))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crmlake", default=str(ROOT / "target" / "release" / "crmlake"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"datafusion-python {datafusion.__version__}, crmlake {crmlake.__version__}")
    print(f"{'query':<20} {'python s':>10} {'cli s':>10} {'python/cli':>11}")
    for name, sql in QUERIES.items():
        py = python_seconds(sql, args.repeat)
        cli = cli_seconds(args.crmlake, sql, args.repeat)
        print(f"{name:<20} {py:>10.3f} {cli:>10.3f} {py / cli:>11.2f}")


if __name__ == "__main__":
    main()
