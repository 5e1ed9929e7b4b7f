"""Read a crmlake job's output the way a BI tool or notebook does, without
crmlake: DuckDB and pyarrow over the Parquet files.

    python tests/bi/read_output.py OUT TABLE [TABLE ...]

Prints one JSON object: per table, DuckDB's column names and types and row
count (hive partitioning on, as a BI tool reads OUT/<table>/*/*.parquet),
pyarrow's column names and row count, and whether every column chunk of every
file carries statistics.
"""
import glob
import json
import sys

import duckdb
import pyarrow.parquet as pq

out, tables = sys.argv[1], sys.argv[2:]
con = duckdb.connect()
result = {"duckdb": duckdb.__version__, "pyarrow": __import__("pyarrow").__version__, "tables": {}}
for table in tables:
    partitioned = bool(glob.glob(f"{out}/{table}/*/*.parquet"))
    pattern = f"{out}/{table}/*/*.parquet" if partitioned else f"{out}/{table}/*.parquet"
    rel = f"read_parquet('{pattern}', hive_partitioning = {str(partitioned).lower()})"
    described = con.sql(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    rows = con.sql(f"SELECT count(*) FROM {rel}").fetchall()[0][0]
    files = sorted(glob.glob(pattern))
    dataset = pq.ParquetDataset(f"{out}/{table}", partitioning="hive" if partitioned else None)
    arrow_table = dataset.read()
    stats = True
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                stats = stats and group.column(c).is_stats_set
    result["tables"][table] = {
        "duckdb_columns": [[name, type_] for name, type_, *_ in described],
        "duckdb_rows": rows,
        "pyarrow_columns": arrow_table.schema.names,
        "pyarrow_rows": arrow_table.num_rows,
        "files": len(files),
        "statistics": stats,
    }
print(json.dumps(result))
