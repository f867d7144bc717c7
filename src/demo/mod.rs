//! `clientele demo`: a realistic synthetic customer base.
//!
//! Purchases follow a buy-till-you-die process, the process the value models of later
//! issues assume: each customer buys at their own Poisson rate λ ~ Gamma(0.8, 1/12 per
//! day) while alive, and after each purchase drops out with their own probability
//! p ~ Beta(1.1, 12); both vary across customers. Order amounts are Gamma-Gamma: a
//! customer's mean spend varies across customers and each order scatters around it.
//! Everything comes from one seeded ChaCha generator per batch of customers, so a seed
//! (and an end date) gives the same data every time.
//!
//! Customers answer NPS and CSAT surveys while they buy (up to two months after their
//! last order), through a channel that suits their country, with tags from a survey form
//! or a comment in their language; detractors write about delivery and returns more
//! often than promoters, and customers who stopped buying answered worse. What an answer
//! says besides its score comes from a second stream of the batch's generator, so
//! adding it left the customers and orders of a seed as they were.
//!
//! The membership programme in force (the defaults unless one was saved) runs through
//! the history as it would have: every order earns its points in the batch that writes
//! it, through the order path's own statement (`jobs::loyalty::earn_orders_of`), lots
//! older than the expiry written consumed — and each referred customer's first order
//! earns the referrer the referral bonus, dated at that order (through
//! `jobs::referrals::reward_first_orders`, as the order path does; bonuses older than the
//! expiry are left to the first `loyalty` run to expire, as a shop's daily run would
//! have). The first `loyalty` run then gives tiers.

/// Names, places and labels.
mod vocabulary;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Timelike, Utc};
use entity::{FeedbackKind, InteractionChannel, TopicSource, customer};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng, distr::weighted::WeightedIndex, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionTrait, Value,
    sea_query::{Expr, Query},
};

use vocabulary::*;

/// Customers generated and written per transaction.
const CUSTOMERS_PER_BATCH: u64 = 2_000;
/// Rows per INSERT: below SQLite's 32,766 bound parameters for every table here.
const ROWS_PER_INSERT: usize = 1_000;
/// How far back the simulated history starts.
const HISTORY_DAYS: u64 = 3 * 365;
/// Share of customers who never order (prospects).
const PROSPECT_SHARE: f64 = 0.12;
/// The store's currency: totals are only meaningful in one currency.
const CURRENCY: &str = "USD";
/// Customers answer surveys up to this many days after their last order.
const ANSWER_DAYS_AFTER_LAST_ORDER: i64 = 60;
/// A customer whose last order is older than this at the end is lapsing: their answers
/// lean to detractors.
const LAPSING_AFTER_DAYS: i64 = 180;
/// Share of answers from a survey form with tags; the others are free text, whose
/// comment's terms become their topics (as `recordFeedback` does).
const TAGGED_SHARE: f64 = 0.6;
/// The chance of a comment on a tagged answer and on a free-text one.
const COMMENT_SHARE: [f64; 2] = [0.25, 0.5];

pub struct DemoOptions {
    pub customers: u64,
    pub seed: u64,
    /// Last simulated day, inclusive (to 23:59:59 UTC); today when `None`. Nothing is
    /// ever dated after the moment `demo` runs.
    pub end_date: Option<NaiveDate>,
    pub progress: bool,
}

/// The last moment the base may hold: the end of `end_date` (UTC), but never after `now`,
/// in whole seconds. The API refuses orders from the future, and so does the demo.
pub fn simulated_until(end_date: Option<NaiveDate>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = now.with_nanosecond(0).unwrap_or(now);
    let end_of_day = end_date
        .and_then(|day| day.and_hms_opt(23, 59, 59))
        .map(|end| Utc.from_utc_datetime(&end));
    end_of_day.map_or(now, |end| end.min(now))
}

/// What was written, and how fast.
pub struct DemoReport {
    pub customers: u64,
    pub orders: u64,
    pub interactions: u64,
    pub feedback: u64,
    /// Tags and extracted terms of the answers.
    pub feedback_topics: u64,
    pub elapsed: Duration,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        write!(
            f,
            "demo data: {} customers, {} orders, {} interactions, {} feedback ({} topics) in {:.1} s ({:.0} orders/s)",
            self.customers,
            self.orders,
            self.interactions,
            self.feedback,
            self.feedback_topics,
            seconds,
            self.orders as f64 / seconds.max(1e-9)
        )
    }
}

/// One simulated customer with everything they did.
struct Simulated {
    row: customer::Model,
    interests: Vec<&'static str>,
    orders: Vec<(DateTime<Utc>, i64, &'static str, i32)>,
    interactions: Vec<(
        entity::InteractionChannel,
        entity::Direction,
        &'static str,
        DateTime<Utc>,
    )>,
    /// At most one NPS and one CSAT answer (writing the batch relies on it).
    feedback: Vec<SimulatedAnswer>,
    referred: bool,
}

/// One survey answer of a simulated customer.
struct SimulatedAnswer {
    kind: FeedbackKind,
    score: i32,
    at: DateTime<Utc>,
    channel: Option<InteractionChannel>,
    comment: Option<&'static str>,
    /// Tags as a survey form sends them; without tags the comment's terms are the topics.
    tags: Vec<&'static str>,
}

/// The extracted terms of every comment the demo writes, computed once: a handful of
/// texts, so the per-answer cost of `recordFeedback`'s extraction is a lookup here.
type CommentTerms = HashMap<&'static str, Vec<String>>;

async fn comment_terms() -> anyhow::Result<CommentTerms> {
    tokio::task::spawn_blocking(|| {
        FEEDBACK_TOPICS
            .iter()
            .flat_map(|topic| topic.chinese.iter().chain(topic.english.iter()))
            .flat_map(|texts| texts.iter())
            .map(|comment| {
                (
                    *comment,
                    jobs::feedback::terms::extract_terms(
                        comment,
                        jobs::domain::TopicTag::MAX_CHARS,
                    ),
                )
            })
            .collect()
    })
    .await
    .context("the keyword extraction of the demo's comments failed")
}

/// Generates and writes the demo base. Refuses to run twice with one seed on one
/// database (externalIds and emails would collide): use another seed to add more.
pub async fn generate(db: &DatabaseConnection, options: DemoOptions) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let prefix = format!("demo{}-", options.seed);
    let already = entity::customer_external_id::Entity::find()
        .filter(entity::customer_external_id::Column::ExternalId.starts_with(&prefix))
        .count(db)
        .await
        .context("failed to check for earlier demo data")?;
    anyhow::ensure!(
        already == 0,
        "this database already holds demo data for seed {}; pass another --seed",
        options.seed
    );

    let end_at = simulated_until(options.end_date, Utc::now());
    let progress = if options.progress {
        ProgressBar::new(options.customers)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {wide_bar} {pos}/{len} customers ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let terms = comment_terms().await?;
    let programme = jobs::loyalty::programme(db).await?;
    let mut report = DemoReport {
        customers: 0,
        orders: 0,
        interactions: 0,
        feedback: 0,
        feedback_topics: 0,
        elapsed: Duration::ZERO,
    };
    let mut earlier_ids: Vec<i64> = Vec::new();
    let mut batch_start = 0;
    while batch_start < options.customers {
        let batch_end = (batch_start + CUSTOMERS_PER_BATCH).min(options.customers);
        let batch_seed = options.seed ^ batch_start.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = ChaCha8Rng::seed_from_u64(batch_seed);
        let mut voice = ChaCha8Rng::seed_from_u64(batch_seed);
        voice.set_stream(1);
        let simulated: Vec<Simulated> = (batch_start..batch_end)
            .map(|n| simulate(&mut rng, &mut voice, &prefix, n, end_at))
            .collect();
        let written = write_batch(
            db,
            &mut rng,
            simulated,
            &earlier_ids,
            &terms,
            &programme,
            end_at,
        )
        .await?;
        report.customers += written.ids.len() as u64;
        report.orders += written.orders;
        report.interactions += written.interactions;
        report.feedback += written.feedback;
        report.feedback_topics += written.feedback_topics;
        earlier_ids.extend(written.ids);
        if batch_start == 0 {
            // Each batch earns its orders' points with statements over `orders` and the
            // ledger for a list of customers; without statistics PostgreSQL reckons such
            // a list matches most rows and scans the whole table, batch after batch (at
            // 750,000 customers a parallel scan of 8.5M ledger rows per batch, and the
            // rate fell from 1,000 to 450 customers a second). The first batch's
            // statistics are enough: the planner scales them with the tables' size. (The
            // orders were analyzed in the batch, before it earned.)
            jobs::bulk::analyze(db, &["loyalty_ledger", "loyalty_accounts"])
                .await
                .context("failed to analyze the first demo batch")?;
        }
        progress.set_position(batch_end);
        batch_start = batch_end;
    }
    progress.finish_and_clear();
    // Whatever the size: a demo base is queried at once, before any autovacuum.
    jobs::bulk::analyze(
        db,
        &[
            "customers",
            "customer_emails",
            "customer_external_ids",
            "order_external_ids",
            "orders",
            "customer_interests",
            "interactions",
            "feedback",
            "feedback_topics",
            "loyalty_ledger",
            "loyalty_accounts",
        ],
    )
    .await
    .context("failed to analyze the demo tables")?;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    match WeightedIndex::new(items.iter().map(|(_, w)| *w)) {
        Ok(index) => &items[index.sample(rng)].0,
        Err(_) => &items[0].0,
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    *items.choose(rng).unwrap_or(&items[0])
}

fn simulate(
    rng: &mut ChaCha8Rng,
    voice: &mut ChaCha8Rng,
    prefix: &str,
    n: u64,
    end_at: DateTime<Utc>,
) -> Simulated {
    let place_weights: Vec<u32> = PLACES.iter().map(|p| p.weight).collect();
    let place = match WeightedIndex::new(&place_weights) {
        Ok(index) => &PLACES[index.sample(rng)],
        Err(_) => &PLACES[0],
    };
    let gender_roll: f64 = rng.random();
    let gender = match gender_roll {
        g if g < 0.49 => entity::Gender::Female,
        g if g < 0.96 => entity::Gender::Male,
        g if g < 0.97 => entity::Gender::Other,
        _ => entity::Gender::Unknown,
    };
    let female = gender == entity::Gender::Female
        || (gender != entity::Gender::Male && rng.random_bool(0.5));
    let (name, email_local) = if place.chinese_names {
        let (surname, surname_latin) = pick(rng, CHINESE_SURNAMES);
        let (given, given_latin) = pick(
            rng,
            if female {
                CHINESE_GIVEN_FEMALE
            } else {
                CHINESE_GIVEN_MALE
            },
        );
        (
            format!("{surname}{given}"),
            format!("{given_latin}.{surname_latin}"),
        )
    } else {
        let given = pick(
            rng,
            if female {
                ENGLISH_GIVEN_FEMALE
            } else {
                ENGLISH_GIVEN_MALE
            },
        );
        let surname = pick(rng, ENGLISH_SURNAMES);
        (
            format!("{given} {surname}"),
            format!("{}.{}", given.to_lowercase(), surname.to_lowercase()),
        )
    };
    // Only names reserved for examples (RFC 2606 `.example`): with SMTP_URL set, a tour
    // of the demo must not email strangers. The seed in the domain keeps the addresses
    // of bases made with different seeds apart.
    let seed_label = prefix.trim_end_matches('-');
    let domain = if place.country == "CN" {
        format!("{}.{seed_label}.example", pick(rng, &["qq", "163", "mail"]))
    } else {
        format!("{seed_label}.example")
    };
    let email = rng
        .random_bool(0.9)
        .then(|| format!("{email_local}.{n}@{domain}"));
    let phone = rng.random_bool(0.8).then(|| match place.country {
        "CN" => format!(
            "+861{}{:09}",
            rng.random_range(3..=9),
            rng.random_range(0..1_000_000_000_u64)
        ),
        // The ranges set aside for fiction where there is one: 555-0100 to 555-0199 in
        // every North American area code, 07700 900000 to 900999 in the UK (Ofcom).
        // Drawn as before and folded into them, so a seed still gives the same base.
        "US" | "CA" => format!(
            "+1{}5550{}",
            rng.random_range(201..=989),
            100 + rng.random_range(0..10_000_000_u64) % 100
        ),
        "GB" => format!(
            "+447700900{:03}",
            rng.random_range(0..1_000_000_000_u64) % 1_000
        ),
        _ => format!("+65{:08}", rng.random_range(80_000_000..99_999_999_u64)),
    });
    let age_days = rng.random_range(18 * 365..75 * 365);
    let birth_date = end_at.date_naive().checked_sub_days(Days::new(age_days));
    let acquired_days_ago = rng.random_range(0..HISTORY_DAYS);
    let acquired_at = end_at
        - chrono::Duration::days(acquired_days_ago as i64)
        - chrono::Duration::seconds(rng.random_range(0..86_400));
    let acquisition_channel = *weighted(rng, ACQUISITION_CHANNELS);
    let interest_count = rng.random_range(0..=4);
    let mut interests: Vec<&'static str> = INTERESTS
        .choose_multiple(rng, interest_count)
        .copied()
        .collect();
    interests.sort_unstable();

    let orders = simulate_orders(rng, acquired_at, end_at);
    // The aggregates the customer row keeps, by the formula `recordOrders` keeps them
    // with; amounts of at most $20,000 cannot reach the most a customer may total.
    let amounts: Vec<(DateTime<Utc>, entity::Money)> =
        orders.iter().map(|o| (o.0, entity::Money(o.1))).collect();
    let aggregates =
        jobs::orders::OrderAggregates::of(&amounts).unwrap_or(jobs::orders::OrderAggregates::NONE);
    let interactions = (0..rng.random_range(0..=2))
        .map(|_| {
            let at = between(rng, acquired_at, end_at);
            let channel = pick(
                rng,
                &[
                    entity::InteractionChannel::Phone,
                    entity::InteractionChannel::Email,
                    entity::InteractionChannel::Wechat,
                    entity::InteractionChannel::Visit,
                    entity::InteractionChannel::Web,
                    entity::InteractionChannel::Sms,
                ],
            );
            let direction = if rng.random_bool(0.6) {
                entity::Direction::Inbound
            } else {
                entity::Direction::Outbound
            };
            (channel, direction, pick(rng, INTERACTION_SUBJECTS), at)
        })
        .collect();
    // Answers come while the customer buys, up to two months after the last order; the
    // draws from `rng` are as many as before the voice existed (the customers after this
    // one stay the same), only their bounds and thresholds moved.
    let last_order = orders.last().map(|order| order.0);
    let answer_until = last_order.map_or(end_at, |last| {
        (last + chrono::Duration::days(ANSWER_DAYS_AFTER_LAST_ORDER)).min(end_at)
    });
    let lapsing =
        last_order.is_some_and(|last| end_at - last > chrono::Duration::days(LAPSING_AFTER_DAYS));
    let chinese = place.locale.starts_with("zh");
    let mut feedback = Vec::new();
    if !orders.is_empty() && rng.random_bool(0.3) {
        // Promoters outnumber detractors, as in most retail NPS surveys, except among
        // customers who stopped buying.
        let (promoters, passives) = if lapsing { (0.33, 0.64) } else { (0.50, 0.85) };
        let nps = match rng.random::<f64>() {
            r if r < promoters => rng.random_range(9..=10),
            r if r < passives => rng.random_range(7..=8),
            _ => rng.random_range(0..=6),
        };
        let at = between(rng, acquired_at, answer_until);
        let category = match nps {
            0..=6 => 0,
            7..=8 => 1,
            _ => 2,
        };
        feedback.push(answer(voice, FeedbackKind::Nps, nps, at, category, chinese));
    }
    if !orders.is_empty() && rng.random_bool(0.2) {
        let csat = rng.random_range(1..=5).max(rng.random_range(2..=5));
        let at = between(rng, acquired_at, answer_until);
        let category = match csat {
            1..=2 => 0,
            3 => 1,
            _ => 2,
        };
        feedback.push(answer(
            voice,
            FeedbackKind::Csat,
            csat,
            at,
            category,
            chinese,
        ));
    }
    let consent = rng.random_bool(0.7);
    let row = customer::Model {
        id: 0,
        external_id: Some(format!("{prefix}{n}")),
        name: Some(name),
        email,
        phone,
        gender,
        birth_date,
        country: Some(place.country.into()),
        region: Some(place.region.into()),
        city: Some(pick(rng, place.cities).into()),
        income_band: Some((*weighted(rng, INCOME_BANDS)).into()),
        occupation: Some(pick(rng, OCCUPATIONS).into()),
        lifestyle: Some(pick(rng, LIFESTYLES).into()),
        needs: Some(pick(rng, NEEDS).into()),
        acquisition_channel: Some(acquisition_channel.into()),
        referred_by: None,
        referral_code: Some(entity::codes::code_from(
            rng,
            entity::codes::REFERRAL_CODE_LENGTH,
        )),
        locale: place.locale.into(),
        time_zone: place.time_zone.into(),
        marketing_consent: consent,
        consent_updated_at: consent.then_some(acquired_at),
        unsubscribed_at: None,
        erased_at: None,
        created_at: acquired_at,
        updated_at: acquired_at,
        order_count: 0,
        total_spent: entity::Money::ZERO,
        first_order_at: None,
        last_order_at: None,
        purchase_days: 0,
        first_day_total: entity::Money::ZERO,
        median_gap_days: None,
        search_text: None,
    };
    let mut row = row;
    aggregates.apply_to(&mut row);
    row.refresh_search_text();
    Simulated {
        row,
        interests,
        orders,
        interactions,
        feedback,
        referred: acquisition_channel == "referral",
    }
}

/// An answer with what it says besides its score, drawn from the voice stream:
/// `category` is 0 for a detractor (CSAT 1–2), 1 for a passive (3), 2 for a promoter
/// (4–5); `chinese` for a customer with a Chinese locale, who mostly writes in Chinese.
fn answer(
    voice: &mut ChaCha8Rng,
    kind: FeedbackKind,
    score: i32,
    at: DateTime<Utc>,
    category: usize,
    chinese: bool,
) -> SimulatedAnswer {
    let channels = if chinese {
        FEEDBACK_CHANNELS_CHINESE
    } else {
        FEEDBACK_CHANNELS_OTHER
    };
    let channel = *weighted(voice, channels);
    let mentioned: Vec<&FeedbackTopic> = FEEDBACK_TOPICS
        .iter()
        .filter(|topic| voice.random_bool(topic.rates[category]))
        .collect();
    let tagged = voice.random_bool(TAGGED_SHARE);
    let comment = voice
        .random_bool(COMMENT_SHARE[usize::from(!tagged)])
        .then(|| {
            // About what the answer mentions, else a topic as likely as mentions are.
            let topic = mentioned.first().copied().unwrap_or_else(|| {
                WeightedIndex::new(FEEDBACK_TOPICS.iter().map(|t| t.rates[category]))
                    .map_or(&FEEDBACK_TOPICS[0], |index| {
                        &FEEDBACK_TOPICS[index.sample(voice)]
                    })
            });
            let praise = match category {
                0 => false,
                2 => true,
                _ => voice.random_bool(0.5),
            };
            let texts = if chinese && voice.random_bool(0.9) {
                topic.chinese
            } else {
                topic.english
            };
            pick(voice, texts[usize::from(praise)])
        });
    let tags = if tagged {
        mentioned.iter().map(|topic| topic.tag).collect()
    } else {
        Vec::new()
    };
    SimulatedAnswer {
        kind,
        score,
        at,
        channel,
        comment,
        tags,
    }
}

fn between(rng: &mut ChaCha8Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds().max(1);
    from + chrono::Duration::seconds(rng.random_range(0..span))
}

/// Buy till you die: purchases at the customer's own rate until they drop out.
fn simulate_orders(
    rng: &mut ChaCha8Rng,
    acquired_at: DateTime<Utc>,
    end_at: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, i64, &'static str, i32)> {
    if rng.random_bool(PROSPECT_SHARE) {
        return Vec::new();
    }
    let rate_per_day = Gamma::new(0.8, 1.0 / 12.0)
        .map(|g| g.sample(rng))
        .unwrap_or(0.02_f64)
        .max(1e-4);
    let dropout = Beta::new(1.1, 12.0).map(|b| b.sample(rng)).unwrap_or(0.1);
    // Gamma-Gamma spend: ν ~ Gamma(q = 4, rate γ = 40), order value ~ Gamma(p = 6, rate ν),
    // a mean order of about $60 with a long right tail.
    let nu = Gamma::new(4.0, 1.0 / 40.0)
        .map(|g| g.sample(rng))
        .unwrap_or(0.1_f64)
        .max(0.01);
    let spend = Gamma::new(6.0, 1.0 / nu).ok();
    let gap = Exp::new(rate_per_day).ok();
    let mut orders = Vec::new();
    let mut at = acquired_at;
    loop {
        let dollars: f64 = spend
            .map(|s| s.sample(rng))
            .unwrap_or(60.0_f64)
            .clamp(1.0, 20_000.0);
        let cents = (dollars * 100.0).round() as i64;
        let channel = *weighted(rng, ORDER_CHANNELS);
        orders.push((at, cents * 100, channel, rng.random_range(1..=4)));
        if orders.len() >= 400 || rng.random_bool(dropout) {
            break;
        }
        let days = gap.map(|g| g.sample(rng)).unwrap_or(30.0);
        at += chrono::Duration::seconds((days * 86_400.0) as i64 + 3_600);
        if at > end_at {
            break;
        }
    }
    orders
}

struct Written {
    ids: Vec<i64>,
    orders: u64,
    interactions: u64,
    feedback: u64,
    feedback_topics: u64,
}

/// Writes one batch in one transaction with multi-row INSERTs.
async fn write_batch(
    db: &DatabaseConnection,
    rng: &mut ChaCha8Rng,
    simulated: Vec<Simulated>,
    earlier_ids: &[i64],
    terms: &CommentTerms,
    programme: &jobs::loyalty::Programme,
    end_at: DateTime<Utc>,
) -> anyhow::Result<Written> {
    let txn = db.begin().await.context("failed to begin a demo batch")?;
    let mut ids = Vec::with_capacity(simulated.len());
    // Each referred customer's referrer, in the order of `simulated`.
    let mut referrers: Vec<Option<i64>> = Vec::with_capacity(simulated.len());
    for chunk in simulated.chunks(ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert
            .into_table(customer::Entity)
            .columns(CUSTOMER_COLUMNS);
        for sim in chunk {
            let referred_by = if sim.referred && !earlier_ids.is_empty() {
                Some(earlier_ids[rng.random_range(0..earlier_ids.len())])
            } else {
                None
            };
            referrers.push(referred_by);
            insert
                .values(customer_values(&sim.row, referred_by))
                .context("demo customer row")?;
        }
        // RETURNING the externalId with the id: the order of RETURNING rows is not
        // promised by either database, the pairing is.
        insert.returning(
            Query::returning().columns([customer::Column::Id, customer::Column::ExternalId]),
        );
        let rows = txn
            .query_all(&insert)
            .await
            .context("failed to insert demo customers")?;
        let mut by_external_id = HashMap::with_capacity(rows.len());
        for row in rows {
            let id = row
                .try_get::<i64>("", "id")
                .context("inserted customer without id")?;
            let external_id = row
                .try_get::<String>("", "external_id")
                .context("inserted customer without externalId")?;
            by_external_id.insert(external_id, id);
        }
        for sim in chunk {
            let external_id = sim.row.external_id.as_deref().unwrap_or_default();
            ids.push(
                *by_external_id
                    .get(external_id)
                    .with_context(|| format!("no id returned for {external_id}"))?,
            );
        }
    }

    let mut orders: Vec<Vec<Value>> = Vec::new();
    // The lookups every customer write keeps (`jobs::customers::keys`, migration 14).
    let mut email_keys: Vec<Vec<Value>> = Vec::new();
    let mut referral_keys: Vec<Vec<Value>> = Vec::new();
    let mut external_id_keys: Vec<Vec<Value>> = Vec::new();
    let mut order_keys: Vec<Vec<Value>> = Vec::new();
    let mut interests = Vec::new();
    let mut interactions = Vec::new();
    for (sim, id) in simulated.iter().zip(&ids) {
        let external = sim.row.external_id.as_deref().unwrap_or_default();
        external_id_keys.push(vec![external.into(), (*id).into()]);
        if let Some(email) = &sim.row.email {
            email_keys.push(vec![email.as_str().into(), (*id).into()]);
        }
        if let Some(code) = &sim.row.referral_code {
            referral_keys.push(vec![code.as_str().into(), (*id).into()]);
        }
        for (k, (at, amount, channel, items)) in sim.orders.iter().enumerate() {
            order_keys.push(vec![format!("{external}-o{k}").into(), (*id).into()]);
            orders.push(vec![
                format!("{external}-o{k}").into(),
                (*id).into(),
                (*amount).into(),
                CURRENCY.into(),
                (*at).into(),
                (*channel).into(),
                (*items).into(),
                (*at).into(),
            ]);
        }
        for tag in &sim.interests {
            interests.push(vec![(*id).into(), (*tag).into()]);
        }
        for (channel, direction, subject, at) in &sim.interactions {
            interactions.push(vec![
                (*id).into(),
                ActiveEnum::to_value(channel).into(),
                ActiveEnum::to_value(direction).into(),
                (*subject).into(),
                (*at).into(),
                (*at).into(),
            ]);
        }
    }
    let order_count = orders.len() as u64;
    let interaction_count = interactions.len() as u64;
    use jobs::bulk::{Column, Kind::*, insert};
    const ORDERS: [Column; 8] = [
        Column::new("external_id", Text),
        Column::new("customer_id", BigInt),
        Column::new("amount", BigInt),
        Column::new("currency", Text),
        Column::new("ordered_at", TimestampTz),
        Column::new("channel", Text),
        Column::new("item_count", Int),
        Column::new("created_at", TimestampTz),
    ];
    const INTERESTS: [Column; 2] = [Column::new("customer_id", BigInt), Column::new("tag", Text)];
    const EMAIL_KEYS: [Column; 2] = [
        Column::new("email", Text),
        Column::new("customer_id", BigInt),
    ];
    const REFERRAL_KEYS: [Column; 2] = [
        Column::new("code", Text),
        Column::new("customer_id", BigInt),
    ];
    const EXTERNAL_ID_KEYS: [Column; 2] = [
        Column::new("external_id", Text),
        Column::new("customer_id", BigInt),
    ];
    const INTERACTIONS: [Column; 6] = [
        Column::new("customer_id", BigInt),
        Column::new("channel", Text),
        Column::new("direction", Text),
        Column::new("subject", Text),
        Column::new("occurred_at", TimestampTz),
        Column::new("created_at", TimestampTz),
    ];
    const TOPIC_COLUMNS: [Column; 4] = [
        Column::new("customer_id", BigInt),
        Column::new("feedback_id", BigInt),
        Column::new("topic", Text),
        Column::new("source", Text),
    ];
    for (table, columns, rows) in [
        ("customer_emails", &EMAIL_KEYS[..], email_keys),
        ("referral_codes", &REFERRAL_KEYS[..], referral_keys),
        (
            "customer_external_ids",
            &EXTERNAL_ID_KEYS[..],
            external_id_keys,
        ),
        ("order_external_ids", &EXTERNAL_ID_KEYS[..], order_keys),
        ("orders", &ORDERS[..], orders),
        ("customer_interests", &INTERESTS[..], interests),
        ("interactions", &INTERACTIONS[..], interactions),
    ] {
        insert(&txn, table, columns, rows)
            .await
            .with_context(|| format!("failed to insert demo rows into {table}"))?;
    }
    let (feedback_count, topics) = insert_feedback(&txn, &simulated, &ids, terms).await?;
    let topic_count = topics.len() as u64;
    insert(&txn, "feedback_topics", &TOPIC_COLUMNS, topics)
        .await
        .context("failed to insert demo rows into feedback_topics")?;
    if earlier_ids.is_empty() {
        // The first batch earns on tables PostgreSQL has no statistics of yet: planned as
        // if they were empty, this batch's earning took 6.3 s at 100,000 customers (and
        // each later one 0.42 s, now 0.22 s). ANALYZE in the transaction sees its rows.
        jobs::bulk::analyze(&txn, &["customers", "orders"])
            .await
            .context("failed to analyze the first demo batch")?;
    }
    jobs::loyalty::earn_orders_of(&txn, programme, &ids, end_at)
        .await
        .context("failed to earn the demo orders' points")?;
    // The referrer's bonus for each referred customer's first order, through the order
    // path's own call, dated at that order.
    let mut first_orders = HashMap::new();
    let mut awaiting = Vec::new();
    for ((sim, id), referrer) in simulated.iter().zip(&ids).zip(&referrers) {
        if let (Some(referrer), Some(first)) =
            (referrer, sim.orders.iter().map(|(at, ..)| *at).min())
        {
            first_orders.insert(*id, first);
            awaiting.push((*id, *referrer));
        }
    }
    jobs::referrals::reward_first_orders(
        &txn,
        programme,
        &awaiting,
        |id| first_orders.get(&id).copied().unwrap_or(end_at),
        end_at,
    )
    .await
    .context("failed to award the demo referrals' bonuses")?;
    txn.commit()
        .await
        .context("failed to commit a demo batch")?;
    Ok(Written {
        ids,
        orders: order_count,
        interactions: interaction_count,
        feedback: feedback_count,
        feedback_topics: topic_count,
    })
}

/// Inserts the answers of a batch; their count and the rows of their topics (the tags,
/// else the terms of the comment). The topics need the answers' ids, so the answers go
/// in with `RETURNING`, paired back by customer and kind (a simulated customer gives at
/// most one answer of each kind).
async fn insert_feedback(
    txn: &impl ConnectionTrait,
    simulated: &[Simulated],
    ids: &[i64],
    terms: &CommentTerms,
) -> anyhow::Result<(u64, Vec<Vec<Value>>)> {
    use entity::feedback;
    let answers: Vec<(i64, &SimulatedAnswer)> = simulated
        .iter()
        .zip(ids)
        .flat_map(|(sim, id)| sim.feedback.iter().map(move |answer| (*id, answer)))
        .collect();
    let mut topics = Vec::new();
    for chunk in answers.chunks(ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert.into_table(feedback::Entity).columns([
            feedback::Column::CustomerId,
            feedback::Column::Kind,
            feedback::Column::Score,
            feedback::Column::Comment,
            feedback::Column::Channel,
            feedback::Column::OccurredAt,
            feedback::Column::CreatedAt,
        ]);
        for (customer_id, answer) in chunk {
            insert
                .values([
                    Expr::val(*customer_id),
                    Expr::val(ActiveEnum::to_value(&answer.kind)),
                    Expr::val(answer.score),
                    Expr::val(answer.comment.map(str::to_owned)),
                    Expr::val(answer.channel.as_ref().map(ActiveEnum::to_value)),
                    Expr::val(answer.at),
                    Expr::val(answer.at),
                ])
                .context("demo feedback row")?;
        }
        insert.returning(Query::returning().columns([
            feedback::Column::Id,
            feedback::Column::CustomerId,
            feedback::Column::Kind,
        ]));
        let rows = txn
            .query_all(&insert)
            .await
            .context("failed to insert demo feedback")?;
        let mut by_answer = HashMap::with_capacity(rows.len());
        for row in rows {
            let id = row
                .try_get::<i64>("", "id")
                .context("inserted feedback without id")?;
            let customer_id = row
                .try_get::<i64>("", "customer_id")
                .context("inserted feedback without customer")?;
            let kind = row
                .try_get::<String>("", "kind")
                .context("inserted feedback without kind")?;
            anyhow::ensure!(
                by_answer.insert((customer_id, kind), id).is_none(),
                "two demo answers of one kind for customer {customer_id}"
            );
        }
        for (customer_id, answer) in chunk {
            let key = (*customer_id, ActiveEnum::to_value(&answer.kind));
            let feedback_id = *by_answer
                .get(&key)
                .with_context(|| format!("no id returned for the answer of {customer_id}"))?;
            let rows: Vec<(&str, TopicSource)> = if !answer.tags.is_empty() {
                answer
                    .tags
                    .iter()
                    .map(|tag| (*tag, TopicSource::Tag))
                    .collect()
            } else {
                answer
                    .comment
                    .and_then(|comment| terms.get(comment))
                    .into_iter()
                    .flatten()
                    .map(|term| (term.as_str(), TopicSource::Extracted))
                    .collect()
            };
            for (topic, source) in rows {
                topics.push(vec![
                    (*customer_id).into(),
                    feedback_id.into(),
                    topic.into(),
                    source.as_str().into(),
                ]);
            }
        }
    }
    Ok((answers.len() as u64, topics))
}

const CUSTOMER_COLUMNS: [customer::Column; 32] = [
    customer::Column::ExternalId,
    customer::Column::Name,
    customer::Column::Email,
    customer::Column::Phone,
    customer::Column::Gender,
    customer::Column::BirthDate,
    customer::Column::Country,
    customer::Column::Region,
    customer::Column::City,
    customer::Column::IncomeBand,
    customer::Column::Occupation,
    customer::Column::Lifestyle,
    customer::Column::Needs,
    customer::Column::AcquisitionChannel,
    customer::Column::ReferredBy,
    customer::Column::ReferralCode,
    customer::Column::Locale,
    customer::Column::TimeZone,
    customer::Column::MarketingConsent,
    customer::Column::ConsentUpdatedAt,
    customer::Column::UnsubscribedAt,
    customer::Column::ErasedAt,
    customer::Column::CreatedAt,
    customer::Column::UpdatedAt,
    customer::Column::OrderCount,
    customer::Column::TotalSpent,
    customer::Column::FirstOrderAt,
    customer::Column::LastOrderAt,
    customer::Column::PurchaseDays,
    customer::Column::FirstDayTotal,
    customer::Column::MedianGapDays,
    customer::Column::SearchText,
];

fn customer_values(c: &customer::Model, referred_by: Option<i64>) -> Vec<Expr> {
    vec![
        Expr::val(c.external_id.clone()),
        Expr::val(c.name.clone()),
        Expr::val(c.email.clone()),
        Expr::val(c.phone.clone()),
        Expr::val(sea_orm::ActiveEnum::to_value(&c.gender)),
        Expr::val(c.birth_date),
        Expr::val(c.country.clone()),
        Expr::val(c.region.clone()),
        Expr::val(c.city.clone()),
        Expr::val(c.income_band.clone()),
        Expr::val(c.occupation.clone()),
        Expr::val(c.lifestyle.clone()),
        Expr::val(c.needs.clone()),
        Expr::val(c.acquisition_channel.clone()),
        Expr::val(referred_by),
        Expr::val(c.referral_code.clone()),
        Expr::val(c.locale.clone()),
        Expr::val(c.time_zone.clone()),
        Expr::val(c.marketing_consent),
        Expr::val(c.consent_updated_at),
        Expr::val(c.unsubscribed_at),
        Expr::val(c.erased_at),
        Expr::val(c.created_at),
        Expr::val(c.updated_at),
        Expr::val(c.order_count),
        Expr::val(c.total_spent.0),
        Expr::val(c.first_order_at),
        Expr::val(c.last_order_at),
        Expr::val(c.purchase_days),
        Expr::val(c.first_day_total.0),
        Expr::val(c.median_gap_days),
        Expr::val(c.search_text.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_ends_at_the_end_of_the_end_date_but_never_after_now() {
        let now = Utc.with_ymd_and_hms(2026, 6, 30, 9, 15, 30).unwrap()
            + chrono::Duration::milliseconds(250);
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 6, 30, h, m, s).unwrap();
        // Today: up to now (in whole seconds), not to 23:59:59, hours ahead.
        assert_eq!(simulated_until(None, now), at(9, 15, 30));
        assert_eq!(simulated_until(Some(now.date_naive()), now), at(9, 15, 30));
        // A past end date is simulated whole; a future one stops at now.
        let may_31 = NaiveDate::from_ymd_opt(2026, 5, 31).unwrap();
        assert_eq!(
            simulated_until(Some(may_31), now),
            Utc.with_ymd_and_hms(2026, 5, 31, 23, 59, 59).unwrap()
        );
        let next_year = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(simulated_until(Some(next_year), now), at(9, 15, 30));
    }
}
