//! Scheduled care end to end: campaigns queue outbox rows, the dispatcher sends them to
//! a real SMTP server on a socket (`smtp_sink`), and what arrives is parsed as a mail
//! client would. Covers local send times and 29 February, running producers twice,
//! unsubscribe links, suppression, quiet hours and the frequency cap, SMTP failures and
//! restarts, a killed dispatcher, two dispatchers at once, win-back offers and
//! conversions, templates, the `.eml` fallback and the marketer digest.

use chrono::{DateTime, Utc};
use jobs::mail::dispatch::{self, Report};
use mail_parser::{Message, MessageParser, MimeHeaders};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, on_each_database, on_each_database_with};
use crate::smtp_sink::{Received, SmtpSink};

const CAMPAIGNS: &str =
    "{ campaigns(first: 50) { nodes { id name kind enabled sendHour target { everyone } } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateCampaignInput!) { updateCampaign(id: $id, input: $input) { id enabled } }";
const RUN_AT: &str = "mutation($name: String!, $at: DateTime) { runJob(name: $name, at: $at) { status stats error } }";
const EMAILS: &str = "query($filter: EmailFilter) { emails(filter: $filter, first: 100) { nodes { id kind status subject toAddress offerCode offerExpiresOn attempts lastError suppressionReason scheduledFor sentAt converted unsubscribedAt customerId dedupeKey messageId } } }";

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

/// Asserts that a time the dispatcher recorded is `expected` or a little after: its clock
/// starts at the simulated time and moves on while the run lasts.
#[track_caller]
fn assert_soon_after(value: &Value, expected: &str) {
    let value = at(value.as_str().expect("a time"));
    let expected = at(expected);
    assert!(
        value >= expected && value < expected + chrono::Duration::seconds(5),
        "{value} is not just after {expected}"
    );
}

/// A customer who agreed to marketing email, with `fields` on top.
pub(crate) async fn customer(app: &TestApp, external_id: &str, fields: Value) -> String {
    let mut input = json!({
        "externalId": external_id,
        "name": external_id,
        "email": format!("{}@mail.example", external_id.to_lowercase()),
        "marketingConsent": true,
        "timeZone": "UTC",
        "locale": "en",
    });
    for (key, value) in fields.as_object().expect("fields are an object") {
        input[key] = value.clone();
    }
    app.create_customer(input).await
}

/// The built-in campaign of `kind`, enabled with `input` on top; its id.
pub(crate) async fn enable(app: &TestApp, kind: &str, input: Value) -> String {
    let campaigns = app.admin_ok(CAMPAIGNS, json!({})).await;
    let id = campaigns["campaigns"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no built-in {kind} campaign"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut input = input;
    input["enabled"] = json!(true);
    app.admin_ok(UPDATE, json!({ "id": id, "input": input }))
        .await;
    id
}

/// Runs `job` through the API as at `when`; its stats.
pub(crate) async fn run_job(app: &TestApp, job: &str, when: &str) -> Value {
    let run = app
        .admin_ok(RUN_AT, json!({ "name": job, "at": when }))
        .await["runJob"]
        .clone();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    run["stats"].clone()
}

pub(crate) async fn produce(app: &TestApp, when: &str) -> Value {
    run_job(app, "campaigns", when).await
}

/// The dispatcher as the scheduler runs it, at `when`.
pub(crate) async fn send(app: &TestApp, when: &str) -> Report {
    let context = app.job_context();
    dispatch::dispatch(&app.db, &context.mail, at(when))
        .await
        .expect("dispatch runs")
}

pub(crate) async fn emails(app: &TestApp, filter: Value) -> Vec<Value> {
    app.admin_ok(EMAILS, json!({ "filter": filter })).await["emails"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn parse(received: &Received) -> Message<'_> {
    MessageParser::default()
        .parse(&received.data)
        .expect("a parsable message")
}

pub(crate) fn header<'a>(message: &'a Message<'a>, name: &str) -> String {
    message
        .header_raw(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .trim()
        .to_owned()
}

pub(crate) fn smtp(sink: &SmtpSink) -> impl Fn(&mut clientele::configuration::Settings) + '_ {
    move |settings| {
        settings.email.smtp_url = Some(sink.url().into());
    }
}

/// The messages received since `before`, sorted by recipient.
pub(crate) fn received_since(sink: &SmtpSink, before: usize) -> Vec<Received> {
    let mut messages: Vec<Received> = sink.messages().into_iter().skip(before).collect();
    messages.sort_by(|a, b| a.rcpt_to.cmp(&b.rcpt_to));
    messages
}

#[tokio::test]
async fn birthdays_are_greeted_at_nine_local_time_once_including_29_february() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let ada = customer(&app, "Ada", json!({ "birthDate": "1990-02-28", "timeZone": "Asia/Shanghai" })).await;
            let leap = customer(&app, "Lin", json!({ "birthDate": "2000-02-29", "timeZone": "America/New_York",
                                                      "locale": "zh-CN", "name": "林小满" })).await;
            let quiet = customer(&app, "NoConsent", json!({ "birthDate": "1985-02-28", "marketingConsent": false })).await;
            customer(&app, "Other", json!({ "birthDate": "1985-07-01" })).await;
            enable(&app, "BIRTHDAY", json!({})).await;

            // 02:00 UTC on 28 Feb 2027 is 10:00 in Shanghai (past 09:00: at once), 21:00 on
            // the 27th in New York (not yet), 02:00 in UTC (queued for 09:00).
            let stats = produce(&app, "2027-02-28T02:00:00Z").await;
            assert_eq!(stats["queued"]["Birthday greetings"], 2, "{stats}");
            let report = send(&app, "2027-02-28T02:00:00Z").await;
            assert_eq!(report.sent, 1, "{report:?}");
            // The producer again: nothing new, nothing sent twice.
            let stats = produce(&app, "2027-02-28T02:30:00Z").await;
            assert_eq!(stats["queued"]["Birthday greetings"], 0, "{stats}");
            assert_eq!(send(&app, "2027-02-28T02:30:00Z").await.sent, 0);

            let first = received_since(&sink, before);
            assert_eq!(first.len(), 1);
            assert_eq!(first[0].rcpt_to, vec!["ada@mail.example"]);
            assert_eq!(first[0].mail_from, "care@shop.example");
            let message = parse(&first[0]);
            assert_eq!(message.subject(), Some("Happy birthday, Ada!"));
            assert_eq!(message.from().unwrap().first().unwrap().address(), Some("care@shop.example"));
            assert_eq!(message.to().unwrap().first().unwrap().address(), Some("ada@mail.example"));
            assert!(header(&message, "Content-Type").starts_with("multipart/alternative"));
            assert!(message.body_text(0).unwrap().contains("Dear Ada"));
            assert!(message.body_html(0).unwrap().contains("<html lang=\"en\">"));
            let list_unsubscribe = header(&message, "List-Unsubscribe");
            assert!(list_unsubscribe.starts_with(&format!("<{}/unsubscribe/", app.address)), "{list_unsubscribe}");
            assert_eq!(header(&message, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
            let stored = emails(&app, json!({ "customerId": ada })).await;
            assert_eq!(stored.len(), 1);
            assert_eq!(stored[0]["status"], "SENT");
            assert_eq!(stored[0]["dedupeKey"], format!("birthday:2027:{ada}"));
            assert_soon_after(&stored[0]["sentAt"], "2027-02-28T02:00:00Z");
            assert_eq!(message.message_id(), stored[0]["messageId"].as_str().map(|m| m.trim_matches(['<', '>'])));

            // 15:00 UTC is 10:00 on the 28th in New York: the leap-day birthday, in Chinese.
            let stats = produce(&app, "2027-02-28T15:00:00Z").await;
            assert_eq!(stats["queued"]["Birthday greetings"], 1, "{stats}");
            let report = send(&app, "2027-02-28T15:00:00Z").await;
            assert_eq!((report.sent, report.suppressed), (1, 1), "{report:?}");
            let second = received_since(&sink, before);
            assert_eq!(second.len(), 2);
            assert_eq!(second[1].rcpt_to, vec!["lin@mail.example"]);
            let lin = parse(&second[1]);
            assert!(lin.subject().unwrap().contains("生日快乐"), "{:?}", lin.subject());
            assert!(lin.body_html(0).unwrap().contains("林小满"));
            let no_consent = emails(&app, json!({ "customerId": quiet })).await;
            assert_eq!(no_consent[0]["status"], "SUPPRESSED");
            assert_eq!(no_consent[0]["suppressionReason"], "NO_CONSENT");

            // 29 February is greeted on the 28th only: not again on 1 March.
            produce(&app, "2027-03-01T15:00:00Z").await;
            assert_eq!(emails(&app, json!({ "customerId": leap })).await.len(), 1);
            // Customer.emails shows the same rows.
            let on_customer = app
                .admin_ok("query($id: ID!) { customer(id: $id) { emails(first: 5) { nodes { kind status } } } }", json!({ "id": leap }))
                .await;
            assert_eq!(on_customer["customer"]["emails"]["nodes"][0]["kind"], "BIRTHDAY");
        }
    })
    .await;
}

#[tokio::test]
async fn unsubscribe_links_are_signed_one_click_and_suppress_what_follows() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let id = customer(&app, "Una", json!({ "birthDate": "1990-05-10" })).await;
            enable(&app, "BIRTHDAY", json!({})).await;
            produce(&app, "2027-05-10T10:00:00Z").await;
            assert_eq!(send(&app, "2027-05-10T10:00:00Z").await.sent, 1);
            let received = received_since(&sink, before);
            let message = parse(&received[0]);
            let link = header(&message, "List-Unsubscribe")
                .trim_matches(['<', '>'])
                .to_owned();
            assert!(message.body_text(0).unwrap().contains(&link), "the text links the same page");
            // The HTML footer (from the layout) links it as a word, not the raw URL (`/` is escaped).
            let html = message.body_html(0).unwrap();
            let href = link.replace('/', "&#x2f;");
            assert!(html.contains(&format!("<a href=\"{href}\"")), "the HTML links the same page: {html}");
            assert!(html.contains(">Unsubscribe</a>") && !html.contains(&format!(">{href}")), "{html}");

            // GET shows a confirmation and changes nothing (link scanners follow links).
            let page = app.client.get(&link).send().await.unwrap();
            assert_eq!(page.status(), 200);
            assert!(page.text().await.unwrap().contains("<form method=\"post\""));
            let consent = "query($id: ID!) { customer(id: $id) { marketingConsent unsubscribedAt } }";
            let before_post = app.admin_ok(consent, json!({ "id": id })).await;
            assert_eq!(before_post["customer"]["marketingConsent"], true);

            // Tampered links are refused and change nothing.
            let (base, signature) = link.rsplit_once('.').unwrap();
            let forged = format!("{base}.{}", signature.chars().rev().collect::<String>());
            let other_customer = link.replacen(&format!(".{id}."), ".999999.", 1);
            for bad in [forged, other_customer, format!("{}/unsubscribe/garbage", app.address)] {
                assert_eq!(app.client.get(&bad).send().await.unwrap().status(), 400, "{bad}");
                assert_eq!(app.client.post(&bad).send().await.unwrap().status(), 400, "{bad}");
            }
            assert_eq!(app.admin_ok(consent, json!({ "id": id })).await["customer"]["marketingConsent"], true);

            // RFC 8058 one-click: a POST with the List-Unsubscribe-Post body.
            let response = app
                .client
                .post(&link)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let after = app.admin_ok(consent, json!({ "id": id })).await;
            assert_eq!(after["customer"]["marketingConsent"], false);
            assert!(after["customer"]["unsubscribedAt"].is_string());
            let sent = emails(&app, json!({ "customerId": id })).await;
            assert!(sent[0]["unsubscribedAt"].is_string(), "the email that lost the customer is marked");

            // The next care email is suppressed, not sent.
            enable(&app, "HOLIDAY", json!({ "settings": { "holidays": [{ "date": "2027-05-20", "name": "Test Day" }] } })).await;
            produce(&app, "2027-05-20T10:00:00Z").await;
            assert_eq!(send(&app, "2027-05-20T10:00:00Z").await.suppressed, 1);
            let holiday = emails(&app, json!({ "customerId": id, "kind": "HOLIDAY" })).await;
            assert_eq!(holiday[0]["suppressionReason"], "UNSUBSCRIBED");
            assert_eq!(received_since(&sink, before).len(), 1);

            // Opting in again (say, at the till) brings the emails back; the link in the
            // new email unsubscribes again. (An old link after re-consent: unsubscribe.rs.)
            app.admin_ok("mutation($id: ID!) { updateCustomer(id: $id, input: { marketingConsent: true }) { id } }",
                json!({ "id": id })).await;
            enable(&app, "HOLIDAY", json!({ "settings": { "holidays": [{ "date": "2027-05-28", "name": "Second Day" }] } })).await;
            produce(&app, "2027-05-28T10:00:00Z").await;
            assert_eq!(send(&app, "2027-05-28T10:00:00Z").await.sent, 1);
            let delivered = received_since(&sink, before);
            let newer = parse(&delivered[1]);
            let newer_link = header(&newer, "List-Unsubscribe").trim_matches(['<', '>']).to_owned();
            let again = app.client.post(&newer_link).send().await.unwrap();
            assert_eq!(again.status(), 200);
            assert_eq!(app.admin_ok(consent, json!({ "id": id })).await["customer"]["marketingConsent"], false);
        }
    })
    .await;
}

/// A slow relay throttling with 4xx: the run lasts longer than the backoff, and still no
/// retry is scheduled before the failure's time plus the backoff, so a second attempt
/// never leaves early.
#[tokio::test]
async fn retries_wait_their_backoff_after_the_failure_even_when_the_run_is_slow() {
    let sink = SmtpSink::start().await;
    sink.reject_recipient("slow@mail.example", 451, "4.7.1 try again later");
    let configure = |settings: &mut clientele::configuration::Settings| {
        settings.email.smtp_url = Some(sink.url().into());
        settings.email.retry_base_seconds = 1;
        settings.email.max_attempts = 5;
    };
    on_each_database_with(configure, |app| {
        let sink = sink.clone();
        async move {
            customer(&app, "Slow", json!({ "birthDate": "1990-06-01" })).await;
            enable(&app, "BIRTHDAY", json!({})).await;
            produce(&app, "2027-06-01T10:00:00Z").await;

            // Each answer takes 1.5 s: the 451 comes 1.5 s into the run, and the retry
            // is due 1 s after that, not 1 s after the run started.
            sink.delay_recipients(std::time::Duration::from_millis(1500));
            let started = std::time::Instant::now();
            let report = send(&app, "2027-06-01T10:00:00Z").await;
            let elapsed = chrono::Duration::from_std(started.elapsed()).unwrap();
            sink.delay_recipients(std::time::Duration::ZERO);
            assert_eq!(report.retrying, 1, "{report:?}");
            let waiting = emails(&app, json!({ "status": "RETRYING" })).await;
            assert_eq!(waiting.len(), 1);
            let retry_at = at(waiting[0]["scheduledFor"].as_str().unwrap());
            assert!(
                retry_at >= at("2027-06-01T10:00:02.500Z"),
                "retry at {retry_at}: before the failure (1.5 s) plus the backoff (1 s)"
            );

            // A dispatcher running right after the slow run finds nothing due yet.
            let just_after = at("2027-06-01T10:00:00Z") + elapsed;
            assert!(just_after < retry_at, "the run took {elapsed}");
            let report = dispatch::dispatch(&app.db, &app.job_context().mail, just_after)
                .await
                .expect("dispatch runs");
            assert_eq!(
                report.claimed, 0,
                "a second attempt before its time: {report:?}"
            );
            // At its time it goes.
            let report = dispatch::dispatch(&app.db, &app.job_context().mail, retry_at)
                .await
                .expect("dispatch runs");
            assert_eq!((report.claimed, report.retrying), (1, 1), "{report:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn smtp_outages_are_retried_and_permanent_rejections_fail_at_once() {
    let sink = SmtpSink::start().await;
    sink.reject_recipient("bounce@mail.example", 550, "5.1.1 no such user");
    sink.reject_recipient("full@mail.example", 452, "4.2.2 mailbox full");
    let configure = |settings: &mut clientele::configuration::Settings| {
        settings.email.smtp_url = Some(sink.url().into());
        settings.email.max_attempts = 3;
    };
    on_each_database_with(configure, |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            for name in ["Good", "Bounce", "Full"] {
                customer(&app, name, json!({ "birthDate": "1990-06-01" })).await;
            }
            enable(&app, "BIRTHDAY", json!({})).await;
            produce(&app, "2027-06-01T10:00:00Z").await;

            // The server is down: every email waits for a retry, none is lost.
            sink.stop().await;
            let report = send(&app, "2027-06-01T10:00:00Z").await;
            assert_eq!((report.sent, report.retrying), (0, 3), "{report:?}");
            let waiting = emails(&app, json!({ "status": "RETRYING" })).await;
            assert_eq!(waiting.len(), 3);
            for email in &waiting {
                assert_eq!(email["attempts"], 1);
                // First retry 60 s after the failure.
                assert_soon_after(&email["scheduledFor"], "2027-06-01T10:01:00Z");
                assert!(
                    email["lastError"]
                        .as_str()
                        .unwrap()
                        .to_lowercase()
                        .contains("connection"),
                    "{email}"
                );
            }
            // Not due yet: nothing happens; after the backoff the server is back.
            sink.restart().await;
            assert_eq!(send(&app, "2027-06-01T10:00:30Z").await.claimed, 0);
            let report = send(&app, "2027-06-01T10:01:05Z").await;
            assert_eq!(
                (report.sent, report.failed, report.retrying),
                (1, 1, 1),
                "{report:?}"
            );
            let received = received_since(&sink, before);
            assert_eq!(received.len(), 1);
            assert_eq!(received[0].rcpt_to, vec!["good@mail.example"]);

            // 550: failed at once, the reply kept.
            let bounce = emails(&app, json!({ "status": "FAILED" })).await;
            assert_eq!(bounce.len(), 1);
            assert!(
                bounce[0]["lastError"].as_str().unwrap().contains("550"),
                "{}",
                bounce[0]
            );
            assert_eq!(bounce[0]["attempts"], 2);
            // 452: retried (120 s after the failure, then 240 s) until max_attempts, then FAILED.
            let full = emails(&app, json!({ "status": "RETRYING" })).await;
            assert_soon_after(&full[0]["scheduledFor"], "2027-06-01T10:03:05Z");
            assert_eq!(send(&app, "2027-06-01T10:03:10Z").await.failed, 1);
            let failed = emails(&app, json!({ "status": "FAILED" })).await;
            assert_eq!(failed.len(), 2);
            let full = failed
                .iter()
                .find(|e| e["attempts"] == 3)
                .expect("the 452 email used 3 attempts");
            assert!(
                full["lastError"].as_str().unwrap().contains("452"),
                "{full}"
            );

            // retryEmail: admins only; it queues the email again with attempts reset.
            let retry = "mutation($id: ID!) { retryEmail(id: $id) { status attempts } }";
            let reader = app.key_with(&["campaigns:read", "campaigns:write"]).await;
            let denied = app
                .graphql(&reader, retry, json!({ "id": full["id"] }))
                .await;
            assert_eq!(error_code(&denied), "FORBIDDEN");
            let retried = app.admin_ok(retry, json!({ "id": full["id"] })).await;
            assert_eq!(
                retried["retryEmail"],
                json!({ "status": "QUEUED", "attempts": 0 })
            );
            let sent = emails(&app, json!({ "status": "SENT" })).await;
            let again = app.admin(retry, json!({ "id": sent[0]["id"] })).await;
            assert_eq!(error_code(&again), "BAD_USER_INPUT");
        }
    })
    .await;
}

#[tokio::test]
async fn a_dispatcher_killed_after_claiming_leaves_its_rows_to_the_next_one() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            for n in 0..5 {
                customer(&app, &format!("C{n}"), json!({ "birthDate": "1990-07-01" })).await;
            }
            enable(&app, "BIRTHDAY", json!({})).await;
            produce(&app, "2027-07-01T10:00:00Z").await;
            // What a dispatcher that dies between claiming and recording leaves behind:
            // three rows claimed for five minutes, never sent.
            let now = at("2027-07-01T10:00:00Z");
            let claimed = dispatch::claim(&app.db, now, now + chrono::Duration::minutes(5), 3)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 3);
            assert!(dispatch::has_due(&app.db, now).await.unwrap());
            // Another dispatcher sends the rest and leaves the claimed rows alone…
            assert_eq!(send(&app, "2027-07-01T10:01:00Z").await.sent, 2);
            assert_eq!(emails(&app, json!({ "status": "SENDING" })).await.len(), 3);
            // …until the claim expires; then they go out, each once.
            assert!(
                !dispatch::has_due(&app.db, at("2027-07-01T10:04:59Z"))
                    .await
                    .unwrap()
            );
            assert!(
                dispatch::has_due(&app.db, at("2027-07-01T10:05:00Z"))
                    .await
                    .unwrap()
            );
            assert_eq!(send(&app, "2027-07-01T10:05:00Z").await.sent, 3);
            assert_eq!(send(&app, "2027-07-01T10:10:00Z").await.claimed, 0);
            let received = received_since(&sink, before);
            let mut recipients: Vec<String> =
                received.iter().map(|m| m.rcpt_to[0].clone()).collect();
            recipients.dedup();
            assert_eq!(recipients.len(), 5, "{recipients:?}");
            assert_eq!(received.len(), 5);
        }
    })
    .await;
}

#[tokio::test]
async fn two_dispatchers_at_once_never_send_an_email_twice() {
    let sink = SmtpSink::start().await;
    let configure = |settings: &mut clientele::configuration::Settings| {
        settings.email.smtp_url = Some(sink.url().into());
        // Small batches, so the two dispatchers interleave many claims.
        settings.email.batch_size = 7;
    };
    on_each_database_with(configure, |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let inputs: Vec<Value> = (0..80)
                .map(|n| json!({ "externalId": format!("P{n}"), "email": format!("p{n}@mail.example"),
                                 "marketingConsent": true, "birthDate": "1990-08-01" }))
                .collect();
            app.admin_ok("mutation($input: [UpsertCustomerInput!]!) { upsertCustomers(input: $input) { created } }",
                json!({ "input": inputs })).await;
            enable(&app, "BIRTHDAY", json!({})).await;
            produce(&app, "2027-08-01T10:00:00Z").await;
            let (a, b) = (app.job_context(), app.job_context());
            let now = at("2027-08-01T10:00:00Z");
            let (first, second) = tokio::join!(
                dispatch::dispatch(&app.db, &a.mail, now),
                dispatch::dispatch(&app.db, &b.mail, now)
            );
            let (first, second) = (first.unwrap(), second.unwrap());
            assert_eq!(first.sent + second.sent, 80, "{first:?} {second:?}");
            let received = received_since(&sink, before);
            let mut recipients: Vec<String> = received.iter().map(|m| m.rcpt_to[0].clone()).collect();
            recipients.sort();
            recipients.dedup();
            assert_eq!((received.len(), recipients.len()), (80, 80));
        }
    })
    .await;
}

#[tokio::test]
async fn quiet_hours_and_the_frequency_cap_defer_emails_instead_of_dropping_them() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let id = customer(&app, "Mei", json!({ "timeZone": "Asia/Shanghai", "birthDate": "1991-03-02" })).await;
            enable(&app, "HOLIDAY", json!({ "sendHour": 22, "settings": { "holidays": [
                { "date": "2027-03-01", "name": "Day One" }, { "date": "2027-03-03", "name": "Day Three" } ] } })).await;
            enable(&app, "BIRTHDAY", json!({})).await;

            // 22:00 in Shanghai (14:00 UTC) is inside quiet hours: deferred to 08:00.
            produce(&app, "2027-03-01T14:00:00Z").await;
            let report = send(&app, "2027-03-01T14:00:00Z").await;
            assert_eq!((report.sent, report.deferred), (0, 1), "{report:?}");
            let waiting = emails(&app, json!({ "customerId": id })).await;
            assert_eq!(waiting[0]["status"], "QUEUED");
            assert_eq!(waiting[0]["scheduledFor"], "2027-03-02T00:00:00+00:00", "08:00 Shanghai");
            assert_eq!(send(&app, "2027-03-02T00:00:00Z").await.sent, 1);

            // Her birthday the same day: exempt from the cap, sent at 09:00.
            produce(&app, "2027-03-02T01:00:00Z").await;
            assert_eq!(send(&app, "2027-03-02T01:00:00Z").await.sent, 1);
            // Another holiday the day after: capped (one care email per 3 days), deferred
            // to three days after the last one, then sent.
            produce(&app, "2027-03-03T14:00:00Z").await;
            let report = send(&app, "2027-03-03T14:00:00Z").await;
            assert_eq!((report.sent, report.deferred), (0, 1), "{report:?}");
            let day_three = emails(&app, json!({ "customerId": id, "kind": "HOLIDAY" })).await;
            let deferred = day_three.iter().find(|e| e["status"] == "QUEUED").unwrap();
            assert_soon_after(&deferred["scheduledFor"], "2027-03-05T01:00:00Z");
            assert_eq!(send(&app, "2027-03-05T01:00:05Z").await.sent, 1);
            let received = received_since(&sink, before);
            assert_eq!(received.len(), 3, "deferred, never dropped");
        }
    })
    .await;
}

#[tokio::test]
async fn win_back_sends_unique_offer_codes_once_per_cooldown_and_records_conversions() {
    let sink = SmtpSink::start().await;
    let configure = |settings: &mut clientele::configuration::Settings| {
        settings.email.smtp_url = Some(sink.url().into());
        // The test runs at whatever time of day it is run: no quiet hours here.
        settings.email.quiet_hours_start = 0;
        settings.email.quiet_hours_end = 0;
    };
    on_each_database_with(configure, |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let long_ago = (Utc::now() - chrono::Duration::days(120)).format("%Y-%m-%dT12:00:00Z").to_string();
            let mut ids = Vec::new();
            for name in ["Wu", "Xi", "Yan"] {
                let id = customer(&app, name, json!({})).await;
                app.record_orders(json!([{ "externalId": format!("{name}-1"), "customerId": id,
                    "amount": "80.00", "currency": "USD", "orderedAt": long_ago }])).await;
                ids.push(id);
            }
            // Yan had a win-back email ten days ago: within the 90-day cooldown.
            let now = Utc::now();
            sea_orm::ConnectionTrait::execute_unprepared(&app.db, &format!(
                "INSERT INTO emails (dedupe_key, kind, customer_id, status, attempts, scheduled_for, created_at, updated_at) \
                 VALUES ('win_back:old:{}', 'WIN_BACK', {}, 'SENT', 1, '{t}', '{t}', '{t}')",
                ids[2], ids[2], t = (now - chrono::Duration::days(10)).to_rfc3339())).await.unwrap();
            run_job(&app, "lifecycle", &now.to_rfc3339()).await;
            // They went quiet 29 days ago (90 days after their order): within a 60-day
            // lookback, outside the default 7 days.
            let win_back = enable(&app, "WIN_BACK", json!({ "sendHour": 0, "settings": { "offerPrefix": "MISSU", "offerExpiryDays": 14 } })).await;
            let stats = produce(&app, &(now - chrono::Duration::hours(3)).to_rfc3339()).await;
            assert_eq!(stats["queued"]["Win-back offer"], 0, "lapses older than the lookback are not news: {stats}");
            app.admin_ok(UPDATE, json!({ "id": win_back, "input": { "settings": { "lookbackDays": 60 } } })).await;

            let produced_at = now - chrono::Duration::hours(2);
            let stats = produce(&app, &produced_at.to_rfc3339()).await;
            assert_eq!(stats["queued"]["Win-back offer"], 2, "{stats}");
            assert_eq!(send(&app, &produced_at.to_rfc3339()).await.sent, 2);
            let sent = emails(&app, json!({ "kind": "WIN_BACK", "status": "SENT" })).await;
            let fresh: Vec<&Value> = sent.iter().filter(|e| e["offerCode"].is_string()).collect();
            assert_eq!(fresh.len(), 2);
            assert_ne!(fresh[0]["offerCode"], fresh[1]["offerCode"], "codes are unique");
            for email in &fresh {
                let code = email["offerCode"].as_str().unwrap();
                assert!(code.starts_with("MISSU-") && code.len() == 14, "{code}");
                assert_eq!(email["offerExpiresOn"], (produced_at.date_naive() + chrono::Duration::days(14)).to_string());
            }
            let received = received_since(&sink, before);
            assert_eq!(received.len(), 2);
            for message in &received {
                let parsed = parse(message);
                let code = fresh.iter().find(|e| e["toAddress"] == message.rcpt_to[0]).unwrap()["offerCode"].as_str().unwrap().to_owned();
                assert!(parsed.body_html(0).unwrap().contains(&code));
                assert!(parsed.body_text(0).unwrap().contains(&code));
            }
            // Running again sends nothing new (and Yan never got one: cooldown).
            assert_eq!(produce(&app, &now.to_rfc3339()).await["queued"]["Win-back offer"], 0);
            assert!(emails(&app, json!({ "customerId": ids[2], "status": "QUEUED" })).await.is_empty());

            // Wu orders within the offer window: converted, and the reactivation the
            // lifecycle job records is attributed to the email.
            let wu_email = fresh.iter().find(|e| e["customerId"] == ids[0]).unwrap();
            app.record_orders(json!([{ "externalId": "Wu-2", "customerId": ids[0], "amount": "40.00",
                "currency": "USD", "orderedAt": (now - chrono::Duration::hours(1)).to_rfc3339() }])).await;
            run_job(&app, "lifecycle", &now.to_rfc3339()).await;
            let stats = produce(&app, &now.to_rfc3339()).await;
            assert_eq!(stats["converted"], 1, "{stats}");
            let wu = emails(&app, json!({ "customerId": ids[0] })).await;
            assert_eq!(wu[0]["converted"], true);
            let attributed = entity::lifecycle_event::Entity::find()
                .filter(entity::lifecycle_event::Column::CustomerId.eq(ids[0].parse::<i64>().unwrap()))
                .filter(entity::lifecycle_event::Column::Reactivation.eq(true))
                .all(&app.db)
                .await
                .unwrap();
            assert_eq!(attributed.len(), 1);
            assert_eq!(attributed[0].win_back_email_id.map(|id| id.to_string()), wu_email["id"].as_str().map(str::to_owned));
            let xi = emails(&app, json!({ "customerId": ids[1] })).await;
            assert_eq!(xi[0]["converted"], false);

            // The week's digest counts the campaign's emails: the two sent, Wu's
            // conversion; Yan's old email belongs to no campaign.
            let digest = jobs::campaigns::digest::measure(&app.db, now.date_naive() + chrono::Duration::days(1))
                .await
                .unwrap();
            let result = digest.campaigns.iter().find(|c| c.name == "Win-back offer").unwrap();
            assert_eq!(result.kind, "WIN_BACK");
            assert_eq!(
                (result.sent, result.failed, result.suppressed, result.unsubscribed, result.converted),
                (2, 0, 0, 0, 1)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn campaigns_api_installs_built_ins_checks_scopes_and_refuses_broken_templates() {
    on_each_database(|app| async move {
        let campaigns = app.admin_ok(CAMPAIGNS, json!({})).await;
        let nodes = campaigns["campaigns"]["nodes"].as_array().unwrap();
        let kinds: Vec<&str> = nodes.iter().map(|c| c["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["BIRTHDAY", "WIN_BACK", "WELCOME", "PURCHASE_ANNIVERSARY", "HOLIDAY", "SEGMENT_ENTRY", "SURVEY", "TIER_UPGRADE", "POINTS_EXPIRING"]);
        assert!(nodes.iter().all(|c| c["enabled"] == false && c["sendHour"] == 9 && c["target"]["everyone"] == true));

        let reader = app.key_with(&["campaigns:read"]).await;
        assert!(app.graphql(&reader, CAMPAIGNS, json!({})).await.get("errors").is_none());
        let denied = app.graphql(&reader, UPDATE, json!({ "id": nodes[0]["id"], "input": { "enabled": true } })).await;
        assert_eq!(error_code(&denied), "FORBIDDEN");
        let stranger = app.key_with(&["customers:read"]).await;
        assert_eq!(error_code(&app.graphql(&stranger, CAMPAIGNS, json!({})).await), "FORBIDDEN");

        let create = "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id name kind enabled sendHour templates { locale subject } } }";
        let broken = app.admin(create, json!({ "input": { "name": "VIP birthdays", "kind": "BIRTHDAY",
            "templates": [{ "locale": "en", "html": "<p>Hello</p>\n<p>{% if name %}</p>" }] } })).await;
        assert_eq!(error_code(&broken), "BAD_USER_INPUT");
        assert_eq!(broken["errors"][0]["extensions"]["field"], "input.templates.en.html");
        assert!(broken["errors"][0]["message"].as_str().unwrap().contains("line 2"), "{broken}");
        let bad = app.admin(create, json!({ "input": { "name": "Bad", "kind": "SEGMENT_ENTRY", "enabled": true,
            "sendHour": 25, "templates": [{ "locale": "fr", "subject": "Salut" }] } })).await;
        let fields: Vec<&str> = bad["errors"][0]["extensions"]["problems"].as_array().unwrap().iter()
            .map(|p| p["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&"input.sendHour") && fields.contains(&"input.target.segmentId")
            && fields.contains(&"input.templates"), "{fields:?}");
        let duplicate = app.admin(create, json!({ "input": { "name": "Welcome", "kind": "WELCOME" } })).await;
        assert_eq!(duplicate["errors"][0]["extensions"]["field"], "input.name");

        let created = app.admin_ok(create, json!({ "input": { "name": "VIP birthdays", "kind": "BIRTHDAY",
            "templates": [{ "locale": "en", "subject": "Cheers, {{ name }}" }] } })).await["createCampaign"].clone();
        assert_eq!(created["enabled"], false);
        assert_eq!(created["templates"], json!([{ "locale": "en", "subject": "Cheers, {{ name }}" }]));
        let delete = "mutation($id: ID!) { deleteCampaign(id: $id) }";
        app.admin_ok(delete, json!({ "id": created["id"] })).await;
        assert_eq!(error_code(&app.admin(delete, json!({ "id": created["id"] })).await), "NOT_FOUND");

        // Playbooks link the campaigns their stage triggers.
        let playbooks = app.admin_ok("{ lifecyclePlaybooks { stage campaigns { kind } } }", json!({})).await;
        let silent = playbooks["lifecyclePlaybooks"].as_array().unwrap().iter().find(|p| p["stage"] == "SILENT").unwrap();
        assert_eq!(silent["campaigns"], json!([{ "kind": "WIN_BACK" }]));
    })
    .await;
}

#[tokio::test]
async fn a_template_that_fails_for_one_customer_fails_that_email_only() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            for name in ["Fine", "Bad"] {
                customer(&app, name, json!({ "birthDate": "1990-09-09" })).await;
            }
            enable(&app, "BIRTHDAY", json!({ "templates": [{ "locale": "en",
                "subject": "{% if name == 'Bad' %}{{ nickname }}{% endif %}Cheers, {{ name }}" }] })).await;
            produce(&app, "2027-09-09T10:00:00Z").await;
            let report = send(&app, "2027-09-09T10:00:00Z").await;
            assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
            let received = received_since(&sink, before);
            assert_eq!(parse(&received[0]).subject(), Some("Cheers, Fine"));
            let failed = emails(&app, json!({ "status": "FAILED" })).await;
            assert!(failed[0]["lastError"].as_str().unwrap().contains("does not render"), "{}", failed[0]);
        }
    })
    .await;
}

#[tokio::test]
async fn without_smtp_holiday_anniversary_welcome_and_segment_entry_emails_become_eml_files() {
    on_each_database(|app| async move {
        // Yesterday (the day before when that is 29 February): every time below is in the
        // past, whatever the time of day the test runs at.
        let mut today = Utc::now().date_naive() - chrono::Duration::days(1);
        if chrono::Datelike::month(&today) == 2 && chrono::Datelike::day(&today) == 29 {
            today -= chrono::Duration::days(1);
        }
        let year_ago = today.checked_sub_months(chrono::Months::new(12)).unwrap();
        let loyal = customer(&app, "Anna", json!({})).await;
        app.record_orders(json!([{ "externalId": "Anna-1", "customerId": loyal, "amount": "30.00",
            "currency": "USD", "orderedAt": format!("{year_ago}T12:00:00Z") }])).await;
        let newcomer = customer(&app, "Neo", json!({ "locale": "zh-CN" })).await;
        app.record_orders(json!([{ "externalId": "Neo-1", "customerId": newcomer, "amount": "30.00",
            "currency": "USD", "orderedAt": format!("{today}T10:00:00Z") }])).await;
        let segment = app.admin_ok("mutation { createSegment(input: { name: \"Friends\", kind: STATIC }) { id } }", json!({})).await
            ["createSegment"]["id"].as_str().unwrap().to_owned();
        app.admin_ok("mutation($id: ID!) { addSegmentMembers(id: $id, input: { customerExternalIds: [\"Neo\"] }) { size } }",
            json!({ "id": segment })).await;

        enable(&app, "PURCHASE_ANNIVERSARY", json!({ "sendHour": 0 })).await;
        enable(&app, "WELCOME", json!({ "sendHour": 0 })).await;
        enable(&app, "HOLIDAY", json!({ "sendHour": 0, "settings": { "holidays": [
            { "date": today.to_string(), "name": "Founders Day", "nameZhCn": "店庆日" }] } })).await;
        enable(&app, "SEGMENT_ENTRY", json!({ "sendHour": 0, "target": { "segmentId": segment } })).await;
        let noon = format!("{today}T12:00:00Z");
        let stats = produce(&app, &noon).await;
        assert_eq!(stats["queued"], json!({ "Purchase anniversary": 1, "Welcome": 1, "Holiday greetings": 2, "Segment entry": 1 }));
        assert_eq!(produce(&app, &noon).await["queued"]["Holiday greetings"], 0);

        // Quiet hours and the cap apply: one email per customer today, the rest wait.
        let report = send(&app, &noon).await;
        assert_eq!((report.sent, report.deferred), (2, 3), "{report:?}");
        let files: Vec<String> = std::fs::read_dir(app.outbox.path()).unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .collect();
        assert_eq!(files.len(), 2);
        let subjects: Vec<String> = files.iter()
            .map(|f| MessageParser::default().parse(f.as_bytes()).unwrap().subject().unwrap_or_default().to_owned())
            .collect();
        assert!(subjects.iter().any(|s| s.contains("1 year")), "{subjects:?}");
        let all = emails(&app, json!({})).await;
        let kinds = |id: &str| -> Vec<String> { all.iter().filter(|e| e["customerId"] == id).map(|e| e["kind"].as_str().unwrap().to_owned()).collect() };
        let mut neo = kinds(&newcomer);
        neo.sort();
        assert_eq!(neo, ["HOLIDAY", "SEGMENT_ENTRY", "WELCOME"]);
        let segment_email = all.iter().find(|e| e["kind"] == "SEGMENT_ENTRY").unwrap();
        assert!(segment_email["dedupeKey"].as_str().unwrap().starts_with("segment_entry:"));
        // Three days later everything deferred has gone out, in the customer's language.
        let later = format!("{}T12:00:00Z", today + chrono::Duration::days(7));
        send(&app, &later).await;
        send(&app, &format!("{}T12:00:00Z", today + chrono::Duration::days(14))).await;
        assert!(emails(&app, json!({ "status": "QUEUED" })).await.is_empty());
        let bodies: Vec<String> = std::fs::read_dir(app.outbox.path()).unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .collect();
        assert_eq!(bodies.len(), 5);
        let parsed: Vec<String> = bodies.iter().map(|b| MessageParser::default().parse(b.as_bytes()).unwrap().body_text(0).unwrap().into_owned()).collect();
        assert!(parsed.iter().any(|t| t.contains("店庆日")), "holiday name in Chinese for Neo");
        assert!(parsed.iter().any(|t| t.contains("Friends")), "segment name in the entry email");
    })
    .await;
}

#[tokio::test]
async fn the_marketer_digest_reaches_its_recipients_with_figures_and_inline_charts() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let update = "mutation($a: [String!]!) { updateDigestRecipients(addresses: $a) }";
            let bad = app.admin(update, json!({ "a": ["m1@shop.example", "not an address"] })).await;
            assert_eq!(error_code(&bad), "BAD_USER_INPUT");
            assert_eq!(bad["errors"][0]["extensions"]["field"], "addresses[1]");
            // The customers' address rule: bare addresses with a dotted domain, lower-cased.
            let bad = app.admin(update, json!({ "a": ["\"Boss\" <boss@shop.example>", "boss@localhost"] })).await;
            let fields: Vec<&str> = bad["errors"][0]["extensions"]["problems"].as_array().unwrap()
                .iter().map(|p| p["field"].as_str().unwrap()).collect();
            assert_eq!(fields, ["addresses[0]", "addresses[1]"], "{bad}");
            app.admin_ok(update, json!({ "a": ["M1@Shop.Example", "m2@shop.example"] })).await;
            let recipients = app.admin_ok("{ digestRecipients }", json!({})).await;
            assert_eq!(recipients["digestRecipients"], json!(["m1@shop.example", "m2@shop.example"]));

            let today = Utc::now().date_naive();
            for (n, nps) in [10, 9, 3].into_iter().enumerate() {
                let id = customer(&app, &format!("D{n}"), json!({})).await;
                app.record_orders(json!([{ "externalId": format!("D{n}-1"), "customerId": id, "amount": "25.50",
                    "currency": "USD", "orderedAt": format!("{}T12:00:00Z", today - chrono::Duration::days(2)) }])).await;
                app.admin_ok(
                    "mutation($id: ID!, $score: Int!) { recordFeedback(input: { customerId: $id, kind: NPS, score: $score }) { id } }",
                    json!({ "id": id, "score": nps }),
                )
                .await;
            }
            // One CSAT answer, which the NPS leaves out.
            let csat = customer(&app, "D-csat", json!({})).await;
            app.admin_ok(
                "mutation($id: ID!) { recordFeedback(input: { customerId: $id, kind: CSAT, score: 1 }) { id } }",
                json!({ "id": csat }),
            )
            .await;
            run_job(&app, "lifecycle", &Utc::now().to_rfc3339()).await;
            let tomorrow = format!("{}T08:00:00Z", today + chrono::Duration::days(1));
            assert_eq!(run_job(&app, "marketer-digest", &tomorrow).await["queued"], 2);
            assert_eq!(run_job(&app, "marketer-digest", &tomorrow).await["queued"], 0, "once per week");
            assert_eq!(send(&app, &tomorrow).await.sent, 2);

            let received = received_since(&sink, before);
            assert_eq!(received.iter().map(|m| m.rcpt_to[0].as_str()).collect::<Vec<_>>(), ["m1@shop.example", "m2@shop.example"]);
            let digest = parse(&received[0]);
            assert!(digest.subject().unwrap().contains("Test Shop"), "{:?}", digest.subject());
            assert!(header(&digest, "Content-Type").starts_with("multipart/alternative"));
            assert!(digest.header_raw("List-Unsubscribe").is_none(), "internal mail has no unsubscribe");
            let html = digest.body_html(0).unwrap();
            assert!(html.contains("76.50"), "the week's revenue (3 × 25.50)");
            // NPS: (2 promoters − 1 detractor) / 3 answers.
            let week = jobs::campaigns::digest::measure(&app.db, today + chrono::Duration::days(1)).await.unwrap();
            assert_eq!(week.summary.nps, Some(33.3));
            let images: Vec<_> = digest.parts.iter()
                .filter(|p| p.content_type().is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png")))
                .collect();
            assert_eq!(images.len(), 2);
            for image in images {
                let cid = image.content_id().unwrap();
                assert!(html.contains(&format!("cid:{cid}")), "{cid} is shown in the HTML");
                assert!(image.contents().starts_with(b"\x89PNG"), "a PNG");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn customers_in_taiwan_hong_kong_and_macau_are_written_to_in_traditional_chinese() {
    on_each_database(|app| async move {
        let today = Utc::now().date_naive() - chrono::Duration::days(1);
        let mut locales = std::collections::HashMap::new();
        for (name, locale) in [("Mei", "zh-TW"), ("Wing", "zh-HK"), ("Kit", "zh-MO"),
            ("Ying", "zh-Hant-TW"), ("Neo", "zh-CN"), ("Lin", "zh-SG"), ("Ana", "en-GB"), ("Jean", "fr-FR")] {
            locales.insert(customer(&app, name, json!({ "locale": locale })).await, locale);
        }
        // A campaign may bring its own Traditional Chinese subject; the body stays built in.
        enable(&app, "HOLIDAY", json!({ "sendHour": 0,
            "templates": [{ "locale": "zh-Hant", "subject": "{{ store_name }}｜{{ holiday_name }}快樂" }],
            "settings": { "holidays": [{ "date": today.to_string(), "name": "Founders Day",
                "nameZhCn": "店庆日", "nameZhHant": "店慶日" }] } })).await;
        let noon = format!("{today}T12:00:00Z");
        produce(&app, &noon).await;
        assert_eq!(send(&app, &noon).await.sent, 8);
        for email in emails(&app, json!({})).await {
            let locale = locales[email["customerId"].as_str().unwrap()];
            let subject = email["subject"].as_str().unwrap();
            let expected = match locale {
                "zh-TW" | "zh-HK" | "zh-MO" | "zh-Hant-TW" => "Test Shop｜店慶日快樂",
                "zh-CN" | "zh-SG" => "Test Shop 祝您店庆日快乐！",
                _ => "Happy Founders Day from Test Shop",
            };
            assert_eq!(subject, expected, "{locale}");
        }
        let bodies: Vec<String> = std::fs::read_dir(app.outbox.path()).unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .map(|b| MessageParser::default().parse(b.as_bytes()).unwrap().body_text(0).unwrap().into_owned())
            .collect();
        assert_eq!(bodies.iter().filter(|t| t.contains("親愛的") && t.contains("店慶日")).count(), 4);

        // Only template locales are accepted for a campaign's own templates.
        let id = enable(&app, "WELCOME", json!({})).await;
        let refused = app.admin(UPDATE, json!({ "id": id, "input": {
            "templates": [{ "locale": "zh-TW", "subject": "x" }] } })).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT");
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains("zh-Hant"), "{refused}");
    })
    .await;
}
