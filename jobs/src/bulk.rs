//! Bulk inserts that are fast on both databases.
//!
//! SQLite gets multi-row `INSERT … VALUES`, sized under its bound-parameter limit.
//! PostgreSQL gets one array per column and `INSERT … SELECT … FROM UNNEST(…)`: a
//! statement of a handful of parameters whatever the row count, which PostgreSQL plans
//! once and reads like a COPY (at a million rows of 26 columns, ~10× faster than
//! multi-row VALUES). The array binding of sea-query cannot carry NULL elements, so NULLs
//! travel as sentinels that `NULLIF` turns back: `i64::MIN`, `i32::MIN`, `i16::MIN`, NaN, and the
//! empty string — values the callers never store.

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, Statement, Value,
    sea_query::{Alias, ArrayType, Expr, Query},
};

/// The SQL type of a column, as far as bulk inserts need to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    BigInt,
    Int,
    SmallInt,
    /// Never NULL.
    Bool,
    Double,
    /// Never stores the empty string (it stands for NULL on PostgreSQL).
    Text,
    /// Never NULL.
    Date,
    /// Never NULL.
    TimestampTz,
}

/// A column to insert into.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

impl Column {
    pub const fn new(name: &'static str, kind: Kind) -> Self {
        Self { name, kind }
    }
}

impl Kind {
    fn array_type(self) -> ArrayType {
        match self {
            Kind::BigInt => ArrayType::BigInt,
            Kind::Int => ArrayType::Int,
            Kind::SmallInt => ArrayType::SmallInt,
            Kind::Bool => ArrayType::Bool,
            Kind::Double => ArrayType::Double,
            Kind::Text => ArrayType::String,
            Kind::Date => ArrayType::ChronoDate,
            Kind::TimestampTz => ArrayType::ChronoDateTimeUtc,
        }
    }

    fn postgres_array(self) -> &'static str {
        match self {
            Kind::BigInt => "bigint[]",
            Kind::Int => "integer[]",
            Kind::SmallInt => "smallint[]",
            Kind::Bool => "boolean[]",
            Kind::Double => "float8[]",
            Kind::Text => "text[]",
            Kind::Date => "date[]",
            Kind::TimestampTz => "timestamptz[]",
        }
    }

    /// The expression that turns a sentinel back into NULL.
    fn postgres_select(self, column: &str) -> String {
        match self {
            Kind::BigInt => format!("NULLIF({column}, '-9223372036854775808'::bigint)"),
            Kind::Int => format!("NULLIF({column}, '-2147483648'::integer)"),
            Kind::SmallInt => format!("NULLIF({column}, '-32768'::smallint)"),
            Kind::Double => format!("NULLIF({column}, 'NaN'::float8)"),
            Kind::Text => format!("NULLIF({column}, '')"),
            Kind::Bool | Kind::Date | Kind::TimestampTz => column.to_owned(),
        }
    }

    /// The value with NULL replaced by this kind's sentinel.
    fn without_null(self, value: Value) -> Result<Value, DbErr> {
        Ok(match value {
            Value::BigInt(None) => Value::BigInt(Some(i64::MIN)),
            Value::Int(None) => Value::Int(Some(i32::MIN)),
            Value::SmallInt(None) => Value::SmallInt(Some(i16::MIN)),
            Value::Double(None) => Value::Double(Some(f64::NAN)),
            Value::String(None) => Value::String(Some(String::new())),
            Value::Bool(None) | Value::ChronoDate(None) | Value::ChronoDateTimeUtc(None) => {
                return Err(DbErr::Custom(format!(
                    "bulk insert: a {self:?} column cannot be NULL"
                )));
            }
            other => other,
        })
    }
}

/// Rows per PostgreSQL statement: bounds the memory of the column arrays.
const POSTGRES_ROWS: usize = 50_000;
/// SQLite allows 32,766 bound parameters per statement.
const SQLITE_PARAMETERS: usize = 32_000;

/// Inserts `rows` (each with one value per column, in column order) into `table`.
pub async fn insert(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[Column],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => insert_unnest(db, table, columns, rows).await,
        _ => insert_values(db, table, columns, rows).await,
    }
}

async fn insert_values(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[Column],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let per_statement = (SQLITE_PARAMETERS / columns.len().max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut statement = Query::insert();
        statement
            .into_table(Alias::new(table))
            .columns(columns.iter().map(|c| Alias::new(c.name)));
        for row in rows.by_ref().take(per_statement) {
            statement
                .values(row.into_iter().map(Expr::val))
                .map_err(|error| DbErr::Custom(format!("bulk insert into {table}: {error}")))?;
        }
        db.execute(&statement).await?;
    }
    Ok(())
}

async fn insert_unnest(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[Column],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.kind.postgres_array()))
        .collect();
    let selects: Vec<String> = columns
        .iter()
        .map(|c| c.kind.postgres_select(c.name))
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({names}) SELECT {selects} FROM UNNEST({arrays}) AS rows({names})",
        names = names.join(", "),
        selects = selects.join(", "),
        arrays = arrays.join(", "),
    );
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut per_column: Vec<Vec<Value>> = columns
            .iter()
            .map(|_| Vec::with_capacity(POSTGRES_ROWS))
            .collect();
        for row in rows.by_ref().take(POSTGRES_ROWS) {
            if row.len() != columns.len() {
                return Err(DbErr::Custom(format!(
                    "bulk insert into {table}: a row has {} values for {} columns",
                    row.len(),
                    columns.len()
                )));
            }
            for ((values, column), value) in per_column.iter_mut().zip(columns).zip(row) {
                values.push(column.kind.without_null(value)?);
            }
        }
        let parameters: Vec<Value> = per_column
            .into_iter()
            .zip(columns)
            .map(|(values, column)| Value::Array(column.kind.array_type(), Some(Box::new(values))))
            .collect();
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            &sql,
            parameters,
        ))
        .await?;
    }
    Ok(())
}

/// Deletes the rows of `table` whose `column` is one of `ids`, in statements of bounded
/// size (an array parameter on PostgreSQL, IN lists under SQLite's parameter limit).
pub async fn delete_by_ids(
    db: &impl ConnectionTrait,
    table: &str,
    column: &str,
    ids: &[i64],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let per_statement = match backend {
        DatabaseBackend::Postgres => POSTGRES_ROWS,
        _ => SQLITE_PARAMETERS,
    };
    for chunk in ids.chunks(per_statement) {
        let statement = match backend {
            DatabaseBackend::Postgres => Statement::from_sql_and_values(
                backend,
                format!("DELETE FROM {table} WHERE {column} = ANY($1::bigint[])"),
                [Value::Array(
                    ArrayType::BigInt,
                    Some(Box::new(chunk.iter().map(|id| Value::from(*id)).collect())),
                )],
            ),
            _ => {
                let marks = vec!["?"; chunk.len()].join(", ");
                Statement::from_sql_and_values(
                    backend,
                    format!("DELETE FROM {table} WHERE {column} IN ({marks})"),
                    chunk.iter().map(|id| Value::from(*id)),
                )
            }
        };
        db.execute_raw(statement).await?;
    }
    Ok(())
}

/// Rows a write must change before the tables it wrote are analyzed afterwards.
pub const ANALYZE_AFTER_ROWS: u64 = 10_000;

/// Refreshes the planner's statistics of tables a bulk write just filled. Plans must not
/// wait for autovacuum (off on some servers, minutes behind after any large import):
/// with no statistics PostgreSQL estimated one matching customer for a 253,646-member
/// segment and chose a nested loop over 253k × 253k rows. SQLite: `ANALYZE` of these
/// tables (its planner reads `sqlite_stat1` too).
pub async fn analyze(db: &impl ConnectionTrait, tables: &[&str]) -> Result<(), DbErr> {
    if tables.is_empty() {
        return Ok(());
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_unprepared(&format!("ANALYZE {}", tables.join(", ")))
                .await?;
        }
        _ => {
            for table in tables {
                db.execute_unprepared(&format!("ANALYZE {table}")).await?;
            }
        }
    }
    Ok(())
}
