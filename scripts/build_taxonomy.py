"""Writes the sample lake's default topic taxonomy,
data/lake/feedback_taxonomy/feedback_taxonomy.parquet (topic, keyword,
language), from data/feedback/taxonomy.tsv, which is its source and is
edited by hand: six retail topics (product, delivery, price, service,
returns, website_app) with English ('en') and Korean ('ko') keywords, for
`feedback_topics` (keyword rules in udfs/src/feedback/topics.rs: words, `*`
word prefixes, Korean stems anywhere). Written by the crmlake team for this
project; no third-party data.

Usage (from the repository root; pyarrow from PyPI):

    python3 -m venv /tmp/feedback-build && /tmp/feedback-build/bin/pip install pyarrow==17.0.0
    /tmp/feedback-build/bin/python scripts/build_taxonomy.py
"""
import csv
import os

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

with open(os.path.join(ROOT, "data/feedback/taxonomy.tsv"), encoding="utf-8") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))
table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in ("topic", "keyword", "language")})
out = os.path.join(ROOT, "data/lake/feedback_taxonomy")
os.makedirs(out, exist_ok=True)
pq.write_table(table, os.path.join(out, "feedback_taxonomy.parquet"), compression="zstd")
print(f"{len(rows)} keywords in {len(set(r['topic'] for r in rows))} topics")
