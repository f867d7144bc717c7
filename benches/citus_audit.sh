#!/usr/bin/env bash
# Which statements Citus does not route to one shard or push down whole.
#
# Makes a distributed demo base in a schema of its own on the local Citus cluster
# (`../shared/citus/cluster.sh start`), then runs every job and the API's main reads with
# the coordinator logging Citus's planner notes (`log_min_messages = debug1` for these
# connections only), and prints each note with the statement it is about, counted. A
# statement without a note was routed to one shard or pushed down whole. ARCHITECTURE.md
# ("What runs where") lists what this finds and why each is acceptable.
#
# Usage: benches/citus_audit.sh   (env: CITUS_URL, CUSTOMERS=20000, PORT=18090)
set -euo pipefail
cd "$(dirname "$0")/.."
citus_url=${CITUS_URL:-postgres://postgres@127.0.0.1:5440/clientele}
customers=${CUSTOMERS:-20000}
port=${PORT:-18090}
schema=clientele_audit
coordinator_port=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).port or 5432)' "$citus_url")
log=$(ls /var/log/postgresql/postgresql-*-citus"$coordinator_port".log)

flock /tmp/cargo.lock cargo build --release --quiet
bin=$PWD/target/release/clientele
psql -q "$citus_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema"
base="$citus_url?options=-c%20search_path%3D$schema"
logged="$base%20-c%20log_min_messages%3Ddebug1%20-c%20log_min_error_statement%3Ddebug1"
export RUST_LOG=warn
DATABASE_URL=$base "$bin" migrate
DATABASE_URL=$base "$bin" demo --customers "$customers" --seed 7 >/dev/null
key=$(DATABASE_URL=$base "$bin" api-key create --name audit --scopes admin | tail -n 1)

start=$(($(wc -l <"$log") + 1))
DATABASE_URL=$logged BIND_ADDR=127.0.0.1:$port "$bin" serve --no-scheduler >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; psql -q "$citus_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE"' EXIT
for _ in $(seq 1 60); do
  curl -s -o /dev/null "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' -d '{"query":"{__typename}"}' && break
  sleep 0.5
done
gql() {
  curl -s "http://127.0.0.1:$port/graphql" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1")"
}
gql 'mutation { installSuggestedSegments { id } }' >/dev/null || true
gql 'mutation { createCampaign(input: { name: "Audit birthdays", kind: BIRTHDAY, enabled: true }) { id } }' >/dev/null || true
for job in value-scores lifecycle segments campaigns email-dispatch marketer-digest; do
  DATABASE_URL=$logged "$bin" run-job "$job" >/dev/null
done
id=$(gql '{ customers(first: 1, orderBy: { field: TOTAL_SPENT, direction: DESC }) { nodes { id } } }' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["customers"]["nodes"][0]["id"])')
segment=$(gql '{ segments(first: 1) { nodes { id } } }' |
  python3 -c 'import json,sys; n=json.load(sys.stdin)["data"]["segments"]["nodes"]; print(n[0]["id"] if n else "")')
for query in \
  '{ customers(first: 50) { nodes { id name email } pageInfo { hasNextPage endCursor } totalCount } }' \
  '{ customers(first: 50, filter: { country: ["DE"] }) { nodes { id } totalCount } }' \
  "{ customer(id: \"$id\") { id name orders(first: 20) { nodes { id amount } } emails(first: 5) { nodes { id } } segments { id } } }" \
  '{ lifecycleSummary { stage customers } }' \
  "{ segment(id: \"$segment\") { members(first: 50) { nodes { id } totalCount } } }" \
  '{ rfmMatrix { r f customers revenue } }'; do
  gql "$query" >/dev/null
done
sleep 1

# Each Citus note (DEBUG) with the statement the log names after it, counted.
tail -n +"$start" "$log" | python3 -c '
import re, sys, collections
notes = collections.Counter()
pending = []
for line in sys.stdin:
    m = re.search(r"DEBUG:\s+(.*)", line)
    if m:
        pending.append(m.group(1).strip())
        continue
    m = re.search(r"STATEMENT:\s+(.*)", line)
    if m and pending:
        statement = re.sub(r"\s+", " ", m.group(1))[:160]
        for note in pending:
            if re.search(r"coordinator|subplan|repartition|pull|recursive|cannot|not supported", note):
                notes[(re.sub(r"\d+", "N", note)[:90], statement)] += 1
        pending = []
    elif not line.startswith("\t"):
        pending = []
for (note, statement), n in sorted(notes.items(), key=lambda kv: -kv[1]):
    print(f"{n:4}  {note}\n      {statement}")
'
