#!/usr/bin/env bash
# The customer's voice and the membership programme at 1,000,000 customers on PostgreSQL
# (issue 15's targets in brackets):
#   loyalty job                 as of the end date (the first run on a new base gives every
#                               member a tier), then the day after: a daily run [≤ 30 s]
#   satisfaction                bucket MONTH over the two years up to the end date      [≤ 1 s]
#   churnDrivers                asOf the end date, the default 180-day window            [≤ 5 s]
#   feedbackTopics              the same two years, first 50
#   Customer.timeline(first:20) a page for each of 5 customers with 10+ orders and an
#                               answer, 7 requests each, median                          [≤ 50 ms]
#
# Data: `clientele demo --customers $CUSTOMERS --seed 1 --end-date 2026-11-01` (answers
# with channels, tags, comments and their extracted terms; referrals) in the database
# `clientele_voice_<customers>`, made here when missing (about 14 minutes for 1M) and kept
# between runs (drop it to start over). A base without feedback topics was made by an
# older `demo` and is refused. Then, when missing, what the reports read: value scores and
# lifecycle stages (`run-job value-scores`, `run-job lifecycle`, as of the end date;
# churnDrivers compares stages, the lifecycle job uses the scores). `demo` earns every
# order's points as it writes it (the order path's statement; lots older than 12 months
# written consumed), so the loyalty job's runs here are what a shop's would be: the run
# as of the end date gives the tiers (the first time on a base: every member's first
# tier) and the run of the day after is an ordinary daily run (that day's expiries and
# birthdays, every member's standing re-read). The programme is the default one
# (nothing saved: the job uses the defaults until an admin saves a programme).
#
# Method: autovacuum is off on this machine, so every table is analyzed (ANALYZE) after
# the base is made and again after the loyalty runs, before the API is measured; the
# script says which tables had statistics before. The API is `clientele serve
# --no-scheduler` with REQUEST_TIMEOUT_SECONDS and STATEMENT_TIMEOUT_SECONDS raised to 300
# (so a slow answer is measured, not cut at 10 s) and REPORT_CACHE_SECONDS=0, asked with
# curl and an admin key created for the run (revoked at exit). Each report is asked 3
# times; the table shows the first and the median. Every answer is checked for `errors`.
# The machine's load (uptime) is printed with the figures: other work on the machine
# shows in them.
# Usage: benches/voice_loyalty.sh   (env: CUSTOMERS=1000000 PORT=18090 LOYALTY=1 (0: the
#   API only, loyalty tables as they are)
#   BIN=path/to/clientele: that binary instead of building target/release/clientele)
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${CUSTOMERS:-1000000}
port=${PORT:-18090}
end=2026-11-01
# The two years up to the end date, whole months: 2024-11-01 to 2026-11-01 (exclusive).
from=2024-11-01T00:00:00Z
to=2026-11-01T00:00:00Z
db=clientele_voice_$customers
url=postgres://postgres@127.0.0.1:5432/$db
for tool in psql curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is already in use" >&2; exit 1
fi
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  flock /tmp/cargo.lock cargo build --release --quiet
  bin=$PWD/target/release/clientele
fi
export RUST_LOG=warn DATABASE_URL=$url
sql() { psql -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$db" -c "$1"; }
has_rows() { [ "$(sql "SELECT count(*) FROM (SELECT 1 FROM $1 LIMIT 1) AS t")" = 1 ]; }
seconds_since() { echo "$(date +%s.%N) - $1" | bc; }

echo "autovacuum: $(psql -qtA -h 127.0.0.1 -U postgres -c 'SHOW autovacuum')"
echo "== base: $url"
psql -qtA -h 127.0.0.1 -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
"$bin" migrate >/dev/null
if ! has_rows customers; then
  echo "   demo: $customers customers (load: $(uptime | sed 's/.*load average: //'))"
  t0=$(date +%s.%N)
  "$bin" demo --customers "$customers" --seed 1 --end-date "$end" | sed 's/^/   /'
  printf '   demo took %.1f s\n' "$(seconds_since "$t0")"
elif ! has_rows feedback_topics; then
  echo "$db has customers but no feedback topics: made by an older demo; drop it to start over" >&2
  exit 1
fi
if ! has_rows customer_values; then
  echo "   run-job value-scores"
  "$bin" run-job value-scores --as-of "$end" >/dev/null
fi
if ! has_rows customer_lifecycle; then
  echo "   run-job lifecycle"
  "$bin" run-job lifecycle --as-of "$end" >/dev/null
fi
echo "   $(sql "SELECT count(*) FROM customers") customers, $(sql "SELECT count(*) FROM orders") orders, $(sql "SELECT count(*) FROM feedback") answers, $(sql "SELECT count(*) FROM feedback_topics") topic rows, $(sql "SELECT count(*) FROM customers WHERE referred_by IS NOT NULL") referred customers"
analyzed=$(sql "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL")
echo "   tables with statistics before ANALYZE: $analyzed of $(sql 'SELECT count(*) FROM pg_stat_user_tables')"
sql ANALYZE
echo "   ANALYZE: every table analyzed"

declare -A took
runs="1 2"
if [ "${LOYALTY:-1}" = 0 ]; then
  runs=
  took[loyalty1]=skipped took[loyalty2]=skipped took[loyalty_load1]=- took[loyalty_load2]=-
else
  echo "== loyalty job (default programme)"
fi
day_after=$(date -u -d "$end + 1 day" +%F)
for run in $runs; do
  load=$(uptime | sed 's/.*load average: //')
  as_of=$end
  [ "$run" = 2 ] && as_of=$day_after
  t0=$(date +%s.%N)
  "$bin" run-job loyalty --as-of "$as_of" >"/tmp/voice_loyalty.$$.json"
  took[loyalty$run]=$(printf '%.1f s' "$(seconds_since "$t0")")
  python3 - "/tmp/voice_loyalty.$$.json" "$run" "${took[loyalty$run]}" "$load" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
stats = {k: v for k, v in run["stats"].items() if k not in ("asOf",)}
print(f"   run {sys.argv[2]} (asOf {run['stats']['asOf']}): {sys.argv[3]} wall (load {sys.argv[4]}), status {run['status']}, {json.dumps(stats)}")
EOF
  took[loyalty_load$run]=$load
done
rm -f "/tmp/voice_loyalty.$$.json"
[ -n "$runs" ] && sql ANALYZE
echo "   $(sql "SELECT count(*) FROM loyalty_accounts") accounts, $(sql "SELECT count(*) FROM loyalty_ledger") ledger entries, $(sql "SELECT count(*) FROM loyalty_tier_events") tier events"

echo "== API (clientele serve --no-scheduler)"
work=$(mktemp -d)
key_name=bench-voice-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  "$bin" api-key revoke "$key_name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
key=$("$bin" api-key create --name "$key_name" --scopes admin | tail -n 1)
# Plain TCP to PostgreSQL, as in benches/api_throughput.sh.
DATABASE_URL="$url?sslmode=disable" BIND_ADDR=127.0.0.1:$port REQUEST_TIMEOUT_SECONDS=300 \
  STATEMENT_TIMEOUT_SECONDS=300 REPORT_CACHE_SECONDS=0 \
  "$bin" serve --no-scheduler >"$work/server.log" 2>&1 9>&- &
server_pid=$!
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$port/readyz" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done

# Posts a query $3 times; prints the seconds of each answer, one a line. Fails on an
# answer that is not a 200 with data and no errors.
ask() { # name query times
  python3 - "http://127.0.0.1:$port/graphql" "$key" "$1" "$2" "$3" <<'EOF'
import json, sys, time, urllib.request
url, key, name, query, times = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
body = json.dumps({"query": query}).encode()
for _ in range(times):
    request = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + key})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.load(response)
    seconds = time.perf_counter() - started
    if answer.get("errors") or not answer.get("data"):
        sys.exit(f"{name}: {json.dumps(answer)[:500]}")
    print(f"{seconds:.4f}")
sys.stderr.write(f"   {name}: {json.dumps(answer['data'], ensure_ascii=False)[:300]}…\n")
EOF
}
summary() { # file → "first median"
  python3 - "$1" <<'EOF'
import statistics, sys
times = [float(line) for line in open(sys.argv[1]) if line.strip()]
fmt = lambda s: f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"
print(f"{fmt(times[0])}|{fmt(statistics.median(times))}|{len(times)}")
EOF
}

filter="filter: { from: \"$from\", to: \"$to\" }"
declare -A query
query[satisfaction]="{ satisfaction(bucket: MONTH, $filter) { overall { current { responses npsResponses nps csatAverage csatSatisfiedShare } change { responses nps } } buckets { current { from responses nps csatAverage } change { nps } } } }"
query[churnDrivers]="{ churnDrivers(asOf: \"$end\") { from to lapsed retained factors { factor value source lapsed retained lift lowCount } } }"
query[feedbackTopics]="{ feedbackTopics($filter, first: 50) { topic source mentions promoters passives detractors nps lift } }"
declare -A result load_at
for name in satisfaction churnDrivers feedbackTopics; do
  load_at[$name]=$(uptime | sed 's/.*load average: //')
  ask "$name" "${query[$name]}" 3 >"$work/$name.times"
  result[$name]=$(summary "$work/$name.times")
done

# Customers with 10+ orders and an answer: pages that mix orders, feedback, stage
# changes, ledger entries and tier events.
sql "SELECT o.customer_id FROM orders o WHERE EXISTS (SELECT 1 FROM feedback f WHERE f.customer_id = o.customer_id)
     GROUP BY o.customer_id HAVING count(*) >= 10 ORDER BY o.customer_id LIMIT 5" >"$work/customers"
load_at[timeline]=$(uptime | sed 's/.*load average: //')
: >"$work/timeline.times"
while read -r id; do
  ask "timeline of $id" "{ customer(id: \"$id\") { timeline(first: 20) { edges { cursor node { kind at summary } } pageInfo { hasNextPage endCursor } } } }" 7 >>"$work/timeline.times"
done <"$work/customers"
result[timeline]=$(summary "$work/timeline.times")

echo
echo "== $customers customers, PostgreSQL $(psql -qtA -h 127.0.0.1 -U postgres -c 'SHOW server_version'), release build, $(nproc) cores"
printf '| %-32s | %-10s | %-10s | %-9s | %s\n' what first median requests 'load (1, 5, 15 min) at start'
printf '| %-32s | %-10s | %-10s | %-9s | %s\n' 'loyalty job, as of the end date' "${took[loyalty1]}" '' 1 "${took[loyalty_load1]}"
printf '| %-32s | %-10s | %-10s | %-9s | %s\n' 'loyalty job, the day after' "${took[loyalty2]}" '' 1 "${took[loyalty_load2]}"
for name in satisfaction churnDrivers feedbackTopics timeline; do
  IFS='|' read -r first median count <<<"${result[$name]}"
  label=$name
  [ "$name" = satisfaction ] && label='satisfaction (MONTH, 2 years)'
  [ "$name" = timeline ] && label='timeline(first: 20), 5 customers'
  printf '| %-32s | %-10s | %-10s | %-9s | %s\n' "$label" "$first" "$median" "$count" "${load_at[$name]}"
done
echo "(database $db kept; drop it with: psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE $db')"
