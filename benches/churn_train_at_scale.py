"""crmlake churn_train (gbt) vs LightGBM on 1M rows x 15 features, in one run.

Usage (from the repository root):

    cargo build --release
    python3 -m venv /tmp/churn-bench
    /tmp/churn-bench/bin/pip install lightgbm==4.7.0 scikit-learn==1.9.1 pandas==3.1.1 numpy==2.4.6 pyarrow==26.0.1
    /tmp/churn-bench/bin/python benches/churn_train_at_scale.py [--lake /tmp/crmlake-scale/lake-1000000] [--trees 100]

Input: the 15 churn features of the nightly job (`churn_features` as of
2023-12-31 with a 90-day horizon, the demo's `churn` step at run date
2024-06-30) over a lake made by `crmlake generate --customers 1000000 --seed 1`
(benches/nightly_at_scale.sh makes it), labelled customers only, written once
to one Parquet file that both sides read.

Both sides grow the same number of trees (`--trees`, early stopping off) of
at most 15 leaves, learning rate 0.05, at least 20 rows per leaf, L2 penalty
1 on leaf values, 255 bins per feature, on 2 threads, no class weights:
crmlake `churn_train(..., 'algorithm=gbt, max_iter=N, validation_fraction=0,
num_leaves=15, min_samples_leaf=20, l2=1, max_bins=255')`; LightGBM
`LGBMClassifier(n_estimators=N, num_leaves=15, learning_rate=0.05,
min_child_samples=20, reg_lambda=1, max_bin=255, min_child_weight=1e-3,
n_jobs=2)`.

Each side runs as its own process, timed from start to end (reading the
Parquet file included on both sides), with its peak RSS (GNU time), best of
`--repeats`. Each side's training ROC-AUC is printed too (scored by
scikit-learn on the same rows), so a faster side is not a worse model.
"""
import argparse
import os
import sys

from gnu_time import best_of, timed
import tempfile

FEATURES = ["recency_days", "frequency", "frequency_30", "frequency_90", "frequency_365",
            "monetary", "monetary_30", "monetary_90", "monetary_365", "avg_basket_value",
            "tenure_days", "days_since_first", "gap_mean_days", "gap_std_days", "trend_90"]

ap = argparse.ArgumentParser()
ap.add_argument("--crmlake", default=os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "crmlake"))
ap.add_argument("--lake", default="/tmp/crmlake-scale/lake-1000000")
ap.add_argument("--trees", type=int, default=100)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--work", default="/tmp/churn-train-bench")
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
os.makedirs(args.work, exist_ok=True)
data = os.path.join(args.work, "features.parquet")

if not os.path.exists(data):
    features = ", ".join(f"CAST({f} AS DOUBLE) AS {f}" for f in FEATURES)
    sql = (f"COPY (SELECT customer_id, {features}, CAST(churned AS INT) AS churned "
           "FROM churn_features('SELECT customer_id, ts, order_id, amount FROM transactions', "
           "DATE '2023-12-31', 90) WHERE churned IS NOT NULL ORDER BY customer_id) "
           f"TO '{data}' STORED AS PARQUET")
    timed([crm, "sql", "--lake", args.lake, "-c", sql])

import lightgbm  # noqa: E402  (after the data step, which needs none of it)
import pyarrow.parquet as pq  # noqa: E402
import sklearn  # noqa: E402

rows = pq.read_metadata(data).num_rows
print(f"input: {rows} labelled customers x {len(FEATURES)} features ({data})")
print(f"lightgbm {lightgbm.__version__}, scikit-learn {sklearn.__version__}, "
      f"{os.cpu_count()} cores")

# crmlake: train, then score the training rows into a file for the AUC.
struct = ", ".join(f"'{f}', {f}" for f in FEATURES)
options = (f"algorithm=gbt, max_iter={args.trees}, validation_fraction=0, num_leaves=15, "
           "min_samples_leaf=20, l2=1, max_bins=255, learning_rate=0.05, seed=1")
crm_scores = os.path.join(args.work, "crmlake_scores.parquet")
train_sql = (f"CREATE EXTERNAL TABLE f STORED AS PARQUET LOCATION '{data}'; "
             f"SELECT length(CAST(churn_train(named_struct({struct}), churned = 1, '{options}') "
             "AS VARCHAR)) AS model_bytes FROM f")
score_sql = (f"CREATE EXTERNAL TABLE f STORED AS PARQUET LOCATION '{data}'; "
             f"CREATE TABLE m AS SELECT churn_train(named_struct({struct}), churned = 1, '{options}') "
             "AS model FROM f; "
             f"COPY (SELECT f.churned, churn_score(m.model, named_struct({struct})) AS p "
             f"FROM f CROSS JOIN m) TO '{crm_scores}' STORED AS PARQUET")

# LightGBM: the same, in a child process of its own.
lgb_scores = os.path.join(args.work, "lightgbm_scores.parquet")
lgb_program = f"""
import sys, lightgbm, pyarrow.parquet as pq, pyarrow as pa
t = pq.read_table({data!r}).to_pandas()
X, y = t[{FEATURES!r}], t["churned"]
m = lightgbm.LGBMClassifier(n_estimators={args.trees}, num_leaves=15, learning_rate=0.05,
    min_child_samples=20, reg_lambda=1.0, max_bin=255, min_child_weight=1e-3, n_jobs=2,
    verbose=-1, random_state=1)
m.fit(X, y)
if len(sys.argv) > 1:
    pq.write_table(pa.table({{"churned": y, "p": m.predict_proba(X)[:, 1]}}), sys.argv[1])
"""
lgb_file = os.path.join(args.work, "lgb_train.py")
with open(lgb_file, "w") as f:
    f.write(lgb_program)

best, _ = best_of([("crmlake", [crm, "sql", "-c", train_sql]),
                   ("lightgbm", [sys.executable, lgb_file])], args.repeats)

timed([crm, "sql", "-c", score_sql])
timed([sys.executable, lgb_file, lgb_scores])
from sklearn.metrics import roc_auc_score  # noqa: E402

auc = {}
for name, path in [("crmlake", crm_scores), ("lightgbm", lgb_scores)]:
    t = pq.read_table(path).to_pandas()
    auc[name] = roc_auc_score(t["churned"], t["p"])

print(f"{args.trees} trees of <= 15 leaves, best of {args.repeats}, whole process:")
for name in ["crmlake", "lightgbm"]:
    s, r = best[name]
    print(f"  {name:9s} {s:7.2f} s  peak RSS {r:7.0f} MiB  train ROC-AUC {auc[name]:.4f}")
print(f"ratio lightgbm / crmlake time: {best['lightgbm'][0] / best['crmlake'][0]:.2f}")
