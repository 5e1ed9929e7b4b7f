"""crmlake vs pyfim (Borgelt's C FP-growth) and mlxtend on the same baskets.

Usage (from the repository root):

    cargo build --release
    python3 -m venv /tmp/basket-bench
    /tmp/basket-bench/bin/pip install pyfim==6.28 mlxtend==0.25.0 pandas==3.1.1 \
        numpy==2.4.6 pyarrow==26.0.1
    /tmp/basket-bench/bin/python benches/basket_vs_pyfim.py [--crmlake target/release/crmlake] \
        [--skip-mlxtend] [--generated-customers 365000]

Inputs, each a Parquet table of (basket_id, item) rows that both tools read:
- retail: FIMI retail.dat (88,162 baskets), data/baskets/retail.parquet, at
  min_support 0.005 / 0.001 / 0.0005;
- online_retail: the sample lake's invoices (cancellations and returns
  removed; 20,728 baskets), at 0.01 / 0.005 / 0.002;
- generated: the orders of a `crmlake generate` lake (1,000,000+ baskets with
  the default 365,000 customers; 360,000 gave 999,363), at 0.01 / 0.001.

Each measurement is its own process, reaped with os.wait4 for its CPU time and
peak resident memory:
- crmlake: `crmlake sql -c "SELECT count(*) FROM association_rules(...)"`
  (and frequent_itemsets), the whole process: start-up, Parquet read, mining,
  rules. Best of 3 by wall time.
- pyfim: a Python process that reads the Parquet file with pyarrow and builds
  the list of baskets (not timed), then times `fim.fpgrowth` (itemsets, and
  rules with mode='o', conf=50) with time.process_time and perf_counter. Its
  peak memory is the whole process's, as for crmlake.
- mlxtend: TransactionEncoder(sparse) + fpgrowth + association_rules, timed
  the same way (retail only; --skip-mlxtend to leave it out).
Prints one line per (input, support, task) with times, peak memory and the
ratios pyfim / crmlake.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--crmlake", default="target/release/crmlake")
ap.add_argument("--work", default="/tmp/basket-bench-data")
ap.add_argument("--generated-customers", type=int, default=365_000)
ap.add_argument("--skip-mlxtend", action="store_true")
ap.add_argument("--skip-generated", action="store_true")
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--only", default="retail,online_retail,generated",
                help="comma-separated inputs to run")
args = ap.parse_args()

crm = os.path.abspath(args.crmlake)
work = os.path.abspath(args.work)
os.makedirs(work, exist_ok=True)


def measure_wait4(cmd):
    """Run cmd; return (wall s, CPU s, peak RSS MiB, stdout) of that process."""
    t0 = time.perf_counter()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execv(cmd[0], cmd)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd} failed with {status}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, b"".join(chunks).decode()


def crmlake_sql(lake, sql):
    best = None
    for _ in range(args.runs):
        m = measure_wait4([crm, "sql", "--lake", lake, "--format", "csv", "-c", sql])
        if best is None or m[0] < best[0]:
            best = m
    return best


PY_REF = r'''
import json, sys, time, math
import pyarrow.parquet as pq
path, tool, task, supports = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t = pq.read_table(path, columns=["basket_id", "item"]).to_pydict()
baskets = {}
for b, i in zip(t["basket_id"], t["item"]):
    baskets.setdefault(b, set()).add(i)
baskets = [sorted(s) for s in baskets.values()]
n = len(baskets)
del t
out = []
if tool == "mlxtend":
    import pandas as pd
    from mlxtend.preprocessing import TransactionEncoder
    from mlxtend.frequent_patterns import fpgrowth, association_rules
for s in supports:
    c = math.ceil(s * n)
    while (c - 1) / n >= s:
        c -= 1
    t0, c0 = time.perf_counter(), time.process_time()
    if tool == "pyfim":
        import fim
        if task == "itemsets":
            res = fim.fpgrowth(baskets, target="s", supp=-c, report="a")
        else:
            res = [r for r in fim.fpgrowth(baskets, target="r", supp=-c, conf=50, zmin=2, report="abh", mode="o") if r[0] is not None]
        count = len(res)
    else:
        te = TransactionEncoder()
        df = pd.DataFrame.sparse.from_spmatrix(te.fit(baskets).transform(baskets, sparse=True), columns=te.columns_)
        fi = fpgrowth(df, min_support=s)
        if task == "itemsets":
            count = len(fi)
        else:
            ar = association_rules(fi, num_itemsets=n, metric="confidence", min_threshold=0.5)
            count = int((ar["consequents"].apply(len) == 1).sum())
    out.append([s, time.perf_counter() - t0, time.process_time() - c0, count])
print(json.dumps({"n": n, "results": out}))
'''


def python_ref(path, tool, task, supports):
    wall, cpu, rss, out = measure_wait4([sys.executable, "-c", PY_REF, path, tool, task, json.dumps(supports)])
    return json.loads(out), rss


def prepare_inputs():
    inputs = []
    retail_lake = os.path.join(work, "retail_lake")
    os.makedirs(os.path.join(retail_lake, "baskets"), exist_ok=True)
    link = os.path.join(retail_lake, "baskets", "retail.parquet")
    if not os.path.exists(link):
        shutil.copy("data/baskets/retail.parquet", link)
    inputs.append(("retail", retail_lake, link, [0.005, 0.001, 0.0005]))

    online = os.path.join(work, "online_lake")
    online_file = os.path.join(online, "baskets", "baskets.parquet")
    if not os.path.exists(online_file):
        os.makedirs(os.path.dirname(online_file), exist_ok=True)
        subprocess.run([crm, "sql", "--lake", "data/lake", "-o", online_file, "-c",
                        "SELECT DISTINCT order_id AS basket_id, product_id AS item FROM transactions "
                        "WHERE order_id NOT LIKE 'C%' AND quantity > 0"], check=True, capture_output=True)
    inputs.append(("online_retail", online, online_file, [0.01, 0.005, 0.002]))

    if not args.skip_generated:
        gen = os.path.join(work, "generated")
        gen_file = os.path.join(work, "generated_lake", "baskets", "baskets.parquet")
        if not os.path.exists(gen_file):
            subprocess.run([crm, "generate", "--customers", str(args.generated_customers), "--seed", "1",
                            "--out", gen], check=True, capture_output=True)
            os.makedirs(os.path.dirname(gen_file), exist_ok=True)
            subprocess.run([crm, "sql", "--lake", gen, "-o", gen_file, "-c",
                            "SELECT order_id AS basket_id, product_id AS item FROM transactions"],
                           check=True, capture_output=True)
        inputs.append(("generated", os.path.dirname(os.path.dirname(gen_file)), gen_file, [0.01, 0.001]))
    return inputs


print(f"machine: {os.cpu_count()} cores; crmlake {crm}")
print(f"{'input':<14} {'support':>8} {'task':<9} {'count':>7} {'crmlake wall':>12} {'cpu':>6} {'MiB':>6} "
      f"{'pyfim cpu':>9} {'wall':>6} {'MiB':>6} {'ratio':>6} {'mlxtend cpu':>11} {'ratio':>7}")
for name, lake, path, supports in prepare_inputs():
    if name not in args.only.split(","):
        continue
    for task in ["itemsets", "rules"]:
        pyfim, pyfim_rss = python_ref(path, "pyfim", task, supports)
        mlx = None
        if name == "retail" and not args.skip_mlxtend:
            mlx, mlx_rss = python_ref(path, "mlxtend", task, supports)
        for k, s in enumerate(supports):
            fn = (f"frequent_itemsets('baskets', {s})" if task == "itemsets"
                  else f"association_rules('baskets', {s}, 0.5)")
            wall, cpu, rss, out = crmlake_sql(lake, f"SELECT count(*) FROM {fn}")
            count = int(out.strip().splitlines()[-1])
            _, p_wall, p_cpu, p_count = pyfim["results"][k]
            if p_count != count:
                sys.exit(f"{name} {s} {task}: crmlake {count}, pyfim {p_count}")
            line = (f"{name:<14} {s:>8} {task:<9} {count:>7} {wall:>12.3f} {cpu:>6.2f} {rss:>6.0f} "
                    f"{p_cpu:>9.3f} {p_wall:>6.3f} {pyfim_rss:>6.0f} {p_cpu / wall:>6.2f}")
            if mlx:
                _, m_wall, m_cpu, m_count = mlx["results"][k]
                line += f" {m_cpu:>11.2f} {m_cpu / wall:>7.1f}"
            print(line, flush=True)
