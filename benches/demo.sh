#!/usr/bin/env bash
# Times `clientele demo` on SQLite (100k customers) and PostgreSQL (1M customers).
# Usage: benches/demo.sh [sqlite-customers] [postgres-customers]
# Needs a local PostgreSQL with trust auth on 127.0.0.1:5432 (as on the CI machine).
set -euo pipefail
cd "$(dirname "$0")/.."
sqlite_n=${1:-100000}
pg_n=${2:-1000000}
cargo build --release --quiet
bin=target/release/clientele
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== SQLite, $sqlite_n customers"
DATABASE_URL="sqlite://$work/bench.db?mode=rwc" /usr/bin/time -f "peak RSS %M KB, wall %e s" \
  "$bin" demo --customers "$sqlite_n" --seed 1 --end-date 2026-11-01

echo "== PostgreSQL, $pg_n customers"
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS clientele_bench WITH (FORCE)" -c "CREATE DATABASE clientele_bench"
DATABASE_URL=postgres://postgres@127.0.0.1:5432/clientele_bench /usr/bin/time -f "peak RSS %M KB, wall %e s" \
  "$bin" demo --customers "$pg_n" --seed 1 --end-date 2026-11-01
echo "(database clientele_bench kept for the job benchmarks; drop it when done)"
