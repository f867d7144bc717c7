//! Delivers 10,000 queued emails to a local SMTP server over real sockets and reports how
//! long the dispatcher took. The server is the test suite's SMTP sink (its own thread and
//! runtime), so what is measured is the whole path: claim, suppression checks, template
//! rendering, pooled SMTP sessions, and recording each outcome.
//!
//! `cargo bench --bench email_dispatch` (SQLite in a temporary file), or with
//! `BENCH_DATABASE_URL=postgres://…/db` for PostgreSQL (the database is emptied first).
//! `BENCH_EMAILS` and `BENCH_CONCURRENCY` change the size and the connections in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/api/smtp_sink.rs"]
mod smtp_sink;

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseBackend};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let emails = env_or("BENCH_EMAILS", 10_000);
    let concurrency = env_or(
        "BENCH_CONCURRENCY",
        jobs::mail::MailSettings::default().concurrency,
    );
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let db = clientele::database::connect(&url).await.unwrap();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .await
            .unwrap();
    }
    clientele::database::migrate(&db).await.unwrap();

    // Customers who may be emailed, and one queued birthday email each.
    // Whole seconds, as the scheduler's ticks are (PostgreSQL would round nanoseconds).
    let now =
        chrono::DurationRound::duration_trunc(chrono::Utc::now(), chrono::TimeDelta::seconds(1))
            .unwrap();
    let stamp = now.to_rfc3339();
    db.execute_unprepared(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {emails}) \
         INSERT INTO customers (external_id, name, email, marketing_consent, created_at, updated_at) \
         SELECT 'c' || CAST(i AS TEXT), 'Customer ' || CAST(i AS TEXT), 'c' || CAST(i AS TEXT) || '@bench.example', \
                TRUE, '{stamp}', '{stamp}' FROM n"
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO emails (dedupe_key, kind, customer_id, status, attempts, scheduled_for, created_at, updated_at) \
         SELECT 'bench:' || CAST(id AS TEXT), 'BIRTHDAY', id, 'QUEUED', 0, '{stamp}', '{stamp}', '{stamp}' FROM customers"
    ))
    .await
    .unwrap();

    let sink = smtp_sink::SmtpSink::start().await;
    let settings = jobs::mail::MailSettings {
        smtp_url: Some(sink.url().into()),
        email_from: "Bench <care@bench.example>".into(),
        concurrency,
        // Every email is due now: no quiet hours, no cap in the way.
        quiet_hours_start: 0,
        quiet_hours_end: 0,
        frequency_cap_days: 0,
        ..Default::default()
    };
    let mailer = jobs::mail::Mailer::new(settings).unwrap();
    mailer.secret(&db).await.unwrap();

    let started = Instant::now();
    let report = jobs::mail::dispatch::dispatch(&db, &mailer, now)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let received = sink.wait_for(emails, Duration::from_secs(30)).await.len();
    assert_eq!(report.sent as usize, emails, "{report:?}");
    assert_eq!(received, emails, "the server received every email");
    println!(
        "{} emails on {:?} with {concurrency} connections: {:.2} s ({:.0} emails/s); {report:?}",
        emails,
        db.get_database_backend(),
        elapsed.as_secs_f64(),
        emails as f64 / elapsed.as_secs_f64()
    );
}
