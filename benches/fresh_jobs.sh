#!/usr/bin/env bash
# Every job straight after `demo`, on a PostgreSQL database nobody has analyzed, beside
# the same jobs after a full `ANALYZE`: clientele must not depend on autovacuum (it is
# off on this machine; with it on, the minutes after a large import look the same).
# `demo`, value-scores, lifecycle and segment refreshes analyze what they bulk-write
# themselves; this shows whether that is enough.
#
# A fresh database `clientele_fresh` gets the 1,000,000-customer demo base (about
# 7 minutes) and two dynamic segments: the 3-condition rule of benches/segments.sh
# (columns of `customers`) and one over the latest scores and stages (EXISTS tests). Pass
# 1 runs value-scores, lifecycle, segments, campaigns, email-dispatch and marketer-digest
# in that order; pass 2 clears what pass 1 wrote (scores, stages, memberships, emails),
# runs ANALYZE on every table, and runs them again.
# Usage: benches/fresh_jobs.sh   (env: CUSTOMERS=1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${CUSTOMERS:-1000000}
flock /tmp/cargo.lock cargo build --release --quiet
bin=$PWD/target/release/clientele
db=clientele_fresh
url=postgres://postgres@127.0.0.1:5432/$db
outbox=$(mktemp -d)
trap 'rm -rf "$outbox"' EXIT
sql() { psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "$1"; }

echo "autovacuum: $(psql -qtA -h 127.0.0.1 -U postgres -c 'SHOW autovacuum')"
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export DATABASE_URL=$url RUST_LOG=warn OUTBOX_DIR=$outbox
start=$(date +%s.%N)
"$bin" demo --customers "$customers" --seed 1 --end-date 2026-11-01 >/dev/null
printf 'demo: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"
columns='{"all":[{"condition":{"field":"COUNTRY","op":"IN","values":["CN","US"]}},{"condition":{"field":"ORDER_COUNT","op":"GTE","value":3}},{"condition":{"field":"DAYS_SINCE_LAST_ORDER","op":"LTE","value":180}}]}'
scores='{"all":[{"condition":{"field":"VALUE_TIER","op":"IN","values":["HIGH","MEDIUM"]}},{"condition":{"field":"LIFECYCLE_STAGE","op":"IN","values":["ACTIVE","LOYAL"]}},{"not":{"condition":{"field":"INTERESTS","op":"IS_NULL"}}}]}'
sql "INSERT INTO segments (name, kind, rule, size, created_at, updated_at) VALUES
  ('columns', 'DYNAMIC', '$columns', 0, now(), now()), ('scores', 'DYNAMIC', '$scores', 0, now(), now())"
analyzed=$(sql "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL")
echo "tables analyzed so far (by clientele itself): $analyzed of $(sql 'SELECT count(*) FROM pg_stat_user_tables')"

declare -A seconds
run_jobs() {
  local pass=$1
  for job in value-scores lifecycle segments campaigns email-dispatch marketer-digest; do
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" run-job "$job" --as-of 2026-11-01 >/dev/null
    t1=$(date +%s.%N)
    seconds[$pass,$job]=$(printf '%.1f' "$(echo "$t1 - $t0" | bc)")
  done
}

run_jobs fresh
members=$(sql "SELECT string_agg(name || ' ' || size, ', ' ORDER BY name) FROM segments")
sql "DELETE FROM segment_events; DELETE FROM segment_members; UPDATE segments SET size = 0;
     DELETE FROM emails; DELETE FROM lifecycle_events; DELETE FROM customer_lifecycle;
     DELETE FROM customer_values; DELETE FROM value_models; DELETE FROM job_runs; DELETE FROM job_leases"
sql "ANALYZE"
run_jobs analyzed

echo "segment sizes: $members"
printf '%-16s %22s %14s\n' job 'straight after demo' 'after ANALYZE'
for job in value-scores lifecycle segments campaigns email-dispatch marketer-digest; do
  printf '%-16s %20s s %12s s\n' "$job" "${seconds[fresh,$job]}" "${seconds[analyzed,$job]}"
done
