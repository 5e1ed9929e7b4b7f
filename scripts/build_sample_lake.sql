-- Builds data/lake/ from the shared copy of UCI Online Retail.
-- Run from the repository root: bash scripts/build_sample_lake.sh
-- Raw lines are kept as published (cancellations, returns, lines without a
-- customer, zero prices): cleaning is the job's business, with reasons.

CREATE EXTERNAL TABLE raw_online_retail STORED AS PARQUET
LOCATION '../shared/data/online_retail/online_retail.parquet';

CREATE VIEW lines AS
SELECT
  "CustomerID" AS customer_id,
  arrow_cast("InvoiceDate", 'Timestamp(Microsecond, None)') AS ts,
  CAST("InvoiceNo" AS VARCHAR) AS order_id,
  CAST("StockCode" AS VARCHAR) AS product_id,
  CAST("Description" AS VARCHAR) AS description,
  "Quantity" AS quantity,
  "UnitPrice" AS unit_price,
  CAST("Quantity" AS DOUBLE) * "UnitPrice" AS amount,
  CAST("Country" AS VARCHAR) AS country
FROM raw_online_retail;

COPY (SELECT * FROM lines ORDER BY ts, order_id)
TO 'data/lake/transactions/part-00000.parquet' STORED AS PARQUET
OPTIONS ('format.compression' 'zstd(3)');

-- One row per known customer: the country of their first invoice line and the
-- time of their first line of any kind.
COPY (
  SELECT customer_id,
         first_value(country ORDER BY ts, order_id, product_id) AS country,
         min(ts) AS first_seen
  FROM lines
  WHERE customer_id IS NOT NULL
  GROUP BY customer_id
  ORDER BY customer_id
)
TO 'data/lake/customers/part-00000.parquet' STORED AS PARQUET
OPTIONS ('format.compression' 'zstd(3)');
