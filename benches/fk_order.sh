# Sourced by the bench scripts that write a schema's tables in foreign-key order
# (copy_to_citus.sh, grow_base.sh).
#
# fk_order QUERY SCHEMA TABLE...: prints the tables, one per line, parents first: each
# after every table of the list that it references (other than itself). QUERY is a
# command that runs `psql -qtA` on the database with the arguments it is given. Fails
# when foreign keys form a cycle.
fk_order() {
  local query=$1 schema=$2
  shift 2
  local -A listed=() placed=()
  local table parent ready
  local remaining=("$@") next=()
  for table in "$@"; do listed[$table]=1; done
  while [ "${#remaining[@]}" -gt 0 ]; do
    next=()
    for table in "${remaining[@]}"; do
      ready=1
      for parent in $("$query" -c "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint
          WHERE contype = 'f' AND conrelid = '$schema.$table'::regclass AND confrelid <> conrelid"); do
        parent=${parent#"$schema".}
        if [ -n "${listed[$parent]:-}" ] && [ -z "${placed[$parent]:-}" ]; then ready=0; fi
      done
      if [ "$ready" = 1 ]; then
        echo "$table"
        placed[$table]=1
      else
        next+=("$table")
      fi
    done
    if [ "${#next[@]}" -eq "${#remaining[@]}" ]; then
      echo "foreign keys form a cycle among: ${next[*]}" >&2
      return 1
    fi
    remaining=("${next[@]}")
  done
}
