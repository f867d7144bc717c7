#!/usr/bin/env bash
# Delivers 10,000 queued emails to a local SMTP server (the test suite's sink, on a
# loopback socket) through the dispatcher, on SQLite and on PostgreSQL.
# Usage: benches/email_dispatch.sh   (PG_URL overrides the PostgreSQL server)
set -euo pipefail
cd "$(dirname "$0")/.."
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
psql "$pg/postgres" -qc "CREATE DATABASE clientele_email_bench" 2>/dev/null || true
for run in 1 2 3; do
  cargo bench --quiet --bench email_dispatch 2>/dev/null | tail -1
  BENCH_DATABASE_URL="$pg/clientele_email_bench" cargo bench --quiet --bench email_dispatch 2>/dev/null | tail -1
done
