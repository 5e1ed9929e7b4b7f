"""feedback_summary() vs a plain GROUP BY over the same messages and
columns, each as a whole `crmlake sql` process.

Usage (from the repository root; any Python 3):

    cargo build --release
    target/release/crmlake generate --customers 14000000 --out /tmp/fs-bench/lake
    python3 benches/feedback_summary_vs_group_by.py --lake /tmp/fs-bench/lake

Input: the lake's `feedback` table, first scored once into one Parquet
folder (`sentiment(text)`, `feedback_topics` by the lake's
`feedback_taxonomy`), as the demo's `feedback_scored` step does. Then, per
week x channel x topic:
- crmlake: `feedback_summary(scored, as_of, 'week')` (messages, customers,
  NPS and CSAT intervals, complaint rate, sentiment, negative share, median
  and p90 response and resolution hours, open complaints);
- baseline: the same grouping (topics unnested) with DataFusion's own
  aggregates on the same columns: count, count(DISTINCT customer_id), avg of
  nps_score, csat_score and sentiment, median of the two durations.
Best of `--repeats`; the goal (issue 26) is feedback_summary within 2x.
"""
import argparse
import os

from gnu_time import best_of

ap = argparse.ArgumentParser()
ap.add_argument("--lake", required=True)
ap.add_argument("--as-of", default="2024-07-01")
ap.add_argument("--crmlake", default=os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "crmlake"))
ap.add_argument("--repeats", type=int, default=3)
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
scored = os.path.join(os.path.abspath(args.lake) + "-scored", "scored")

if not os.path.exists(scored):
    os.makedirs(scored)
    import subprocess
    subprocess.run([crm, "sql", "--lake", args.lake, "-o", os.path.join(scored, "part-0.parquet"), "-c",
                    "SELECT customer_id, ts, channel, kind, nps_score, csat_score, sentiment(text) AS sentiment, "
                    "feedback_topics(text, (SELECT array_agg(named_struct('topic', topic, 'keyword', keyword)) "
                    "FROM feedback_taxonomy)) AS topics, first_response_at, resolved_at FROM feedback"],
                   check=True)

table = f"CREATE EXTERNAL TABLE scored STORED AS PARQUET LOCATION '{scored}/'; "
# Every column is printed: an outer count(*) would let the optimizer drop
# the aggregates nobody reads.
summary = table + (f"SELECT * FROM feedback_summary('scored', '{args.as_of}', 'week') "
                   "ORDER BY period, channel, topic")
hours = lambda c: f"(date_part('epoch', {c}) - date_part('epoch', ts)) / 3600.0"
plain = table + (
    "SELECT date_trunc('week', ts) AS period, channel, topic, count(*) AS messages, "
    "count(DISTINCT customer_id) AS customers, avg(nps_score) AS nps, avg(csat_score) AS csat, "
    f"avg(sentiment) AS sentiment, median({hours('first_response_at')}) AS response, "
    f"median({hours('resolved_at')}) AS resolution "
    "FROM (SELECT *, unnest(topics) AS topic FROM scored) "
    f"WHERE ts < DATE '{args.as_of}' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")

best, outputs = best_of([("feedback_summary", [crm, "sql", "--format", "csv", "-c", summary]),
                         ("GROUP BY", [crm, "sql", "--format", "csv", "-c", plain])], args.repeats)
print(f"messages in {scored}; best of {args.repeats}, whole process:")
for name in ["feedback_summary", "GROUP BY"]:
    s, r = best[name]
    print(f"  {name:16s} {s:8.3f} s  peak RSS {r:6.0f} MiB  {len(outputs[name].strip().splitlines()) - 1} rows")
print(f"ratio feedback_summary / GROUP BY time: {best['feedback_summary'][0] / best['GROUP BY'][0]:.2f}")
