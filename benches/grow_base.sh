#!/usr/bin/env bash
# Makes a PostgreSQL benchmark base FACTOR times the size of another: a copy of SOURCE_DB
# (CREATE DATABASE … TEMPLATE) into which every customer's rows are inserted FACTOR - 1
# more times, each time under new ids. Used by benches/citus_jobs.sh to measure how job
# times grow with the data: the grown base has exactly FACTOR times the rows and the same
# shape per customer (the same orders, dates, interactions, ledger and so on), so a time
# that grows more than FACTOR-fold is the job's doing, not the data's. And it takes
# minutes where `demo` takes hours at 3M customers.
#
# Per-customer tables are the ones with a `customer_id` column (and `customers` itself);
# shared tables (segments, campaigns, settings, …) are not repeated. In copy k (1, 2, …)
# of a row:
# - its own `id`, and every column naming a per-customer row (customer_id, referred_by,
#   order_id, email_id, win_back_email_id, feedback_id), moves up by k × the highest id
#   of that table in the source;
# - keys unique across customers get a copy mark: emails and external ids `r<k>.`,
#   referral and offer codes their first two characters replaced by `R<k>`-style base32
#   (`r` then k), email dedupe keys and ledger cause keys name the moved ids.
# Sequences are moved past the new ids, the loyalty catch-up mark (the highest order id
# checked) moves to the highest order id when it was there in the source, and the base is
# analyzed. It is made as TARGET_DB_growing and renamed when complete, so an interrupted
# run leaves no TARGET_DB that looks finished.
#
# Usage: benches/grow_base.sh SOURCE_DB TARGET_DB FACTOR   (databases on 127.0.0.1:5432)
set -euo pipefail
source "$(dirname "$0")/fk_order.sh"
source_db=$1 target_db=$2 factor=$3
pg() { psql -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }

final_db=$target_db target_db=${target_db}_growing
pg -d postgres -c "DROP DATABASE IF EXISTS $target_db" -c "CREATE DATABASE $target_db TEMPLATE $source_db"
db() { pg -d "$target_db" "$@"; }

# Per-customer tables in foreign-key order (parents first).
mapfile -t candidates < <(db -c "SELECT table_name FROM information_schema.columns
  WHERE table_schema = 'public' AND column_name = 'customer_id'
  UNION SELECT 'customers' ORDER BY 1")
mapfile -t tables < <(fk_order db public "${candidates[@]}")
if [ "${#tables[@]}" -ne "${#candidates[@]}" ]; then exit 1; fi

# The highest id of each table in the source (read before any copy): copy k moves ids up
# by k times it.
declare -A high=()
for table in $(db -c "SELECT table_name FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name = 'id'"); do
  high[$table]=$(db -c "SELECT coalesce(max(id), 0) FROM $table")
done
customers_high=${high[customers]} orders_high=${high[orders]} emails_high=${high[emails]}
feedback_high=${high[feedback]}

# The expression copy :k writes into one column of one table.
expression() { # table column data_type
  local table=$1 column=$2 type=$3
  case $column in
  id) echo "id + :k * ${high[$table]}" ;;
  customer_id | referred_by) echo "$column + :k * $customers_high" ;;
  order_id) echo "order_id + :k * $orders_high" ;;
  email_id | win_back_email_id) echo "$column + :k * $emails_high" ;;
  feedback_id) echo "feedback_id + :k * $feedback_high" ;;
  email | external_id) echo "'r' || :k || '.' || $column" ;;
  referral_code | offer_code | code) echo "'r' || :k || substr($column, 3)" ;;
  dedupe_key)
    # The customer's id is one `:`-separated part of the key (`win_back:<id>:<day>`).
    echo "regexp_replace(dedupe_key, '(^|:)' || customer_id || '(:|\$)', '\\1' || (customer_id + :k * $customers_high) || '\\2')" ;;
  cause_key)
    echo "CASE WHEN cause_key LIKE 'order:%' THEN 'order:' || (substr(cause_key, 7)::bigint + :k * $orders_high)
      WHEN cause_key LIKE 'referral:%' THEN 'referral:' || (substr(cause_key, 10)::bigint + :k * $customers_high)
      ELSE cause_key END" ;;
  *)
    if [[ $column == *_id && $type == bigint && ! $column =~ ^(segment_id|campaign_id|job_run_id|api_key_id)$ ]]; then
      echo "unknown id column $table.$column: say how a copy moves it" >&2
      exit 1
    fi
    echo "$column" ;;
  esac
}

for ((k = 1; k < factor; k++)); do
  for table in "${tables[@]}"; do
    columns=() values=()
    while IFS='|' read -r column type; do
      columns+=("$column")
      values+=("$(expression "$table" "$column" "$type")")
    done < <(db -c "SELECT column_name, data_type FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = '$table' ORDER BY ordinal_position")
    if [ "$table" = customers ]; then owner=id; else owner=customer_id; fi
    t0=$SECONDS
    db -v k="$k" <<SQL
INSERT INTO $table ($(IFS=,; echo "${columns[*]}"))
SELECT $(printf '%s, ' "${values[@]}" | sed 's/, $//')
FROM $table WHERE $owner <= $customers_high;
SQL
    echo "   copy $k of $table: $((SECONDS - t0)) s"
  done
done

db -c "SELECT format('SELECT setval(%L, (SELECT coalesce(max(%I), 0) + 1 FROM %I), false);',
    pg_get_serial_sequence(table_name, column_name), column_name, table_name)
  FROM information_schema.columns
  WHERE table_schema = 'public' AND pg_get_serial_sequence(table_name, column_name) IS NOT NULL" | db >/dev/null
db -c "UPDATE app_settings SET value = (SELECT max(id) FROM orders)::text
  WHERE key = 'loyalty_orders_checked_through' AND value = '$orders_high'"
db -c ANALYZE
pg -d postgres -c "DROP DATABASE IF EXISTS $final_db" -c "ALTER DATABASE $target_db RENAME TO $final_db"
