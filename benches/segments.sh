#!/usr/bin/env bash
# Times refreshing a three-condition dynamic segment over the 1,000,000-customer demo bases
# (made by benches/value_scores.sh): the first refresh (every member enters) and a second
# one (nothing changes), on SQLite and PostgreSQL, through `run-job segments`.
# Rule: country in (CN, US) AND at least 3 orders AND last order within 180 days.
# Usage: benches/segments.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/clientele
sqlite=/tmp/clientele-bench.db
pg=postgres://postgres@127.0.0.1:5432/clientele_bench
rule='{"all":[{"condition":{"field":"COUNTRY","op":"IN","values":["CN","US"]}},{"condition":{"field":"ORDER_COUNT","op":"GTE","value":3}},{"condition":{"field":"DAYS_SINCE_LAST_ORDER","op":"LTE","value":180}}]}'
# Migrations first (a fresh binary may add tables), then a clean slate and the segment.
for url in "sqlite://$sqlite?mode=rwc" "$pg"; do DATABASE_URL=$url "$bin" migrate >/dev/null; done
reset="DELETE FROM segment_events; DELETE FROM segment_members; DELETE FROM segments;
INSERT INTO segments (name, kind, rule, size, created_at, updated_at) VALUES ('bench', 'DYNAMIC', '$rule', 0, '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00');"
python3 -c "import sqlite3,sys; c=sqlite3.connect('$sqlite'); c.executescript(sys.argv[1]); c.commit()" "$reset"
psql -q -h 127.0.0.1 -U postgres -d clientele_bench -c "$reset"
for url in "sqlite://$sqlite?mode=rwc" "$pg"; do
  echo "== $url"
  for run in first again; do
    DATABASE_URL=$url RUST_LOG=warn /usr/bin/time -f "  peak RSS %M KB, wall %e s" \
      "$bin" run-job segments | python3 -c "import json,sys; s=json.load(sys.stdin)['stats']; print('  $run: entered', s['entered'], 'exited', s['exited'], 'refresh', round(s['seconds'],2), 's')"
  done
done
