#!/usr/bin/env bash
# Copies a PostgreSQL benchmark base into a schema of the Citus coordinator, so that both
# backends are measured on the same rows without running `demo` a second time (at 3M
# customers demo takes about an hour on PostgreSQL and far longer through the
# coordinator; the copy takes minutes).
#
# The schema must have been migrated by the same binary (`clientele migrate`, which
# distributes it): the rows go into the distributed tables with COPY through the
# coordinator, which routes each row to its shard. Every table is emptied first, copied
# in foreign-key order with the columns both sides have, and each sequence is moved past
# the highest id copied so that later inserts do not collide. `customer_counts` stays
# empty: on Citus `totalCount` counts the shards (migration/src/distribute.rs).
#
# Usage: benches/copy_to_citus.sh SOURCE_DB CITUS_URL SCHEMA
#   SOURCE_DB: a database on 127.0.0.1:5432 (user postgres)
set -euo pipefail
source "$(dirname "$0")/fk_order.sh"
source_db=$1 citus_url=$2 schema=$3
src() { psql -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d "$source_db" "$@"; }
dst() { psql -qtA -v ON_ERROR_STOP=1 "$citus_url" "$@"; }

mapfile -t tables < <(dst -c "SELECT table_name FROM information_schema.tables
  WHERE table_schema = '$schema' AND table_type = 'BASE TABLE'
    AND table_name NOT IN ('seaql_migrations', 'customer_counts')
  ORDER BY table_name")
dst -c "TRUNCATE $(printf "$schema.%s, " "${tables[@]}" | sed 's/, $//') CASCADE"

# Foreign-key order: a table is copied once every table it references has been.
mapfile -t ordered < <(fk_order dst "$schema" "${tables[@]}")
if [ "${#ordered[@]}" -ne "${#tables[@]}" ]; then exit 1; fi
for table in "${ordered[@]}"; do
  columns=$(dst -c "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
    FROM information_schema.columns WHERE table_schema = '$schema' AND table_name = '$table'")
  t0=$SECONDS
  src -c "COPY public.$table ($columns) TO STDOUT" | dst -c "COPY $schema.$table ($columns) FROM STDIN"
  echo "   copied $table: $(dst -c "SELECT count(*) FROM $schema.$table") rows ($((SECONDS - t0)) s)"
done

dst -c "SELECT format('SELECT setval(%L, (SELECT coalesce(max(%I), 0) + 1 FROM %I.%I), false);',
    pg_get_serial_sequence(format('%I.%I', table_schema, table_name), column_name),
    column_name, table_schema, table_name)
  FROM information_schema.columns
  WHERE table_schema = '$schema' AND pg_get_serial_sequence(format('%I.%I', table_schema, table_name), column_name) IS NOT NULL" \
  | dst >/dev/null
