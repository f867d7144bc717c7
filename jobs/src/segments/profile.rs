//! A segment's persona over its current members: size and share of the base and of the
//! revenue, predicted value, and how the members split by stage, RFM group, city, age,
//! gender and interest. Grouped in SQL, so a large segment costs a few aggregates.

use anyhow::Context;
use chrono::NaiveDate;
use entity::sql::{LATEST_VALUE_RUN, money_sum, nth_placeholder as placeholder};
use entity::{FeedbackKind, Money, MoneyTotal};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use crate::DomainResult;

/// A value and how many members have it.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub value: String,
    pub customers: u64,
    /// Of the members.
    pub share: f64,
}

/// The segment's persona.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub size: u64,
    /// Of all non-erased customers.
    pub share_of_base: f64,
    /// Of the revenue of all non-erased customers.
    pub revenue_share: f64,
    pub average_predicted_clv: Option<Money>,
    pub median_predicted_clv: Option<Money>,
    pub lifecycle_stages: Vec<Share>,
    pub rfm_groups: Vec<Share>,
    /// Personal breakdowns: the API shows them for small segments only to callers
    /// allowed to read personal data.
    pub top_cities: Vec<Share>,
    pub age_bands: Vec<Share>,
    pub genders: Vec<Share>,
    pub top_interests: Vec<Share>,
    /// Mean of the members' latest NPS answers.
    pub average_nps: Option<f64>,
}

#[derive(FromQueryResult)]
struct MixRow {
    value: Option<String>,
    n: i64,
}

#[derive(FromQueryResult)]
struct Totals {
    n: i64,
    revenue: MoneyTotal,
}

#[derive(FromQueryResult)]
struct Clv {
    clv: i64,
}

#[derive(FromQueryResult)]
struct Nps {
    nps: Option<f64>,
}

const MEMBERS: &str = "FROM segment_members m JOIN customers c ON c.id = m.customer_id";

/// Joins a member's current scores as `v`.
fn latest_scores_join() -> String {
    format!("JOIN customer_values v ON v.customer_id = c.id AND v.job_run_id = {LATEST_VALUE_RUN}")
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Members grouped by an expression, largest groups first.
async fn mix(
    db: &impl ConnectionTrait,
    segment_id: i64,
    size: u64,
    join: &str,
    expr: &str,
    limit: u64,
    extra: Vec<sea_orm::Value>,
) -> anyhow::Result<Vec<Share>> {
    let backend = db.get_database_backend();
    // Placeholders of `expr` come first in the statement, the segment id last.
    let id_mark = placeholder(backend, extra.len() + 1);
    let sql = format!(
        "SELECT value, COUNT(*) AS n FROM (SELECT {expr} AS value {MEMBERS} {join} WHERE m.segment_id = {id_mark}) grouped \
         WHERE value IS NOT NULL GROUP BY value ORDER BY n DESC, value LIMIT {limit}"
    );
    let mut values = extra;
    values.push(segment_id.into());
    let rows = MixRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
        .with_context(|| format!("failed to group the members by {expr}"))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            row.value.map(|value| Share {
                value,
                customers: row.n as u64,
                share: ratio(row.n as u64, size),
            })
        })
        .collect())
}

/// The mean and the median (the middle row, or the midpoint of the middle two) of
/// amounts sorted ascending.
fn mean_and_median(sorted: &[i64]) -> (Option<Money>, Option<Money>) {
    let mean = Money::mean(
        sorted.iter().map(|c| i128::from(*c)).sum(),
        sorted.len() as u64,
    );
    let median = match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(Money(sorted[n / 2])),
        n => Some(Money::midpoint(
            Money(sorted[n / 2 - 1]),
            Money(sorted[n / 2]),
        )),
    };
    (mean, median)
}

/// `CASE` over the birth date giving the age band at `today` (bands by birth-date
/// ranges, so the database never computes an age), with its bound values.
fn age_band_case(
    backend: sea_orm::DatabaseBackend,
    today: NaiveDate,
) -> (String, Vec<sea_orm::Value>) {
    let born_before = |years: u32| {
        today
            .checked_sub_months(chrono::Months::new(years * 12))
            .unwrap_or(today)
    };
    let bands = [
        (25, "<25"),
        (35, "25–34"),
        (45, "35–44"),
        (55, "45–54"),
        (65, "55–64"),
    ];
    let mut case = String::from("CASE WHEN c.birth_date IS NULL THEN NULL");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for (years, label) in bands {
        values.push(born_before(years).into());
        case.push_str(&format!(
            " WHEN c.birth_date > {} THEN '{label}'",
            placeholder(backend, values.len())
        ));
    }
    case.push_str(" ELSE '65+' END");
    (case, values)
}

/// The persona of a segment's current members, with ages at `today`.
pub async fn profile(
    db: &impl ConnectionTrait,
    segment_id: i64,
    today: NaiveDate,
) -> DomainResult<Profile> {
    let scores_join = latest_scores_join();
    let backend = db.get_database_backend();
    let p1 = placeholder(backend, 1);
    let totals = |sql: String, values: Vec<sea_orm::Value>| async move {
        Totals::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .one(db)
            .await
            .context("failed to total the customers")?
            .context("no totals row")
    };
    let members = totals(
        format!(
            "SELECT COUNT(*) AS n, {} {MEMBERS} WHERE m.segment_id = {p1}",
            money_sum("c.total_spent", "revenue")
        ),
        vec![segment_id.into()],
    )
    .await?;
    let base = totals(
        format!(
            "SELECT COUNT(*) AS n, {} FROM customers WHERE erased_at IS NULL",
            money_sum("total_spent", "revenue")
        ),
        Vec::new(),
    )
    .await?;
    let size = members.n as u64;

    let clvs = format!(
        "SELECT v.predicted_clv AS clv {MEMBERS} {scores_join} \
         WHERE m.segment_id = {p1} AND v.predicted_clv IS NOT NULL ORDER BY v.predicted_clv"
    );
    let sorted: Vec<i64> = Clv::find_by_statement(Statement::from_sql_and_values(
        backend,
        clvs,
        [segment_id.into()],
    ))
    .all(db)
    .await
    .context("failed to load the members' predicted values")?
    .into_iter()
    .map(|row| row.clv)
    .collect();
    let (average_predicted_clv, median_predicted_clv) = mean_and_median(&sorted);

    let nps = format!(
        "SELECT CAST(AVG(f.score) AS DOUBLE PRECISION) AS nps FROM feedback f \
         JOIN segment_members m ON m.customer_id = f.customer_id AND m.segment_id = {p1} \
         WHERE f.kind = {p2} AND f.id = (SELECT f2.id FROM feedback f2 WHERE f2.customer_id = f.customer_id \
               AND f2.kind = {p3} ORDER BY f2.occurred_at DESC, f2.id DESC LIMIT 1)",
        p2 = placeholder(backend, 2),
        p3 = placeholder(backend, 3),
    );
    let average_nps = Nps::find_by_statement(Statement::from_sql_and_values(
        backend,
        nps,
        [
            segment_id.into(),
            FeedbackKind::Nps.into(),
            FeedbackKind::Nps.into(),
        ],
    ))
    .one(db)
    .await
    .context("failed to average the members' NPS")?
    .and_then(|row| row.nps);

    let (age_case, age_values) = age_band_case(backend, today);
    let lifecycle_join = "LEFT JOIN customer_lifecycle l ON l.customer_id = c.id";
    let interests_join = "JOIN customer_interests i ON i.customer_id = c.id";
    Ok(Profile {
        size,
        share_of_base: ratio(size, base.n as u64),
        revenue_share: if base.revenue.0 == 0 {
            0.0
        } else {
            members.revenue.to_f64() / base.revenue.to_f64()
        },
        average_predicted_clv,
        median_predicted_clv,
        lifecycle_stages: mix(db, segment_id, size, lifecycle_join, "l.stage", 10, vec![]).await?,
        rfm_groups: mix(
            db,
            segment_id,
            size,
            &scores_join,
            "v.rfm_group",
            11,
            vec![],
        )
        .await?,
        top_cities: mix(db, segment_id, size, "", "c.city", 5, vec![]).await?,
        age_bands: mix(db, segment_id, size, "", &age_case, 10, age_values).await?,
        genders: mix(db, segment_id, size, "", "c.gender", 10, vec![]).await?,
        top_interests: mix(db, segment_id, size, interests_join, "i.tag", 10, vec![]).await?,
        average_nps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_midpoint_of_the_middle_two() {
        assert_eq!(mean_and_median(&[]), (None, None));
        assert_eq!(
            mean_and_median(&[10_000, 30_000, 80_000]),
            (Some(Money(40_000)), Some(Money(30_000)))
        );
        assert_eq!(
            mean_and_median(&[10_000, 20_000, 30_000, 80_000]).1,
            Some(Money(25_000))
        );
    }

    #[test]
    fn age_bands_bind_one_birth_date_per_band() {
        let today = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap_or_default();
        let (case, values) = age_band_case(sea_orm::DatabaseBackend::Postgres, today);
        assert_eq!(values.len(), 5);
        assert!(case.contains("WHEN c.birth_date > $1 THEN '<25'"), "{case}");
        assert!(case.ends_with("ELSE '65+' END"), "{case}");
    }
}
