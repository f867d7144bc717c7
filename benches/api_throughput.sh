#!/usr/bin/env bash
# HTTP throughput of the API on SQLite, PostgreSQL and Citus, with PostGraphile 4 beside
# clientele on the PostgreSQL data where a query has an equivalent there.
#
# Data: the same demo base on each backend (`clientele demo --customers $CUSTOMERS --seed 1
# --end-date 2026-11-01`, 1,000,000 customers / about 10M orders unless CUSTOMERS says
# otherwise), made here when missing and kept between runs (delete them to start over):
#   SQLite      target/bench/clientele_scale_<size>.db
#   PostgreSQL  database `clientele_scale_<size>` on 127.0.0.1:5432
#   Citus       schema `scale_<size>` in the coordinator's database (CITUS_URL; start the
#               cluster with ../shared/citus/cluster.sh start)
# The same names as benches/citus_jobs.sh, which makes them the same way: one base of a
# size serves both benchmarks. When the PostgreSQL base exists and the Citus one does not,
# the Citus schema gets a copy of its rows (benches/copy_to_citus.sh) instead of a demo. Each base
# also gets what the queries read: value scores, then lifecycle stages (`run-job
# value-scores`, `run-job lifecycle`), and the dynamic segment `columns` of
# benches/fresh_jobs.sh (CN/US, 3+ orders, an order in the last 180 days; about a quarter
# of the customers) refreshed by `run-job segments`, all as of 2026-11-01. For 1M
# customers `demo` takes 14 minutes or more on PostgreSQL (README, "Demo data"; raise
# max_wal_size first, see benches/citus_jobs.sh), and the Citus copy 5 or more.
#
# Queries (clientele; PostGraphile's equivalent where there is one):
#   list         customers(first: 50), ten plain fields and pageInfo, in creation order
#                (PostGraphile: allCustomers ordered by CREATED_AT_ASC, ID_ASC)
#   count        the same page with totalCount (PostGraphile: the same)
#   members      segment(id) { members(first: 50) } of `columns`, the same ten fields and
#                pageInfo (no PostGraphile equivalent measured)
#   lifecycle    lifecycleSummary { stage customers share } (none). It aggregates the
#                whole base: one computation serves the requests of REPORT_CACHE_SECONDS
#                (30 s, the default), so the run measures mostly shared answers and the
#                check before it shows the time of one computation. It is a heavy field:
#                such requests run a few at a time (one here: the server has one core),
#                each on a connection of its own.
#   customer     customer(id) with the ten fields and orders(first: 20), newest first;
#                each request asks for the next of 1,000 customers with 10 or more orders
#                (the lowest ids), read before the run (PostGraphile: customerById with
#                ordersByCustomerId ordered by ORDERED_AT_DESC, ID_DESC)
#
# Method: every backend's tables are analyzed (ANALYZE; autovacuum may be off) just before
# its measurements. Each server runs alone, pinned to core 0 (`taskset -c 0`); wrk runs on
# core 1 (2 threads, 32 connections, a 5 s warm-up, then 20 s with --latency; --timeout 30s
# so slow answers are measured, not dropped as socket errors). The databases are not
# pinned. Each warm-up and measured run waits until the previous run's work is done (see
# wait_quiet). Every answer is checked once before the run (for `customer` all 1,000 of
# them; the time of an answer alone is printed), and wrk counts answers that are not HTTP
# 200 or carry "errors"; a query whose check fails is not measured, the run goes on and
# the failure is listed at the end (exit status 1).
# clientele on PostgreSQL and PostGraphile must answer the same data (ids, fields, orders;
# times and decimals compared as values). Server CPU per request is read from /proc for
# the server process (on SQLite it includes the database work); DB CPU per request is the
# CPU of every `postgres` process on the machine (so on Citus the coordinator and both
# workers; the other cluster is idle meanwhile). /tmp/cargo.lock is held while measuring
# (not while bases are made), so builds that take it wait.
#
# Needs wrk, node/npm (PostGraphile 4 is installed into a temporary folder and removed), a
# local PostgreSQL with trust auth on 127.0.0.1:5432, the Citus cluster for `citus`, cores
# 0 and 1.
# Usage: benches/api_throughput.sh
#   (env: CUSTOMERS=1000000 BACKENDS="sqlite postgres citus" DURATION=20s WARMUP=5s
#    QUERIES="list count members lifecycle customer" POSTGRAPHILE=1 (0: clientele only)
#    CONNECTIONS=32 CLIENTELE_PORT=18080 POSTGRAPHILE_PORT=15000
#    CITUS_URL=postgres://postgres@127.0.0.1:5440/clientele
#    BIN=path/to/clientele: use that binary instead of building target/release/clientele)
# A quick check: CUSTOMERS=20000 DURATION=3s WARMUP=1s benches/api_throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${CUSTOMERS:-1000000}
queries=${QUERIES:-list count members lifecycle customer}
# PostGraphile runs beside clientele on PostgreSQL unless POSTGRAPHILE=0.
postgraphile=${POSTGRAPHILE:-1}
read -r -a backends <<<"${BACKENDS:-sqlite postgres citus}"
duration=${DURATION:-20s}
warmup=${WARMUP:-5s}
connections=${CONNECTIONS:-32}
clientele_port=${CLIENTELE_PORT:-18080}
postgraphile_port=${POSTGRAPHILE_PORT:-15000}
citus_url=${CITUS_URL:-postgres://postgres@127.0.0.1:5440/clientele}
as_of=2026-11-01

sqlite_file=$PWD/target/bench/clientele_scale_$customers.db
pg_db=clientele_scale_$customers
pg_url=postgres://postgres@127.0.0.1:5432/$pg_db
citus_schema=scale_$customers
citus_schema_url="$citus_url?options=-c%20search_path%3D$citus_schema"

needs=(wrk taskset curl python3)
has_backend() { [[ " ${backends[*]} " == *" $1 "* ]]; }
for backend in "${backends[@]}"; do
  case $backend in
  sqlite) ;;
  postgres) needs+=(psql npm) ;;
  citus) needs+=(psql) ;;
  *) echo "unknown backend $backend (BACKENDS: sqlite postgres citus)" >&2; exit 1 ;;
  esac
done
for tool in "${needs[@]}"; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y wrk; node/npm)" >&2; exit 1; }
done
for port in "$clientele_port" "$postgraphile_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use" >&2; exit 1
  fi
done
if has_backend citus && ! psql -qtA "$citus_url" -c "SELECT 1" >/dev/null 2>&1; then
  echo "no Citus coordinator at $citus_url: start it with ../shared/citus/cluster.sh start" >&2
  exit 1
fi

if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  flock /tmp/cargo.lock cargo build --release --quiet
  bin=$PWD/target/release/clientele
fi
export RUST_LOG=warn

# The URL the CLI uses, and the one the server uses: both servers talk to PostgreSQL over
# plain TCP on loopback, as PostGraphile's driver does by default, while sqlx would
# negotiate TLS with a server that offers it (Debian's does), which costs clientele about
# 3 % of its CPU per request and PostgreSQL more.
url_of() {
  case $1 in
  sqlite) echo "sqlite://$sqlite_file?mode=rwc" ;;
  postgres) echo "$pg_url" ;;
  citus) echo "$citus_schema_url" ;;
  esac
}
serve_url_of() {
  case $1 in
  sqlite) url_of sqlite ;;
  postgres) echo "$pg_url?sslmode=disable" ;;
  citus) echo "$citus_schema_url&sslmode=disable" ;;
  esac
}
# One SQL statement on a backend's base; rows printed as psql -tA does.
sql() { # backend statement
  case $1 in
  sqlite)
    python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for row in c.execute(sys.argv[2]).fetchall():
    print("|".join("" if v is None else str(v) for v in row))
c.commit()' "$sqlite_file" "$2" ;;
  postgres) psql -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$pg_db" -c "$2" ;;
  citus) psql -qtA -v ON_ERROR_STOP=1 "$citus_url" -c "SET search_path = $citus_schema" -c "$2" ;;
  esac
}
has_rows() { [ "$(sql "$1" "SELECT count(*) FROM (SELECT 1 FROM $2 LIMIT 1) AS t")" = 1 ]; }

columns_rule='{"all":[{"condition":{"field":"COUNTRY","op":"IN","values":["CN","US"]}},{"condition":{"field":"ORDER_COUNT","op":"GTE","value":3}},{"condition":{"field":"DAYS_SINCE_LAST_ORDER","op":"LTE","value":180}}]}'
# Makes what is missing of a backend's base; each step is skipped when done before.
prepare() { # backend
  local backend=$1 url t0=$SECONDS now
  url=$(url_of "$backend")
  case $backend in
  sqlite) mkdir -p "$(dirname "$sqlite_file")" ;;
  postgres)
    psql -qtA -h 127.0.0.1 -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$pg_db'" | grep -q 1 ||
      psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pg_db" ;;
  citus) psql -q "$citus_url" -c "CREATE SCHEMA IF NOT EXISTS $citus_schema" ;;
  esac
  DATABASE_URL=$url "$bin" migrate >/dev/null
  if [ "$backend" = citus ] && ! has_rows citus customers && has_rows postgres customers; then
    echo "   copied from $pg_db (benches/copy_to_citus.sh)"
    benches/copy_to_citus.sh "$pg_db" "$citus_url" "$citus_schema"
  fi
  if ! has_rows "$backend" customers; then
    echo "   demo: $customers customers"
    DATABASE_URL=$url "$bin" demo --customers "$customers" --seed 1 --end-date "$as_of" >/dev/null
  fi
  if [ -z "$(sql "$backend" "SELECT id FROM segments WHERE name = 'columns'")" ]; then
    # SQLite keeps times as text in the form sqlx writes them.
    if [ "$backend" = sqlite ]; then now="strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')"; else now="now()"; fi
    sql "$backend" "INSERT INTO segments (name, kind, rule, size, created_at, updated_at)
      VALUES ('columns', 'DYNAMIC', '$columns_rule', 0, $now, $now)" >/dev/null
  fi
  if ! has_rows "$backend" customer_values; then
    echo "   run-job value-scores"
    DATABASE_URL=$url "$bin" run-job value-scores --as-of "$as_of" >/dev/null
  fi
  if ! has_rows "$backend" customer_lifecycle; then
    echo "   run-job lifecycle"
    DATABASE_URL=$url "$bin" run-job lifecycle --as-of "$as_of" >/dev/null
  fi
  if [ -z "$(sql "$backend" "SELECT id FROM segments WHERE name = 'columns' AND refreshed_at IS NOT NULL")" ]; then
    echo "   run-job segments"
    DATABASE_URL=$url "$bin" run-job segments --as-of "$as_of" >/dev/null
  fi
  echo "   $(sql "$backend" "SELECT count(*) FROM customers") customers, segment columns: $(sql "$backend" "SELECT size FROM segments WHERE name = 'columns'") members ($((SECONDS - t0)) s)"
}

# Statistics for the planner (autovacuum is off on this machine): the whole database on
# SQLite and PostgreSQL, this schema's tables on Citus (which analyzes their shards).
analyze() { # backend
  case $1 in
  sqlite | postgres) sql "$1" ANALYZE >/dev/null ;;
  citus)
    local tables
    tables=$(sql citus "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables WHERE schemaname = '$citus_schema'")
    sql citus "ANALYZE $tables" >/dev/null ;;
  esac
}

work=$(mktemp -d)
key_name=bench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
declare -A key
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
cleanup() {
  stop_server
  for backend in "${!key[@]}"; do
    DATABASE_URL=$(url_of "$backend") "$bin" api-key revoke "$key_name" >/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

declare -A segment_id
for backend in "${backends[@]}"; do
  echo "== $backend: base ($(url_of "$backend"))"
  prepare "$backend"
  segment_id[$backend]=$(sql "$backend" "SELECT id FROM segments WHERE name = 'columns'")
  # The lowest 1,000 ids with 10+ orders: the same customers on every backend.
  sql "$backend" "SELECT customer_id FROM orders GROUP BY customer_id HAVING count(*) >= 10
    ORDER BY customer_id LIMIT 1000" >"$work/customer_ids.$backend"
  if [ ! -s "$work/customer_ids.$backend" ]; then
    echo "no customer with 10 or more orders in the $backend base" >&2; exit 1
  fi
  key[$backend]=$(DATABASE_URL=$(url_of "$backend") "$bin" api-key create --name "$key_name" --scopes admin | tail -n 1)
done

if has_backend postgres && [ "$postgraphile" = 1 ]; then
  echo "== installing postgraphile@4 into $work (removed at exit)"
  npm install --prefix "$work" --no-audit --no-fund --loglevel=error postgraphile@4 >/dev/null
  echo "   postgraphile $("$work/node_modules/.bin/postgraphile" --version)"
fi

fields="id externalId name email phone country city gender birthDate createdAt"
page_info="pageInfo { hasNextPage endCursor }"
order_fields="id externalId amount orderedAt"
# __ID__ is replaced by a customer id per request. clientele's default order is creation
# time, ties broken by id, and a customer's orders come newest first (ties: the higher id
# first); PostGraphile is told the same.
clientele_query() { # name backend
  case $1 in
  list) echo "{ customers(first: 50) { nodes { $fields } $page_info } }" ;;
  count) echo "{ customers(first: 50) { nodes { $fields } $page_info totalCount } }" ;;
  members) echo "{ segment(id: \"${segment_id[$2]}\") { members(first: 50) { nodes { $fields } $page_info } } }" ;;
  lifecycle) echo "{ lifecycleSummary { stage customers share } }" ;;
  customer) echo "{ customer(id: \"__ID__\") { $fields orders(first: 20) { nodes { $order_fields } } } }" ;;
  esac
}
postgraphile_query() { # name
  case $1 in
  list) echo "{ allCustomers(first: 50, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { $fields } $page_info } }" ;;
  count) echo "{ allCustomers(first: 50, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { $fields } $page_info totalCount } }" ;;
  customer) echo "{ customerById(id: \"__ID__\") { $fields ordersByCustomerId(first: 20, orderBy: [ORDERED_AT_DESC, ID_DESC]) { nodes { $order_fields } } } }" ;;
  esac
}

# A wrk script posting one query; with an ids file, each request takes the next id in
# turn (the two threads start half the list apart). It counts answers that are not 200
# or carry "errors".
write_lua() { # file query authorization [ids-file]
  python3 - "$@" <<'EOF'
import json, sys
path, query, auth = sys.argv[1], sys.argv[2], sys.argv[3]
ids = open(sys.argv[4]).read().split() if len(sys.argv) > 4 else []
body = json.dumps({"query": query})
lines = ['wrk.method = "POST"',
         'wrk.headers["Content-Type"] = "application/json"']
if auth:
    lines.append('wrk.headers["Authorization"] = [==[' + auth + ']==]')
if ids:
    prefix, rest = body.split("__ID__")
    lines += ['local ids = {' + ", ".join('"%d"' % int(i) for i in ids) + '}',
              'local prefix = [==[' + prefix + ']==]',
              'local rest = [==[' + rest + ']==]',
              'local n = 0',
              'function request()',
              '  n = n + 1',
              '  return wrk.format(nil, nil, nil, prefix .. ids[(start + n) % #ids + 1] .. rest)',
              'end']
else:
    lines.append('wrk.body = [==[' + body + ']==]')
lines.append('''
local threads = {}
function setup(thread)
  thread:set("start", #threads * %d)
  table.insert(threads, thread)
end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("bad answers: %%d\\n", n))
end''' % (len(ids) // 2))
open(path, "w").write("\n".join(lines) + "\n")
EOF
}

wait_for() { # url
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"query":"{__typename}"}' "$1"; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then echo "server exited" >&2; return 1; fi
    sleep 0.5
  done
  echo "no answer from $1" >&2
  return 1
}

# Asks a query once (with an ids file: once per id); each answer must be a 200 with data
# and no "errors", and a customer must come with 10 or more orders. The answers are kept
# in a canonical form (times and decimals as values, cursors left out, the root and
# connection fields unnamed) so servers can be shown to answer the same.
cat >"$work/check.py" <<'EOF'
import datetime, decimal, json, os, statistics, sys, time, urllib.request
url, query, auth, out = sys.argv[1:5]
ids = open(sys.argv[5]).read().split() if len(sys.argv) > 5 else [None]
# Digits of an `amount` as the server shows it below the unit (PostGraphile: see below).
amount_scale = int(os.environ.get("AMOUNT_SCALE", "0"))

def ask(q):
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(url, json.dumps({"query": q}).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit("HTTP %d: %s" % (e.code, e.read().decode()[:2000]))
    answer = json.loads(text)
    if "errors" in answer or not answer.get("data"):
        sys.exit("bad answer: " + text[:2000])
    root = next(iter(answer["data"].values()))
    if root is None:
        sys.exit("empty answer: " + text[:2000])
    return root

def canonical(v, key=None):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(x, dict) and "nodes" in x:
                k = "connection"
            if k == "pageInfo":
                out[k] = {"hasNextPage": x["hasNextPage"]}
            else:
                out[k] = canonical(x, k)
        return out
    if isinstance(v, list):
        return [canonical(x) for x in v]
    if key == "amount" and amount_scale:
        v = str(decimal.Decimal(v).scaleb(-amount_scale))
    if isinstance(v, str):
        try:
            t = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
            if t.tzinfo:
                return t.astimezone(datetime.timezone.utc).isoformat()
        except ValueError:
            pass
        try:
            return format(decimal.Decimal(v).normalize(), "f")
        except decimal.InvalidOperation:
            pass
    return v

answers, orders, seconds = [], [], []
for i in ids:
    t0 = time.monotonic()
    root = ask(query if i is None else query.replace("__ID__", i))
    seconds.append(time.monotonic() - t0)
    if i is not None:
        conn = next(x for x in root.values() if isinstance(x, dict) and "nodes" in x)
        if str(root["id"]) != i or len(conn["nodes"]) < 10:
            sys.exit("customer %s: %d orders in the answer" % (i, len(conn["nodes"])))
        orders.append(len(conn["nodes"]))
    answers.append(canonical(root))
json.dump(answers, open(out, "w"), sort_keys=True)
root = answers[0]
# The time of an answer with nothing else running (the median over many customers).
alone = " (alone: %.1f ms)" % (statistics.median(seconds) * 1000)
if orders:
    print("   checked: %d customers, %d-%d orders each%s" % (len(orders), min(orders), max(orders), alone))
elif isinstance(root, list):
    print("   checked: %d rows: %s%s" % (len(root), ", ".join(
        "%s %s" % (r.get("stage"), r.get("customers")) for r in root), alone))
else:
    conn = root if "nodes" in root else root["connection"]
    print("   checked: %d nodes, first id %s, hasNextPage %s%s%s" % (
        len(conn["nodes"]), conn["nodes"][0]["id"], conn["pageInfo"]["hasNextPage"],
        ", totalCount %d" % conn["totalCount"] if "totalCount" in conn else "", alone))
EOF

ticks=$(getconf CLK_TCK)
# utime+stime of one process, in clock ticks.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# utime+stime+cutime+cstime of every postgres process (all clusters: on Citus the
# coordinator and the workers): backends that exit are then counted through the
# postmasters' children times.
postgres_ticks() {
  local total=0 pid stat
  for pid in $(pgrep -x postgres); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + $(awk '{ print $14 + $15 + $16 + $17 }' <<<"$stat")))
  done
  echo "$total"
}

# When wrk stops, slow requests may still be running: clientele cancels the statements of
# heavy requests whose client went away, PostGraphile does not. Each warm-up and each
# measured run starts once the server is idle (under a tenth of a core) and, on
# PostgreSQL, no statement runs in the bench database, so it is charged only its own
# work. Other load on the machine is not waited for (it shows in the DB CPU).
wait_quiet() { # backend
  local s0 s1
  for _ in $(seq 1 600); do
    s0=$(proc_ticks "$server_pid")
    sleep 0.5
    s1=$(proc_ticks "$server_pid")
    if [ $((s1 - s0)) -le $((ticks / 20)) ] && { [ "$1" != postgres ] ||
      [ "$(sql postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()")" = 0 ]; }; then
      return 0
    fi
  done
  echo "   still busy after 5 minutes; measuring anyway"
}

results=$work/results.tsv
problems=()
run_wrk() { # backend server query-name url lua
  local backend=$1 server=$2 name=$3 url=$4 lua=$5 out=$work/wrk.out s0 s1 p0 p1
  wait_quiet "$backend"
  taskset -c 1 wrk -t2 -c"$connections" -d"$warmup" --timeout 30s -s "$lua" "$url" >/dev/null
  wait_quiet "$backend"
  s0=$(proc_ticks "$server_pid"); p0=$(postgres_ticks)
  taskset -c 1 wrk -t2 -c"$connections" -d"$duration" --timeout 30s --latency -s "$lua" "$url" >"$out"
  s1=$(proc_ticks "$server_pid"); p1=$(postgres_ticks)
  sed 's/^/   /' "$out"
  # Latencies are printed as e.g. 812.00us, 5.12ms or 1.20s; all become milliseconds.
  awk -v backend="$backend" -v server="$server" -v name="$name" -v sd=$((s1 - s0)) \
    -v pd=$((p1 - p0)) -v hz="$ticks" -v has_db="$([ "$backend" = sqlite ] && echo 0 || echo 1)" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v
    }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Socket errors:/ { sub(/^ *Socket errors: */, ""); socket = $0 }
    /^bad answers:/ { bad = $3 }
    END {
      # No answer within the run: no latency or cost per request to show.
      if (requests == 0) { p50 = p99 = cpu = db = "-" }
      else {
        p50 = sprintf("%.2f", p50); p99 = sprintf("%.2f", p99)
        cpu = sprintf("%.3f", sd / hz / requests * 1000)
        db = has_db ? sprintf("%.3f", pd / hz / requests * 1000) : "-"
      }
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", backend, server, name, sprintf(rps >= 100 ? "%.0f" : "%.1f", rps), p50, p99, cpu, db, bad, (socket == "" ? "-" : socket)
    }' "$out" >>"$results"
}

bench_server() { # backend server url authorization query-names...
  local backend=$1 server=$2 url=$3 auth=$4 name query ids
  shift 4
  for name in "$@"; do
    if [ "$server" = postgraphile ]; then query=$(postgraphile_query "$name"); else query=$(clientele_query "$name" "$backend"); fi
    ids=()
    if [ "$name" = customer ]; then ids=("$work/customer_ids.$backend"); fi
    echo "-- $backend / $server: $name"
    echo "   $query"
    # orders.amount holds ten-thousandths of the currency unit (entity::Money::SCALE);
    # clientele shows units, PostGraphile the stored integer.
    # A query that fails its check is not measured; the run goes on with the others and
    # the failure is listed at the end (a long run is not lost to one answer).
    if ! AMOUNT_SCALE=$([ "$server" = postgraphile ] && echo 4 || echo 0) \
      python3 "$work/check.py" "$url" "$query" "$auth" "$work/answer.$backend.$server.$name" "${ids[@]}" \
      2>"$work/check.err"; then
      sed 's/^/   /' "$work/check.err"
      problems+=("$backend / $server / $name: the check failed: $(head -c 1000 "$work/check.err")")
      printf "%s\t%s\t%s\tcheck failed\t-\t-\t-\t-\t-\t-\n" "$backend" "$server" "$name" >>"$results"
      continue
    fi
    write_lua "$work/$name.lua" "$query" "$auth" "${ids[@]}"
    run_wrk "$backend" "$server" "$name" "$url" "$work/$name.lua"
  done
}

# Builds on this machine take /tmp/cargo.lock; holding it while measuring keeps them off
# the two cores until the script exits.
exec 9>/tmp/cargo.lock
echo "== waiting for /tmp/cargo.lock (no builds while measuring)"
flock 9

for backend in "${backends[@]}"; do
  echo "== $backend: ANALYZE"
  analyze "$backend"
  echo "== $backend: clientele (core 0)"
  DATABASE_URL=$(serve_url_of "$backend") BIND_ADDR=127.0.0.1:$clientele_port \
    taskset -c 0 "$bin" serve --no-scheduler >"$work/clientele.log" 2>&1 9>&- &
  server_pid=$!
  wait_for "http://127.0.0.1:$clientele_port/graphql"
  # shellcheck disable=SC2086 # QUERIES is a list of names
  bench_server "$backend" clientele "http://127.0.0.1:$clientele_port/graphql" "Bearer ${key[$backend]}" \
    $queries
  stop_server

  if [ "$backend" = postgres ] && [ "$postgraphile" = 1 ]; then
    echo "== postgres: PostGraphile (core 0)"
    # The .bin entry is a `#!/usr/bin/env node` script: taskset's pid becomes node's.
    taskset -c 0 "$work/node_modules/.bin/postgraphile" -c "$pg_url" --schema public \
      --host 127.0.0.1 --port "$postgraphile_port" --disable-query-log --disable-graphiql \
      >"$work/postgraphile.log" 2>&1 9>&- &
    server_pid=$!
    wait_for "http://127.0.0.1:$postgraphile_port/graphql"
    bench_server postgres postgraphile "http://127.0.0.1:$postgraphile_port/graphql" "" \
      list count customer
    stop_server
    for name in list count customer; do
      a=$work/answer.postgres.clientele.$name b=$work/answer.postgres.postgraphile.$name
      if [ ! -f "$a" ] || [ ! -f "$b" ]; then continue; fi
      if cmp -s "$a" "$b"; then
        echo "   clientele and PostGraphile answered $name with the same data"
      else
        problems+=("clientele and PostGraphile answered $name differently: $(head -c 1000 "$a") ... / $(head -c 1000 "$b") ...")
      fi
    done
  fi
done

# The bases are made from the same seed; say whether they answer alike.
same=()
for backend in "${backends[@]}"; do
  [ "$backend" = "${backends[0]}" ] && continue
  for name in list count members lifecycle customer; do
    a=$work/answer.${backends[0]}.clientele.$name b=$work/answer.$backend.clientele.$name
    if [ ! -f "$a" ] || [ ! -f "$b" ]; then same+=("$backend $name: not compared")
    elif cmp -s "$a" "$b"; then same+=("$backend $name: same")
    else same+=("$backend $name: DIFFERENT"); fi
  done
done

echo
echo "$customers customers; wrk -t2 -c$connections -d$duration --latency (after a $warmup warm-up), server on core 0, wrk on core 1"
echo "ANALYZE run on each backend's base just before its measurements (no VACUUM; autovacuum: $(psql -qtA -h 127.0.0.1 -U postgres -d postgres -c 'SHOW autovacuum' 2>/dev/null || echo unknown))"
echo "servers connect to PostgreSQL and Citus without TLS; on SQLite the server CPU includes the database's"
echo "DB CPU: every postgres process on the machine (Citus: coordinator and both workers)"
if [ ${#same[@]} -gt 0 ]; then
  echo "clientele's answers compared with ${backends[0]}'s:"
  printf '  %s\n' "${same[@]}" | paste -d' ' - - - - -
fi
{
  printf "backend\tserver\tquery\treq/s\tp50 ms\tp99 ms\tserver CPU ms/req\tDB CPU ms/req\tbad answers\tsocket errors\n"
  cat "$results"
} | column -t -s $'\t'
if [ ${#problems[@]} -gt 0 ]; then
  echo
  echo "PROBLEMS:"
  printf '  %s\n' "${problems[@]}"
  exit 1
fi
