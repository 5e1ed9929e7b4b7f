"""Loyalty ledger and balances at scale against a plain grouped sum.

On a generated lake (`crmlake generate --customers N`), times in one run:
  sum       SELECT customer_id, sum(amount) FROM transactions GROUP BY customer_id
  balances  points_balance(transactions, NULL, rules, as_of)
  ledger    points_ledger(...), every entry counted and summed
  tiers     tier_history(...)
with the demo programme's rules (1 point per unit, double points in a
bonus month, 12-month expiry, three tiers by rolling 12-month spend). Each
query's result is reduced to one row so output does not count; the target
is balances and ledger within 3x the grouped sum. Prints wall seconds, peak
RSS (GNU time) and the ratio.

    cargo build --release
    python benches/loyalty_at_scale.py target/release/crmlake LAKE [repeats]
"""
import sys

from gnu_time import best_of

RULES = (
    '{"earn_rate": 1, "rounding": "floor", '
    '"bonus_periods": [{"from": "2024-03-01", "to": "2024-03-31", "multiplier": 2}], '
    '"expiry_months": 12, "point_value": 0.01, '
    '"tiers": {"basis": "amount", "window": "rolling_12_months", "grace_days": 90, '
    '"levels": [{"name": "Bronze", "threshold": 0}, {"name": "Silver", "threshold": 500}, '
    '{"name": "Gold", "threshold": 2000}]}}'
)
AS_OF = "2024-06-30"


def main():
    crmlake, lake = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    queries = {
        "sum": "SELECT count(*) AS customers, sum(s) AS total FROM "
        "(SELECT customer_id, sum(amount) AS s FROM transactions GROUP BY customer_id)",
        "balances": f"SELECT count(*) AS members, sum(balance) AS points, sum(expiring_90) AS soon "
        f"FROM points_balance('transactions', NULL, '{RULES}', '{AS_OF}')",
        "ledger": f"SELECT count(*) AS entries, sum(points) AS net "
        f"FROM points_ledger('transactions', NULL, '{RULES}', '{AS_OF}')",
        "tiers": f"SELECT count(*) AS intervals, sum(CASE WHEN tier = 'Gold' THEN 1 ELSE 0 END) AS gold "
        f"FROM tier_history('transactions', '{RULES}', NULL, '{AS_OF}')",
    }
    commands = [
        (name, [crmlake, "sql", "--lake", lake, "--format", "csv", "-c", sql])
        for name, sql in queries.items()
    ]
    best, outputs = best_of(commands, repeats)
    base = best["sum"][0]
    print(f"{'query':<10} {'seconds':>8} {'peak MiB':>9} {'x sum':>6}  result")
    for name, (seconds, rss) in best.items():
        result = outputs[name].strip().splitlines()[-1]
        print(f"{name:<10} {seconds:8.1f} {rss:9.0f} {seconds / base:6.2f}  {result}")


if __name__ == "__main__":
    main()
