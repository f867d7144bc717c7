#!/usr/bin/env bash
# Times the lifecycle job on the 1,000,000-customer demo bases that benches/value_scores.sh
# makes (run that first: it creates them and computes the value scores the rules use).
# Each database gets: the first classification (every customer), a second run for the same
# day (no change), a run a week later and one a month later (only the changes are written).
# Re-running needs fresh stages: the job refuses days before its latest run, so the script
# clears the lifecycle tables first.
# Usage: benches/lifecycle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/clientele
sqlite=/tmp/clientele-bench.db
pg=postgres://postgres@127.0.0.1:5432/clientele_bench
reset="DELETE FROM lifecycle_events; DELETE FROM customer_lifecycle; DELETE FROM job_runs WHERE name = 'lifecycle';"
sqlite3 "$sqlite" "$reset" 2>/dev/null || python3 -c "import sqlite3,sys; c=sqlite3.connect('$sqlite'); c.executescript(sys.argv[1]); c.commit()" "$reset"
psql -q -h 127.0.0.1 -U postgres -d clientele_bench -c "$reset"
for url in "sqlite://$sqlite?mode=rwc" "$pg"; do
  echo "== $url"
  for day in 2026-11-01 2026-11-01 2026-11-08 2026-12-01; do
    DATABASE_URL=$url RUST_LOG=warn /usr/bin/time -f "  peak RSS %M KB, wall %e s" \
      "$bin" run-job lifecycle --as-of "$day" | python3 -c "import json,sys; r=json.load(sys.stdin); s=r['stats']; print('  asOf', r['asOf'], 'changes', s['changes'], 'load', round(s['loadSeconds'],2), 'write', round(s['writeSeconds'],2))"
  done
done
