#!/usr/bin/env bash
# The job suite on plain PostgreSQL and on the local Citus cluster side by side, at each
# base size in SIZES (default 1,000,000 and 3,000,000 customers; about 10 orders each).
#
# For each size: a PostgreSQL database `clientele_scale_<size>` on 127.0.0.1:5432 and a
# schema `scale_<size>` in the Citus coordinator's database (CITUS_URL; started with
# ../shared/citus/cluster.sh start). The smallest PostgreSQL base is filled once by
# `clientele demo --seed 1 --end-date 2026-11-01` with the two dynamic segments of
# benches/fresh_jobs.sh; a larger size is that base grown by benches/grow_base.sh (its
# customers repeated under new ids, so 3M is exactly three times 1M: growth measures the
# jobs, not a different sample). It repeats the smaller base as it is when grown, the
# outputs of jobs run on it included: compare the sizes on the same day of the jobs
# (AS_OF) from the same state. DEMO_EVERY_SIZE=1 runs demo for each size instead. The
# Citus schema is migrated (distributed) and the same rows copied into it
# (benches/copy_to_citus.sh: minutes, where demo through the coordinator takes hours at
# 3M). Bases are kept between runs (delete them to start over; an incomplete one is made
# again); all are analyzed before the jobs. Then every job runs once on each, in order:
# value-scores, lifecycle, segments, campaigns, email-dispatch, marketer-digest, loyalty
# (on a fresh base its first run: every member's first tier). Printed per job: wall
# time, and on Citus the CPU seconds each node's PostgreSQL processes used meanwhile
# (coordinator, worker 1, worker 2), read from /proc — which shows that a job's work is
# spread over the workers. /tmp/cargo.lock is held while measuring (not while the bases
# are made), so builds wait.
#
# The bases are shared with benches/api_throughput.sh (same names and demo command; at a
# grown size that script finds and uses the grown base).
# Usage: benches/citus_jobs.sh   (env: SIZES="1000000 3000000", JOBS (default: all), CITUS_URL,
#   AS_OF (the jobs' day, default 2026-11-01: the demo's last day, so on fresh bases the
#   first run of each job; a later day measures a daily run on bases that had one),
#   DEMO_EVERY_SIZE=1, BIN=path/to/clientele: use that binary instead of building
#   target/release/clientele)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-1000000 3000000}
citus_url=${CITUS_URL:-postgres://postgres@127.0.0.1:5440/clientele}
pg_major=$(ls /etc/postgresql | sort -n | tail -1)
as_of=${AS_OF:-2026-11-01}
read -ra jobs <<<"${JOBS:-value-scores lifecycle segments campaigns email-dispatch marketer-digest loyalty}"
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  flock /tmp/cargo.lock cargo build --release --quiet
  bin=$PWD/target/release/clientele
fi
outbox=$(mktemp -d)
trap 'rm -rf "$outbox"' EXIT
export RUST_LOG=warn OUTBOX_DIR=$outbox

# CPU seconds used so far by one PostgreSQL cluster: the postmaster, the children it has
# reaped (cutime/cstime) and the ones still running.
cpu_of() { # cluster name (main, citus5441, ...)
  local pid ticks
  pid=$(head -n 1 "/var/lib/postgresql/$pg_major/$1/postmaster.pid")
  ticks=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat")
  for child in $(pgrep -P "$pid"); do
    ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}
nodes=(citus5440 citus5441 citus5442)
snapshot() { for node in "${nodes[@]}"; do cpu_of "$node"; done; }
hz=$(getconf CLK_TCK)

columns='{"all":[{"condition":{"field":"COUNTRY","op":"IN","values":["CN","US"]}},{"condition":{"field":"ORDER_COUNT","op":"GTE","value":3}},{"condition":{"field":"DAYS_SINCE_LAST_ORDER","op":"LTE","value":180}}]}'
scores='{"all":[{"condition":{"field":"VALUE_TIER","op":"IN","values":["HIGH","MEDIUM"]}},{"condition":{"field":"LIFECYCLE_STAGE","op":"IN","values":["ACTIVE","LOYAL"]}},{"not":{"condition":{"field":"INTERESTS","op":"IS_NULL"}}}]}'
pg() { psql -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }
# A PostgreSQL base is complete once the segment `columns` is in (written after the demo,
# here or by benches/api_throughput.sh); a Citus copy once it holds as many customers,
# orders and segments as its source.
pg_complete() { # size
  [ "$(pg -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'clientele_scale_$1'")" = 1 ] &&
    [ "$(pg -d "clientele_scale_$1" -c "SELECT count(*) FROM information_schema.tables WHERE table_name = 'segments' AND table_schema = 'public'")" = 1 ] &&
    [ "$(pg -d "clientele_scale_$1" -c "SELECT count(*) FROM segments WHERE name = 'columns'")" = 1 ]
}
citus_complete() { # size
  local counts="SELECT (SELECT count(*) FROM customers) || '/' || (SELECT count(*) FROM orders) || '/' || (SELECT count(*) FROM segments)"
  [ "$(psql -qtA "$citus_url" -c "SELECT count(*) FROM information_schema.tables WHERE table_name = 'customers' AND table_schema = 'scale_$1'")" = 1 ] &&
    [ "$(psql -qtA "$citus_url" -c "SET search_path = scale_$1" -c "$counts")" = "$(pg -d "clientele_scale_$1" -c "$counts")" ]
}
# The PostgreSQL base of one size by `demo` (an incomplete one, say from an interrupted
# run, is dropped and made again).
demo_base() { # size
  local size=$1 pg_db=clientele_scale_$1 t0=$SECONDS
  local pg_url=postgres://postgres@127.0.0.1:5432/$pg_db
  pg_complete "$size" && return
  pg -d postgres -c "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db" >/dev/null
  DATABASE_URL=$pg_url "$bin" migrate >/dev/null
  DATABASE_URL=$pg_url "$bin" demo --customers "$size" --seed 1 --end-date 2026-11-01 >/dev/null
  pg -d "$pg_db" -c "INSERT INTO segments (name, kind, rule, size, created_at, updated_at) VALUES
    ('columns', 'DYNAMIC', '$columns', 0, now(), now())" >/dev/null
  echo "   $size: PostgreSQL demo base made in $((SECONDS - t0)) s"
}
# The PostgreSQL base of a larger size grown from the smallest one (benches/grow_base.sh;
# complete once it exists under its name); the Citus copy of a base.
grow_base() { # size
  local size=$1 t0=$SECONDS
  pg_complete "$size" && return
  benches/grow_base.sh "clientele_scale_$smallest" "clientele_scale_$size" $((size / smallest)) >/dev/null
  echo "   $size: PostgreSQL base grown $((size / smallest))-fold from $smallest in $((SECONDS - t0)) s"
}
citus_base() { # size
  local size=$1 pg_db=clientele_scale_$1 t0=$SECONDS
  pg -d "$pg_db" -c "INSERT INTO segments (name, kind, rule, size, created_at, updated_at)
    SELECT 'scores', 'DYNAMIC', '$scores', 0, now(), now()
    WHERE NOT EXISTS (SELECT 1 FROM segments WHERE name = 'scores')" >/dev/null
  citus_complete "$size" && return
  psql -q "$citus_url" -c "CREATE SCHEMA IF NOT EXISTS scale_$size"
  DATABASE_URL="$citus_url?options=-c%20search_path%3Dscale_$size" "$bin" migrate >/dev/null
  benches/copy_to_citus.sh "$pg_db" "$citus_url" "scale_$size" | sed "s/^/   $size: /"
  echo "   $size: Citus copy made in $((SECONDS - t0)) s"
}

# The smallest size is made by `demo`; each larger size that is a whole multiple of it is
# grown from it (the same customers repeated under new ids: exactly proportional data,
# in minutes where `demo` at 3M takes hours), unless DEMO_EVERY_SIZE=1. Demos run side by
# side (`demo` keeps one PostgreSQL backend busy, so two use both cores); then the grown
# bases; then the Citus copies, sizes side by side.
# Checkpoints dominate such a bulk load when max_wal_size is small (PostgreSQL's default
# 1GB checkpoints every few seconds here, each followed by full-page writes).
wal=$(pg -d postgres -c "SELECT setting::bigint >= 8192 FROM pg_settings WHERE name = 'max_wal_size' -- MB")
echo "== bases (max_wal_size: $(pg -d postgres -c 'SHOW max_wal_size')$([ "$wal" = t ] || echo '; raise it to 16GB or so before making 3M'))"
smallest=$(printf '%s\n' $sizes | sort -n | head -n 1)
grown() { [ "${DEMO_EVERY_SIZE:-0}" != 1 ] && [ "$1" != "$smallest" ] && [ $(($1 % smallest)) = 0 ]; }
pids=()
for size in $sizes; do
  if ! grown "$size"; then demo_base "$size" & pids+=($!); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
# One grown base at a time, before any copy: each starts as a template copy of the
# smallest base, which PostgreSQL refuses while another session reads that base.
for size in $sizes; do
  if grown "$size"; then grow_base "$size"; fi
done
pids=()
for size in $sizes; do
  citus_base "$size" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

# Measuring: builds wait meanwhile.
exec 9>/tmp/cargo.lock
flock 9
for size in $sizes; do
  pg_db=clientele_scale_$size
  pg_url=postgres://postgres@127.0.0.1:5432/$pg_db
  citus_schema_url="$citus_url?options=-c%20search_path%3Dscale_$size"
  psql -q -h 127.0.0.1 -U postgres -d "$pg_db" -c ANALYZE
  psql -q "$citus_url" -c "SET search_path = scale_$size" -c ANALYZE
  echo "== $size customers; Citus: $(psql -qtA "$citus_url" -c 'SELECT count(*) FROM citus_get_active_worker_nodes()') workers; both analyzed just before the jobs (autovacuum: $(psql -qtA -h 127.0.0.1 -U postgres -c 'SHOW autovacuum'))"
  printf '%-16s %12s %12s %30s\n' job PostgreSQL Citus 'Citus CPU s: coord / w1 / w2'
  for job in "${jobs[@]}"; do
    t0=$(date +%s.%N)
    DATABASE_URL=$pg_url "$bin" run-job "$job" --as-of "$as_of" >/dev/null
    pg_s=$(echo "$(date +%s.%N) - $t0" | bc)
    mapfile -t before < <(snapshot)
    t0=$(date +%s.%N)
    DATABASE_URL=$citus_schema_url "$bin" run-job "$job" --as-of "$as_of" >/dev/null
    citus_s=$(echo "$(date +%s.%N) - $t0" | bc)
    mapfile -t after < <(snapshot)
    cpu=""
    for i in 0 1 2; do
      cpu+=$(printf '%.1f' "$(echo "(${after[$i]} - ${before[$i]}) / $hz" | bc -l)")
      if [ "$i" -lt 2 ]; then cpu+=" / "; fi
    done
    printf '%-16s %10.1f s %10.1f s %30s\n' "$job" "$pg_s" "$citus_s" "$cpu"
  done
done
