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
cp "$shared"/baskets/retail.dat data/baskets/
cp "$shared"/churn/wa_churn.csv data/churn/
chmod 644 data/cdnow/* data/baskets/* data/churn/*
