#!/usr/bin/env python3
"""Scaling run of crmlake on a Ballista cluster: 1 executor, then 2.

Generates a lake with `crmlake generate` (default 1,100,000 customers, about
10.3M transaction lines, in files of 100,000 customers), starts
`crmlake scheduler` and executors of ONE task slot each on loopback, and times
each query with `crmlake sql --cluster ... --timing` (the statement's time, not
process start-up), best of --repeat runs. One slot per executor stands for
one machine with one core, so "2 executors" is twice the compute of "1".
The embedded engine (no cluster, all cores) is timed on the same queries for
reference. Every cluster answer is compared with the embedded one.

Only the Python standard library is needed:

    cargo build --release
    python3 benches/cluster_scaling.py --crmlake target/release/crmlake

Options: --customers N, --lake DIR (reuse a generated lake), --repeat N.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BASKETS = "SELECT order_id AS basket_id, product_id AS item FROM transactions"
QUERIES = [
    ("count + revenue", "SELECT count(*) AS n, sum(amount) AS revenue FROM transactions"),
    ("rfm segments",
     "SELECT segment, count(*) AS n FROM rfm('transactions', '2024-06-30') GROUP BY 1 ORDER BY 1"),
    ("bgnbd_fit",
     "SELECT model_info(bgnbd_fit(frequency, recency, t)) AS model "
     "FROM customer_summary('transactions', '2024-06-30')"),
    ("customer_ltv 180 d",
     "SELECT count(*) AS n, sum(clv) AS clv FROM customer_ltv('transactions', '2024-06-30', 180)"),
    ("frequent_itemsets 0.01",
     f"SELECT count(*) AS n, sum(count) AS c FROM frequent_itemsets('{BASKETS}', 0.01)"),
    ("churn_features",
     "SELECT count(*) AS n, sum(frequency) AS f FROM churn_features('transactions', '2024-03-31', 90)"),
]


NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def same_answer(a, b):
    """Equal text, numbers equal to 1e-9 relative (sums and fits may differ in
    the last digits with the order in which partial results merge)."""
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        x, y = float(x), float(y)
        if abs(x - y) > 1e-9 * max(1.0, abs(x), abs(y)):
            return False
    return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(crmlake, lake, sql, cluster=None):
    """(seconds of the statement, CSV text) of one `crmlake sql --timing` run."""
    args = [crmlake, "sql", "--lake", lake, "--format", "csv", "--timing", "-c", sql]
    if cluster:
        args += ["--cluster", cluster]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stderr}")
    m = re.findall(r"rows in ([0-9.]+) s", p.stderr)
    if not m:
        sys.exit(f"no timing in stderr: {p.stderr}")
    return float(m[-1]), p.stdout


def wait_for(proc_log, needle, count=1, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline:
        with open(proc_log) as f:
            if f.read().count(needle) >= count:
                return
        time.sleep(0.1)
    sys.exit(f"'{needle}' x{count} not seen in {proc_log}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crmlake", default="target/release/crmlake")
    ap.add_argument("--customers", type=int, default=1_100_000)
    ap.add_argument("--lake")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="crmlake-scaling-")
    lake = args.lake
    if not lake:
        lake = os.path.join(work, "lake")
        subprocess.run([args.crmlake, "generate", "--customers", str(args.customers),
                        "--customers-per-file", "100000", "--seed", "1", "--out", lake],
                       check=True)
    out = subprocess.run([args.crmlake, "sql", "--lake", lake, "--format", "csv", "-c",
                          "SELECT count(*) FROM transactions"], capture_output=True, text=True)
    n_rows = int(out.stdout.splitlines()[1])
    files = len(os.listdir(os.path.join(lake, "transactions")))
    print(f"lake {lake}: {n_rows:,} transaction lines in {files} files")

    procs = []
    try:
        port = free_port()
        cluster = f"df://127.0.0.1:{port}"
        slog = os.path.join(work, "scheduler.log")
        procs.append(subprocess.Popen([args.crmlake, "scheduler", "--port", str(port)],
                                      stderr=open(slog, "w"), stdout=subprocess.DEVNULL))
        wait_for(slog, "listening")

        def add_executor(i):
            procs.append(subprocess.Popen(
                [args.crmlake, "executor", "--scheduler", cluster, "--port", str(free_port()),
                 "--grpc-port", str(free_port()), "--concurrent-tasks", "1",
                 "--work-dir", os.path.join(work, f"exec-{i}")],
                stderr=open(os.path.join(work, f"exec-{i}.log"), "w"), stdout=subprocess.DEVNULL))

        results = {}
        for name, sql in QUERIES:
            best, answer = min(timed(args.crmlake, lake, sql) for _ in range(args.repeat))
            results[name] = {"embedded": best, "answer": answer}
        for n in (1, 2):
            add_executor(n)
            wait_for(slog, "joined", count=n)
            for name, sql in QUERIES:
                runs = [timed(args.crmlake, lake, sql, cluster) for _ in range(args.repeat)]
                for _, answer in runs:
                    if not same_answer(answer, results[name]["answer"]):
                        sys.exit(f"{name}: cluster answer differs:\n{answer}\nvs\n{results[name]['answer']}")
                results[name][n] = min(t for t, _ in runs)
        print()
        print("| query | embedded (2 cores) s | 1 executor s | 2 executors s | speed-up 1 -> 2 |")
        print("| --- | --- | --- | --- | --- |")
        for name, _ in QUERIES:
            r = results[name]
            print(f"| {name} | {r['embedded']:.3f} | {r[1]:.3f} | {r[2]:.3f} | {r[1] / r[2]:.2f}x |")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
