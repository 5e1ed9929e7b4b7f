#!/usr/bin/env bash
# A/A simulation of campaign_effect on a generated lake: 1,000 random splits
# (holdout_assign with 1,000 salts, 10 % held out, as a campaign would) of
# customers whose outcome cannot depend on the split. At a 5 % level each
# test should reject in 5 % of splits (target: 3.5-6.5 %). Outcomes: bought
# in the last 90 days (z-test), revenue in the last 90 days (Welch), and
# that revenue with the revenue of the 90 days before as CUPED covariate.
#
#   cargo build
#   benches/campaign_aa.sh $CARGO_TARGET_DIR/debug/crmlake [customers] [splits]
set -euo pipefail
crmlake=${1:?path to the crmlake binary}
customers=${2:-20000}
splits=${3:-1000}
lake=$(mktemp -d)/lake
trap 'rm -rf "$(dirname "$lake")"' EXIT
"$crmlake" generate --customers "$customers" --seed 7 --out "$lake" > /dev/null 2>&1
start=$(date +%s.%N)
"$crmlake" sql --lake "$lake" --format csv -c "
WITH c AS (
  SELECT customer_id,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '2024-04-01') > 0 AS bought,
         COALESCE(sum(amount) FILTER (WHERE ts >= TIMESTAMP '2024-04-01'), 0) AS revenue,
         COALESCE(sum(amount) FILTER (WHERE ts >= TIMESTAMP '2024-01-01' AND ts < TIMESTAMP '2024-04-01'), 0) AS before
  FROM transactions GROUP BY customer_id),
s AS (SELECT value AS salt FROM generate_series(1, $splits)),
e AS (
  SELECT campaign_effect(COALESCE(c.bought, false), t) AS rate,
         campaign_effect(c.revenue, t) AS welch,
         campaign_effect(named_struct('outcome', c.revenue, 'covariate', c.before), t) AS cuped
  FROM (SELECT c.*, s.salt, NOT holdout_assign(c.customer_id, 'aa-' || CAST(s.salt AS VARCHAR), 0.1) AS t
        FROM c CROSS JOIN s) AS c
  GROUP BY c.salt)
SELECT count(*) AS splits,
       avg(CASE WHEN rate['p_value'] < 0.05 THEN 1.0 ELSE 0.0 END) AS rate_false_positive,
       avg(CASE WHEN welch['p_value'] < 0.05 THEN 1.0 ELSE 0.0 END) AS welch_false_positive,
       avg(CASE WHEN cuped['p_value'] < 0.05 THEN 1.0 ELSE 0.0 END) AS cuped_false_positive,
       avg(welch['high'] - welch['low']) AS welch_mean_width,
       avg(cuped['high'] - cuped['low']) AS cuped_mean_width
FROM e"
end=$(date +%s.%N)
echo "customers $customers, splits $splits, query $(echo "$end - $start" | bc) s"
