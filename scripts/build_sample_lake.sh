#!/usr/bin/env bash
# Rebuilds data/ from the shared reference data (../shared/data): the sample
# lake as Parquet, plus verbatim copies of the other data sets. Provenance and
# citations: data/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/data
rm -rf data/lake
mkdir -p data/lake/transactions data/lake/customers data/cdnow data/baskets data/churn
cargo run --release -- sql --lake data/lake -f scripts/build_sample_lake.sql
cp "$shared"/cdnow/cdnow_master.csv "$shared"/cdnow/CDNOW_sample.txt "$shared"/cdnow/cdnow_customers_summary.csv data/cdnow/
# The sample as CSV for SQL: customer_id = the sample id (the ID of the summary).
awk 'BEGIN { print "customer_id,ts,cds,amount" }
     { printf "%d,%s-%s-%s,%d,%s\n", $2, substr($3,1,4), substr($3,5,2), substr($3,7,2), $4, $5 }' \
    data/cdnow/CDNOW_sample.txt > data/cdnow/cdnow_sample.csv
cp "$shared"/baskets/retail.dat data/baskets/
# retail.dat as Parquet (basket_id, item) rows, the input of the market basket tests.
awk 'BEGIN { print "basket_id,item" } { for (i = 1; i <= NF; i++) print NR - 1 "," $i }' \
    data/baskets/retail.dat > data/baskets/retail_rows.csv
rm -f data/baskets/retail.parquet
cargo run --release -- sql -f scripts/build_retail_parquet.sql
rm data/baskets/retail_rows.csv
cp "$shared"/churn/wa_churn.csv data/churn/
# The feedback table and data/feedback/sentences.tsv (Python with pyarrow:
# set PYTHON to an interpreter that has it).
"${PYTHON:-python3}" scripts/build_sample_feedback.py
"${PYTHON:-python3}" scripts/build_taxonomy.py
chmod 644 data/cdnow/* data/baskets/* data/churn/*
