"""sentiment() vs Python vaderSentiment on the same 1,000,000 messages from
one Parquet file, each side as a whole process.

Usage (from the repository root):

    cargo build --release
    python3 -m venv /tmp/vader
    /tmp/vader/bin/pip install vaderSentiment==3.3.2 pyarrow==17.0.0
    /tmp/vader/bin/python benches/sentiment_vs_vader.py [--messages 1000000]

Input: the 2,000 labelled sentences of ../shared/data/feedback/ (amazon and
yelp), drawn with replacement (seed 1) into `--messages` rows, written once
to one Parquet file. crmlake: `crmlake sql -c "SELECT sum(sentiment(text)),
count(sentiment(text)) FROM ..."` (Parquet read, score, aggregate);
Python: read the same file with pyarrow and call `polarity_scores` on every
message, summing the compound scores. The sums must agree within rounding
(VADER rounds each score to 4 decimals). Best of `--repeats`.
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
ap.add_argument("--shared", default="../shared/data/feedback")
ap.add_argument("--work", default="/tmp/sentiment-bench")
ap.add_argument("--repeats", type=int, default=3)
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
os.makedirs(args.work, exist_ok=True)
data = os.path.join(args.work, f"messages-{args.messages}.parquet")

if not os.path.exists(data):
    import pyarrow as pa
    import pyarrow.parquet as pq
    sentences = []
    for source in ["amazon", "yelp"]:
        with open(os.path.join(args.shared, f"{source}.json"), encoding="utf-8") as f:
            sentences += [r["text"] for r in json.load(f) if r["class"] is not None]
    rng = random.Random(1)
    texts = [rng.choice(sentences) for _ in range(args.messages)]
    pq.write_table(pa.table({"text": texts}), data)

crm_sql = (f"CREATE EXTERNAL TABLE m STORED AS PARQUET LOCATION '{data}'; "
           "SELECT sum(sentiment(text)) AS total, count(sentiment(text)) AS n FROM m")
python_program = f"""
import pyarrow.parquet as pq
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
analyzer = SentimentIntensityAnalyzer()
texts = pq.read_table({data!r}).column("text").to_pylist()
total = sum(analyzer.polarity_scores(t)["compound"] for t in texts)
print("TOTAL", total, len(texts))
"""

best, outputs = best_of([("crmlake", [crm, "sql", "--format", "json", "-c", crm_sql]),
                         ("vaderSentiment", [sys.executable, "-c", python_program])], args.repeats)

crm_out = json.loads(outputs["crmlake"])[0]
py_total, py_n = outputs["vaderSentiment"].split("TOTAL")[1].split()
print(f"{args.messages} messages ({data}); best of {args.repeats}, whole process:")
for name in ["crmlake", "vaderSentiment"]:
    s, r = best[name]
    print(f"  {name:14s} {s:8.3f} s  peak RSS {r:6.0f} MiB  {args.messages / s:12,.0f} messages/s")
print(f"  sums: crmlake {crm_out['total']:.4f} over {crm_out['n']}, vaderSentiment {float(py_total):.4f} over {py_n}")
print(f"ratio vaderSentiment / crmlake time: {best['vaderSentiment'][0] / best['crmlake'][0]:.1f}")
