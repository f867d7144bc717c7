//! SQL fragments that differ between SQLite and PostgreSQL, kept in one place so that
//! every query that needs them says the same thing.

use sea_orm::DatabaseBackend;

/// The UTC day of a timestamp column, as a key to group by. PostgreSQL: days since 1970.
/// SQLite: the `YYYY-MM-DD` prefix of the stored RFC 3339 UTC text, which groups and
/// orders like the day and costs a substring instead of a date parse per order (the
/// difference between 28 s and a few at ten million orders).
///
/// PostgreSQL's `date_part` gives the epoch as a double, where `EXTRACT` gives a NUMERIC
/// (since 14) whose division costs 2.6× as much per row (a million rows: 78 ms against
/// 204 ms; churnDrivers evaluates it over every answer, contact and topic of its groups).
/// The double is exact enough: microseconds of any date before the year 2200 are below
/// 2⁵³, and the quotient of a time just before midnight stays below the day boundary by
/// far more than the rounding of either division, while midnight divides exactly.
pub fn day_key_sql(backend: DatabaseBackend, column: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("FLOOR(date_part('epoch', {column}) / 86400)::BIGINT"),
        _ => format!("substr({column}, 1, 10)"),
    }
}

/// The first day (UTC) of the ISO week — Monday to Sunday — of a timestamp column, as
/// `YYYY-MM-DD` text on both databases, to group by and to read back as a date.
pub fn week_start_sql(backend: DatabaseBackend, column: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            format!("to_char(date_trunc('week', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
        }
        // Six days back, then forward to the next Monday (or stay on it): the Monday
        // on or before the day.
        _ => format!("date(substr({column}, 1, 10), '-6 days', 'weekday 1')"),
    }
}

/// The first day (UTC) of the calendar month of a timestamp column, as `YYYY-MM-DD`
/// text on both databases.
pub fn month_start_sql(backend: DatabaseBackend, column: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            format!("to_char(date_trunc('month', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
        }
        _ => format!("substr({column}, 1, 7) || '-01'"),
    }
}

/// Days since 1970 of a day key made by [`day_key_sql`].
pub fn day_number_of_key(backend: DatabaseBackend, key: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => key.to_owned(),
        _ => format!("CAST(julianday({key}) - 2440587.5 AS INTEGER)"),
    }
}

/// Where [`money_sum`] splits each value: the sum of the quotients and the sum of the
/// remainders by 10⁹ are summed apart.
pub const MONEY_SUM_SPLIT: i64 = 1_000_000_000;

/// The exact sum of a money column (units, any `BIGINT` values), as two columns
/// `{alias}_high` and `{alias}_low` that [`crate::MoneyTotal`] reads back as one `i128`:
/// `high × 10⁹ + low`.
///
/// Why two: a plain `SUM` of units fails past ±9.2 × 10¹⁸ (SQLite raises "integer
/// overflow", PostgreSQL's NUMERIC sum cannot be read back as `BIGINT`), and once it fails
/// every report over the base fails with it. SQLite has no wider integer and `TOTAL()` is a
/// float, inexact past 2⁵³ units. Summed apart, each half stays a `BIGINT` for any input
/// up to a billion rows (|quotient| ≤ 9.3 × 10⁹, |remainder| < 10⁹), and both databases
/// truncate `/` towards zero with `%` taking the dividend's sign, so
/// `(x / 10⁹) × 10⁹ + x % 10⁹ = x` row by row on both. The two columns are two aggregates
/// of one scan. Averages are this sum divided by a COUNT in Rust ([`crate::Money::mean`]),
/// never an SQL AVG of units read as money.
pub fn money_sum(expr: &str, alias: &str) -> String {
    format!(
        "{} AS {alias}_high, {} AS {alias}_low",
        money_sum_high(expr),
        money_sum_low(expr)
    )
}

/// The `{alias}_high` half of [`money_sum`], for query builders.
pub fn money_sum_high(expr: &str) -> String {
    format!("CAST(SUM(({expr}) / {MONEY_SUM_SPLIT}) AS BIGINT)")
}

/// The `{alias}_low` half of [`money_sum`], for query builders.
pub fn money_sum_low(expr: &str) -> String {
    format!("CAST(SUM(({expr}) % {MONEY_SUM_SPLIT}) AS BIGINT)")
}

/// The id of the run whose value scores are current, as a scalar subquery for raw SQL
/// (`customer_value::latest_run` is the same test for sea-query statements).
pub const LATEST_VALUE_RUN: &str = "(SELECT MAX(job_run_id) FROM value_models)";

pub fn placeholder(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    }
}

/// The `n`th (1-based) bound parameter: `$n` on PostgreSQL, `?` on SQLite, which binds
/// by position (so values go in the order their placeholders appear).
pub fn nth_placeholder(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// The `n`th bound parameter by number — `$n` on PostgreSQL, `?n` on SQLite — for
/// statements that use one value in several places.
pub fn numbered_placeholder(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Values bound to a hand-written statement, each referred to by number (`$n` / `?n`),
/// so a value can be used in several places and conditions can be written in any order.
pub struct Params {
    backend: DatabaseBackend,
    values: Vec<sea_orm::Value>,
}

impl Params {
    pub fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    /// Binds `value`; its placeholder.
    pub fn bind(&mut self, value: impl Into<sea_orm::Value>) -> String {
        self.values.push(value.into());
        numbered_placeholder(self.backend, self.values.len())
    }

    pub fn statement(self, sql: String) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// Days since 1970 of a nullable timestamp column (NULL stays NULL).
pub fn day_number_sql(backend: DatabaseBackend, column: &str) -> String {
    day_number_of_key(backend, &day_key_sql(backend, column))
}

/// The median of the days between a customer's consecutive distinct purchase days, as a
/// scalar subquery over `orders` (NULL with fewer than two purchase days). `customer_id`
/// is the SQL expression of the customer's id in the enclosing query. Window functions
/// only, so both databases run the same statement.
pub fn median_gap_sql(backend: DatabaseBackend, customer_id: &str) -> String {
    let day = day_number_sql(backend, "ordered_at");
    format!(
        "(SELECT AVG(gap) FROM \
           (SELECT gap, ROW_NUMBER() OVER (ORDER BY gap) AS rn, COUNT(*) OVER () AS n FROM \
             (SELECT d - LAG(d) OVER (ORDER BY d) AS gap FROM \
               (SELECT DISTINCT {day} AS d FROM orders WHERE orders.customer_id = {customer_id}) days) gaps \
            WHERE gap IS NOT NULL) ranked \
         WHERE rn IN ((n + 1) / 2, (n + 2) / 2))"
    )
}
