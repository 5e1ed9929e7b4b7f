"""crmlake vs lifetimes on the same synthetic 1,000,000-customer summary.

Usage (from the repository root; lifetimes needs numpy 1 / pandas 1):

    cargo build --release
    python3 -m venv /tmp/ltv-bench
    /tmp/ltv-bench/bin/pip install numpy==1.26.4 pandas==1.5.3 scipy==1.11.4 \
        autograd==1.6.2 autograd-gamma==0.5.0 lifetimes==0.11.3 pyarrow==14.0.2
    /tmp/ltv-bench/bin/python benches/ltv_vs_lifetimes.py [--customers 1000000] [--work /tmp/ltv-bench-data]

Input: `crmlake generate --customers N --seed 1` (BG/NBD + Gamma-Gamma with the
CDNOW estimates, daily units), summarised once by
`customer_summary('transactions', END)` into a Parquet file. Both tools then
start from that Parquet file:
- crmlake: one `crmlake sql` process per step, SQL over the Parquet summary
  (and the stored models), timed as the whole process's wall time (start-up,
  Parquet read and output included), best of 5 runs; and the same statement
  10 times (the fit 3 times) in one `crmlake sql --timing` process, best
  kept: planning, Parquet read and computing, without process start-up
  (which `SELECT 1` measures);
- lifetimes: the Parquet file read with pandas once (not timed), then each
  method call timed once with time.perf_counter (a fit takes seconds).
Steps: BG/NBD fit; expected purchases in 30 days; P(alive); 12-month CLV
(Gamma-Gamma fitted beforehand, untimed in both; lifetimes' freq "D").
Prints a table with both times and the ratio lifetimes / crmlake.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--customers", type=int, default=1_000_000)
ap.add_argument("--work", default="/tmp/ltv-bench-data")
ap.add_argument("--crmlake", default="target/release/crmlake")
ap.add_argument("--skip-lifetimes", action="store_true")
args = ap.parse_args()

crm = os.path.abspath(args.crmlake)
work = os.path.abspath(args.work)
lake = os.path.join(work, "lake")
sumlake = os.path.join(work, "summary_lake")
summary = os.path.join(sumlake, "summary", "summary.parquet")


def run(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, out.stdout


if not os.path.exists(summary):
    os.makedirs(os.path.dirname(summary), exist_ok=True)
    run([crm, "generate", "--customers", str(args.customers), "--seed", "1", "--out", lake])
    end = json.load(open(os.path.join(lake, "_truth.json")))["end"]
    run([crm, "sql", "--lake", lake, "-o", summary, "-c",
         f"SELECT customer_id, frequency, recency, t, monetary FROM customer_summary('transactions', '{end}')"])

models = os.path.join(sumlake, "models", "models.parquet")
os.makedirs(os.path.dirname(models), exist_ok=True)
results = {}


def sql(q, out=None, repeat=5):
    # Best of `repeat` runs: process start-up and a shared machine add noise
    # of tens of milliseconds; the minimum is the reproducible figure.
    cmd = [crm, "sql", "--lake", sumlake, "--format", "csv", "-c", q]
    if out:
        cmd += ["-o", out]
        repeat = 1
    runs = [run(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[0][1]


def statement(q, repeat=10):
    """Best time of `repeat` runs of q inside one `crmlake sql --timing`
    process: planning, reading the Parquet summary and computing, without
    the process start-up that `sql` above includes."""
    cmd = [crm, "sql", "--lake", sumlake, "--timing", "--format", "csv", "-c",
           ";\n".join([q] * repeat)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    times = [float(m) for m in re.findall(r"rows? in ([0-9.]+) s", out.stderr)]
    if len(times) != repeat:
        raise SystemExit(f"expected {repeat} timings from --timing, got: {out.stderr}")
    return min(times)


# Models the scoring steps use (fitted once, untimed), then the timed steps.
sql("SELECT bgnbd_fit(frequency, recency, t) AS pm, "
    "gamma_gamma_fit(frequency, monetary) FILTER (WHERE monetary > 0) AS sm FROM summary", models)
queries = {
    "start-up alone (SELECT 1)": "SELECT 1",
    "baseline: read summary + models":
        "SELECT sum(frequency + recency + t + monetary), max(length(m.pm)) FROM summary CROSS JOIN models AS m",
    "fit BG/NBD": "SELECT bgnbd_fit(frequency, recency, t) FROM summary",
    "expected purchases 30 d":
        "SELECT sum(expected_purchases(m.pm, 30, frequency, recency, t)) FROM summary CROSS JOIN models AS m",
    "P(alive)": "SELECT sum(p_alive(m.pm, frequency, recency, t)) FROM summary CROSS JOIN models AS m",
    "CLV 12 months":
        "SELECT sum(clv(m.pm, m.sm, frequency, recency, t, monetary, 12, 0.01, 'day')) FROM summary CROSS JOIN models AS m",
}
outputs = {}
in_process = {}
for k, q in queries.items():
    results[k], outputs[k] = sql(q)
    in_process[k] = statement(q, repeat=3 if k == "fit BG/NBD" else 10)
fit_csv, e_csv = outputs["fit BG/NBD"], outputs["expected purchases 30 d"]
pa_csv, clv_csv = outputs["P(alive)"], outputs["CLV 12 months"]
crm_params = json.loads(fit_csv.splitlines()[1].strip('"').replace('""', '"'))["params"]
crm_sums = {k: float(v.splitlines()[1]) for k, v in
            [("expected", e_csv), ("p_alive", pa_csv), ("clv", clv_csv)]}

theirs = {}
if not args.skip_lifetimes:
    import lifetimes
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    d = pd.read_parquet(summary)
    f, r, T, m = d["frequency"].astype(float), d["recency"], d["t"], d["monetary"]
    t0 = time.perf_counter()
    bgf = BetaGeoFitter().fit(f, r, T)
    theirs["fit BG/NBD"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    e = bgf.conditional_expected_number_of_purchases_up_to_time(30, f, r, T)
    theirs["expected purchases 30 d"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pa = bgf.conditional_probability_alive(f, r, T)
    theirs["P(alive)"] = time.perf_counter() - t0
    rep = m > 0
    ggf = GammaGammaFitter().fit(f[rep], m[rep])
    t0 = time.perf_counter()
    clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=12, discount_rate=0.01, freq="D")
    theirs["CLV 12 months"] = time.perf_counter() - t0
    print(f"lifetimes {lifetimes.__version__} params: {bgf.params_.to_dict()}")
    print(f"lifetimes sums: expected {e.sum():.6g}, p_alive {pa.sum():.6g}, clv {clv.sum():.6g} "
          f"(NaN or inf: {int(sum((~np.isfinite(np.asarray(v, dtype=float))).sum() for v in (e, pa, clv)))})")

print(f"crmlake params: {crm_params}")
print(f"crmlake sums: expected {crm_sums['expected']:.6g}, p_alive {crm_sums['p_alive']:.6g}, clv {crm_sums['clv']:.6g}")
print(f"\n{args.customers:,} customers; crmlake process = whole `crmlake sql` process wall time, "
      "best of 5; crmlake statement = the statement alone (--timing), best of 10 in one process "
      "(3 for the fit)\n")
print(f"| step | crmlake process (s) | crmlake statement (s) | lifetimes (s) | lifetimes / crmlake process | lifetimes / crmlake statement |")
print(f"| --- | --- | --- | --- | --- | --- |")
for k, v in results.items():
    t = theirs.get(k)
    s = in_process[k]
    ratios = f"{t / v:.1f}x | {t / s:.1f}x" if t else " | "
    print(f"| {k} | {v:.3f} | {s:.3f} | {'' if t is None else f'{t:.3f}'} | {ratios} |")
sys.stdout.flush()
