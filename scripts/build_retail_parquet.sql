-- FIMI retail.dat as Parquet (basket_id BIGINT, item BIGINT): one row per item
-- of each basket, basket_id = the line number counted from 0, items as
-- published (a basket that lists an item twice keeps both rows; the market
-- basket functions count it once). Run by scripts/build_sample_lake.sh after
-- it has written data/baskets/retail_rows.csv with awk.
CREATE EXTERNAL TABLE retail_rows (basket_id BIGINT NOT NULL, item BIGINT NOT NULL)
STORED AS CSV LOCATION 'data/baskets/retail_rows.csv' OPTIONS ('format.has_header' 'true');

COPY (SELECT basket_id, item FROM retail_rows ORDER BY basket_id)
TO 'data/baskets/retail.parquet' STORED AS PARQUET
OPTIONS ('format.compression' 'zstd(3)');
