#!/usr/bin/env bash
# HTTP throughput of a customer list page: clientele against PostGraphile 4 on the same
# PostgreSQL data (the 1,000,000-customer demo base in `clientele_bench`, made here like
# benches/value_scores.sh when missing — about 7 minutes).
#
# Each server runs alone, pinned to core 0 (`taskset -c 0`); wrk runs on core 1 (2 threads,
# 32 connections, a 5 s warm-up, then 20 s with --latency; --timeout 30s so slow answers
# are measured, not dropped as socket errors). PostgreSQL is not pinned.
# Two queries per server: the first 50 customers in creation order (ten plain fields and
# pageInfo), and the same page with `totalCount`. Every answer is checked once with curl
# before the run, and wrk counts answers that are not HTTP 200 or carry "errors".
# /tmp/cargo.lock is held while measuring, so builds that take it wait.
# Prints req/s, p50, p99, server CPU per request and PostgreSQL CPU per request (all
# postgres processes, so other load on the database shows up there).
#
# Needs wrk, node/npm (PostGraphile 4 is installed into a temporary folder and removed),
# a local PostgreSQL with trust auth on 127.0.0.1:5432, and cores 0 and 1.
# Usage: benches/api_throughput.sh
#   (env: DURATION=20s WARMUP=5s CONNECTIONS=32 CLIENTELE_PORT=18080 POSTGRAPHILE_PORT=15000)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-20s}
warmup=${WARMUP:-5s}
connections=${CONNECTIONS:-32}
clientele_port=${CLIENTELE_PORT:-18080}
postgraphile_port=${POSTGRAPHILE_PORT:-15000}
db_url=postgres://postgres@127.0.0.1:5432/clientele_bench

for tool in wrk npm taskset curl python3 psql; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y wrk; node/npm)" >&2; exit 1; }
done
for port in "$clientele_port" "$postgraphile_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use" >&2; exit 1
  fi
done

flock /tmp/cargo.lock cargo build --release --quiet
bin=$PWD/target/release/clientele
if ! psql -qtA -h 127.0.0.1 -U postgres -d clientele_bench -c "select 1" >/dev/null 2>&1; then
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE clientele_bench"
  DATABASE_URL=$db_url "$bin" demo --customers 1000000 --seed 1 --end-date 2026-11-01
fi
export DATABASE_URL=$db_url RUST_LOG=warn
"$bin" migrate >/dev/null
# Autovacuum may be off (it is on the CI machine): without statistics the planner guesses.
psql -q -h 127.0.0.1 -U postgres -d clientele_bench -c "ANALYZE"
analyzed="ANALYZE run on clientele_bench just before the benchmark (no VACUUM)"

work=$(mktemp -d)
key_name=bench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
key=
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
  if [ -n "$key" ]; then "$bin" api-key revoke "$key_name" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
key=$("$bin" api-key create --name "$key_name" --scopes admin | tail -n 1)

echo "== installing postgraphile@4 into $work (removed at exit)"
npm install --prefix "$work" --no-audit --no-fund --loglevel=error postgraphile@4 >/dev/null
echo "   postgraphile $("$work/node_modules/.bin/postgraphile" --version)"

fields="id externalId name email phone country city gender birthDate createdAt"
page_info="pageInfo { hasNextPage endCursor }"
# clientele's default order is creation time, ties broken by id; PostGraphile is told the same.
clientele_list="{ customers(first: 50) { nodes { $fields } $page_info } }"
clientele_count="{ customers(first: 50) { nodes { $fields } $page_info totalCount } }"
postgraphile_list="{ allCustomers(first: 50, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { $fields } $page_info } }"
postgraphile_count="{ allCustomers(first: 50, orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { $fields } $page_info totalCount } }"

# A wrk script posting one query; it counts answers that are not 200 or carry "errors".
write_lua() { # file query [authorization]
  python3 - "$@" <<'EOF'
import json, sys
path, query = sys.argv[1], sys.argv[2]
auth = sys.argv[3] if len(sys.argv) > 3 else ""
body = json.dumps({"query": query})
lines = ['wrk.method = "POST"',
         'wrk.headers["Content-Type"] = "application/json"',
         'wrk.body = [==[' + body + ']==]']
if auth:
    lines.append('wrk.headers["Authorization"] = [==[' + auth + ']==]')
lines.append('''
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("bad answers: %d\\n", n))
end''')
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

# One query, once: must be a 200 with data and no "errors"; the page's ids are kept so
# the servers can be shown to answer the same page.
check_answer() { # url query [authorization]
  local url=$1 query=$2 auth=${3:-} answer
  local -a headers=(-H 'Content-Type: application/json')
  if [ -n "$auth" ]; then headers+=(-H "Authorization: $auth"); fi
  answer=$(curl -sS --fail-with-body "${headers[@]}" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$query")" "$url")
  python3 -c '
import json, sys
a = json.loads(sys.argv[1])
if "errors" in a or not a.get("data"):
    sys.exit("bad answer: " + sys.argv[1][:2000])
conn = next(iter(a["data"].values()))
open(sys.argv[2], "w").write(" ".join(str(n["id"]) for n in conn["nodes"]) + "\n")
print("   checked: %d nodes, first id %s, hasNextPage %s%s" % (
    len(conn["nodes"]), conn["nodes"][0]["id"], conn["pageInfo"]["hasNextPage"],
    ", totalCount %d" % conn["totalCount"] if "totalCount" in conn else ""))
' "$answer" "$work/ids.$(date +%s%N)"
}

ticks=$(getconf CLK_TCK)
# utime+stime of one process, in clock ticks.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# utime+stime+cutime+cstime of every postgres process: backends that exit are then
# counted through the postmaster's children times.
postgres_ticks() {
  local total=0 pid stat
  for pid in $(pgrep -x postgres); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + $(awk '{ print $14 + $15 + $16 + $17 }' <<<"$stat")))
  done
  echo "$total"
}

results=$work/results.tsv
run_wrk() { # server query-name url lua
  local server=$1 name=$2 url=$3 lua=$4 out=$work/wrk.out s0 s1 p0 p1
  taskset -c 1 wrk -t2 -c"$connections" -d"$warmup" --timeout 30s -s "$lua" "$url" >/dev/null
  s0=$(proc_ticks "$server_pid"); p0=$(postgres_ticks)
  taskset -c 1 wrk -t2 -c"$connections" -d"$duration" --timeout 30s --latency -s "$lua" "$url" >"$out"
  s1=$(proc_ticks "$server_pid"); p1=$(postgres_ticks)
  sed 's/^/   /' "$out"
  # Latencies are printed as e.g. 812.00us, 5.12ms or 1.20s; all become milliseconds.
  awk -v server="$server" -v name="$name" -v sd=$((s1 - s0)) -v pd=$((p1 - p0)) -v hz="$ticks" '
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
    /Socket errors:/ { socket = $0 }
    /^bad answers:/ { bad = $3 }
    END {
      cpu = requests > 0 ? sd / hz / requests * 1000 : 0
      pg = requests > 0 ? pd / hz / requests * 1000 : 0
      printf "%s\t%s\t%.0f\t%.2f\t%.2f\t%.3f\t%.3f\t%d\t%s\n", server, name, rps, p50, p99, cpu, pg, bad, (socket == "" ? "-" : "yes")
    }' "$out" >>"$results"
}

bench_server() { # name url list-query count-query [authorization]
  local server=$1 url=$2 list=$3 count=$4 auth=${5:-}
  check_answer "$url" "$list" "$auth"
  check_answer "$url" "$count" "$auth"
  write_lua "$work/list.lua" "$list" "$auth"
  write_lua "$work/count.lua" "$count" "$auth"
  echo "-- $server: list"
  run_wrk "$server" list "$url" "$work/list.lua"
  echo "-- $server: list+totalCount"
  run_wrk "$server" list+totalCount "$url" "$work/count.lua"
}

# Builds on this machine take /tmp/cargo.lock; holding it while measuring keeps them off
# the two cores until the script exits.
exec 9>/tmp/cargo.lock
echo "== waiting for /tmp/cargo.lock (no builds while measuring)"
flock 9

echo "== clientele (core 0)"
# Both servers talk to PostgreSQL over plain TCP on loopback: PostGraphile's driver does
# by default, while sqlx would negotiate TLS with a server that offers it (Debian's does),
# which costs clientele about 3 % of its CPU per request and PostgreSQL more.
DATABASE_URL="$db_url?sslmode=disable" BIND_ADDR=127.0.0.1:$clientele_port taskset -c 0 "$bin" serve --no-scheduler >"$work/clientele.log" 2>&1 9>&- &
server_pid=$!
wait_for "http://127.0.0.1:$clientele_port/graphql"
bench_server clientele "http://127.0.0.1:$clientele_port/graphql" \
  "$clientele_list" "$clientele_count" "Bearer $key"
stop_server

echo "== PostGraphile (core 0)"
# The .bin entry is a `#!/usr/bin/env node` script: taskset's pid becomes node's.
taskset -c 0 "$work/node_modules/.bin/postgraphile" -c "$db_url" --schema public \
  --host 127.0.0.1 --port "$postgraphile_port" --disable-query-log --disable-graphiql \
  >"$work/postgraphile.log" 2>&1 9>&- &
server_pid=$!
wait_for "http://127.0.0.1:$postgraphile_port/graphql"
bench_server postgraphile "http://127.0.0.1:$postgraphile_port/graphql" \
  "$postgraphile_list" "$postgraphile_count"
stop_server

if [ "$(cat "$work"/ids.* | sort -u | wc -l)" -ne 1 ]; then
  echo "the servers answered different pages:" >&2; cat "$work"/ids.* >&2; exit 1
fi
echo "   all four checks answered the same 50 customers"

echo
echo "wrk -t2 -c$connections -d$duration --latency (after a $warmup warm-up), server on core 0, wrk on core 1"
echo "$analyzed"
echo "both servers connect to PostgreSQL without TLS"
{
  printf "server\tquery\treq/s\tp50 ms\tp99 ms\tserver CPU ms/req\tpostgres CPU ms/req\tbad answers\tsocket errors\n"
  cat "$results"
} | column -t -s $'\t'
