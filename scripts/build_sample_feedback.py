"""Builds the sample lake's `feedback` table (data/lake/feedback/) and its
planted rates (data/lake/_truth.json) from the sample lake's transactions
and the review sentences, which it first copies from
../shared/data/feedback/ to data/feedback/sentences.tsv (the UCI Sentiment
Labelled Sentences, CC BY 4.0; provenance in data/README.md).

The sentences are real; their link to the sample lake's customers is
synthetic, drawn here with Python's random.Random(1), by the model of
`crmlake generate`'s feedback (src/generate/feedback.rs), on the customers'
real purchase histories (Online Retail, 2010-12-01 .. 2011-12-09):

- every customer with a purchase writes Poisson(0.5) messages at uniform
  times over its active span: first to last purchase for a customer whose
  last purchase is more than 90 days before 2011-12-09 ("lapsed"), first
  purchase to 2011-12-09 otherwise; each negative with probability 0.25;
- a lapsed customer writes one more message U(0, 30) days after its last
  purchase (if before 2011-12-09), negative with probability 0.7: the
  planted effect (complaints before customers leave) that churn analysis
  should find;
- kind, NPS and CSAT answers, channel, response and resolution times as in
  src/generate/feedback.rs (scores consistent with the sentence's label).

Usage (from the repository root; pyarrow from PyPI):

    python3 -m venv /tmp/feedback-build && /tmp/feedback-build/bin/pip install pyarrow==17.0.0
    /tmp/feedback-build/bin/python scripts/build_sample_feedback.py
"""
import datetime as dt
import json
import math
import os
import random

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
END = dt.datetime(2011, 12, 9)
LAPSE_DAYS = 90
PARAMS = {
    "mean_messages": 0.5,
    "negative_base": 0.25,
    "negative_after_lapse": 0.7,
    "last_message_days": 30.0,
    "lapse_days": LAPSE_DAYS,
    "as_of": END.date().isoformat(),
    "seed": 1,
}
CHANNELS = [("web", 0.30), ("app", 0.25), ("email", 0.20), ("phone", 0.15), ("social", 0.10)]


def poisson(rng, mean):
    # Knuth: multiply uniforms until below e^-mean (small means).
    limit, k, prod = math.exp(-mean), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def copy_sentences(shared):
    """data/feedback/sentences.tsv from the shared JSON files (label, source,
    text; the rows with a null class skipped)."""
    rows = []
    for source in ["amazon", "yelp"]:
        with open(os.path.join(shared, f"{source}.json"), encoding="utf-8") as f:
            for r in json.load(f):
                if r["class"] is None:
                    continue
                text = r["text"].strip()
                assert "\t" not in text and "\n" not in text, text
                rows.append(f"{r['class']}\t{source}\t{text}\n")
    os.makedirs(os.path.join(ROOT, "data/feedback"), exist_ok=True)
    with open(os.path.join(ROOT, "data/feedback/sentences.tsv"), "w", encoding="utf-8",
              newline="\n") as f:
        f.write("label\tsource\ttext\n")
        f.writelines(rows)


def sentences():
    neg, pos = [], []
    with open(os.path.join(ROOT, "data/feedback/sentences.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            label, _source, text = line.rstrip("\n").split("\t", 2)
            (pos if label == "1" else neg).append(text)
    return neg, pos


def main():
    copy_sentences(os.path.join(ROOT, "..", "shared", "data", "feedback"))
    tx = pq.read_table(os.path.join(ROOT, "data/lake/transactions"), columns=["customer_id", "ts"])
    tx = tx.filter(pc.is_valid(tx["customer_id"]))
    spans = tx.group_by("customer_id").aggregate([("ts", "min"), ("ts", "max")])
    spans = sorted(zip(spans["customer_id"].to_pylist(), spans["ts_min"].to_pylist(),
                       spans["ts_max"].to_pylist()))
    neg, pos = sentences()
    rng = random.Random(PARAMS["seed"])
    rows = {k: [] for k in ["feedback_id", "customer_id", "ts", "channel", "kind", "nps_score",
                            "csat_score", "text", "language", "first_response_at", "resolved_at"]}

    def message(customer, k, ts, negative):
        u = rng.random()
        if negative:
            kind = "complaint" if u < 0.6 else "review" if u < 0.8 else "survey"
        else:
            kind = "review" if u < 0.5 else "survey" if u < 0.9 else "question"
        nps = None
        if kind == "survey":
            if negative:
                nps = rng.randint(0, 6)
            else:
                nps = rng.randint(9, 10) if rng.random() < 0.75 else rng.randint(7, 8)
        csat = None
        if kind in ("survey", "complaint") and rng.random() < 0.5:
            csat = rng.randint(1, 3) if negative else rng.randint(4, 5)
        text = rng.choice(neg if negative else pos)
        x = rng.random()
        channel = "social"
        for name, w in CHANNELS:
            x -= w
            if x < 0:
                channel = name
                break
        responded = resolved = None
        if kind in ("complaint", "question"):
            responded = ts + dt.timedelta(hours=rng.expovariate(1 / 8))
            if kind == "complaint" and rng.random() >= 0.1:
                resolved = responded + dt.timedelta(hours=rng.expovariate(1 / 48))
        within = lambda t: t if t is not None and t < END else None
        for key, value in [("feedback_id", f"S{customer}-{k}"), ("customer_id", customer),
                           ("ts", ts), ("channel", channel), ("kind", kind), ("nps_score", nps),
                           ("csat_score", csat), ("text", text), ("language", "en"),
                           ("first_response_at", within(responded)),
                           ("resolved_at", within(resolved))]:
            rows[key].append(value)

    lapsed = 0
    for customer, first, last in spans:
        is_lapsed = last < END - dt.timedelta(days=LAPSE_DAYS)
        lapsed += is_lapsed
        active_end = last if is_lapsed else END
        k = 0
        for _ in range(poisson(rng, PARAMS["mean_messages"])):
            ts = first + (active_end - first) * rng.random()
            message(customer, k, ts, rng.random() < PARAMS["negative_base"])
            k += 1
        if is_lapsed:
            ts = last + dt.timedelta(days=rng.random() * PARAMS["last_message_days"])
            if ts < END:
                message(customer, k, ts, rng.random() < PARAMS["negative_after_lapse"])

    ts = pa.timestamp("us")
    schema = pa.schema([("feedback_id", pa.string(), False), ("customer_id", pa.int64(), False),
                        ("ts", ts, False), ("channel", pa.string(), False),
                        ("kind", pa.string(), False), ("nps_score", pa.int64()),
                        ("csat_score", pa.int64()), ("text", pa.string(), False),
                        ("language", pa.string(), False), ("first_response_at", ts),
                        ("resolved_at", ts)])
    table = pa.table(rows, schema=schema).sort_by([("ts", "ascending"), ("feedback_id", "ascending")])
    out = os.path.join(ROOT, "data/lake/feedback")
    os.makedirs(out, exist_ok=True)
    pq.write_table(table, os.path.join(out, "part-00000.parquet"), compression="zstd")
    truth = {"feedback": PARAMS, "counts": {"customers": len(spans), "lapsed": lapsed,
                                            "feedback_rows": table.num_rows}}
    with open(os.path.join(ROOT, "data/lake/_truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    print(f"{table.num_rows} messages of {len(spans)} customers ({lapsed} lapsed)")


if __name__ == "__main__":
    main()
