"""sentiment_train() vs scikit-learn's TF-IDF (word 1-2 grams) +
LogisticRegression fit on the same 1,000,000 labelled messages from one
Parquet file, each side as a whole process (read, featurize, fit).

Usage (from the repository root):

    cargo build --release
    python3 -m venv /tmp/churn-bench
    /tmp/churn-bench/bin/pip install scikit-learn==1.9.1 pyarrow==26.0.1
    /tmp/churn-bench/bin/python benches/sentiment_train_vs_sklearn.py [--messages 1000000]

Input: the 2,000 labelled sentences of data/feedback/sentences.tsv drawn
with replacement (seed 1) into `--messages` rows (text, label), written
once to one Parquet file. crmlake: `crmlake sql -c "SELECT
model_info(sentiment_train(text, label)) FROM ..."` with its defaults
(2^18 hashed buckets, word 1-2 grams, character n-grams for CJK terms, C = 1);
scikit-learn: `TfidfVectorizer(ngram_range=(1, 2))` then
`LogisticRegression(max_iter=1000)` (C = 1, lbfgs). Both report the training
accuracy, which must be alike. Best of `--repeats`.
"""
import argparse
import json
import os
import random
import sys

from gnu_time import best_of

ap = argparse.ArgumentParser()
ap.add_argument("--messages", type=int, default=1_000_000)
ap.add_argument("--crmlake", default=os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "crmlake"))
ap.add_argument("--work", default="/tmp/sentiment-train-bench")
ap.add_argument("--repeats", type=int, default=3)
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
os.makedirs(args.work, exist_ok=True)
data = os.path.join(args.work, f"labelled-{args.messages}.parquet")

if not os.path.exists(data):
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = []
    with open("data/feedback/sentences.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            label, _source, text = line.rstrip("\n").split("\t", 2)
            rows.append((text, int(label)))
    rng = random.Random(1)
    drawn = [rng.choice(rows) for _ in range(args.messages)]
    pq.write_table(pa.table({"text": [t for t, _ in drawn], "label": [l for _, l in drawn]}), data)

crm_sql = (f"CREATE EXTERNAL TABLE m STORED AS PARQUET LOCATION '{data}'; "
           "SELECT model_info(sentiment_train(text, label)) AS info FROM m")
python_program = f"""
import pyarrow.parquet as pq
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
t = pq.read_table({data!r})
texts, y = t.column("text").to_pylist(), t.column("label").to_numpy()
x = TfidfVectorizer(ngram_range=(1, 2)).fit_transform(texts)
clf = LogisticRegression(max_iter=1000).fit(x, y)
print("ACCURACY", (clf.predict(x) == y).mean())
"""

best, outputs = best_of([("crmlake", [crm, "sql", "--format", "json", "-c", crm_sql]),
                         ("scikit-learn", [sys.executable, "-c", python_program])], args.repeats)

info = json.loads(json.loads(outputs["crmlake"])[0]["info"])
sk_acc = float(outputs["scikit-learn"].split("ACCURACY")[1].split()[0])
print(f"{args.messages} labelled messages ({data}); best of {args.repeats}, whole process:")
for name in ["crmlake", "scikit-learn"]:
    s, r = best[name]
    print(f"  {name:13s} {s:8.3f} s  peak RSS {r:6.0f} MiB")
print(f"  training accuracy: crmlake {info['metrics']['train_accuracy']:.4f} "
      f"({info['metrics']['iterations']} iterations), scikit-learn {sk_acc:.4f}")
print(f"ratio scikit-learn / crmlake time: {best['scikit-learn'][0] / best['crmlake'][0]:.2f}")
