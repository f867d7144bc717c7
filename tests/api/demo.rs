//! The demo base as a tour uses it: only names reserved for examples, nothing dated after
//! the moment it was made, and the built-in win-back campaign enabled on it greets the
//! customers who just lapsed, not everyone who ever did.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use clientele::demo::{DemoOptions, generate};
use entity::{EmailKind, customer, customer_lifecycle, customer_value, email, order, value_model};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_each_database};

const CAMPAIGNS: &str = "{ campaigns(first: 50) { nodes { id kind } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateCampaignInput!) { updateCampaign(id: $id, input: $input) { id } }";
const RUN_AT: &str = "mutation($name: String!, $at: DateTime) { runJob(name: $name, at: $at) { status stats error } }";

/// Generates the demo base of `customers` with `seed`, simulated up to `end_date`.
pub(crate) async fn demo(app: &TestApp, customers: u64, seed: u64, end_date: Option<NaiveDate>) {
    generate(
        &app.db,
        DemoOptions {
            customers,
            seed,
            end_date,
            progress: false,
        },
    )
    .await
    .expect("demo data is generated");
}

/// Whether `domain` is reserved for examples and tests (RFC 2606, RFC 6761): nobody can
/// receive mail there.
fn reserved(domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    [
        "example.com",
        "example.net",
        "example.org",
        "example",
        "test",
    ]
    .iter()
    .any(|reserved| domain == *reserved || domain.ends_with(&format!(".{reserved}")))
}

#[tokio::test]
async fn demo_data_uses_only_reserved_domains_and_nothing_is_dated_after_it_ran() {
    on_each_database(|app| async move {
        demo(&app, 2_000, 3, None).await;
        let finished = Utc::now();

        let customers = customer::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(customers.len(), 2_000);
        let mut domains = BTreeSet::new();
        for c in &customers {
            if let Some(address) = &c.email {
                let (_, domain) = address.rsplit_once('@').expect("an address with a domain");
                assert!(reserved(domain), "{address} could reach a real mailbox");
                domains.insert(domain.to_owned());
            }
            // The ranges set aside for fiction, where the country has one.
            match c.phone.as_deref() {
                Some(phone) if phone.starts_with("+1") => {
                    assert!(
                        phone.len() == 12 && phone[5..9] == *"5550" && phone[9..10] == *"1",
                        "{phone}"
                    )
                }
                Some(phone) if phone.starts_with("+44") => {
                    assert!(
                        phone.starts_with("+447700900") && phone.len() == 13,
                        "{phone}"
                    )
                }
                _ => {}
            }
        }
        assert!(domains.len() >= 4, "still a varied base: {domains:?}");

        // Without --end-date: nothing after the moment `demo` ran (the API refuses future
        // orders too), though it ran today.
        let latest = latest_order(&app, "demo3-").await;
        assert!(
            latest <= finished,
            "an order at {latest}, demo finished at {finished}"
        );
        let generated_today = customers
            .iter()
            .filter(|c| {
                c.external_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("demo3-"))
            })
            .flat_map(|c| {
                [
                    Some(c.created_at),
                    c.first_order_at,
                    c.last_order_at,
                    c.consent_updated_at,
                ]
            })
            .flatten();
        for at in generated_today {
            assert!(at <= finished, "{at} is after the demo ran ({finished})");
        }
        // With --end-date: that day is the last one simulated, whole (UTC). Another seed
        // on the same database: its addresses are its own.
        let end_date = NaiveDate::from_ymd_opt(2026, 5, 31).unwrap();
        demo(&app, 500, 4, Some(end_date)).await;
        let latest = latest_order(&app, "demo4-").await;
        let end_of_day = end_date.and_hms_opt(23, 59, 59).unwrap().and_utc();
        assert!(
            latest <= end_of_day,
            "an order at {latest} after the end date"
        );
        assert!(
            latest.date_naive() > end_date - chrono::Duration::days(7),
            "orders run up to the end date: {latest}"
        );
    })
    .await;
}

/// When the latest order of the customers whose externalId starts with `prefix` was placed.
async fn latest_order(app: &TestApp, prefix: &str) -> DateTime<Utc> {
    let ids: Vec<i64> = customer::Entity::find()
        .filter(customer::Column::ExternalId.starts_with(prefix))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    order::Entity::find()
        .filter(order::Column::CustomerId.is_in(ids))
        .order_by_desc(order::Column::OrderedAt)
        .one(&app.db)
        .await
        .unwrap()
        .expect("orders")
        .ordered_at
}

/// Runs `job` through the API as at `at`.
async fn run_job(app: &TestApp, job: &str, at: &str) -> Value {
    let run = app.admin_ok(RUN_AT, json!({ "name": job, "at": at })).await["runJob"].clone();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    run["stats"].clone()
}

/// The customers the win-back campaign has queued an email for.
async fn greeted(app: &TestApp) -> BTreeSet<i64> {
    email::Entity::find()
        .filter(email::Column::Kind.eq(EmailKind::WinBack))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.customer_id)
        .collect()
}

/// Days since 1970 of a moment's UTC date.
fn day(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// The day each lapsed (SILENT or CHURNED) customer lapsed, worked out here from their
/// orders, their scores and the model of the value-scores run with the default
/// thresholds — not by the lifecycle code: the day-based limit passed (the day after
/// max(90, 3 × usual gap) quiet days; 365 days for CHURNED) or, when the scores put
/// P(alive) below the stage's threshold (0.5; 0.1), the first day it was below, by the
/// closed form of BG/NBD's P(alive), whichever came first; never before the customer was
/// known nor after asOf.
async fn lapse_days(app: &TestApp, as_of: i64) -> BTreeMap<i64, i64> {
    let model = value_model::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .expect("a value model");
    let (r, alpha, a, b) = (
        model.bgnbd_r.expect("BG/NBD fitted"),
        model.bgnbd_alpha.unwrap(),
        model.bgnbd_a.unwrap(),
        model.bgnbd_b.unwrap(),
    );
    let scores: BTreeMap<i64, customer_value::Model> = customer_value::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.customer_id, v))
        .collect();
    let stages: BTreeMap<i64, entity::LifecycleStage> = customer_lifecycle::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.customer_id, l.stage))
        .collect();
    let mut lapses = BTreeMap::new();
    for c in customer::Entity::find().all(&app.db).await.unwrap() {
        let (threshold, by_days) = match stages.get(&c.id) {
            Some(entity::LifecycleStage::Silent) => {
                let limit = c.median_gap_days.map_or(90.0, |gap| (3.0 * gap).max(90.0));
                (
                    0.5,
                    day(c.last_order_at.unwrap()) + limit.floor() as i64 + 1,
                )
            }
            Some(entity::LifecycleStage::Churned) => (0.1, day(c.last_order_at.unwrap()) + 365),
            _ => continue,
        };
        let (first, last) = (
            day(c.first_order_at.unwrap()),
            day(c.last_order_at.unwrap()),
        );
        let score = &scores[&c.id];
        // P(alive) < θ ⇔ a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) > (1−θ)/θ, solved for T (weeks).
        let by_model = score.p_alive.filter(|p| *p < threshold).map(|_| {
            let x = score.repeat_purchases as f64;
            let log_ratio = ((1.0 - threshold) / threshold).ln() - (a / (b + x - 1.0)).ln();
            let weeks = (alpha + score.t_x_weeks) * (log_ratio / (r + x)).exp() - alpha;
            (first + (weeks * 7.0).floor() as i64 + 1).max(last + 1)
        });
        let lapsed = by_model.map_or(by_days, |d| d.min(by_days));
        let known = day(c.created_at).min(first);
        lapses.insert(c.id, lapsed.max(known).min(as_of));
    }
    lapses
}

#[tokio::test]
async fn win_back_on_a_demo_base_greets_only_customers_who_lapsed_within_the_lookback() {
    on_each_database(|app| async move {
        // The case: a 10,000-customer demo base, scored and classified for the
        // first time, then the built-in win-back campaign enabled.
        let started = Instant::now();
        let end = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        demo(&app, 10_000, 21, Some(end)).await;
        let generated = started.elapsed();
        let now = "2026-06-30T12:00:00Z";
        run_job(&app, "value-scores", now).await;
        let lifecycle = run_job(&app, "lifecycle", now).await;
        let as_of = day(end.and_hms_opt(0, 0, 0).unwrap().and_utc());
        let lapses = lapse_days(&app, as_of).await;
        let within = |days: i64| -> BTreeSet<i64> {
            lapses
                .iter()
                .filter(|(_, d)| **d >= as_of - days)
                .map(|(id, _)| *id)
                .collect()
        };

        let campaigns = app.admin_ok(CAMPAIGNS, json!({})).await;
        let win_back = campaigns["campaigns"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "WIN_BACK")
            .expect("a built-in win-back campaign")["id"]
            .clone();
        app.admin_ok(
            UPDATE,
            json!({ "id": win_back, "input": { "enabled": true } }),
        )
        .await;
        run_job(&app, "campaigns", now).await;
        let week = greeted(&app).await;
        let long_gone = customer::Entity::find()
            .filter(customer::Column::Id.is_in(week.iter().copied()))
            .filter(
                customer::Column::LastOrderAt
                    .lt(end.and_hms_opt(0, 0, 0).unwrap().and_utc()
                        - chrono::Duration::days(180 + 7)),
            )
            .all(&app.db)
            .await
            .unwrap()
            .len();
        eprintln!(
            "{} lapsed of 10,000 ({lifecycle}); greeted with the default 7-day lookback: {}, \
             of whom {long_gone} last ordered over 187 days ago; demo {:.1} s, all {:.1} s",
            lapses.len(),
            week.len(),
            generated.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        assert_eq!(
            week,
            within(7),
            "the default lookback: lapses of the last 7 days"
        );
        assert!(
            !week.is_empty() && week.len() * 10 < lapses.len(),
            "{} of {}",
            week.len(),
            lapses.len()
        );

        // A year's lookback reaches every lapse of the year, each greeted once.
        app.admin_ok(
            UPDATE,
            json!({ "id": win_back, "input": { "settings": { "lookbackDays": 365 } } }),
        )
        .await;
        run_job(&app, "campaigns", "2026-06-30T13:00:00Z").await;
        let year = greeted(&app).await;
        assert_eq!(year, within(365));
        assert!(
            year.len() > week.len() * 3 && year.len() < lapses.len(),
            "{} of {}",
            year.len(),
            lapses.len()
        );
        let emails = email::Entity::find()
            .filter(email::Column::Kind.eq(EmailKind::WinBack))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(emails.len(), year.len(), "one email per customer");
    })
    .await;
}

/// Tables whose planner statistics were refreshed by clientele itself (`ANALYZE`, not
/// autovacuum): PostgreSQL's `last_analyze`, SQLite's `sqlite_stat1`.
async fn analyzed_tables(app: &TestApp) -> BTreeSet<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT relname AS name FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        }
        _ => "SELECT DISTINCT tbl AS name FROM sqlite_stat1",
    };
    app.db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap_or_default()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

#[tokio::test]
async fn bulk_writes_leave_fresh_planner_statistics_behind() {
    on_each_database(|app| async move {
        let end = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
        demo(&app, 10_000, 5, Some(end)).await;
        let analyzed = analyzed_tables(&app).await;
        for table in ["customers", "orders", "customer_interests"] {
            assert!(
                analyzed.contains(table),
                "{table} analyzed after demo: {analyzed:?}"
            );
        }
        run_job(&app, "value-scores", "2026-06-30T12:00:00Z").await;
        run_job(&app, "lifecycle", "2026-06-30T12:00:00Z").await;
        let analyzed = analyzed_tables(&app).await;
        for table in ["customer_values", "customer_lifecycle", "lifecycle_events"] {
            assert!(
                analyzed.contains(table),
                "{table} analyzed after its job: {analyzed:?}"
            );
        }
    })
    .await;
}

/// The programme runs through the demo's history as the order path would have run it:
/// every order earns its points once, every referred customer's first order earns the
/// referrer the bonus once, lots older than the expiry are written consumed with their
/// EXPIRE entry, and each balance is the sum of the member's ledger. All recomputed here
/// from the orders and customers, with the default programme (nothing saved): 1 point
/// per whole currency unit, a 200-point referral bonus.
#[tokio::test]
async fn the_demo_base_runs_the_programme_through_its_history() {
    use entity::{LedgerKind, loyalty_account, loyalty_entry};
    on_each_database(|app| async move {
        // Two batches: referrers come from earlier batches.
        demo(&app, 3_000, 9, NaiveDate::from_ymd_opt(2026, 6, 30)).await;
        let customers = customer::Entity::find().all(&app.db).await.unwrap();
        let orders = order::Entity::find().all(&app.db).await.unwrap();
        let ledger = loyalty_entry::Entity::find().all(&app.db).await.unwrap();

        // Earned: one lot per order worth a whole point, its points and its time.
        let earned: BTreeMap<i64, &loyalty_entry::Model> = ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Earn)
            .map(|e| (e.order_id.expect("an EARN names its order"), e))
            .collect();
        let worth: Vec<(&order::Model, i64)> = orders
            .iter()
            .map(|o| (o, o.amount.0 / 10_000))
            .filter(|(_, points)| *points > 0)
            .collect();
        assert_eq!(
            earned.len(),
            worth.len(),
            "one EARN per order worth a point"
        );
        assert_eq!(
            ledger.iter().filter(|e| e.kind == LedgerKind::Earn).count(),
            worth.len()
        );
        for (o, points) in &worth {
            let lot = earned.get(&o.id).expect("every order earned");
            assert_eq!(
                (lot.customer_id, lot.points, lot.occurred_at),
                (o.customer_id, *points, o.ordered_at),
                "order {}",
                o.id
            );
            assert!(lot.remaining == 0 || lot.remaining == lot.points, "{lot:?}");
        }

        // Referral bonuses: one per referred customer who ordered, on the referrer.
        let bonuses: BTreeMap<String, &loyalty_entry::Model> = ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Bonus)
            .map(|e| (e.cause_key.clone().expect("a bonus has its cause"), e))
            .collect();
        let referred: Vec<&customer::Model> = customers
            .iter()
            .filter(|c| c.referred_by.is_some() && c.first_order_at.is_some())
            .collect();
        assert!(
            referred.len() > 50,
            "the base has referrals: {}",
            referred.len()
        );
        assert_eq!(bonuses.len(), referred.len(), "one bonus per referral");
        for c in referred {
            let bonus = bonuses
                .get(&format!("referral:{}", c.id))
                .unwrap_or_else(|| panic!("no bonus for referred customer {}", c.id));
            assert_eq!(
                (
                    Some(bonus.customer_id),
                    bonus.points,
                    Some(bonus.occurred_at)
                ),
                (c.referred_by, 200, c.first_order_at)
            );
        }

        // Expiry: the consumed lots are the oldest, and each member's EXPIRE entries
        // take exactly what their consumed lots held.
        let (spent, open): (Vec<&loyalty_entry::Model>, Vec<_>) =
            earned.values().copied().partition(|e| e.remaining == 0);
        assert!(
            !spent.is_empty() && !open.is_empty(),
            "old lots expired, new ones open"
        );
        let newest_spent = spent.iter().map(|e| e.occurred_at).max().unwrap();
        let oldest_open = open.iter().map(|e| e.occurred_at).min().unwrap();
        assert!(
            newest_spent < oldest_open,
            "{newest_spent} vs {oldest_open}"
        );
        let mut expired: BTreeMap<i64, i64> = BTreeMap::new();
        for lot in &spent {
            *expired.entry(lot.customer_id).or_default() += lot.points;
        }
        let mut expire_entries: BTreeMap<i64, i64> = BTreeMap::new();
        for e in ledger.iter().filter(|e| e.kind == LedgerKind::Expire) {
            *expire_entries.entry(e.customer_id).or_default() -= e.points;
        }
        assert_eq!(expire_entries, expired);

        // Balances: the sum of each member's ledger, an account for every member.
        let mut sums: BTreeMap<i64, i64> = BTreeMap::new();
        for e in &ledger {
            *sums.entry(e.customer_id).or_default() += e.points;
        }
        let balances: BTreeMap<i64, i64> = loyalty_account::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.customer_id, a.balance))
            .collect();
        assert_eq!(balances, sums);
    })
    .await;
}
