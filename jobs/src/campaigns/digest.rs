//! The weekly marketer digest. The `marketer-digest` job measures the week that ended
//! on asOf (the seven days before it) and queues one email per recipient with the
//! figures as its payload; the dispatcher renders them, with the lifecycle funnel and the
//! RFM heat map as inline PNG images.

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{
    ChangeKind, EmailKind, EmailStatus, FeedbackKind, ValueTier, email, sql::LATEST_VALUE_RUN,
};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseBackend, EntityTrait, QueryResult, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::lifecycle::Stage;
use crate::{DomainResult, JobContext, JobStats, Problems};
use crate::{mail::Mailer, mail::templates::Rendered};

/// How many lifecycle moves a digest lists.
const MOVEMENTS_SHOWN: usize = 8;

/// Where the recipients changed through the API are kept.
pub const RECIPIENTS_KEY: &str = "digest.recipients";

/// The recipients in force: the list saved through the API, else `DIGEST_RECIPIENTS`.
pub async fn recipients(
    db: &impl ConnectionTrait,
    configured: &[String],
) -> anyhow::Result<Vec<String>> {
    Ok(crate::app_settings::load(db, RECIPIENTS_KEY)
        .await?
        .unwrap_or_else(|| configured.to_vec()))
}

/// Replaces the recipients (overriding `DIGEST_RECIPIENTS`): addresses by the customers'
/// rule ([`crate::customers::EmailAddress`]), each bad one named (`addresses[i]`),
/// duplicates kept once. The list saved.
pub async fn update_recipients(
    db: &impl ConnectionTrait,
    addresses: &[String],
) -> DomainResult<Vec<String>> {
    let mut problems = Problems::new();
    let mut clean = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        match crate::customers::EmailAddress::parse(address) {
            Err(message) => problems.push(Some(i), format!("addresses[{i}]"), message),
            Ok(address) => {
                let address = address.into_inner();
                if !clean.contains(&address) {
                    clean.push(address);
                }
            }
        }
    }
    problems.into_result()?;
    crate::app_settings::save(db, RECIPIENTS_KEY, &clean)
        .await
        .context("failed to save the digest recipients")?;
    Ok(clean)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub customers: i64,
    pub new: i64,
    pub active: i64,
    pub silent: i64,
    pub churned: i64,
    pub reactivated: i64,
    pub revenue: String,
    pub average_clv: Option<String>,
    pub nps: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Movement {
    pub from: String,
    pub to: String,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtRisk {
    pub customer_id: i64,
    pub name: Option<String>,
    pub clv: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentChange {
    pub name: String,
    pub size: i64,
    pub entered: i64,
    pub exited: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignResult {
    pub name: String,
    pub kind: String,
    pub sent: i64,
    pub failed: i64,
    pub suppressed: i64,
    pub unsubscribed: i64,
    pub converted: i64,
}

/// Everything a digest shows, as stored in the outbox row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub week_start: NaiveDate,
    pub week_end: NaiveDate,
    pub summary: Summary,
    pub movements: Vec<Movement>,
    pub at_risk: Vec<AtRisk>,
    pub value_at_risk: String,
    pub segments: Vec<SegmentChange>,
    pub campaigns: Vec<CampaignResult>,
    /// Customers per lifecycle stage, funnel order.
    pub stages: Vec<(String, i64)>,
    /// rfm[r-1][f-1]: customers by recency and frequency score.
    pub rfm: [[u64; 5]; 5],
}

struct Q<'a, C: ConnectionTrait> {
    db: &'a C,
    backend: DatabaseBackend,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl<C: ConnectionTrait> Q<'_, C> {
    /// Runs `sql` with `:start` and `:end` bound to the week.
    async fn all(&self, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
        self.all_with(sql, []).await
    }

    /// Runs `sql` with `:start`, `:end` and each `:name` of `named` bound, numbered in
    /// the order given. Only the names `sql` uses are bound: PostgreSQL refuses a
    /// parameter it cannot type.
    async fn all_with<const N: usize>(
        &self,
        sql: &str,
        named: [(&str, sea_orm::Value); N],
    ) -> anyhow::Result<Vec<QueryResult>> {
        let week = [(":start", self.start.into()), (":end", self.end.into())];
        let mut sql = sql.to_owned();
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for (name, value) in week.into_iter().chain(named) {
            if sql.contains(name) {
                values.push(value);
                let placeholder = entity::sql::numbered_placeholder(self.backend, values.len());
                sql = sql.replace(name, &placeholder);
            }
        }
        self.db
            .query_all_raw(Statement::from_sql_and_values(self.backend, &sql, values))
            .await
            .with_context(|| format!("digest query failed: {sql}"))
    }

    async fn one_i64(&self, sql: &str) -> anyhow::Result<i64> {
        let rows = self.all(sql).await?;
        let row = rows.first().context("no row")?;
        Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
    }
}

/// Measures the week `[as_of − 7 days, as_of)`.
pub async fn measure(db: &impl ConnectionTrait, as_of: NaiveDate) -> anyhow::Result<Digest> {
    let week_start = as_of - Duration::days(7);
    let q = Q {
        db,
        backend: db.get_database_backend(),
        start: crate::day_start(week_start),
        end: crate::day_start(as_of),
    };
    let in_week = |column: &str| format!("{column} >= :start AND {column} < :end");

    let customers = q
        .one_i64("SELECT COUNT(*) FROM customers WHERE erased_at IS NULL")
        .await?;
    let new = q
        .one_i64(&format!(
            "SELECT COUNT(*) FROM customers WHERE {}",
            in_week("first_order_at")
        ))
        .await?;
    // The stage counts of `lifecycleSummary`: current stages of customers not erased.
    let stage_counts: Vec<(Stage, i64)> = crate::lifecycle::stage_summary(db, None)
        .await?
        .into_iter()
        .map(|s| (s.stage, i64::try_from(s.customers).unwrap_or(i64::MAX)))
        .collect();
    let stage = |wanted: Stage| {
        stage_counts
            .iter()
            .find(|(s, _)| *s == wanted)
            .map_or(0, |(_, n)| *n)
    };
    let reactivated = q
        .one_i64(&format!(
            "SELECT COUNT(*) FROM lifecycle_events WHERE reactivation = TRUE AND {}",
            in_week("at")
        ))
        .await?;
    let revenue: entity::MoneyTotal = q
        .all(&format!(
            "SELECT {} FROM orders WHERE {}",
            entity::sql::money_sum("amount", "revenue"),
            in_week("ordered_at")
        ))
        .await?
        .first()
        .context("no revenue row")?
        .try_get("", "revenue")?;
    let average_clv = q
        .all(&format!(
            "SELECT {}, COUNT(*) AS n FROM customer_values \
             WHERE job_run_id = {LATEST_VALUE_RUN} AND predicted_clv IS NOT NULL",
            entity::sql::money_sum("predicted_clv", "total")
        ))
        .await?
        .first()
        .and_then(|row| {
            let total = row.try_get::<entity::MoneyTotal>("", "total").ok()?;
            let n = row.try_get::<i64>("", "n").ok()?;
            entity::Money::mean(total.0, n as u64)
        })
        .map(|mean| mean.to_grouped_figure());
    let nps = q
        .all_with(
            &format!(
                "SELECT COUNT(*) AS n, \
                   SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS promoters, \
                   SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS detractors \
                 FROM feedback WHERE kind = :nps AND {}",
                in_week("occurred_at")
            ),
            [(":nps", FeedbackKind::Nps.into())],
        )
        .await?
        .first()
        .and_then(|row| {
            let n: i64 = row.try_get("", "n").ok()?;
            let promoters: i64 = row.try_get::<Option<i64>>("", "promoters").ok()??;
            let detractors: i64 = row.try_get::<Option<i64>>("", "detractors").ok()??;
            (n > 0).then(|| ((promoters - detractors) as f64 * 1000.0 / n as f64).round() / 10.0)
        });

    // The moves of `lifecycleTransitions` (customers per move), the busiest first.
    let mut moves: Vec<(Stage, Stage, u64)> = crate::lifecycle::transitions(db, q.start, q.end)
        .await?
        .into_iter()
        .filter_map(|t| Some((t.from?, t.to, t.customers)))
        .collect();
    moves.sort_by_key(|(from, to, customers)| {
        (std::cmp::Reverse(*customers), from.as_str(), to.as_str())
    });
    let movements = moves
        .into_iter()
        .take(MOVEMENTS_SHOWN)
        .map(|(from, to, customers)| Movement {
            from: from.as_str().to_owned(),
            to: to.as_str().to_owned(),
            count: i64::try_from(customers).unwrap_or(i64::MAX),
        })
        .collect();

    let silent_high = q
        .all_with(
            &format!(
                "SELECT c.id, c.name, v.predicted_clv FROM lifecycle_events le \
                 JOIN customers c ON c.id = le.customer_id \
                 JOIN customer_values v ON v.customer_id = le.customer_id AND v.job_run_id = {LATEST_VALUE_RUN} \
                 WHERE le.to_stage = :silent AND v.value_tier = :high AND {} \
                 ORDER BY v.predicted_clv DESC, c.id",
                in_week("le.at")
            ),
            [
                (":silent", Stage::Silent.into()),
                (":high", ValueTier::High.into()),
            ],
        )
        .await?;
    let mut value_at_risk = 0_i128;
    let mut at_risk = Vec::new();
    for row in silent_high {
        let clv: Option<i64> = row.try_get("", "predicted_clv")?;
        value_at_risk += i128::from(clv.unwrap_or(0));
        if at_risk.len() < 10 {
            at_risk.push(AtRisk {
                customer_id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
                clv: entity::Money(clv.unwrap_or(0)).to_grouped_figure(),
            });
        }
    }

    // The week's events counted per segment in one grouped pass, then joined to the
    // segments (a subquery per segment row would be a join Citus cannot push down).
    let segments = q
        .all_with(
            &format!(
                "SELECT s.name, s.size, COALESCE(e.entered, 0) AS entered, COALESCE(e.exited, 0) AS exited \
                 FROM segments s LEFT JOIN ( \
                   SELECT se.segment_id, \
                     COUNT(CASE WHEN se.kind = :entered THEN 1 END) AS entered, \
                     COUNT(CASE WHEN se.kind = :exited THEN 1 END) AS exited \
                   FROM segment_events se WHERE {week} GROUP BY se.segment_id) e ON e.segment_id = s.id \
                 ORDER BY s.size DESC, s.name LIMIT 20",
                week = in_week("se.at"),
            ),
            [
                (":entered", ChangeKind::Entered.into()),
                (":exited", ChangeKind::Exited.into()),
            ],
        )
        .await?
        .into_iter()
        .map(|row| {
            Ok(SegmentChange {
                name: row.try_get("", "name")?,
                size: row.try_get("", "size")?,
                entered: row.try_get("", "entered")?,
                exited: row.try_get("", "exited")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let count_if = |condition: String| format!("SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)");
    let campaigns = q
        .all_with(
            &format!(
                "SELECT c.name, c.kind, {} AS sent, {} AS failed, {} AS suppressed, {} AS unsubscribed, {} AS converted \
                 FROM campaigns c LEFT JOIN emails e ON e.campaign_id = c.id \
                 GROUP BY c.id, c.name, c.kind ORDER BY c.id",
                count_if(format!("e.status = :sent AND {}", in_week("e.sent_at"))),
                count_if(format!("e.status = :failed AND {}", in_week("e.updated_at"))),
                count_if(format!("e.status = :suppressed AND {}", in_week("e.updated_at"))),
                count_if(in_week("e.unsubscribed_at")),
                count_if(in_week("e.converted_at")),
            ),
            [
                (":sent", EmailStatus::Sent.into()),
                (":failed", EmailStatus::Failed.into()),
                (":suppressed", EmailStatus::Suppressed.into()),
            ],
        )
        .await?
        .into_iter()
        .map(|row| {
            let n = |c: &str| row.try_get::<Option<i64>>("", c).map(|v| v.unwrap_or(0));
            Ok(CampaignResult {
                name: row.try_get("", "name")?,
                // Shown as stored (`WIN_BACK`): the payload keeps text, read typed.
                kind: row.try_get::<EmailKind>("", "kind")?.as_str().to_owned(),
                sent: n("sent")?,
                failed: n("failed")?,
                suppressed: n("suppressed")?,
                unsubscribed: n("unsubscribed")?,
                converted: n("converted")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // The counts of `rfmMatrix`.
    let mut rfm = [[0_u64; 5]; 5];
    for cell in crate::value_scores::reports::rfm_matrix(db).await? {
        if let (Ok(r @ 1..=5), Ok(f @ 1..=5)) = (usize::try_from(cell.r), usize::try_from(cell.f)) {
            rfm[r - 1][f - 1] = u64::try_from(cell.customers).unwrap_or(0);
        }
    }

    let stages = stage_counts
        .iter()
        .map(|(s, n)| (s.as_str().to_owned(), *n))
        .collect();
    Ok(Digest {
        week_start,
        week_end: as_of - Duration::days(1),
        summary: Summary {
            customers,
            new,
            active: stage(Stage::Active) + stage(Stage::Loyal),
            silent: stage(Stage::Silent),
            churned: stage(Stage::Churned),
            reactivated,
            revenue: revenue.to_grouped_figure(),
            average_clv,
            nps,
        },
        movements,
        at_risk,
        value_at_risk: entity::MoneyTotal(value_at_risk).to_grouped_figure(),
        segments,
        campaigns,
        stages,
        rfm,
    })
}

/// The `marketer-digest` job: measures the week and queues it for every recipient
/// (`digest:<week end>:<address>`, so a second run that week queues nothing).
pub async fn run(
    context: &JobContext,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<JobStats> {
    let mut stats = JobStats::default();
    let recipients = recipients(&context.db, &context.mail.settings.digest_recipients).await?;
    if recipients.is_empty() {
        stats.set("queued", 0);
        stats.set(
            "note",
            "no digest recipients (DIGEST_RECIPIENTS or updateDigestRecipients)",
        );
        return Ok(stats);
    }
    let digest = measure(&context.db, as_of).await?;
    let payload = serde_json::to_string(&digest)?;
    let mut queued = 0;
    for address in recipients {
        let result = email::Entity::insert(email::ActiveModel {
            dedupe_key: Set(format!(
                "digest:{}:{}",
                digest.week_end,
                address.to_lowercase()
            )),
            kind: Set(EmailKind::Digest),
            customer_id: Set(Some(email::NO_CUSTOMER)),
            to_address: Set(Some(address)),
            status: Set(EmailStatus::Queued),
            attempts: Set(0),
            scheduled_for: Set(now),
            payload: Set(Some(payload.clone())),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([email::Column::CustomerId, email::Column::DedupeKey])
        .exec(&context.db)
        .await
        .context("failed to queue the digest")?;
        if matches!(result, sea_orm::TryInsertResult::Inserted(_)) {
            queued += 1;
        }
    }
    stats.set("queued", queued);
    stats.set("week_end", digest.week_end.to_string());
    Ok(stats)
}

/// Renders a digest payload: the email and its inline images (content id, PNG).
pub fn render(
    mailer: &Mailer,
    payload: &serde_json::Value,
) -> Result<(Rendered, Vec<crate::mail::InlineImage>), String> {
    let digest: Digest = serde_json::from_value(payload.clone())
        .map_err(|e| format!("the digest payload is unreadable: {e}"))?;
    let stages: Vec<(&str, u64)> = digest
        .stages
        .iter()
        .map(|(s, n)| (s.as_str(), u64::try_from(*n).unwrap_or(0)))
        .collect();
    let funnel = crate::mail::chart::lifecycle_funnel(&stages, "Customers by lifecycle stage")
        .map_err(|e| format!("cannot draw the lifecycle funnel: {e:#}"))?;
    let heat_map =
        crate::mail::chart::rfm_heat_map(&digest.rfm, "Customers by recency and frequency")
            .map_err(|e| format!("cannot draw the RFM heat map: {e:#}"))?;
    let mut vars = serde_json::to_value(&digest).map_err(|e| e.to_string())?;
    if let Some(map) = vars.as_object_mut() {
        map.insert("store_name".into(), json!(mailer.settings.store_name));
        map.insert("week_start".into(), json!(digest.week_start.to_string()));
        map.insert("week_end".into(), json!(digest.week_end.to_string()));
        map.insert(
            "charts".into(),
            json!([
                {"cid": "lifecycle-funnel", "title": "Customers by lifecycle stage"},
                {"cid": "rfm-heat-map", "title": "Customers by recency and frequency"},
            ]),
        );
    }
    let rendered = mailer
        .templates
        .render(EmailKind::Digest, "en", None, &vars)?;
    Ok((
        rendered,
        vec![
            ("lifecycle-funnel".to_owned(), funnel),
            ("rfm-heat-map".to_owned(), heat_map),
        ],
    ))
}
