//! The outbox dispatcher. Any number of dispatchers may run against one database: each
//! claims a batch of due rows in one `UPDATE` whose `WHERE` says "due" again for every
//! row it changes, so two dispatchers never take the same row: on PostgreSQL (and on
//! Citus, per shard) the second one waits for the first one's row lock and then finds
//! the row no longer due; on SQLite the statement holds the only write lock. It then
//! sends them and records each outcome — guarded by its own claim, so a dispatcher whose
//! claim ran out cannot overwrite the one that took the row over. (`FOR UPDATE SKIP
//! LOCKED` would spare the wait, but Citus does not lock rows of many shards from one
//! `SELECT`; a dispatcher that lost its rows to another claims again while rows are due.)
//!
//! Delivery is at least once: a dispatcher that dies after the server accepted a message
//! but before recording it leaves the row `SENDING` until its claim expires
//! (`claim_seconds`); then another dispatcher sends it again, with the same Message-ID.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use entity::{EmailKind, EmailStatus, SuppressionReason, campaign, customer, email};
use futures::StreamExt;
use lettre::{
    Message,
    message::{
        Attachment, Mailbox, MultiPart, SinglePart,
        header::{ContentType, HeaderName, HeaderValue},
    },
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement, TransactionTrait,
    sea_query::Expr,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Mailer, templates::Rendered, transport::SendError, unsubscribe};
use crate::campaigns::{CampaignDocuments, timing};

/// Claims in a row that may come back empty while rows are due (each lost to another
/// dispatcher) before a run leaves the rest to the next one.
const MAX_EMPTY_CLAIMS: u32 = 16;

/// What one dispatch run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub claimed: u64,
    pub sent: u64,
    pub deferred: u64,
    pub retrying: u64,
    pub failed: u64,
    pub suppressed: u64,
}

/// The statuses [`due`] tests, bound in this order.
const DUE_STATUSES: [EmailStatus; 3] = [
    EmailStatus::Queued,
    EmailStatus::Retrying,
    EmailStatus::Sending,
];

/// The rows due at `now`: queued or retrying rows whose time has come, and rows of a
/// dispatcher whose claim ran out. `p(now)` is the time's placeholder, `p(statuses)` and
/// the next two [`DUE_STATUSES`]'. One definition for claiming and for `has_due`.
fn due(p: impl Fn(usize) -> String, now: usize, statuses: usize) -> String {
    format!(
        "(status IN ({queued}, {retrying}) AND scheduled_for <= {now}) \
         OR (status = {sending} AND claimed_until <= {now})",
        now = p(now),
        queued = p(statuses),
        retrying = p(statuses + 1),
        sending = p(statuses + 2),
    )
}

/// Claims up to `limit` due rows until `claimed_until`: queued or retrying rows whose
/// time has come, and rows of a dispatcher whose claim ran out.
pub async fn claim(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    claimed_until: DateTime<Utc>,
    limit: u64,
) -> anyhow::Result<Vec<email::Model>> {
    let backend = db.get_database_backend();
    let p = |n| entity::sql::numbered_placeholder(backend, n);
    // The claimed rows' status is the third of `DUE_STATUSES`: SENDING.
    let sql = format!(
        "UPDATE emails SET status = {sending}, claimed_until = {until}, updated_at = {now} \
         WHERE ({due}) AND id IN (SELECT id FROM emails WHERE {due} \
            ORDER BY scheduled_for, id LIMIT {limit}) \
         RETURNING *",
        until = p(1),
        now = p(2),
        limit = p(3),
        due = due(p, 2, 4),
        sending = p(6),
    );
    let mut values: Vec<sea_orm::Value> = vec![
        claimed_until.into(),
        now.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    values.extend(DUE_STATUSES.map(sea_orm::Value::from));
    let mut rows = email::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
        .context("failed to claim due emails")?;
    rows.sort_by_key(|row| (row.scheduled_for, row.id));
    Ok(rows)
}

/// Whether anything is due at `now` (the scheduler skips recording a run every minute
/// when the outbox is idle).
pub async fn has_due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let backend = db.get_database_backend();
    let p = |n| entity::sql::numbered_placeholder(backend, n);
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT EXISTS (SELECT 1 FROM emails WHERE {}) AS due",
                due(p, 1, 2)
            ),
            [
                now.into(),
                DUE_STATUSES[0].into(),
                DUE_STATUSES[1].into(),
                DUE_STATUSES[2].into(),
            ],
        ))
        .await
        .context("failed to look for due emails")?
        .context("EXISTS returned no row")?;
    Ok(row.try_get::<bool>("", "due")?)
}

/// The dispatcher's clock: the wall clock moved to the `now` the run was given (tests and
/// `run-job --at` simulate time). Every time a run records — claims, `sentAt`, a retry's
/// `scheduledFor` — is read from it at the moment it is recorded: a run that lasts longer
/// than a backoff would otherwise schedule retries in the past, and a relay throttling
/// with 4xx would use up `max_attempts` in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset: Duration,
}

impl Clock {
    /// A clock that reads `now` at this moment.
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self {
            offset: now - Utc::now(),
        }
    }

    /// The time now: never before the `now` the clock started at, so rows due then are
    /// due to the run's first claim.
    pub fn now(self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// Sends everything due, batch after batch, until nothing due is left; `now` is when the
/// run starts, and the run's clock moves on from it.
pub async fn dispatch(
    db: &sea_orm::DatabaseConnection,
    mailer: &Mailer,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let clock = Clock::starting_at(now);
    let mut report = Report::default();
    let mut empty_claims = 0;
    loop {
        // Batch by batch: a long backlog must not hand out claims that are already over
        // (another dispatcher would send those rows again).
        let now = clock.now();
        let claimed_until = now + Duration::seconds(mailer.settings.claim_seconds);
        let rows = claim(db, now, claimed_until, mailer.settings.batch_size).await?;
        let full = rows.len() as u64 == mailer.settings.batch_size;
        if rows.is_empty() {
            // Nothing due, or another dispatcher took the rows this one picked (it
            // waited for them and found them claimed): then the next ones are due.
            empty_claims += 1;
            if empty_claims > MAX_EMPTY_CLAIMS || !has_due(db, clock.now()).await? {
                break;
            }
            continue;
        }
        empty_claims = 0;
        report.claimed += rows.len() as u64;
        process(db, mailer, clock, claimed_until, rows, &mut report).await?;
        if !full && !has_due(db, clock.now()).await? {
            break;
        }
    }
    Ok(report)
}

/// What happens to one claimed row.
enum Decision {
    Send {
        message: Box<Message>,
        to: String,
        subject: String,
        message_id: String,
    },
    Suppress(SuppressionReason),
    Defer(DateTime<Utc>),
    Fail {
        error: String,
    },
}

async fn process(
    db: &sea_orm::DatabaseConnection,
    mailer: &Mailer,
    clock: Clock,
    claimed_until: DateTime<Utc>,
    rows: Vec<email::Model>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let secret = mailer.secret(db).await?.to_vec();
    let customer_ids: Vec<i64> = rows.iter().filter_map(email::Model::customer).collect();
    let customers: HashMap<i64, customer::Model> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(customer_ids.clone()))
        .all(db)
        .await
        .context("failed to load the recipients")?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let campaigns: HashMap<i64, campaign::Model> = campaign::Entity::find()
        .all(db)
        .await
        .context("failed to load the campaigns")?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut last_sent = last_care_email(db, &customer_ids).await?;

    let mut decisions = Vec::with_capacity(rows.len());
    for row in &rows {
        let decision = decide(
            mailer,
            &secret,
            clock.now(),
            row,
            &customers,
            &campaigns,
            &mut last_sent,
        );
        decisions.push((row.id, decision));
    }

    // Send concurrently over the pool; everything else is only recorded.
    let mut outcomes: Vec<(i64, Decision)> = Vec::new();
    let mut sends = Vec::new();
    for (id, decision) in decisions {
        match decision {
            Decision::Send {
                message,
                to,
                subject,
                message_id,
            } => sends.push((id, *message, to, subject, message_id)),
            other => outcomes.push((id, other)),
        }
    }
    let sent: Vec<_> = futures::stream::iter(sends)
        .map(|(id, message, to, subject, message_id)| async move {
            let result = mailer.transport.send(id, message).await;
            (id, to, subject, message_id, result)
        })
        .buffer_unordered(mailer.settings.concurrency)
        .collect()
        .await;

    let attempts: HashMap<i64, i32> = rows.iter().map(|r| (r.id, r.attempts)).collect();
    let txn = db
        .begin()
        .await
        .context("failed to record sending outcomes")?;
    let update = |id: i64| {
        email::Entity::update_many()
            .filter(email::Column::Id.eq(id))
            .filter(email::Column::Status.eq(EmailStatus::Sending))
            .filter(email::Column::ClaimedUntil.eq(claimed_until))
            .col_expr(
                email::Column::ClaimedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(email::Column::UpdatedAt, Expr::value(Utc::now()))
    };
    for (id, decision) in outcomes {
        let statement = match decision {
            Decision::Suppress(why) => {
                report.suppressed += 1;
                update(id)
                    .col_expr(
                        email::Column::Status,
                        Expr::value(EmailStatus::Suppressed.as_str()),
                    )
                    .col_expr(email::Column::SuppressionReason, Expr::value(why))
            }
            Decision::Defer(until) => {
                report.deferred += 1;
                update(id)
                    .col_expr(
                        email::Column::Status,
                        Expr::value(EmailStatus::Queued.as_str()),
                    )
                    .col_expr(email::Column::ScheduledFor, Expr::value(until))
            }
            Decision::Fail { error } => {
                report.failed += 1;
                update(id)
                    .col_expr(
                        email::Column::Status,
                        Expr::value(EmailStatus::Failed.as_str()),
                    )
                    .col_expr(email::Column::LastError, Expr::value(error))
                    .col_expr(
                        email::Column::Attempts,
                        Expr::value(attempts.get(&id).copied().unwrap_or(0) + 1),
                    )
            }
            Decision::Send { .. } => continue,
        };
        statement
            .exec(&txn)
            .await
            .context("failed to record an outcome")?;
    }
    for (id, to, subject, message_id, result) in sent {
        let attempt = attempts.get(&id).copied().unwrap_or(0) + 1;
        let statement = update(id)
            .col_expr(email::Column::ToAddress, Expr::value(to))
            .col_expr(email::Column::Subject, Expr::value(subject))
            .col_expr(email::Column::MessageId, Expr::value(message_id))
            .col_expr(email::Column::Attempts, Expr::value(attempt));
        let statement = match result {
            Ok(()) => {
                report.sent += 1;
                statement
                    .col_expr(
                        email::Column::Status,
                        Expr::value(EmailStatus::Sent.as_str()),
                    )
                    .col_expr(email::Column::SentAt, Expr::value(clock.now()))
                    .col_expr(email::Column::LastError, Expr::value(None::<String>))
            }
            Err(error) => {
                let permanent = matches!(error, SendError::Permanent(_));
                let statement =
                    statement.col_expr(email::Column::LastError, Expr::value(error.message()));
                if permanent || attempt >= mailer.settings.max_attempts {
                    report.failed += 1;
                    statement.col_expr(
                        email::Column::Status,
                        Expr::value(EmailStatus::Failed.as_str()),
                    )
                } else {
                    report.retrying += 1;
                    statement
                        .col_expr(
                            email::Column::Status,
                            Expr::value(EmailStatus::Retrying.as_str()),
                        )
                        .col_expr(
                            email::Column::ScheduledFor,
                            Expr::value(
                                clock.now() + backoff(mailer.settings.retry_base_seconds, attempt),
                            ),
                        )
                }
            }
        };
        statement
            .exec(&txn)
            .await
            .context("failed to record a sent email")?;
    }
    txn.commit()
        .await
        .context("failed to record sending outcomes")?;
    Ok(())
}

/// The wait before attempt `attempt + 1`: base, 2×base, 4×base … at most 6 hours.
pub fn backoff(base_seconds: i64, attempt: i32) -> Duration {
    let factor = 1_i64 << (attempt - 1).clamp(0, 20);
    Duration::seconds(base_seconds.saturating_mul(factor).min(6 * 3600))
}

/// When each customer's latest care email went out (digests are not care emails).
async fn last_care_email(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> anyhow::Result<HashMap<i64, DateTime<Utc>>> {
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    use sea_orm::{QuerySelect, sea_query::Func};
    let rows: Vec<(i64, Option<DateTime<Utc>>)> = email::Entity::find()
        .select_only()
        .column(email::Column::CustomerId)
        .expr(Func::max(Expr::col(email::Column::SentAt)))
        .filter(email::Column::CustomerId.is_in(customer_ids.to_vec()))
        .filter(email::Column::Status.eq(EmailStatus::Sent))
        .group_by(email::Column::CustomerId)
        .into_tuple()
        .all(db)
        .await
        .context("failed to read when customers were last emailed")?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect())
}

fn decide(
    mailer: &Mailer,
    secret: &[u8],
    now: DateTime<Utc>,
    row: &email::Model,
    customers: &HashMap<i64, customer::Model>,
    campaigns: &HashMap<i64, campaign::Model>,
    last_sent: &mut HashMap<i64, DateTime<Utc>>,
) -> Decision {
    let settings = &mailer.settings;
    let campaign = row.campaign_id.and_then(|id| campaigns.get(&id));
    if row.campaign_id.is_some() && !campaign.is_some_and(|c| c.enabled) {
        return Decision::Suppress(SuppressionReason::CampaignDisabled);
    }
    let payload: Value = row
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);

    if row.kind == EmailKind::Digest {
        let Some(to) = row.to_address.clone() else {
            return Decision::Suppress(SuppressionReason::NoAddress);
        };
        let Ok(mailbox) = to.parse::<Mailbox>() else {
            return Decision::Suppress(SuppressionReason::InvalidAddress);
        };
        return match crate::campaigns::digest::render(mailer, &payload) {
            Ok((rendered, images)) => build(mailer, row, mailbox, to, rendered, None, images),
            Err(error) => Decision::Fail { error },
        };
    }

    let Some(customer) = row.customer_id.and_then(|id| customers.get(&id)) else {
        return Decision::Suppress(SuppressionReason::Erased);
    };
    if customer.erased_at.is_some() {
        return Decision::Suppress(SuppressionReason::Erased);
    }
    // Consent decides; `unsubscribedAt` only names why it is off (a customer who opts in
    // again after unsubscribing is emailed again).
    if !customer.marketing_consent {
        return Decision::Suppress(if customer.unsubscribed_at.is_some() {
            SuppressionReason::Unsubscribed
        } else {
            SuppressionReason::NoConsent
        });
    }
    let Some(address) = customer.email.clone().filter(|a| !a.trim().is_empty()) else {
        return Decision::Suppress(SuppressionReason::NoAddress);
    };
    let Ok(to) = address.parse::<lettre::Address>() else {
        return Decision::Suppress(SuppressionReason::InvalidAddress);
    };

    let zone = timing::zone(&customer.time_zone);
    if row.kind != EmailKind::Birthday
        && settings.frequency_cap_days > 0
        && let Some(last) = last_sent.get(&customer.id)
    {
        let allowed = *last + Duration::days(settings.frequency_cap_days);
        if allowed > now {
            return Decision::Defer(allowed);
        }
    }
    let quiet = timing::QuietHours {
        start: settings.quiet_hours_start,
        end: settings.quiet_hours_end,
    };
    if let Some(until) = quiet.deferral(zone, now) {
        return Decision::Defer(until);
    }

    let token = unsubscribe::sign(secret, row.id, customer.id);
    let unsubscribe_url = unsubscribe::url(&settings.public_url, &token);
    let mut vars = customer_variables(mailer, row, customer, &payload, &unsubscribe_url, zone);
    if row.kind == EmailKind::Survey {
        let links =
            crate::surveys::links::score_links(secret, &settings.public_url, row.id, customer.id);
        vars["score_links"] = json!(links);
    }
    let own = campaign.and_then(CampaignDocuments::templates_of);
    match mailer
        .templates
        .render(row.kind, &customer.locale, own.as_ref(), &vars)
    {
        Ok(rendered) => {
            // Counted at once, so a second email to the same customer in this batch waits.
            last_sent.insert(customer.id, now);
            let name = customer.name.clone().filter(|n| !n.trim().is_empty());
            build(
                mailer,
                row,
                Mailbox::new(name, to),
                address,
                rendered,
                Some(&unsubscribe_url),
                Vec::new(),
            )
        }
        Err(error) => Decision::Fail { error },
    }
}

fn customer_variables(
    mailer: &Mailer,
    row: &email::Model,
    customer: &customer::Model,
    payload: &Value,
    unsubscribe_url: &str,
    zone: chrono_tz::Tz,
) -> Value {
    let locale = super::templates::template_locale(&customer.locale);
    let name = match customer.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ if locale == "zh-CN" => "顾客".to_owned(),
        _ if locale == "zh-Hant" => "顧客".to_owned(),
        _ => "valued customer".to_owned(),
    };
    let mut vars = Map::new();
    vars.insert("name".into(), json!(name));
    vars.insert("store_name".into(), json!(mailer.settings.store_name));
    vars.insert("unsubscribe_url".into(), json!(unsubscribe_url));
    // Only values that exist: a template that prints a missing one fails the email.
    if let Some(code) = &row.offer_code {
        vars.insert("offer_code".into(), json!(code));
    }
    if let Some(expires) = row.offer_expires_on {
        vars.insert("offer_expires_on".into(), json!(expires.to_string()));
    }
    if let Some(first) = customer.first_order_at {
        let first = timing::local_date(zone, first);
        let day = timing::local_date(zone, row.scheduled_for);
        vars.insert("first_order_on".into(), json!(first.to_string()));
        vars.insert(
            "years".into(),
            json!(timing::years_between(first, day).max(1)),
        );
    }
    if let Some(holiday) = payload.get("holiday") {
        // A name in Simplified Chinese reads better in a Traditional Chinese email than
        // an English one, when the campaign gave no Traditional name.
        let localized = holiday
            .get(locale)
            .or_else(|| {
                (locale == "zh-Hant")
                    .then(|| holiday.get("zh-CN"))
                    .flatten()
            })
            .or_else(|| holiday.get("en"));
        if let Some(name) = localized {
            vars.insert("holiday_name".into(), name.clone());
        }
    }
    // Values the producer computed for the email: the segment entered, the tier reached,
    // the points about to expire.
    for key in [
        "segment_name",
        "tier_name",
        "tier_benefits",
        "tier_discount_percent",
        "points_expiring",
        "points_expire_by",
    ] {
        if let Some(value) = payload.get(key) {
            vars.insert(key.into(), value.clone());
        }
    }
    Value::Object(vars)
}

/// Message-ID from the dedupe key: a resend after a crash carries the same one, so
/// receivers can drop the duplicate.
pub fn message_id(dedupe_key: &str, from: &Mailbox) -> String {
    let digest = hex::encode(Sha256::digest(dedupe_key.as_bytes()));
    format!("<{}@{}>", &digest[..32], from.email.domain())
}

fn build(
    mailer: &Mailer,
    row: &email::Model,
    to: Mailbox,
    to_text: String,
    rendered: Rendered,
    unsubscribe_url: Option<&str>,
    images: Vec<super::InlineImage>,
) -> Decision {
    let id = message_id(&row.dedupe_key, &mailer.from);
    let mut builder = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(id.clone()));
    if let Some(url) = unsubscribe_url {
        // RFC 8058 one-click unsubscribe.
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    let body = if images.is_empty() {
        MultiPart::alternative_plain_html(rendered.text, rendered.html)
    } else {
        let mut related = MultiPart::related().singlepart(SinglePart::html(rendered.html));
        for (cid, png) in images {
            related = related.singlepart(Attachment::new_inline(cid).body(
                png,
                ContentType::parse("image/png").unwrap_or(ContentType::TEXT_PLAIN),
            ));
        }
        MultiPart::alternative()
            .singlepart(SinglePart::plain(rendered.text))
            .multipart(related)
    };
    match builder.multipart(body) {
        Ok(message) => Decision::Send {
            message: Box::new(message),
            to: to_text,
            subject: rendered.subject,
            message_id: id,
        },
        Err(error) => Decision::Fail {
            error: format!("cannot build the message: {error}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_six_hours() {
        assert_eq!(backoff(60, 1), Duration::seconds(60));
        assert_eq!(backoff(60, 2), Duration::seconds(120));
        assert_eq!(backoff(60, 4), Duration::seconds(480));
        assert_eq!(backoff(60, 30), Duration::hours(6));
    }

    #[test]
    fn message_ids_follow_the_dedupe_key() {
        let from: Mailbox = "Shop <care@shop.example>".parse().unwrap();
        let a = message_id("birthday:2026:1", &from);
        assert_eq!(a, message_id("birthday:2026:1", &from));
        assert_ne!(a, message_id("birthday:2026:2", &from));
        assert!(a.starts_with('<') && a.ends_with("@shop.example>"));
    }
}
