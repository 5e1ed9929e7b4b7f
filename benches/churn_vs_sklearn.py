"""crmlake churn_train / churn_score vs scikit-learn and LightGBM, in one run.

Usage (from the repository root):

    cargo build --release
    python3 -m venv /tmp/churn-bench
    /tmp/churn-bench/bin/pip install scikit-learn==1.9.1 lightgbm==4.7.0 pandas==3.1.1 numpy==2.4.6 pyarrow==26.0.1
    /tmp/churn-bench/bin/python benches/churn_vs_sklearn.py [--rows 1000000]

Input: data/churn/wa_churn.csv (7,043 customers) with the stratified 5-fold
split of tests/fixtures/churn/wa_churn_folds.csv (seed 42), and a
1,000,000-row Parquet file of wa_churn rows drawn with replacement (seed 1)
for scoring. Both sides get the same 19 features (9 numeric, 10 categorical).

- Training, per fold: crmlake's `churn_train` in one `crmlake sql --timing`
  process over an in-memory table (the statement's time: plan, train, return
  the model); scikit-learn LogisticRegression(C=1) on the standardised
  one-hot design (design not timed, as crmlake's includes it), LightGBM
  LGBMClassifier() defaults on pandas categories. Mean over the 5 folds, and
  the mean ROC-AUC of each.
- Scoring 1M rows, best of 3 on both sides: crmlake
  `SELECT sum(churn_score(model, f))` over an in-memory table of the 1M
  feature structs (the statement's time; the first run also parses the
  model), and over the Parquet file (read included); scikit-learn
  predict_proba on the design, LightGBM predict_proba on the DataFrame (both
  after loading, not timed).
Prints every figure and the ratios reference / crmlake.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import lightgbm
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

NUMERIC = ["female", "senior_citizen", "partner", "dependents", "tenure", "phone_service",
           "paperless_billing", "monthly_charges", "total_charges"]
CATEGORICAL = ["multiple_lines", "internet_service", "online_security", "online_backup",
               "device_protection", "tech_support", "streaming_tv", "streaming_movies",
               "contract", "payment_method"]

ap = argparse.ArgumentParser()
ap.add_argument("--crmlake", default="target/release/crmlake")
ap.add_argument("--rows", type=int, default=1_000_000)
ap.add_argument("--work", default="/tmp/churn-bench-data")
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
# Scoring is timed this many times on each side and the best time kept.
REPEATS = 3
os.makedirs(args.work, exist_ok=True)

df = pd.read_csv("data/churn/wa_churn.csv")
folds = pd.read_csv("tests/fixtures/churn/wa_churn_folds.csv").fold.to_numpy()
y = (df.churn == "Yes").astype(int).to_numpy()
wa_path = os.path.join(args.work, "wa.csv")
out = df.copy()
out.insert(0, "fold", folds)
out.insert(0, "row", np.arange(len(df)))
out.to_csv(wa_path, index=False)
big_path = os.path.join(args.work, "big.parquet")
rng = np.random.default_rng(1)
big = df.iloc[rng.integers(0, len(df), args.rows)].reset_index(drop=True)
big[NUMERIC] = big[NUMERIC].astype(float)
pq.write_table(pa.Table.from_pandas(big[NUMERIC + CATEGORICAL], preserve_index=False), big_path)

struct = "named_struct(" + ", ".join(
    [f"'{f}', TRY_CAST({f} AS DOUBLE)" for f in NUMERIC] + [f"'{f}', {f}" for f in CATEGORICAL]) + ")"


def crmlake_run(algorithm):
    sql = [f"CREATE EXTERNAL TABLE wa_csv STORED AS CSV LOCATION '{wa_path}' OPTIONS ('format.has_header' 'true')",
           f"CREATE TABLE wa AS SELECT row, fold, churn = 'Yes' AS churned, {struct} AS f FROM wa_csv",
           f"CREATE EXTERNAL TABLE big_file STORED AS PARQUET LOCATION '{big_path}'",
           f"CREATE TABLE big AS SELECT {struct} AS f FROM big_file"]
    for k in range(5):
        sql.append(f"CREATE TABLE m{k} AS SELECT churn_train(f, churned, 'algorithm={algorithm}, seed=42') AS model "
                   f"FROM wa WHERE fold <> {k}")
    for k in range(5):
        sql.append(f"CREATE TABLE s{k} AS SELECT churn_score(model, f) AS p, churned FROM wa CROSS JOIN m{k} WHERE fold = {k}")
    for _ in range(REPEATS):
        sql.append("SELECT sum(churn_score(model, f)) FROM big CROSS JOIN m0")
    for _ in range(REPEATS):
        sql.append("SELECT sum(churn_score(model, f)) FROM (SELECT " + struct + " AS f FROM big_file) CROSS JOIN m0")
    sql.append(" UNION ALL ".join(f"SELECT {k} AS k, roc_auc(p, churned) AS auc FROM s{k}" for k in range(5)))
    r = subprocess.run([crm, "sql", "--timing", "--format", "csv", "-c", ";\n".join(sql)],
                       check=True, capture_output=True, text=True)
    times = [float(t) for t in re.findall(r"rows in ([0-9.]+) s", r.stderr)]
    aucs = [float(line.split(",")[1]) for line in r.stdout.strip().splitlines()[1:]]
    train = times[4:9]
    score = times[14:14 + 2 * REPEATS]
    return np.mean(train), min(score[:REPEATS]), min(score[REPEATS:]), np.mean(aucs)


def best_of(call):
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def design(frame, fit_rows):
    cols = {}
    for f in NUMERIC:
        v = frame[f].astype(float)
        cols[f] = v.fillna(v.iloc[fit_rows].mean())
    for f in CATEGORICAL:
        for c in sorted(frame[f].iloc[fit_rows].dropna().unique()):
            cols[f"{f}={c}"] = (frame[f] == c).astype(float)
    x = pd.DataFrame(cols)
    mean, sd = x.iloc[fit_rows].mean(), x.iloc[fit_rows].std(ddof=0).replace(0.0, 1.0)
    return x, mean, sd


def reference():
    res = {}
    trees_x = df[NUMERIC + CATEGORICAL].copy()
    for f in CATEGORICAL:
        trees_x[f] = trees_x[f].astype("category")
    for name in ["logistic", "lightgbm"]:
        secs, aucs, model0, std0 = [], [], None, None
        for k in range(5):
            train, test = np.where(folds != k)[0], np.where(folds == k)[0]
            if name == "logistic":
                x, mean, sd = design(df, train)
                z = (x - mean) / sd
                t0 = time.perf_counter()
                m = LogisticRegression(C=1.0, max_iter=10000).fit(z.iloc[train], y[train])
                secs.append(time.perf_counter() - t0)
                p = m.predict_proba(z.iloc[test])[:, 1]
                std = (mean, sd, list(x.columns))
            else:
                t0 = time.perf_counter()
                m = lightgbm.LGBMClassifier(verbose=-1, random_state=42).fit(trees_x.iloc[train], y[train])
                secs.append(time.perf_counter() - t0)
                p = m.predict_proba(trees_x.iloc[test])[:, 1]
                std = None
            aucs.append(roc_auc_score(y[test], p))
            if k == 0:
                model0, std0 = m, std
        if name == "logistic":
            mean, sd, columns = std0
            cols = {}
            for c in columns:
                if "=" in c:
                    f, v = c.split("=", 1)
                    cols[c] = (big[f] == v).astype(float)
                else:
                    cols[c] = big[c].astype(float).fillna(mean[c])
            zb = (pd.DataFrame(cols) - mean) / sd
            score = best_of(lambda: model0.predict_proba(zb))
        else:
            bx = big[NUMERIC + CATEGORICAL].copy()
            for f in CATEGORICAL:
                bx[f] = pd.Categorical(bx[f], categories=trees_x[f].cat.categories)
            score = best_of(lambda: model0.predict_proba(bx))
        res[name] = (np.mean(secs), score, np.mean(aucs))
    return res


print(f"scikit-learn {sklearn.__version__}, lightgbm {lightgbm.__version__}, {os.cpu_count()} cores; "
      f"wa_churn 5 folds, scoring {args.rows:,} rows")
ref = reference()
for name, (train, score, auc) in ref.items():
    print(f"{name:>22}: train {train:.4f} s/fold, score {score:.3f} s, ROC-AUC {auc:.4f}")
for algorithm, versus in [("logistic", "logistic"), ("gbt", "lightgbm"), ("random_forest", "lightgbm")]:
    train, score_mem, score_file, auc = crmlake_run(algorithm)
    rt, rs, _ = ref[versus]
    print(f"crmlake {algorithm:>14}: train {train:.4f} s/fold, score {score_mem:.3f} s in memory, "
          f"{score_file:.3f} s from Parquet, ROC-AUC {auc:.4f}; {versus} / crmlake: train {rt / train:.2f}x, "
          f"score {rs / score_mem:.2f}x")
