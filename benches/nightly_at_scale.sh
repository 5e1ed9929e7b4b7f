#!/usr/bin/env bash
# The nightly job at scale: a generated lake of N customers (about 9.3 order
# lines each), then jobs/demo.toml over it as of the lake's last day
# (2024-06-30), release build, on this machine. Prints the job's wall time
# (GNU time), then per step: seconds, peak RSS, rows in/out and bytes spilled,
# from the run manifest, and the job's peak RSS (the largest step's); last
# the time, peak RSS and size of `crmlake report` on the run's outputs.
#
#   benches/nightly_at_scale.sh [CUSTOMERS [MEMORY_LIMIT_MB]]
#   benches/nightly_at_scale.sh 1000000          # about 9.3M lines
#   benches/nightly_at_scale.sh 10000000 4096    # about 93M lines, 4 GiB pool
#
# CRMLAKE (default target/release/crmlake; build it with
# `cargo build --release`) and WORK (default /tmp/crmlake-scale: the lake is
# generated once per size and kept there) can be set. Needs GNU time and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
customers="${1:-1000000}"
limit="${2:-}"
bin="${CRMLAKE:-${CARGO_TARGET_DIR:-target}/release/crmlake}"
work="${WORK:-/tmp/crmlake-scale}"
lake="$work/lake-$customers"
out="$work/out-$customers${limit:+-limit$limit}"
mkdir -p "$work"
if [ -d "$lake/transactions" ] && [ ! -d "$lake/feedback" ]; then
  # A lake of this bench made before `generate` wrote feedback: the demo's
  # feedback steps need it.
  echo "regenerating $lake (it has no feedback table)"
  rm -rf "$lake"
fi
if [ ! -d "$lake/transactions" ]; then
  /usr/bin/time -f "generate: %e s, peak RSS %M KB" \
    "$bin" generate --customers "$customers" --seed 1 --out "$lake"
fi
job="$work/nightly${limit:+-limit$limit}.toml"
if [ -n "$limit" ]; then
  # The demo job with a memory pool of LIMIT MB for DataFusion's operators
  # (added to its [settings]).
  awk -v limit="$limit" '
    { print }
    /^\[settings\]/ && !done { print "memory_limit_mb = " limit; done = 1 }' jobs/demo.toml > "$job"
  grep -q "^memory_limit_mb = $limit" "$job" || { echo "jobs/demo.toml has no [settings] table" >&2; exit 1; }
else
  cp jobs/demo.toml "$job"
fi
rm -rf "$out"
status=0
/usr/bin/time -f "job: %e s wall, %U s user, %S s system, peak RSS %M KB" \
  "$bin" run "$job" --lake "$lake" --out "$out" --run-date 2024-06-30 || status=$?
manifest="$(ls -t "$out"/_runs/*.json | head -1)"
echo "status: $(jq -r .status "$manifest") (exit $status)"
# The job's peak RSS is the largest step peak: each step resets the kernel's
# high-water mark (/proc/self/clear_refs), so GNU time's figure above is the
# last step's peak only.
echo "job peak RSS (largest step): $(jq '[.steps[].peak_rss_bytes // 0] | max / 1048576 | round' "$manifest") MiB"
jq -r '.steps[] | [.table, .status, (.seconds * 100 | round / 100),
    ((.peak_rss_bytes // 0) / 1048576 | round), (.rows_in // 0), (.rows_out // 0),
    (.spilled_bytes // 0)] | @tsv' "$manifest" |
  awk 'BEGIN { printf "%-20s %-9s %8s %10s %11s %11s %12s\n", "step", "status", "seconds", "peak MiB", "rows in", "rows out", "spilled B" }
       { printf "%-20s %-9s %8s %10s %11s %11s %12s\n", $1, $2, $3, $4, $5, $6, $7 }'
# The run report, built again from the committed outputs (the run wrote it
# once already): its time, memory and size.
if [ "$status" = 0 ]; then
  /usr/bin/time -f "report: %e s wall, peak RSS %M KB" "$bin" report "$out"
fi
exit "$status"
