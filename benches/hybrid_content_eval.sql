-- Does a content part help the default hybrid? (issue 27) The sample lake,
-- time split at 2011-09-01, k = 10, the definitions of recommender_eval:
-- fit on the sales lines before the split, evaluate the customers with
-- lines on both sides on the distinct items they bought after it. The
-- collaborative part is recommender_fit's default hybrid; the content part
-- content_fit over the same lines' descriptions (words only, the better of
-- the two on this split); blended by hybrid_fit. Run from the repository
-- root:
--
--   crmlake sql -f benches/hybrid_content_eval.sql
--
-- Figures in benches/RESULTS.md ("A content part in the hybrid").
WITH input AS (
  SELECT CAST(customer_id AS VARCHAR) AS c, CAST(product_id AS VARCHAR) AS i, ts, description
  FROM transactions WHERE quantity > 0 AND customer_id IS NOT NULL AND product_id IS NOT NULL AND ts IS NOT NULL),
train AS (SELECT * FROM input WHERE ts < TIMESTAMP '2011-09-01 00:00:00'),
evaluated AS (
  SELECT c, array_agg(DISTINCT i) AS items FROM input
  WHERE ts >= TIMESTAMP '2011-09-01 00:00:00' AND c IN (SELECT c FROM train) GROUP BY c),
cf AS (SELECT recommender_fit(c, i, 1, 'algorithm=hybrid') AS m FROM train),
ct AS (SELECT content_fit(i, description, 'ngrams=word') AS m FROM train),
models AS (
  SELECT unnest(['hybrid', 'hybrid + content 0.05', 'hybrid + content 0.1', 'hybrid + content 0.2', 'hybrid + content 0.3']) AS blend,
         unnest([cf.m,
                 hybrid_fit([cf.m, ct.m], [0.95, 0.05]),
                 hybrid_fit([cf.m, ct.m], [0.9, 0.1]),
                 hybrid_fit([cf.m, ct.m], [0.8, 0.2]),
                 hybrid_fit([cf.m, ct.m], [0.7, 0.3])]) AS m
  FROM cf CROSS JOIN ct),
lists AS (
  SELECT blend, false AS exclude_seen, e.items, recommend_for(m, e.c, 10) AS recs FROM models CROSS JOIN evaluated e
  UNION ALL
  SELECT blend, true AS exclude_seen, e.items, recommend_for(m, e.c, 10, 'exclude_seen=true') AS recs FROM models CROSS JOIN evaluated e),
metrics AS (SELECT blend, exclude_seen, ranking_metrics(recs, items, 10) AS r FROM lists GROUP BY blend, exclude_seen)
SELECT blend, exclude_seen, r['customers'] AS customers, round(r['ndcg'], 4) AS ndcg, round(r['precision'], 4) AS precision, round(r['hit_rate'], 4) AS hit_rate
FROM metrics ORDER BY exclude_seen, blend;
