#!/usr/bin/env bash
# Times the value-scores job on 1,000,000 customers / ~10.6M orders made by `clientele demo`,
# on SQLite and PostgreSQL. Reuses the databases benches/demo.sh leaves behind
# (/tmp/clientele-bench.db is made here if missing — that alone takes ~9 minutes).
# Usage: benches/value_scores.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/clientele
sqlite=/tmp/clientele-bench.db
if [ ! -f "$sqlite" ]; then
  DATABASE_URL="sqlite://$sqlite?mode=rwc" "$bin" demo --customers 1000000 --seed 1 --end-date 2026-11-01
fi
if ! psql -qtA -h 127.0.0.1 -U postgres -d clientele_bench -c "select 1" >/dev/null 2>&1; then
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE clientele_bench"
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/clientele_bench "$bin" demo --customers 1000000 --seed 1 --end-date 2026-11-01
fi
# Eight runs each: from the eighth on, every run also deletes the scores of the run that
# falls out of `keep_runs` (7), which is the steady state of a daily schedule.
for url in "sqlite://$sqlite?mode=rwc" postgres://postgres@127.0.0.1:5432/clientele_bench; do
  echo "== $url"
  for run in 1 2 3 4 5 6 7 8; do
    DATABASE_URL=$url RUST_LOG=warn /usr/bin/time -f "  peak RSS %M KB, wall %e s" \
      "$bin" run-job value-scores --as-of 2026-11-01 | python3 -c "import json,sys; s=json.load(sys.stdin)['stats']; print('  run $run: load', round(s['loadSeconds'],2), 'compute', round(s['computeSeconds'],2), 'write', round(s['writeSeconds'],2), 'pruned', s['prunedScoreRows'])"
  done
done
# The BG/NBD fit alone on 1M synthetic customers (release build):
cargo test --release -p jobs --lib -- --ignored --nocapture bgnbd
