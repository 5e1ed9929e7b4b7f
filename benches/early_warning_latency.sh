#!/usr/bin/env bash
# End-to-end latency of the early-warning job (jobs/early_warning.toml):
# from a feedback file of N new messages landing in the lake to its urgent
# list and alerts committed.
#
#   benches/early_warning_latency.sh LAKE OUT RUN_DATE [N=10000] [BATCHES=5]
#
# LAKE is changed: new files are added to LAKE/feedback/ (use a copy).
# OUT must hold the nightly demo job's output for RUN_DATE (churn_scores,
# ltv), e.g.:
#   crmlake generate --customers 1000000 --out /tmp/lake-1M
#   crmlake run jobs/demo.toml --lake /tmp/lake-1M --out /tmp/out-1M --run-date 2024-06-30
#   benches/early_warning_latency.sh /tmp/lake-1M /tmp/out-1M 2024-06-30
#
# First the backlog (every feedback file the job has not consumed), then
# BATCHES micro-batches, each a new file of N messages copied from the
# lake's own (new ids), landed with a rename; each is run the way cron runs
# it (one `crmlake run`, which exits when done) and timed with
# /usr/bin/time (wall seconds and peak RSS). Set CRMLAKE to the binary.
set -euo pipefail
CRMLAKE=${CRMLAKE:-crmlake}
LAKE=$1 OUT=$2 DATE=$3 N=${4:-10000} BATCHES=${5:-5}
JOB="$(cd "$(dirname "$0")/.." && pwd)/jobs/early_warning.toml"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# String columns as plain Utf8 (DataFusion's COPY would write Utf8View,
# which the lake cannot merge with files holding plain strings).
COLUMNS=$("$CRMLAKE" sql --lake "$LAKE" --format csv -c "DESCRIBE feedback" | tail -n +2 |
  awk -F, '$1 == "feedback_id" { next }
           $2 ~ /Utf8/ { printf ", arrow_cast(%s, '"'"'Utf8'"'"') AS %s", $1, $1; next }
           { printf ", %s", $1 }')

run() {
  /usr/bin/time -f "%e %M" -o "$STAGE/time" "$CRMLAKE" run "$JOB" --lake "$LAKE" --out "$OUT" --run-date "$DATE" > "$STAGE/stdout" 2> "$STAGE/stderr"
  read -r seconds kb < "$STAGE/time"
  manifest=$(grep -o 'manifest: .*' "$STAGE/stdout" | sed 's/manifest: file:\/\///')
  rows=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(' '.join(f\"{s['table']}={s['rows_out']}\" for s in m['steps']), 'alerts=%d' % len(m['alerts']))" "$manifest")
  printf '%-10s %8.2f s %7d MB  %s\n' "$1" "$seconds" $((kb / 1024)) "$rows"
}

echo "lake $LAKE, out $OUT, run date $DATE, $N messages per batch, $(nproc) cores"
run backlog
for k in $(seq 1 "$BATCHES"); do
  "$CRMLAKE" sql --lake "$LAKE" -c "COPY (SELECT arrow_cast(concat(feedback_id, '-b$k-$RANDOM'), 'Utf8') AS feedback_id $COLUMNS FROM feedback ORDER BY feedback_id LIMIT $N OFFSET $((k * N))) TO '$STAGE/new.parquet' STORED AS PARQUET" > /dev/null
  mv "$STAGE/new.parquet" "$LAKE/feedback/batch-$k-$RANDOM.parquet"
  run "batch $k"
done
