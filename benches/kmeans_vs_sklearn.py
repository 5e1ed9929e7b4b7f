"""crmlake kmeans_fit vs scikit-learn KMeans on 1,000,000 x 3 RFM features.

Usage (from the repository root):

    cargo build --release
    python3 -m venv /tmp/kmeans-bench
    /tmp/kmeans-bench/bin/pip install scikit-learn==1.9.1 numpy==2.4.6 pyarrow==26.0.1
    /tmp/kmeans-bench/bin/python benches/kmeans_vs_sklearn.py [--customers 1000000] [--k 5] [--n-init 1]

Input: `crmlake generate --customers N --seed 1`, then rfm(...) as of the
lake's end date written to one Parquet file with the features recency_days,
ln(1 + frequency), ln(1 + monetary). Both tools read that file:
- crmlake: one `crmlake sql` process running kmeans_fit over the Parquet file
  (start-up, read, standardisation, fit, output), best of 3 by wall time;
- scikit-learn: the file read and z-scored with numpy (not timed), then
  KMeans(k, init='k-means++', n_init, algorithm='lloyd', random_state=0).fit
  timed with perf_counter (all cores, as scikit-learn uses them by default).
Prints both times, both inertias (on the z-scored features) and the ratio.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import sklearn
from sklearn.cluster import KMeans

ap = argparse.ArgumentParser()
ap.add_argument("--crmlake", default="target/release/crmlake")
ap.add_argument("--customers", type=int, default=1_000_000)
ap.add_argument("--k", type=int, default=5)
ap.add_argument("--n-init", type=int, default=1)
ap.add_argument("--work", default="/tmp/kmeans-bench-data")
args = ap.parse_args()

crm = os.path.abspath(args.crmlake)
work = os.path.abspath(args.work)
lake = os.path.join(work, "lake")
features = os.path.join(work, "features_lake", "features", "features.parquet")
if not os.path.exists(features):
    subprocess.run([crm, "generate", "--customers", str(args.customers), "--seed", "1", "--out", lake],
                   check=True, capture_output=True)
    end = json.load(open(os.path.join(lake, "_truth.json")))["end"]
    os.makedirs(os.path.dirname(features), exist_ok=True)
    subprocess.run([crm, "sql", "--lake", lake, "-o", features, "-c",
                    "SELECT customer_id, CAST(recency_days AS DOUBLE) AS r, ln(1.0 + frequency) AS f, "
                    f"ln(1.0 + monetary) AS m FROM rfm('transactions', '{end}')"], check=True, capture_output=True)

sql = (f"SELECT model_info(kmeans_fit(named_struct('r', r, 'f', f, 'm', m), {args.k}, "
       f"'n_init={args.n_init}, seed=0')) FROM features")
best = None
for _ in range(3):
    t0 = time.perf_counter()
    out = subprocess.run([crm, "sql", "--lake", os.path.dirname(os.path.dirname(features)), "--format", "json",
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    if best is None or wall < best[0]:
        best = (wall, json.loads(list(json.loads(out)[0].values())[0]))
crm_wall, model = best

t = pq.read_table(features, columns=["r", "f", "m"])
x = np.column_stack([t.column(c).to_numpy() for c in ["r", "f", "m"]])
z = (x - x.mean(axis=0)) / x.std(axis=0)
t0 = time.perf_counter()
km = KMeans(n_clusters=args.k, init="k-means++", n_init=args.n_init, algorithm="lloyd", random_state=0).fit(z)
sk_wall = time.perf_counter() - t0

print(f"{len(z):,} points x 3 features, k = {args.k}, n_init = {args.n_init}; "
      f"scikit-learn {sklearn.__version__}, {os.cpu_count()} cores")
print(f"crmlake kmeans_fit (whole process): {crm_wall:.3f} s, inertia {model['inertia']:.6g}, "
      f"{model['iterations']} iterations")
print(f"scikit-learn KMeans.fit:            {sk_wall:.3f} s, inertia {km.inertia_:.6g}, {km.n_iter_} iterations")
print(f"ratio scikit-learn / crmlake: {sk_wall / crm_wall:.2f}x; inertia ratio {model['inertia'] / km.inertia_:.5f}")
