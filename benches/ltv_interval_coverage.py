"""Coverage of crmlake's lifetime-value intervals on lakes with known parameters.

For each of N seeds: `crmlake generate --customers 5000 --seed S` writes a lake
drawn from known BG/NBD parameters (recorded in its _truth.json); crmlake fits
BG/NBD (with 200 bootstrap replicates) on the summary the generator's process
defines, orders in continuous time (frequency = orders - 1, recency and T in
fractional days), and also on `customer_summary`'s (distinct purchase days,
lifetimes' convention, which merges same-day orders), and computes the
90 % interval of a new customer's expected purchases in 180 days, the
population's mean (`expected_purchases(model, 180, 0, 0, 0, ...)`), by the
delta method and by the bootstrap. The true value is the same expression under
the true parameters. Prints how often each interval covers the truth (the
target: 85-95 % over 200 lakes) and the mean widths.

Standard library only:
    cargo build
    python3 benches/ltv_interval_coverage.py --crmlake $CARGO_TARGET_DIR/debug/crmlake --lakes 200
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time


def sql(crmlake, lake, query):
    out = subprocess.run(
        [crmlake, "sql", "--lake", lake, "--format", "csv", "-c", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip().splitlines()
    return [float(v) for v in out[1].split(",")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crmlake", required=True)
    ap.add_argument("--lakes", type=int, default=200)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--replicates", type=int, default=200)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ltv-coverage-")
    keys = [f"{s} {m}" for s in ["orders", "days"] for m in ["delta", "bootstrap"]]
    covered = {k: 0 for k in keys}
    widths = {k: 0.0 for k in keys}
    bias = {"orders": 0.0, "days": 0.0}
    estimates = {"orders": [], "days": []}
    half_sd = {"orders": 0.0, "days": 0.0}
    started = time.time()
    try:
        for seed in range(1, args.lakes + 1):
            lake = os.path.join(work, f"lake-{seed}")
            subprocess.run(
                [args.crmlake, "generate", "--customers", str(args.customers), "--seed", str(seed), "--out", lake],
                check=True,
                capture_output=True,
            )
            truth = json.load(open(os.path.join(lake, "_truth.json")))
            p = truth["bgnbd"]
            true_model = json.dumps(
                {"kind": "bgnbd", "params": p, "log_likelihood": 0, "n": 1, "converged": True, "iterations": 0}
            )
            end = truth["end"]
            orders = (
                "WITH o AS (SELECT customer_id, order_id, min(ts) AS ts FROM transactions GROUP BY customer_id, order_id) "
                "SELECT count(*) - 1 AS frequency, "
                "(date_part('epoch', max(ts)) - date_part('epoch', min(ts))) / 86400.0 AS recency, "
                f"(date_part('epoch', TIMESTAMP '{end} 00:00:00') - date_part('epoch', min(ts))) / 86400.0 AS t "
                "FROM o GROUP BY customer_id"
            )
            days = f"SELECT * FROM customer_summary('transactions', DATE '{end}')"
            for summary_name, summary in [("orders", orders), ("days", days)]:
                query = (
                    f"WITH m AS (SELECT bgnbd_fit(frequency, recency, t, 'replicates={args.replicates}, seed={seed}') AS m "
                    f"FROM ({summary})), "
                    "e AS (SELECT expected_purchases(m, 180, 0, 0, 0, 'interval=0.9') AS d, "
                    "expected_purchases(m, 180, 0, 0, 0, 'interval=0.9, interval_method=bootstrap') AS b FROM m) "
                    f"SELECT expected_purchases('{true_model}', 180, 0, 0, 0), "
                    "d['estimate'], d['low'], d['high'], b['low'], b['high'] FROM e"
                )
                want, est, d_lo, d_hi, b_lo, b_hi = sql(args.crmlake, lake, query)
                bias[summary_name] += est - want
                estimates[summary_name].append(est)
                half_sd[summary_name] += (d_hi - d_lo) / 2 / 1.6448536269514722
                for name, lo, hi in [("delta", d_lo, d_hi), ("bootstrap", b_lo, b_hi)]:
                    key = f"{summary_name} {name}"
                    covered[key] += lo <= want <= hi
                    widths[key] += hi - lo
            shutil.rmtree(lake)
            if seed % 20 == 0:
                print(f"{seed} lakes: covered {covered}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.lakes
    print(f"lakes: {n} of {args.customers} customers, {time.time() - started:.0f} s")
    print(f"true E[X(180)] of a new customer: {want:.5f}")
    for name in keys:
        print(
            f"{name}: 90 % interval covers it in "
            f"{covered[name]} of {n} ({100 * covered[name] / n:.1f} %), mean width {widths[name] / n:.5f}"
        )
    for name, b in bias.items():
        e = estimates[name]
        mean = sum(e) / n
        sd = (sum((v - mean) ** 2 for v in e) / (n - 1)) ** 0.5
        print(
            f"{name}: mean estimate - truth {b / n:+.5f}; sd of the estimates across lakes {sd:.5f}, "
            f"mean delta-method sd (half-width / z) {half_sd[name] / n:.5f}"
        )


if __name__ == "__main__":
    main()
