"""bgnbd_fit vs lifetimes' BetaGeoFitter on 200,000 customers whose recency
and T are all distinct (continuous times), each side as a whole process.

Usage (from the repository root; lifetimes needs numpy 1 / pandas 1):

    cargo build --release
    python3 -m venv /tmp/ltv-bench
    /tmp/ltv-bench/bin/pip install numpy==1.26.4 pandas==1.5.3 scipy==1.11.4 \\
        autograd==1.6.2 autograd-gamma==0.5.0 lifetimes==0.11.3 pyarrow==14.0.2
    /tmp/ltv-bench/bin/python benches/bgnbd_continuous_vs_lifetimes.py [--customers 200000]

Input: `crmlake generate --customers N --seed 1` (BG/NBD with the CDNOW
estimates, daily units), summarised once per customer from order times in
fractional days (x = orders - 1, t_x = last - first order, T = end - first
order), so no two customers share (x, t_x, T) and nothing collapses into
weights. Written once to one Parquet file that both sides read.

Each side is timed as a whole process (start-up, Parquet read, fit and
output), best of `--repeats`: `crmlake sql -c "... SELECT bgnbd_fit(x, tx, t)
..."` and `python -c "import lifetimes ...; BetaGeoFitter().fit(x, tx, t)"`.
Both sides' estimates are printed; they must agree.
"""
import argparse
import json
import os
import subprocess
import sys

from gnu_time import best_of, timed

ap = argparse.ArgumentParser()
ap.add_argument("--customers", type=int, default=200_000)
ap.add_argument("--crmlake", default=os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "crmlake"))
ap.add_argument("--work", default="/tmp/bgnbd-continuous")
ap.add_argument("--repeats", type=int, default=5)
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
os.makedirs(args.work, exist_ok=True)
lake = os.path.join(args.work, f"lake-{args.customers}")
data = os.path.join(args.work, f"summary-{args.customers}.parquet")

if not os.path.exists(data):
    subprocess.run([crm, "generate", "--customers", str(args.customers), "--seed", "1",
                    "--out", lake], check=True, capture_output=True)
    with open(os.path.join(lake, "_truth.json")) as f:
        end = json.load(f)["end"]
    sql = ("COPY (WITH o AS (SELECT customer_id, order_id, min(ts) AS ts FROM transactions "
           "GROUP BY 1, 2) SELECT customer_id, CAST(count(*) - 1 AS DOUBLE) AS x, "
           "(date_part('epoch', max(ts)) - date_part('epoch', min(ts))) / 86400.0 AS tx, "
           f"(date_part('epoch', TIMESTAMP '{end} 00:00:00') - date_part('epoch', min(ts))) "
           f"/ 86400.0 AS t FROM o GROUP BY 1) TO '{data}' STORED AS PARQUET")
    timed([crm, "sql", "--lake", lake, "-c", sql])

crm_sql = (f"CREATE EXTERNAL TABLE s STORED AS PARQUET LOCATION '{data}'; "
           "SELECT CAST(bgnbd_fit(x, tx, t) AS VARCHAR) AS m FROM s")
lifetimes_program = f"""
import pyarrow.parquet as pq
from lifetimes import BetaGeoFitter
s = pq.read_table({data!r}).to_pandas()
m = BetaGeoFitter().fit(s["x"], s["tx"], s["t"])
print("PARAMS", m.params_["r"], m.params_["alpha"], m.params_["a"], m.params_["b"])
"""

best, outputs = best_of([("crmlake", [crm, "sql", "--format", "json", "-c", crm_sql]),
                         ("lifetimes", [sys.executable, "-c", lifetimes_program])], args.repeats)

crm_model = json.loads(json.loads(outputs["crmlake"])[0]["m"])["params"]
lt = outputs["lifetimes"].split("PARAMS")[1].split()
print(f"{args.customers} customers, all (x, t_x, T) distinct ({data}); "
      f"best of {args.repeats}, whole process:")
for name in ["crmlake", "lifetimes"]:
    s, r = best[name]
    print(f"  {name:9s} {s:7.3f} s  peak RSS {r:6.0f} MiB")
print("  crmlake   r, alpha, a, b =", ", ".join(f"{crm_model[k]:.6f}" for k in ["r", "alpha", "a", "b"]))
print("  lifetimes r, alpha, a, b =", ", ".join(f"{float(v):.6f}" for v in lt))
print(f"ratio lifetimes / crmlake time: {best['lifetimes'][0] / best['crmlake'][0]:.1f}")
