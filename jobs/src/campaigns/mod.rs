//! Care campaigns and their producers. A producer finds the customers a campaign is for
//! right now and inserts one outbox row each, keyed so that running it again inserts
//! nothing (`INSERT … SELECT … ON CONFLICT (customer_id, dedupe_key) DO NOTHING`: the key
//! contains the customer, so it holds where emails are distributed by customer); the dispatcher
//! (`crate::mail::dispatch`) sends. Producers work one customer time zone at a time, so
//! "the customer's birthday" and "09:00" are the customer's own.

/// The weekly marketer digest: figures, charts, one outbox row per recipient.
pub mod digest;
/// Creating, changing, deleting and reading campaigns; their email stats.
pub mod store;
/// Local send times, quiet hours, leap-day birthdays.
pub mod timing;

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{EmailKind, EmailStatus, ValueTier, campaign, email};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Statement, TransactionTrait,
    sea_query::{Alias, Cond, Expr, ExprTrait, OnConflict, Query, SimpleExpr},
};
use serde::{Deserialize, Serialize};

pub use store::{
    CampaignChanges, CampaignStats, NewCampaign, SettingsChanges, TemplatesInput, acts_on_stage,
    all, create, delete, email_stats, find, page, targets_segment, update,
};

use crate::{
    JobContext, JobStats,
    lifecycle::Stage,
    mail::templates::{CampaignTemplates, LOCALES, Templates},
    segments::rule::{self, Clock, Condition, Field, Op, Rule},
};

/// Who a campaign is for; every part given must hold (none given: everyone). Stored as
/// JSON text in `campaigns.target`, stages and tiers by their stored names:
/// `{"segmentId":4,"stages":["LOYAL"],"tiers":["HIGH"]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target {
    pub segment_id: Option<i64>,
    pub stages: Vec<Stage>,
    pub tiers: Vec<ValueTier>,
}

impl Target {
    /// The target as a segment rule, so it compiles (and is checked) like one.
    pub fn rule(&self) -> Option<Rule> {
        let mut conditions = Vec::new();
        let values =
            |names: Vec<&str>| Some(names.into_iter().map(serde_json::Value::from).collect());
        if let Some(id) = self.segment_id {
            conditions.push(Rule::Condition(Condition {
                field: Field::InSegment,
                op: Op::In,
                value: None,
                values: Some(vec![serde_json::json!(id)]),
            }));
        }
        if !self.stages.is_empty() {
            conditions.push(Rule::Condition(Condition {
                field: Field::LifecycleStage,
                op: Op::In,
                value: None,
                values: values(self.stages.iter().map(|s| s.as_str()).collect()),
            }));
        }
        if !self.tiers.is_empty() {
            conditions.push(Rule::Condition(Condition {
                field: Field::ValueTier,
                op: Op::In,
                value: None,
                values: values(self.tiers.iter().map(|t| t.as_str()).collect()),
            }));
        }
        (!conditions.is_empty()).then_some(Rule::All(conditions))
    }
}

/// A date greeted by a `HOLIDAY` campaign, named in each language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_zh_cn: Option<String>,
    /// In Traditional Chinese (customers in Taiwan, Hong Kong, Macau); without it they
    /// get the Simplified name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_zh_hant: Option<String>,
}

/// The kind-specific knobs of a campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CampaignSettings {
    /// Win-back: offer codes look like `<prefix>-7KQ2M9XD`.
    pub offer_prefix: String,
    /// Win-back: the offer is valid this many days after the email is queued.
    pub offer_expiry_days: i64,
    /// Win-back and survey: at most one email of the campaign's kind per customer in
    /// this many days.
    pub cooldown_days: i64,
    /// How far back producers look: first orders (welcome), lapses (win-back, by the
    /// day the customer went quiet), segment entries, orders before the survey's day
    /// (survey); and a first run's reach.
    pub lookback_days: i64,
    /// Holiday: the dates greeted.
    pub holidays: Vec<Holiday>,
    /// Survey: sent this many days (local days) after an order.
    pub days_after_order: i64,
    /// Points expiring: the reminder names the points that expire by the end of the
    /// local day this many days ahead.
    pub days_before_expiry: i64,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            offer_prefix: "BACK".into(),
            offer_expiry_days: 30,
            cooldown_days: 90,
            lookback_days: 7,
            holidays: Vec::new(),
            days_after_order: 7,
            days_before_expiry: 30,
        }
    }
}

/// Reads the JSON documents (templates, target, settings) of a stored campaign.
pub trait CampaignDocuments {
    fn templates_of(&self) -> Option<CampaignTemplates>;
    fn target(&self) -> anyhow::Result<Target>;
    fn settings(&self) -> anyhow::Result<CampaignSettings>;
}

impl CampaignDocuments for campaign::Model {
    fn templates_of(&self) -> Option<CampaignTemplates> {
        serde_json::from_str(&self.templates).ok()
    }
    fn target(&self) -> anyhow::Result<Target> {
        serde_json::from_str(&self.target)
            .with_context(|| format!("campaign {} has an unreadable target", self.id))
    }
    fn settings(&self) -> anyhow::Result<CampaignSettings> {
        serde_json::from_str(&self.settings)
            .with_context(|| format!("campaign {} has unreadable settings", self.id))
    }
}

/// One problem with a campaign as given: the input field and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

/// Checks a campaign before it is saved; every problem is reported.
pub fn validate(
    name: &str,
    kind: EmailKind,
    enabled: bool,
    send_hour: i32,
    target: &Target,
    settings: &CampaignSettings,
    templates: &CampaignTemplates,
) -> Vec<Invalid> {
    let mut problems = Vec::new();
    let mut bad = |field: &str, message: String| {
        problems.push(Invalid {
            field: field.to_owned(),
            message,
        })
    };
    if name.trim().is_empty() || name.chars().count() > 200 {
        bad("name", "a name of 1 to 200 characters is required".into());
    }
    if kind == EmailKind::Digest {
        bad("kind", "the digest is not a campaign".into());
    }
    if !(0..=23).contains(&send_hour) {
        bad("sendHour", format!("{send_hour} is not an hour (0–23)"));
    }
    if let Some(rule) = target.rule()
        && let Err(error) = rule.check("target")
    {
        bad("target", error.to_string());
    }
    if kind == EmailKind::SegmentEntry && enabled && target.segment_id.is_none() {
        bad(
            "target.segmentId",
            "a segment-entry campaign needs the segment whose entries it greets".into(),
        );
    }
    let prefix_ok = !settings.offer_prefix.is_empty()
        && settings.offer_prefix.len() <= 16
        && settings
            .offer_prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !prefix_ok {
        bad(
            "settings.offerPrefix",
            "1 to 16 capital letters or digits".into(),
        );
    }
    if !(1..=365).contains(&settings.offer_expiry_days) {
        bad("settings.offerExpiryDays", "between 1 and 365 days".into());
    }
    if !(0..=3650).contains(&settings.cooldown_days) {
        bad("settings.cooldownDays", "between 0 and 3650 days".into());
    }
    // Up to a year: a marketer may well want to win back everyone who lapsed this year.
    if !(0..=366).contains(&settings.lookback_days) {
        bad("settings.lookbackDays", "between 0 and 366 days".into());
    }
    if !(1..=365).contains(&settings.days_after_order) {
        bad("settings.daysAfterOrder", "between 1 and 365 days".into());
    }
    if !(1..=365).contains(&settings.days_before_expiry) {
        bad("settings.daysBeforeExpiry", "between 1 and 365 days".into());
    }
    for (i, holiday) in settings.holidays.iter().enumerate() {
        if holiday.name.trim().is_empty() {
            bad(
                &format!("settings.holidays.{i}.name"),
                "a name is required".into(),
            );
        }
    }
    for locale in templates.keys() {
        if !LOCALES.contains(&locale.as_str()) {
            bad(
                "templates",
                format!(
                    "no templates in `{locale}` (locales: {})",
                    LOCALES.join(", ")
                ),
            );
        }
    }
    if let Err(error) = Templates::check(templates) {
        bad(
            &format!("templates.{}", error.name),
            format!("line {}: {}", error.line, error.message),
        );
    }
    problems
}

/// Set once the first six built-ins were installed (before kinds had keys of their own).
const BUILT_INS_KEY: &str = "campaigns.built_ins_installed";

/// The kinds [`BUILT_INS_KEY`] stands for.
const FIRST_BUILT_IN_KINDS: [EmailKind; 6] = [
    EmailKind::Birthday,
    EmailKind::WinBack,
    EmailKind::Welcome,
    EmailKind::PurchaseAnniversary,
    EmailKind::Holiday,
    EmailKind::SegmentEntry,
];

/// Set once the built-in campaign of a later kind was installed.
fn built_in_key(kind: EmailKind) -> String {
    format!("campaigns.built_in_installed.{}", kind.as_str())
}

/// The campaigns a fresh install starts with, one per kind, all disabled.
pub fn built_ins() -> Vec<(String, EmailKind, CampaignSettings)> {
    let holidays = vec![
        Holiday {
            date: NaiveDate::from_ymd_opt(2026, 12, 25).unwrap_or_default(),
            name: "Christmas".into(),
            name_zh_cn: Some("圣诞节".into()),
            name_zh_hant: Some("聖誕節".into()),
        },
        Holiday {
            date: NaiveDate::from_ymd_opt(2027, 2, 6).unwrap_or_default(),
            name: "Spring Festival".into(),
            name_zh_cn: Some("春节".into()),
            name_zh_hant: Some("農曆新年".into()),
        },
        Holiday {
            date: NaiveDate::from_ymd_opt(2027, 9, 15).unwrap_or_default(),
            name: "Mid-Autumn Festival".into(),
            name_zh_cn: Some("中秋节".into()),
            name_zh_hant: Some("中秋節".into()),
        },
        Holiday {
            date: NaiveDate::from_ymd_opt(2027, 12, 25).unwrap_or_default(),
            name: "Christmas".into(),
            name_zh_cn: Some("圣诞节".into()),
            name_zh_hant: Some("聖誕節".into()),
        },
    ];
    [
        ("Birthday greetings", EmailKind::Birthday),
        ("Win-back offer", EmailKind::WinBack),
        ("Welcome", EmailKind::Welcome),
        ("Purchase anniversary", EmailKind::PurchaseAnniversary),
        ("Holiday greetings", EmailKind::Holiday),
        ("Segment entry", EmailKind::SegmentEntry),
        ("Satisfaction survey", EmailKind::Survey),
        ("Membership tier upgrade", EmailKind::TierUpgrade),
        ("Points expiring", EmailKind::PointsExpiring),
    ]
    .into_iter()
    .map(|(name, kind)| {
        let mut settings = CampaignSettings::default();
        if kind == EmailKind::Holiday {
            settings.holidays = holidays.clone();
        }
        if kind == EmailKind::PointsExpiring {
            // A reminder a month: points earned every week expire every week.
            settings.cooldown_days = 30;
        }
        (name.to_owned(), kind, settings)
    })
    .collect()
}

/// Installs each built-in campaign once per database: a marketer who deletes one does
/// not see it come back at the next start, and a database installed before a kind
/// existed gets that kind's built-in once, at the first start that knows it.
pub async fn install_built_ins(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    let first_done: Option<bool> = crate::app_settings::load(&txn, BUILT_INS_KEY).await?;
    let now = Utc::now();
    for (name, kind, settings) in built_ins() {
        let first = FIRST_BUILT_IN_KINDS.contains(&kind);
        let key = built_in_key(kind);
        let done = if first {
            first_done.is_some()
        } else {
            crate::app_settings::load::<bool>(&txn, &key)
                .await?
                .is_some()
        };
        if done {
            continue;
        }
        campaign::Entity::insert(campaign::ActiveModel {
            name: Set(name),
            kind: Set(kind),
            enabled: Set(false),
            target: Set(serde_json::to_string(&Target::default())?),
            send_hour: Set(9),
            templates: Set("{}".into()),
            settings: Set(serde_json::to_string(&settings)?),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([campaign::Column::Name])
        .exec(&txn)
        .await
        .context("failed to install the built-in campaigns")?;
        // Upserts: two processes starting on a fresh database both get here.
        if !first {
            crate::app_settings::save(&txn, &key, &true).await?;
        }
    }
    if first_done.is_none() {
        crate::app_settings::save(&txn, BUILT_INS_KEY, &true).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The `campaigns` job: every enabled campaign's producer, then win-back conversions.
pub async fn run(context: &JobContext, now: DateTime<Utc>) -> anyhow::Result<JobStats> {
    let mut stats = JobStats::default();
    let campaigns = campaign::Entity::find()
        .filter(campaign::Column::Enabled.eq(true))
        .order_by_asc(campaign::Column::Id)
        .all(&context.db)
        .await
        .context("failed to load the campaigns")?;
    // One scan of the customers for every campaign of the run.
    let zones = if campaigns.is_empty() {
        Vec::new()
    } else {
        time_zones(&context.db).await?
    };
    let mut queued = serde_json::Map::new();
    // One campaign that fails (a bad target, say) does not hold back the others; the run
    // is still reported failed, naming it.
    let mut failures = Vec::new();
    for campaign in &campaigns {
        match produce(&context.db, campaign, &zones, now).await {
            Ok(n) => {
                queued.insert(campaign.name.clone(), n.into());
            }
            Err(error) => {
                tracing::error!(campaign = campaign.id, error.cause_chain = ?error, "campaign producer failed");
                failures.push(format!(
                    "campaign {} ({}): {error:#}",
                    campaign.id, campaign.name
                ));
            }
        }
    }
    stats.set("queued", serde_json::Value::Object(queued));
    let thresholds =
        crate::lifecycle::effective_thresholds(&context.db, &context.lifecycle).await?;
    let converted = record_conversions(&context.db, &thresholds, now).await?;
    stats.set("converted", converted);
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("; "));
    Ok(stats)
}

const CUSTOMERS: &str = "customers";

fn col(name: &str) -> Expr {
    Expr::col((Alias::new(CUSTOMERS), Alias::new(name)))
}

/// `MM-DD` of a date column (SQLite stores dates as `YYYY-MM-DD` text).
fn month_day_of_date(backend: DatabaseBackend, column: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("to_char({column}, 'MM-DD')"),
        _ => format!("substr({column}, 6, 5)"),
    }
}

/// `MM-DD` of a timestamp column in a zone. PostgreSQL converts exactly; SQLite has no
/// zone database, so the zone's offset at `now` is applied (exact except for a first
/// order within an hour of midnight across a daylight-saving change).
fn month_day_of_timestamp(
    backend: DatabaseBackend,
    column: &str,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            format!("to_char({column} AT TIME ZONE '{}', 'MM-DD')", zone.name())
        }
        _ => {
            use chrono::Offset;
            let offset = now.with_timezone(&zone).offset().fix().local_minus_utc() / 60;
            format!("strftime('%m-%d', {column}, '{offset:+} minutes')")
        }
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a producer inserts for one zone.
struct Batch {
    condition: Cond,
    /// The dedupe key over `customers` (built from kind names, dates and ids).
    key: SimpleExpr,
    scheduled_for: DateTime<Utc>,
    /// The email's JSON payload (the same for the whole batch, or computed per customer).
    payload: SimpleExpr,
    offer_expires_on: Option<NaiveDate>,
}

/// A batch without a payload.
fn no_payload() -> SimpleExpr {
    Expr::val(Option::<String>::None)
}

/// The same payload for every email of a batch.
fn payload(value: serde_json::Value) -> SimpleExpr {
    Expr::val(value.to_string())
}

/// The time zones customers live in: producers queue per zone.
pub async fn time_zones(db: &impl ConnectionTrait) -> anyhow::Result<Vec<String>> {
    Ok(db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT DISTINCT time_zone FROM customers WHERE erased_at IS NULL",
        ))
        .await
        .context("failed to list the customers' time zones")?
        .into_iter()
        .filter_map(|row| row.try_get::<String>("", "time_zone").ok())
        .collect())
}

/// Runs one campaign's producer at `now` over the customers of `zones`
/// ([`time_zones`], read once per run); returns how many emails it queued.
pub async fn produce(
    db: &sea_orm::DatabaseConnection,
    campaign: &campaign::Model,
    zones: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let backend = db.get_database_backend();
    let target = campaign.target()?;
    let settings = campaign.settings()?;
    let target_condition = match target.rule() {
        Some(rule) => {
            let checked = rule
                .check("target")
                .map_err(|e| anyhow::anyhow!("invalid target: {e}"))?;
            Some(rule::compile(&checked, Clock { now }))
        }
        None => None,
    };
    let hour = u32::try_from(campaign.send_hour.clamp(0, 23)).unwrap_or(9);

    // Win-back and segment entry act on events recorded since the last run, with an
    // overlap for transactions that committed late (PostgreSQL hands out ids and times
    // before commit), and never further back than `lookback_days` (a first run, or a
    // campaign enabled again after a pause). Their keys name the event, so an event seen
    // by two runs queues one email.
    let lookback_start = now - Duration::days(settings.lookback_days);
    // Win-back and tier upgrades: events dated on a UTC day at most `lookback_days`
    // before the run's (the lifecycle and loyalty jobs date them by the day, at its start).
    let days_since = crate::day_start(
        now.date_naive()
            .checked_sub_signed(Duration::days(settings.lookback_days))
            .unwrap_or(NaiveDate::MIN),
    );
    let events_since = campaign.last_run_at.map_or(lookback_start, |last| {
        std::cmp::Ord::max(last - LATE_COMMIT_MARGIN, lookback_start)
    });
    // `cust_with_values` placeholders: `$n` on PostgreSQL, `?` (in order) on SQLite.
    let param = |n| entity::sql::nth_placeholder(backend, n);
    let txn = db
        .begin()
        .await
        .context("failed to start the campaign run")?;
    // Survey and points reminders: none to a customer emailed one since.
    let cooled_down = now - Duration::days(settings.cooldown_days);
    let programme = match campaign.kind {
        EmailKind::TierUpgrade | EmailKind::PointsExpiring => {
            Some(crate::loyalty::programme(&txn).await?)
        }
        _ => None,
    };

    let mut queued = 0;
    for zone_name in zones {
        let zone = timing::zone(zone_name);
        let today = timing::local_date(zone, now);
        let at = timing::send_time(zone, today, hour, now);
        let in_zone = Cond::all()
            .add(col("time_zone").eq(Expr::val(zone_name.as_str())))
            .add(col("erased_at").is_null());
        let mut batches = Vec::new();
        match campaign.kind {
            EmailKind::Birthday => batches.push(Batch {
                condition: in_zone.add(Expr::cust(format!(
                    "{} IN ({})",
                    month_day_of_date(backend, "customers.birth_date"),
                    quoted_list(&timing::greeted_month_days(today))
                ))),
                key: keyed_by_customer(&format!("birthday:{}:", chrono::Datelike::year(&today))),
                scheduled_for: at,
                payload: no_payload(),
                offer_expires_on: None,
            }),
            EmailKind::PurchaseAnniversary => {
                // At least ~a year ago (same month-day and 300+ days back).
                let long_ago = timing::local_time(zone, today, 0) - Duration::days(300);
                batches.push(Batch {
                    condition: in_zone
                        .add(col("first_order_at").lt(long_ago))
                        .add(Expr::cust(format!(
                            "{} IN ({})",
                            month_day_of_timestamp(backend, "customers.first_order_at", zone, now),
                            quoted_list(&timing::greeted_month_days(today))
                        ))),
                    key: keyed_by_customer(&format!(
                        "anniversary:{}:",
                        chrono::Datelike::year(&today)
                    )),
                    scheduled_for: at,
                    payload: no_payload(),
                    offer_expires_on: None,
                });
            }
            EmailKind::Welcome => batches.push(Batch {
                condition: in_zone
                    .add(col("first_order_at").gte(lookback_start))
                    .add(col("first_order_at").lte(now)),
                key: keyed_by_customer("welcome:"),
                scheduled_for: at,
                payload: no_payload(),
                offer_expires_on: None,
            }),
            EmailKind::Holiday => {
                for holiday in settings.holidays.iter().filter(|h| h.date == today) {
                    let mut names = BTreeMap::new();
                    names.insert("en", holiday.name.clone());
                    if let Some(zh) = &holiday.name_zh_cn {
                        names.insert("zh-CN", zh.clone());
                    }
                    if let Some(zh) = &holiday.name_zh_hant {
                        names.insert("zh-Hant", zh.clone());
                    }
                    batches.push(Batch {
                        condition: in_zone.clone(),
                        key: keyed_by_customer(&format!(
                            "holiday:{}:{}:",
                            campaign.id, holiday.date
                        )),
                        scheduled_for: at,
                        payload: payload(serde_json::json!({ "holiday": names })),
                        offer_expires_on: None,
                    });
                }
            }
            EmailKind::WinBack => {
                // The lapses: entries into SILENT or CHURNED, their stages bound as
                // the first two values.
                let lapsed = format!(
                    "FROM lifecycle_events le WHERE le.customer_id = customers.id \
                     AND le.to_stage IN ({}, {})",
                    param(1),
                    param(2)
                );
                let [silent, churned] = [Stage::Silent, Stage::Churned].map(sea_orm::Value::from);
                batches.push(Batch {
                    condition: in_zone.add(Expr::cust_with_values(
                        format!(
                            // Recorded since the last run, and lapsed recently: the
                            // first classification of an old base dates lapses years
                            // back, and those customers are not "just gone quiet".
                            // `at` is the lapse's day (its start, UTC).
                            "EXISTS (SELECT 1 {lapsed} AND le.at >= {} \
                               AND le.job_run_id IN (SELECT id FROM job_runs WHERE started_at >= {})) \
                             AND EXISTS (SELECT 1 FROM customer_lifecycle cl WHERE cl.customer_id = customers.id \
                               AND cl.stage IN ({}, {})) \
                             AND NOT EXISTS (SELECT 1 FROM emails e WHERE e.customer_id = customers.id \
                               AND e.kind = {} AND e.created_at >= {})",
                            param(3),
                            param(4),
                            param(5),
                            param(6),
                            param(7),
                            param(8)
                        ),
                        [
                            silent.clone(),
                            churned.clone(),
                            days_since.into(),
                            events_since.into(),
                            silent.clone(),
                            churned.clone(),
                            EmailKind::WinBack.into(),
                            (now - Duration::days(settings.cooldown_days)).into(),
                        ],
                    )),
                    // The latest lapse: the same lapse seen twice is one email.
                    key: Expr::cust_with_values(
                        format!(
                            "'win_back:' || CAST(customers.id AS TEXT) || ':' || \
                             CAST((SELECT MAX(le.id) {lapsed}) AS TEXT)"
                        ),
                        [silent, churned],
                    ),
                    scheduled_for: at,
                    payload: no_payload(),
                    offer_expires_on: today
                        .checked_add_signed(Duration::days(settings.offer_expiry_days)),
                });
            }
            EmailKind::SegmentEntry => {
                let Some(segment_id) = target.segment_id else {
                    continue;
                };
                let segment_name = entity::segment::Entity::find_by_id(segment_id)
                    .one(&txn)
                    .await?
                    .map(|s| s.name)
                    .unwrap_or_default();
                // The entries, their kind bound as the first value.
                let entries = format!(
                    "FROM segment_events se WHERE se.customer_id = customers.id \
                     AND se.segment_id = {segment_id} AND se.kind = {}",
                    param(1)
                );
                let entered = sea_orm::Value::from(entity::ChangeKind::Entered);
                batches.push(Batch {
                    condition: in_zone.add(Expr::cust_with_values(
                        format!("EXISTS (SELECT 1 {entries} AND se.at >= {})", param(2)),
                        [entered.clone(), events_since.into()],
                    )),
                    // The latest entry: the same entry seen twice is one email.
                    key: Expr::cust_with_values(
                        format!(
                            "'segment_entry:{}:' || CAST(customers.id AS TEXT) || ':' || \
                             CAST((SELECT MAX(se.id) {entries}) AS TEXT)",
                            campaign.id
                        ),
                        [entered],
                    ),
                    scheduled_for: at,
                    payload: payload(serde_json::json!({ "segment_name": segment_name })),
                    offer_expires_on: None,
                });
            }
            EmailKind::Survey => {
                // Orders placed on a local day `daysAfterOrder` before today, or up to
                // `lookbackDays` earlier (a run missed, a campaign just enabled), bound
                // as the first two values: [start of the earliest day, end of the
                // latest).
                let latest_day = today
                    .checked_sub_signed(Duration::days(settings.days_after_order))
                    .unwrap_or(NaiveDate::MIN);
                let earliest_day = latest_day
                    .checked_sub_signed(Duration::days(settings.lookback_days))
                    .unwrap_or(NaiveDate::MIN);
                let ordered_from = sea_orm::Value::from(timing::local_time(zone, earliest_day, 0));
                let ordered_until = sea_orm::Value::from(timing::local_time(
                    zone,
                    latest_day.succ_opt().unwrap_or(latest_day),
                    0,
                ));
                let ordered = format!(
                    "FROM orders o WHERE o.customer_id = customers.id \
                     AND o.ordered_at >= {} AND o.ordered_at < {}",
                    param(1),
                    param(2)
                );
                batches.push(Batch {
                    // At most one survey in `cooldownDays`, whichever campaign sent it.
                    condition: in_zone
                        .add(Expr::cust_with_values(
                            format!("EXISTS (SELECT 1 {ordered})"),
                            [ordered_from.clone(), ordered_until.clone()],
                        ))
                        .add(not_emailed_since(backend, EmailKind::Survey, cooled_down)),
                    // The latest order surveyed: the same order seen by two runs, or by
                    // two survey campaigns, is one email.
                    key: Expr::cust_with_values(
                        format!(
                            "'survey:' || CAST(customers.id AS TEXT) || ':' || \
                             CAST((SELECT MAX(o.id) {ordered}) AS TEXT)"
                        ),
                        [ordered_from, ordered_until],
                    ),
                    scheduled_for: at,
                    payload: no_payload(),
                    offer_expires_on: None,
                });
            }
            EmailKind::TierUpgrade => {
                for tier in programme.iter().flat_map(|p| &p.tiers) {
                    // Moves up into this tier, from a lower one: a first tier (everyone's,
                    // when a programme starts) is no news. By the event's day, which is
                    // the loyalty job's day (its start): the key makes a second sight of
                    // an upgrade queue nothing, so the window is the lookback, not the
                    // last run.
                    let upgrades = format!(
                        "FROM loyalty_tier_events te WHERE te.customer_id = customers.id \
                         AND te.reason = {} AND te.from_tier IS NOT NULL AND te.to_tier = {} \
                         AND te.occurred_at >= {}",
                        param(1),
                        param(2),
                        param(3)
                    );
                    let upgrade_values = || -> [sea_orm::Value; 3] {
                        [
                            entity::TierChange::Upgrade.into(),
                            tier.name.clone().into(),
                            days_since.into(),
                        ]
                    };
                    let [reason, to_tier, since] = upgrade_values();
                    batches.push(Batch {
                        // Still in the tier: a member who moved up twice in the window
                        // hears of the latest tier only.
                        condition: in_zone.clone().add(Expr::cust_with_values(
                            format!(
                                "EXISTS (SELECT 1 {upgrades}) AND EXISTS (SELECT 1 FROM loyalty_accounts a \
                                   WHERE a.customer_id = customers.id AND a.tier = {})",
                                param(4)
                            ),
                            [reason, to_tier, since, tier.name.clone().into()],
                        )),
                        key: Expr::cust_with_values(
                            format!(
                                "'tier_upgrade:' || CAST(customers.id AS TEXT) || ':' || \
                                 CAST((SELECT MAX(te.id) {upgrades}) AS TEXT)"
                            ),
                            upgrade_values(),
                        ),
                        scheduled_for: at,
                        payload: payload(serde_json::json!({
                            "tier_name": tier.name,
                            "tier_benefits": tier.benefits,
                            "tier_discount_percent": tier.discount_percent.normalize().to_string(),
                        })),
                        offer_expires_on: None,
                    });
                }
            }
            EmailKind::PointsExpiring => {
                // Points (lots' remaining points) that expire by the end of the local day
                // `daysBeforeExpiry` from today; the cutoff bound as the first value.
                let Some(programme) = &programme else {
                    continue;
                };
                let expire_by = today
                    .checked_add_signed(Duration::days(settings.days_before_expiry))
                    .unwrap_or(today);
                let Some(cutoff) = crate::loyalty::reports::expiry_cutoff(programme, expire_by)
                else {
                    // Points never expire.
                    continue;
                };
                let cutoff = sea_orm::Value::from(cutoff);
                let lots = format!(
                    "FROM loyalty_ledger l WHERE l.customer_id = customers.id \
                     AND l.remaining > 0 AND l.occurred_at < {}",
                    param(1)
                );
                batches.push(Batch {
                    // At most one reminder in `cooldownDays`: points earned every week
                    // expire every week.
                    condition: in_zone
                        .add(Expr::cust_with_values(
                            format!("EXISTS (SELECT 1 {lots})"),
                            [cutoff.clone()],
                        ))
                        .add(not_emailed_since(
                            backend,
                            EmailKind::PointsExpiring,
                            cooled_down,
                        )),
                    // The oldest lot reminded of: the same lot is one reminder.
                    key: Expr::cust_with_values(
                        format!(
                            "'points_expiring:' || CAST(customers.id AS TEXT) || ':' || \
                             CAST((SELECT MIN(l.id) {lots}) AS TEXT)"
                        ),
                        [cutoff.clone()],
                    ),
                    scheduled_for: at,
                    // The points as they are when queued (the email goes out the same
                    // day); the date is a plain `YYYY-MM-DD`, safe in the JSON text.
                    payload: Expr::cust_with_values(
                        format!(
                            "'{{\"points_expiring\":' || CAST((SELECT SUM(l.remaining) {lots}) AS TEXT) \
                             || ',\"points_expire_by\":\"{expire_by}\"}}'"
                        ),
                        [cutoff],
                    ),
                    offer_expires_on: None,
                });
            }
            EmailKind::Digest => {}
        }
        for batch in batches {
            let condition = match &target_condition {
                Some(target) => batch.condition.clone().add(target.clone()),
                None => batch.condition.clone(),
            };
            queued += if reads_outbox(campaign.kind) {
                insert_chosen(&txn, campaign, &batch, condition, now).await?
            } else {
                insert_batch(&txn, campaign, &batch, condition, now).await?
            };
        }
    }

    // In the same transaction: no dispatcher sees a win-back row before its code.
    if campaign.kind == EmailKind::WinBack {
        assign_offer_codes(&txn, campaign, &settings).await?;
    }
    let mut record = campaign.clone().into_active_model();
    record.last_run_at = Set(Some(now));
    record
        .update(&txn)
        .await
        .context("failed to record the campaign run")?;
    txn.commit()
        .await
        .context("failed to commit the campaign run")?;
    Ok(queued)
}

/// How far before the last run a producer looks again for events: a transaction that
/// committed later than this after stamping its events would be missed.
const LATE_COMMIT_MARGIN: Duration = Duration::hours(1);

/// A dedupe key of a fixed prefix and the customer id (the prefix is built from kind
/// names, dates and ids only: safe to inline).
fn keyed_by_customer(prefix: &str) -> SimpleExpr {
    Expr::cust(format!("'{prefix}' || CAST(customers.id AS TEXT)"))
}

/// Kinds whose producer condition reads the outbox (a cooldown: no win-back, survey or
/// points reminder to the customer since …): their statement would read the table it writes.
fn reads_outbox(kind: EmailKind) -> bool {
    matches!(
        kind,
        EmailKind::WinBack | EmailKind::Survey | EmailKind::PointsExpiring
    )
}

/// No email of `kind` to the customer created since `since` that reached them: a cooldown.
/// One suppressed at sending (no consent, no address) never reached the customer, so it
/// does not count. Reads the outbox: see [`reads_outbox`].
fn not_emailed_since(
    backend: DatabaseBackend,
    kind: EmailKind,
    since: DateTime<Utc>,
) -> SimpleExpr {
    let param = |n| entity::sql::nth_placeholder(backend, n);
    Expr::cust_with_values(
        format!(
            "NOT EXISTS (SELECT 1 FROM emails e WHERE e.customer_id = customers.id \
               AND e.kind = {} AND e.status <> {} AND e.created_at >= {})",
            param(1),
            param(2),
            param(3)
        ),
        [
            sea_orm::Value::from(kind),
            EmailStatus::Suppressed.into(),
            since.into(),
        ],
    )
}

/// Customers per insert of [`insert_chosen`].
const CHOSEN_PER_INSERT: usize = 1_000;

/// Queues a batch whose condition reads `emails`: the customers are chosen first, then
/// queued a thousand at a time by id. As one `INSERT … SELECT`, PostgreSQL plans the
/// cooldown's `NOT EXISTS` from the statistics of `emails`; on a first large run those
/// say the table is empty (analyzed before anything was queued), the plan scans the
/// whole table per candidate — including every row the statement has inserted so far —
/// and the run grows with the square of the customers queued (the same failure the
/// segment refresh had, 290 s at a million customers).
async fn insert_chosen(
    db: &impl ConnectionTrait,
    campaign: &campaign::Model,
    batch: &Batch,
    condition: Cond,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let chosen = Query::select()
        .column((Alias::new(CUSTOMERS), Alias::new("id")))
        .from(Alias::new(CUSTOMERS))
        .cond_where(condition)
        .to_owned();
    let ids: Vec<i64> = db
        .query_all(&chosen)
        .await
        .with_context(|| {
            format!(
                "failed to choose the `{}` emails' customers",
                campaign.kind.as_str()
            )
        })?
        .iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<_, _>>()?;
    let mut queued = 0;
    for chunk in ids.chunks(CHOSEN_PER_INSERT) {
        let these = Cond::all().add(col("id").is_in(chunk.to_vec()));
        queued += insert_batch(db, campaign, batch, these, now).await?;
    }
    Ok(queued)
}

async fn insert_batch(
    db: &impl ConnectionTrait,
    campaign: &campaign::Model,
    batch: &Batch,
    condition: Cond,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let select = Query::select()
        .expr(batch.key.clone())
        .expr(Expr::val(campaign.kind.as_str()))
        .expr(Expr::val(campaign.id))
        .expr(col("id"))
        .expr(Expr::val(EmailStatus::Queued.as_str()))
        .expr(Expr::val(0_i32))
        .expr(Expr::val(batch.scheduled_for))
        .expr(batch.payload.clone())
        .expr(Expr::val(batch.offer_expires_on))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .from(Alias::new(CUSTOMERS))
        .cond_where(condition)
        .to_owned();
    let insert = Query::insert()
        .into_table(email::Entity)
        .columns([
            email::Column::DedupeKey,
            email::Column::Kind,
            email::Column::CampaignId,
            email::Column::CustomerId,
            email::Column::Status,
            email::Column::Attempts,
            email::Column::ScheduledFor,
            email::Column::Payload,
            email::Column::OfferExpiresOn,
            email::Column::CreatedAt,
            email::Column::UpdatedAt,
        ])
        .select_from(select)
        .context("cannot build the outbox insert")?
        .on_conflict(
            OnConflict::columns([email::Column::CustomerId, email::Column::DedupeKey])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    let what = || format!("failed to queue `{}` emails", campaign.kind.as_str());
    let backend = db.get_database_backend();
    if backend != sea_orm::DatabaseBackend::Postgres {
        return Ok(db
            .execute(&insert)
            .await
            .with_context(what)?
            .rows_affected());
    }
    // Counted from RETURNING: Citus, which runs this insert through the coordinator (the
    // outbox ids come from the coordinator's sequence), reports every selected row as
    // affected, conflicts included.
    let statement = backend.build(&insert);
    let counted = sea_orm::Statement::from_sql_and_values(
        backend,
        format!(
            "WITH queued AS ({} RETURNING 1) SELECT COUNT(*) AS n FROM queued",
            statement.sql
        ),
        statement.values.map(|values| values.0).unwrap_or_default(),
    );
    let row = db
        .query_one_raw(counted)
        .await
        .with_context(what)?
        .context("COUNT returned no row")?;
    Ok(u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0))
}

/// Offer codes: the prefix and eight characters of Crockford's base32; unique by index.
fn offer_code(prefix: &str) -> String {
    format!("{prefix}-{}", entity::codes::random_code(8))
}

async fn assign_offer_codes(
    txn: &impl ConnectionTrait,
    campaign: &campaign::Model,
    settings: &CampaignSettings,
) -> anyhow::Result<()> {
    let pending = email::Entity::find()
        .filter(email::Column::CampaignId.eq(campaign.id))
        .filter(email::Column::OfferCode.is_null())
        .all(txn)
        .await
        .context("failed to read emails waiting for an offer code")?;
    for row in pending {
        email::Entity::update_many()
            .filter(email::Column::Id.eq(row.id))
            .col_expr(
                email::Column::OfferCode,
                Expr::value(offer_code(&settings.offer_prefix)),
            )
            .exec(txn)
            .await
            .context("failed to store an offer code")?;
    }
    Ok(())
}

/// An order recorded late (a partner's backfill) still converts an email whose offer
/// expired up to this long ago.
const LATE_ORDERS: Duration = Duration::days(30);

/// Win-back conversions: a sent win-back email whose customer ordered between sending and
/// the offer's expiry is `converted`. And attribution: each reactivation the lifecycle
/// job records (possibly after the conversion was seen) goes to the latest win-back email
/// sent to the customer within `win_back_window_days` before it.
pub async fn record_conversions(
    db: &sea_orm::DatabaseConnection,
    thresholds: &crate::lifecycle::Thresholds,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    use entity::lifecycle_event;
    let backend = db.get_database_backend();
    let p = |n| entity::sql::numbered_placeholder(backend, n);
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT e.id, e.offer_expires_on, MIN(o.ordered_at) AS first_order \
                 FROM emails e JOIN orders o ON o.customer_id = e.customer_id AND o.ordered_at >= e.sent_at \
                 WHERE e.kind = {} AND e.status = {} AND e.converted_at IS NULL \
                   AND e.offer_expires_on >= {} \
                 GROUP BY e.id, e.offer_expires_on",
                p(1),
                p(2),
                p(3)
            ),
            [
                EmailKind::WinBack.into(),
                EmailStatus::Sent.into(),
                (now - LATE_ORDERS).date_naive().into(),
            ],
        ))
        .await
        .context("failed to look for win-back conversions")?;
    let mut converted = 0;
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let expires: Option<NaiveDate> = row.try_get("", "offer_expires_on")?;
        let first_order: DateTime<Utc> = row.try_get("", "first_order")?;
        if expires.is_some_and(|e| first_order.date_naive() <= e) {
            email::Entity::update_many()
                .filter(email::Column::Id.eq(id))
                .col_expr(email::Column::ConvertedAt, Expr::value(first_order))
                .exec(db)
                .await
                .context("failed to mark a conversion")?;
            converted += 1;
        }
    }

    let window = Duration::days(thresholds.win_back_window_days);
    let unattributed = lifecycle_event::Entity::find()
        .filter(lifecycle_event::Column::Reactivation.eq(true))
        .filter(lifecycle_event::Column::WinBackEmailId.is_null())
        .filter(lifecycle_event::Column::At.gte(now - window - LATE_ORDERS))
        // Only customers a win-back email went to: the rest would be looked up again
        // every hour for nothing.
        .filter(Expr::cust_with_values(
            format!(
                "EXISTS (SELECT 1 FROM emails e WHERE e.customer_id = lifecycle_events.customer_id \
                   AND e.kind = {} AND e.status = {})",
                entity::sql::nth_placeholder(backend, 1),
                entity::sql::nth_placeholder(backend, 2)
            ),
            [
                sea_orm::Value::from(EmailKind::WinBack),
                EmailStatus::Sent.into(),
            ],
        ))
        .all(db)
        .await
        .context("failed to read reactivations")?;
    for event in unattributed {
        // Events are day-level (midnight of the returning order's day): an email sent
        // later that day still came first.
        let email = email::Entity::find()
            .filter(email::Column::CustomerId.eq(event.customer_id))
            .filter(email::Column::Kind.eq(EmailKind::WinBack))
            .filter(email::Column::Status.eq(EmailStatus::Sent))
            .filter(email::Column::SentAt.lt(event.at + Duration::days(1)))
            .filter(email::Column::SentAt.gte(event.at - window))
            .order_by_desc(email::Column::SentAt)
            .one(db)
            .await
            .context("failed to find the win-back email of a reactivation")?;
        if let Some(email) = email {
            lifecycle_event::Entity::update_many()
                .filter(lifecycle_event::Column::Id.eq(event.id))
                .col_expr(
                    lifecycle_event::Column::WinBackEmailId,
                    Expr::value(email.id),
                )
                .exec(db)
                .await
                .context("failed to attribute a reactivation")?;
        }
    }
    Ok(converted)
}
