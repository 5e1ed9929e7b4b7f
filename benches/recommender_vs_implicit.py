"""item_knn or ALS fit and recommendations for every customer: crmlake vs
the `implicit` library's BM25Recommender or AlternatingLeastSquares, same
input, same threads, one run (`--algorithm item_knn|als`).

Usage (from the repository root):

    cargo build --release
    target/release/crmlake generate --customers 1000000 --out /tmp/crmlake-scale/lake-1000000
    python3 -m venv /tmp/implicit-venv
    /tmp/implicit-venv/bin/pip install implicit==0.7.2 scipy==1.17.1 numpy==2.4.6 pandas==3.1.1 pyarrow==26.0.1
    python3 benches/recommender_vs_implicit.py --lake /tmp/crmlake-scale/lake-1000000 \
        --python /tmp/implicit-venv/bin/python

Input: every transaction line (customer, product), one unit of weight per
line. Each side runs as its own process, timed whole by GNU time (wall
seconds, peak RSS):
- crmlake fit: `recommender_fit(customer_id, product_id, 1, 'similarity=bm25,
  neighbours=K')` from the lake (reading and summing the lines included);
- crmlake recommend: the same fit, then `recommend_for(model, customer, 10)`
  for every customer;
- implicit: read the same lines from one Parquet file (written once by
  crmlake), build the customer x product CSR matrix with pandas/scipy,
  `BM25Recommender(K, num_threads=THREADS).fit`, then `recommend` for every
  customer (N=10, filter_already_liked_items=False); it prints its own
  split of the time (load + matrix, fit, recommend).

With `--algorithm als`: `algorithm=als, factors=F, regularization=0.01,
alpha=1, iterations=15` against `AlternatingLeastSquares` with the same
parameters, given the weights as (1 + alpha*w)/alpha so both solve the
1 + alpha*w confidence problem. implicit recommends from the customer
vectors of its last sweep; crmlake re-solves each customer's vector from
their history (one Cholesky of F x F per customer), which is more work.
"""
import argparse
import os
import subprocess

from gnu_time import best_of

ap = argparse.ArgumentParser()
ap.add_argument("--lake", required=True)
ap.add_argument("--python", required=True, help="a Python with implicit 0.7.2")
ap.add_argument("--neighbours", type=int, default=100)
ap.add_argument("--algorithm", choices=["item_knn", "als"], default="item_knn")
ap.add_argument("--factors", type=int, default=64)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--crmlake", default=os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "crmlake"))
ap.add_argument("--repeats", type=int, default=1)
args = ap.parse_args()
crm = os.path.abspath(args.crmlake)
lines = os.path.abspath(args.lake) + "-lines.parquet"
if not os.path.exists(lines):
    subprocess.run([crm, "sql", "--lake", args.lake, "-o", lines, "-c",
                    "SELECT CAST(customer_id AS VARCHAR) AS c, CAST(product_id AS VARCHAR) AS i "
                    "FROM transactions WHERE customer_id IS NOT NULL AND product_id IS NOT NULL"],
                   check=True)

if args.algorithm == "als":
    options = (f"algorithm=als, factors={args.factors}, regularization=0.01, alpha=1, "
               "iterations=15")
    make_model = (f"AlternatingLeastSquares(factors={args.factors}, regularization=0.01, "
                  f"alpha=1.0, iterations=15, num_threads={args.threads}, random_state=1)")
    weights = "m.data = (1.0 + m.data) / 1.0"
else:
    options = f"similarity=bm25, neighbours={args.neighbours}"
    make_model = f"BM25Recommender(K={args.neighbours}, K1=1.2, B=0.75, num_threads={args.threads})"
    weights = "pass"
fit = (f"SELECT recommender_fit(customer_id, product_id, 1, "
       f"'{options}') AS model FROM transactions")
crm_fit = [crm, "sql", "--lake", args.lake, "--format", "csv", "-c",
           f"SELECT length(model) AS model_bytes FROM ({fit})"]
crm_rec = [crm, "sql", "--lake", args.lake, "--format", "csv", "-c",
           f"CREATE TABLE m AS {fit}; "
           "SELECT count(*) AS customers, sum(cardinality(r)) AS items FROM "
           "(SELECT recommend_for(m.model, c.customer_id, 10) AS r "
           "FROM (SELECT DISTINCT customer_id FROM transactions) c CROSS JOIN m)"]
implicit_script = f"""
import time, numpy as np, pandas as pd, pyarrow.parquet as pq, scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender
from implicit.als import AlternatingLeastSquares
t0 = time.time()
d = pq.read_table({lines!r}).to_pandas()
c = pd.Categorical(d.c); i = pd.Categorical(d.i)
m = sp.csr_matrix((np.ones(len(d)), (c.codes, i.codes)),
                  shape=(len(c.categories), len(i.categories)))
m.sum_duplicates()
{weights}
t1 = time.time()
model = {make_model}
model.fit(m, show_progress=False)
t2 = time.time()
ids, scores = model.recommend(np.arange(m.shape[0]), m, N=10, filter_already_liked_items=False)
t3 = time.time()
print(f"customers {{m.shape[0]}} items {{m.shape[1]}} pairs {{m.nnz}}")
print(f"load+matrix {{t1 - t0:.2f}} s, fit {{t2 - t1:.2f}} s, recommend {{t3 - t2:.2f}} s")
"""
best, outputs = best_of([
    ("crmlake fit", crm_fit),
    ("crmlake fit + recommend", crm_rec),
    ("implicit", [args.python, "-c", implicit_script]),
], args.repeats)
print(f"{args.lake}: {options}, {args.threads} threads; best of {args.repeats}, whole process")
for name, (seconds, rss) in best.items():
    print(f"  {name:<26} {seconds:7.2f} s  peak RSS {rss:7.0f} MiB")
print("implicit:", outputs["implicit"].strip().replace("\n", "; "))
print("crmlake fit:", outputs["crmlake fit"].strip().replace("\n", " "))
print("crmlake recommend:", outputs["crmlake fit + recommend"].strip().replace("\n", " "))
