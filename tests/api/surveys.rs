//! Survey emails end to end: the `SURVEY` producer (days after an order, a cooldown),
//! the email with its eleven signed score links delivered to a real SMTP server, clicks
//! that record one answer per email and change its score, tampered links, concurrent
//! clicks, the comment form, the upgrade to migration 16, and the thank-you page in a
//! real browser. Figures are checked against what the test itself computes.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use futures::FutureExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::care::{at, customer, emails, enable, parse, produce, received_since, send, smtp};
use crate::helpers::{
    TestApp, error_code, migrate_down_to_before, on_each_database, on_each_database_with,
};
use crate::smtp_sink::SmtpSink;

const ANSWERS: &str = "query($id: ID!) { customer(id: $id) { feedback(first: 50) { nodes { id kind score comment channel topics extractedTerms occurredAt } } } }";

/// A customer's answers as the API lists them.
async fn answers(app: &TestApp, customer: &str) -> Vec<Value> {
    app.admin_ok(ANSWERS, json!({ "id": customer })).await["customer"]["feedback"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Rows of a table for a customer, counted in SQL (not through the code under test).
async fn count_rows(app: &TestApp, table: &str, customer: &str) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table} WHERE customer_id = {customer}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// The link for `score` of a survey email, signed as the dispatcher signs it.
async fn score_link(app: &TestApp, email_id: &str, customer: &str, score: i32) -> String {
    let context = app.job_context();
    let secret = context.mail.secret(&app.db).await.unwrap();
    jobs::surveys::ScoreLink {
        email_id: email_id.parse().unwrap(),
        customer_id: customer.parse().unwrap(),
        score,
    }
    .url(secret, &app.address)
}

/// The token at the end of a survey link.
fn token_of(link: &str) -> &str {
    link.rsplit_once("/survey/").unwrap().1
}

async fn get(app: &TestApp, url: &str) -> (u16, String) {
    let response = app.client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `application/x-www-form-urlencoded`, as a browser writes a form.
fn form_body(fields: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params("http://form.test/", fields)
        .unwrap()
        .query()
        .unwrap_or_default()
        .to_owned()
}

async fn post_comment(app: &TestApp, token: &str, comment: &str) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}/survey/comment", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[("token", token), ("comment", comment)]))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// NPS as the report defines it, computed here: 100 × (promoters − detractors) / answers.
fn nps(scores: &[i64]) -> f64 {
    let promoters = scores.iter().filter(|s| **s >= 9).count() as f64;
    let detractors = scores.iter().filter(|s| **s <= 6).count() as f64;
    100.0 * (promoters - detractors) / scores.len() as f64
}

/// The overall NPS figures of the satisfaction report, for the email channel or all,
/// over the day around now.
async fn report(app: &TestApp, channel: Option<&str>) -> Value {
    let now = Utc::now();
    let mut filter = json!({
        "from": (now - Duration::days(1)).to_rfc3339(),
        "to": (now + Duration::days(1)).to_rfc3339(),
    });
    if let Some(channel) = channel {
        filter["channel"] = json!(channel);
    }
    app.admin_ok(
        "query($filter: SatisfactionFilter) { satisfaction(filter: $filter, bucket: MONTH) { overall { current { npsResponses promoters passives detractors nps } } } }",
        json!({ "filter": filter }),
    )
    .await["satisfaction"]["overall"]["current"]
        .clone()
}

/// Checks the report against the scores the test knows.
#[track_caller]
fn assert_report(report: &Value, scores: &[i64]) {
    let count = |f: fn(i64) -> bool| scores.iter().filter(|s| f(**s)).count() as i64;
    assert_eq!(report["npsResponses"], scores.len() as i64, "{report}");
    assert_eq!(report["promoters"], count(|s| s >= 9), "{report}");
    assert_eq!(
        report["passives"],
        count(|s| (7..=8).contains(&s)),
        "{report}"
    );
    assert_eq!(report["detractors"], count(|s| s <= 6), "{report}");
    let reported = report["nps"].as_f64().unwrap();
    assert!(
        (reported - nps(scores)).abs() < 1e-9,
        "{report} vs {scores:?}"
    );
}

/// The `SURVEY` emails of a customer: (dedupe key, scheduledFor, status).
async fn surveys_of(app: &TestApp, customer: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> =
        emails(app, json!({ "customerId": customer, "kind": "SURVEY" }))
            .await
            .iter()
            .map(|e| {
                (
                    e["dedupeKey"].as_str().unwrap().to_owned(),
                    e["scheduledFor"].as_str().unwrap().to_owned(),
                    e["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    rows.sort();
    rows
}

/// One order; its id.
async fn order(app: &TestApp, customer: &str, external_id: &str, at: &str) -> String {
    let recorded = app
        .record_orders(json!([{ "externalId": external_id, "customerId": customer,
            "amount": "25.00", "currency": "EUR", "orderedAt": at }]))
        .await;
    recorded["orders"][0]["id"].as_str().unwrap().to_owned()
}

/// The day a survey is due for an order at `ordered` (UTC) in `zone`, computed here: the
/// order's local day plus `days`.
fn due_day(ordered: &str, zone: chrono_tz::Tz, days: i64) -> NaiveDate {
    at(ordered).with_timezone(&zone).date_naive() + Duration::days(days)
}

#[tokio::test]
async fn a_survey_is_queued_seven_local_days_after_an_order_and_not_again_within_ninety_days() {
    on_each_database(|app| async move {
        let ada = customer(&app, "Ada", json!({})).await;
        let lin = customer(&app, "Lin", json!({ "timeZone": "Asia/Shanghai", "locale": "zh-CN" })).await;
        let idle = customer(&app, "Idle", json!({})).await;
        let campaign = enable(&app, "SURVEY", json!({})).await;
        let settings = app
            .admin_ok("query($id: ID!) { campaign(id: $id) { name settings { daysAfterOrder cooldownDays } } }", json!({ "id": campaign }))
            .await;
        assert_eq!(settings["campaign"]["name"], "Satisfaction survey");
        assert_eq!(settings["campaign"]["settings"], json!({ "daysAfterOrder": 7, "cooldownDays": 90 }));
        let bad = app
            .admin(
                "mutation($id: ID!) { updateCampaign(id: $id, input: { settings: { daysAfterOrder: 0 } }) { id } }",
                json!({ "id": campaign }),
            )
            .await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
        assert_eq!(bad["errors"][0]["extensions"]["field"], "input.settings.daysAfterOrder", "{bad}");

        // Ada orders at 10:00 UTC on 1 March; Lin at 20:00 UTC, which is already 2 March
        // in Shanghai.
        let ada_order = order(&app, &ada, "ada-1", "2026-03-01T10:00:00Z").await;
        let lin_order = order(&app, &lin, "lin-1", "2026-03-01T20:00:00Z").await;
        let utc = chrono_tz::Tz::UTC;
        let shanghai = chrono_tz::Tz::Asia__Shanghai;
        assert_eq!(due_day("2026-03-01T10:00:00Z", utc, 7), NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
        assert_eq!(due_day("2026-03-01T20:00:00Z", shanghai, 7), NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());

        // Six days later: nobody.
        let stats = produce(&app, "2026-03-07T12:00:00Z").await;
        assert_eq!(stats["queued"]["Satisfaction survey"], 0, "{stats}");
        // 8 March 12:00 UTC: Ada's seventh day (past 09:00: at once); 20:00 in
        // Shanghai, still Lin's sixth.
        let stats = produce(&app, "2026-03-08T12:00:00Z").await;
        assert_eq!(stats["queued"]["Satisfaction survey"], 1, "{stats}");
        assert_eq!(
            surveys_of(&app, &ada).await,
            [(format!("survey:{ada}:{ada_order}"), "2026-03-08T12:00:00+00:00".to_owned(), "QUEUED".to_owned())]
        );
        assert!(surveys_of(&app, &lin).await.is_empty());
        // Run again: nothing new.
        let stats = produce(&app, "2026-03-08T13:00:00Z").await;
        assert_eq!(stats["queued"]["Satisfaction survey"], 0, "{stats}");
        // 9 March 00:30 UTC is 08:30 in Shanghai on Lin's seventh day: queued for 09:00
        // local, 01:00 UTC.
        let stats = produce(&app, "2026-03-09T00:30:00Z").await;
        assert_eq!(stats["queued"]["Satisfaction survey"], 1, "{stats}");
        let nine_local = shanghai
            .from_local_datetime(&due_day("2026-03-01T20:00:00Z", shanghai, 7).and_hms_opt(9, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            surveys_of(&app, &lin).await,
            [(format!("survey:{lin}:{lin_order}"), nine_local.to_rfc3339(), "QUEUED".to_owned())]
        );
        assert!(surveys_of(&app, &idle).await.is_empty(), "no order, no survey");

        // Ada orders again 24 days after the first survey, and 94 days after it: the
        // first is within the 90 days (no survey), the second is not.
        let first_survey = at("2026-03-08T12:00:00Z");
        let second = order(&app, &ada, "ada-2", "2026-04-01T10:00:00Z").await;
        let stats = produce(&app, "2026-04-08T12:00:00Z").await;
        assert_eq!(stats["queued"]["Satisfaction survey"], 0, "{stats}");
        assert!(at("2026-04-08T12:00:00Z") < first_survey + Duration::days(90));
        assert_eq!(surveys_of(&app, &ada).await.len(), 1);
        let third = order(&app, &ada, "ada-3", "2026-06-10T10:00:00Z").await;
        let run = at("2026-06-17T12:00:00Z");
        assert!(run >= first_survey + Duration::days(90));
        let stats = produce(&app, &run.to_rfc3339()).await;
        assert_eq!(stats["queued"]["Satisfaction survey"], 1, "{stats}");
        let keys: Vec<String> = surveys_of(&app, &ada).await.into_iter().map(|(key, _, _)| key).collect();
        assert_eq!(keys, [format!("survey:{ada}:{ada_order}"), format!("survey:{ada}:{third}")]);
        assert!(!keys.iter().any(|key| key.ends_with(&format!(":{second}"))));
    })
    .await;
}

#[tokio::test]
async fn a_survey_email_carries_eleven_signed_links_and_clicks_record_one_answer_per_email() {
    let sink = SmtpSink::start().await;
    on_each_database_with(smtp(&sink), |app| {
        let sink = sink.clone();
        async move {
            let before = sink.messages().len();
            let ada = customer(&app, "Ada", json!({})).await;
            let no_consent = customer(&app, "Quiet", json!({ "marketingConsent": false })).await;
            order(&app, &ada, "ada-1", "2026-03-01T10:00:00Z").await;
            order(&app, &no_consent, "quiet-1", "2026-03-01T10:00:00Z").await;
            enable(&app, "SURVEY", json!({})).await;
            produce(&app, "2026-03-08T12:00:00Z").await;
            let dispatched = send(&app, "2026-03-08T12:00:00Z").await;
            assert_eq!((dispatched.sent, dispatched.suppressed), (1, 1), "{dispatched:?}");
            let quiet = emails(&app, json!({ "customerId": no_consent, "kind": "SURVEY" })).await;
            assert_eq!(quiet[0]["suppressionReason"], "NO_CONSENT");

            let received = received_since(&sink, before);
            assert_eq!(received.len(), 1);
            assert_eq!(received[0].rcpt_to, vec!["ada@mail.example"]);
            let message = parse(&received[0]);
            assert_eq!(message.subject(), Some("How did we do, Ada? One click tells us"));
            // The text part lists each score with its URL; the HTML links the same URLs
            // (with `/` escaped), each reading its score.
            let text = message.body_text(0).unwrap().to_string();
            let html = message.body_html(0).unwrap().to_string();
            let prefix = format!("{}/survey/", app.address);
            let mut links = BTreeMap::new();
            for line in text.lines() {
                if let Some((score, url)) = line.split_once(": ")
                    && url.starts_with(&prefix)
                {
                    links.insert(score.trim().parse::<i32>().unwrap(), url.trim().to_owned());
                }
            }
            assert_eq!(links.keys().copied().collect::<Vec<_>>(), (0..=10).collect::<Vec<_>>(), "{text}");
            assert_eq!(text.matches(&prefix).count(), 11);
            assert_eq!(html.matches("&#x2f;survey&#x2f;").count(), 11, "{html}");
            for (score, url) in &links {
                let href = format!("href=\"{}\"", url.replace('/', "&#x2f;"));
                let (_, after) = html.split_once(&href).unwrap_or_else(|| panic!("no link for {score}: {html}"));
                assert!(after.split_once('>').unwrap().1.starts_with(&format!("{score}</a>")), "{score}");
            }
            // Each token names this email, this customer and its score.
            let email_id = emails(&app, json!({ "customerId": ada, "kind": "SURVEY" })).await[0]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            for (score, url) in &links {
                assert_eq!(url, &score_link(&app, &email_id, &ada, *score).await);
            }

            // Others answered through other channels: the report counts everyone.
            let bo = customer(&app, "Bo", json!({})).await;
            for (score, channel) in [(10, "WEB"), (7, "PHONE")] {
                app.admin_ok(
                    "mutation($input: FeedbackInput!) { recordFeedback(input: $input) { id } }",
                    json!({ "input": { "customerId": bo, "kind": "NPS", "score": score, "channel": channel } }),
                )
                .await;
            }
            assert!(answers(&app, &ada).await.is_empty());

            // A click on 9 records one NPS answer through the email channel.
            let (status, page) = get(&app, &links[&9]).await;
            assert_eq!(status, 200, "{page}");
            assert!(page.contains("Thank you for your feedback!") && page.contains("<strong>9</strong>"), "{page}");
            assert!(page.contains("<html lang=\"en\">"), "{page}");
            let first = answers(&app, &ada).await;
            assert_eq!(first.len(), 1);
            assert_eq!((first[0]["kind"].as_str(), first[0]["score"].as_i64(), first[0]["channel"].as_str()),
                       (Some("NPS"), Some(9), Some("EMAIL")));
            assert_report(&report(&app, None).await, &[10, 7, 9]);
            assert_report(&report(&app, Some("EMAIL")).await, &[9]);

            // Another link of the same email changes that answer: still one row.
            let (status, page) = get(&app, &links[&3]).await;
            assert_eq!(status, 200);
            assert!(page.contains("We changed your answer to <strong>3</strong>"), "{page}");
            let changed = answers(&app, &ada).await;
            assert_eq!(changed.len(), 1);
            assert_eq!(changed[0]["id"], first[0]["id"], "the same answer");
            assert_eq!(changed[0]["score"], 3);
            assert_eq!(changed[0]["occurredAt"], first[0]["occurredAt"], "answered when first clicked");
            assert_eq!(count_rows(&app, "feedback", &ada).await, 1);
            assert_eq!(count_rows(&app, "survey_responses", &ada).await, 1);
            assert_report(&report(&app, None).await, &[10, 7, 3]);
            assert_report(&report(&app, Some("EMAIL")).await, &[3]);
            // The same link again changes nothing.
            assert_eq!(get(&app, &links[&3]).await.0, 200);
            assert_eq!(answers(&app, &ada).await, changed);

            // Tampered links: 400 with a clear page, nothing recorded.
            let token = token_of(&links[&3]);
            let (ids, signature) = token.rsplit_once('.').unwrap();
            let forged = [
                format!("{ids}.{}", signature.chars().rev().collect::<String>()),
                token.replacen(&format!(".{ada}.3."), &format!(".{ada}.10."), 1),
                token.replacen(&format!(".{ada}."), &format!(".{bo}."), 1),
                token.replacen(&format!("{email_id}."), &format!("0{email_id}."), 1),
                jobs::mail::unsubscribe::sign(app.job_context().mail.secret(&app.db).await.unwrap(), email_id.parse().unwrap(), ada.parse().unwrap()),
                "garbage".to_owned(),
            ];
            for bad in forged {
                assert_ne!(bad, token);
                let (status, page) = get(&app, &format!("{}/survey/{bad}", app.address)).await;
                assert_eq!(status, 400, "{bad}");
                assert!(page.contains("This survey link is not valid") && page.contains("Nothing was recorded"), "{page}");
            }
            assert_eq!(answers(&app, &ada).await, changed);
            assert!(answers(&app, &bo).await.iter().all(|a| a["channel"] != "EMAIL"));
            assert_report(&report(&app, None).await, &[10, 7, 3]);
            // A genuine link of an email that is no survey (a birthday greeting) records
            // nothing either.
            let birthday = app.sent_email("birthday:2027:x", entity::EmailKind::Birthday, &ada, None).await;
            let (status, _) = get(&app, &score_link(&app, &birthday, &ada, 10).await).await;
            assert_eq!(status, 400);
            assert_eq!(count_rows(&app, "feedback", &ada).await, 1);
        }
    })
    .await;
}

/// A survey email to `customer`, as the dispatcher leaves it; its id.
async fn survey_email(app: &TestApp, customer: &str, n: u32) -> String {
    app.sent_email(
        &format!("survey:{customer}:{n}"),
        entity::EmailKind::Survey,
        customer,
        None,
    )
    .await
}

#[tokio::test]
async fn thirty_two_concurrent_clicks_of_one_email_leave_exactly_one_answer() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "email": "ada@example.com", "marketingConsent": true })).await;
        let email = survey_email(&app, &ada, 1).await;
        let mut links = Vec::new();
        for i in 0..32 {
            links.push(score_link(&app, &email, &ada, i % 11).await);
        }
        let clicks = links.iter().map(|link| get(&app, link));
        let pages = futures::future::join_all(clicks).await;
        for (status, page) in &pages {
            assert_eq!(*status, 200, "{page}");
        }
        assert_eq!(count_rows(&app, "feedback", &ada).await, 1);
        assert_eq!(count_rows(&app, "survey_responses", &ada).await, 1);
        let answer = answers(&app, &ada).await;
        assert_eq!(answer.len(), 1);
        let score = answer[0]["score"].as_i64().unwrap();
        assert!((0..=10).contains(&score));
        // Exactly one click recorded the answer; the others changed it.
        let recorded = pages.iter().filter(|(_, page)| page.contains("You gave")).count();
        assert_eq!(recorded, 1);
        // The link row points at that answer.
        let linked = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                format!("SELECT feedback_id FROM survey_responses WHERE customer_id = {ada} AND email_id = {email}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "feedback_id")
            .unwrap();
        assert_eq!(answer[0]["id"], linked.to_string());
        assert_report(&report(&app, None).await, &[score]);
    })
    .await;
}

#[tokio::test]
async fn the_comment_form_stores_a_bounded_comment_and_its_terms_on_the_same_answer() {
    on_each_database(|app| async move {
        let lin = app
            .create_customer(
                json!({ "email": "lin@example.com", "marketingConsent": true, "locale": "zh-CN" }),
            )
            .await;
        let email = survey_email(&app, &lin, 1).await;
        let link = score_link(&app, &email, &lin, 4).await;
        let (status, page) = get(&app, &link).await;
        assert_eq!(status, 200);
        // In the customer's language, with the form carrying the signed link.
        assert!(
            page.contains("<html lang=\"zh-CN\">") && page.contains("感谢您的反馈"),
            "{page}"
        );
        let token = token_of(&link);
        assert!(
            page.contains(&format!(
                "<input type=\"hidden\" name=\"token\" value=\"{token}\">"
            )),
            "{page}"
        );
        assert!(
            page.contains("<form method=\"post\" action=\"/survey/comment\">"),
            "{page}"
        );

        let (status, page) = post_comment(&app, token, "  物流太慢了，包装也破了  ").await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("您的意见已保存") && page.contains(">物流太慢了，包装也破了</textarea>"),
            "{page}"
        );
        let answer = answers(&app, &lin).await;
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0]["score"], 4);
        assert_eq!(answer[0]["comment"], "物流太慢了，包装也破了");
        let terms: Vec<&str> = answer[0]["extractedTerms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            terms.contains(&"物流") && terms.contains(&"包装"),
            "{terms:?}"
        );
        assert_eq!(answer[0]["topics"], json!([]));

        // A new comment replaces the old one and its terms, on the same answer.
        let (status, _) = post_comment(&app, token, "The delivery was late <b>again</b>").await;
        assert_eq!(status, 200);
        let again = answers(&app, &lin).await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0]["id"], answer[0]["id"]);
        assert_eq!(again[0]["comment"], "The delivery was late <b>again</b>");
        let terms: Vec<&str> = again[0]["extractedTerms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            terms.contains(&"delivery") && !terms.contains(&"物流"),
            "{terms:?}"
        );
        // Markup in a comment is shown, not run.
        let (_, page) = get(&app, &link).await;
        assert!(
            page.contains("&lt;b&gt;again&lt;/b&gt;</textarea>") && !page.contains("<b>again"),
            "{page}"
        );
        // The topics report sees the new terms only.
        let topics = app
            .admin_ok(
                "{ feedbackTopics(filter: { channel: EMAIL }) { topic source } }",
                json!({}),
            )
            .await;
        let listed: Vec<&str> = topics["feedbackTopics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["topic"].as_str().unwrap())
            .collect();
        assert!(
            listed.contains(&"delivery") && !listed.contains(&"物流"),
            "{topics}"
        );

        // Too long (counted in characters), empty, tampered: refused with a clear page,
        // and nothing changes.
        let long = "好".repeat(jobs::surveys::COMMENT_CHARS + 1);
        let (status, page) = post_comment(&app, token, &long).await;
        assert_eq!(status, 400);
        assert!(
            page.contains(&format!(
                "您的意见共 {} 个字，最多只能 {} 个字",
                jobs::surveys::COMMENT_CHARS + 1,
                jobs::surveys::COMMENT_CHARS
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!(">{long}</textarea>")),
            "what was written is kept in the form"
        );
        let (status, page) = post_comment(&app, token, "   ").await;
        assert_eq!(status, 400);
        assert!(page.contains("请先写下您的意见"), "{page}");
        let (ids, signature) = token.rsplit_once('.').unwrap();
        let forged = format!("{ids}.{}", signature.chars().rev().collect::<String>());
        let (status, page) = post_comment(&app, &forged, "hacked").await;
        assert_eq!(status, 400);
        assert!(page.contains("This survey link is not valid"), "{page}");
        // A body beyond any comment: the too-long page, not a bare error.
        let huge = "x".repeat(100 * 1024);
        let (status, page) = post_comment(&app, token, &huge).await;
        assert_eq!(status, 413);
        assert!(page.contains("too long"), "{page}");
        assert_eq!(answers(&app, &lin).await, again);
        // Exactly the limit fits.
        let longest = "好".repeat(jobs::surveys::COMMENT_CHARS);
        assert_eq!(post_comment(&app, token, &longest).await.0, 200);
        assert_eq!(answers(&app, &lin).await[0]["comment"], longest.as_str());

        // A comment sent before any click answers with the link's score.
        let second = survey_email(&app, &lin, 2).await;
        let link = score_link(&app, &second, &lin, 10).await;
        let (status, _) = post_comment(&app, token_of(&link), "Great quality").await;
        assert_eq!(status, 200);
        let both = answers(&app, &lin).await;
        assert_eq!(both.len(), 2);
        assert_eq!(
            (both[0]["score"].as_i64(), both[0]["comment"].as_str()),
            (Some(10), Some("Great quality"))
        );
        assert_eq!(count_rows(&app, "survey_responses", &lin).await, 2);

        // Erased customers: the link records nothing any more.
        app.admin_ok(
            "mutation($id: ID!) { eraseCustomer(id: $id) { id } }",
            json!({ "id": lin }),
        )
        .await;
        let (status, _) = get(&app, &score_link(&app, &email, &lin, 9).await).await;
        assert_eq!(status, 410);
        assert_eq!(count_rows(&app, "feedback", &lin).await, 2);
    })
    .await;
}

#[tokio::test]
async fn upgrading_to_survey_responses_keeps_answers_and_installs_the_survey_campaign_once() {
    on_each_database(|app| async move {
        let ada = app.create_customer(json!({ "email": "ada@example.com", "marketingConsent": true })).await;
        app.admin_ok(
            "mutation($input: FeedbackInput!) { recordFeedback(input: $input) { id } }",
            json!({ "input": { "customerId": ada, "kind": "NPS", "score": 8, "comment": "Good service" } }),
        )
        .await;
        let before = answers(&app, &ada).await;
        migrate_down_to_before(&app, "m20261130_000016_survey_responses").await;
        assert!(app.db.execute_unprepared("SELECT 1 FROM survey_responses").await.is_err(), "version 15 has no survey responses");
        // What version 15 left: the first six built-ins (one deleted by a marketer) and
        // their one key; no survey campaign, nor those of the kinds added after it.
        for statement in [
            "DELETE FROM campaigns WHERE kind IN ('SURVEY', 'TIER_UPGRADE', 'POINTS_EXPIRING') OR name = 'Welcome'",
            "DELETE FROM app_settings WHERE key LIKE 'campaigns.built_in_installed.%'",
        ] {
            app.db.execute_unprepared(statement).await.unwrap();
        }

        clientele::database::migrate(&app.db).await.unwrap();
        jobs::campaigns::install_built_ins(&app.db).await.unwrap();
        jobs::campaigns::install_built_ins(&app.db).await.unwrap();
        let kinds = app.admin_ok("{ campaigns(first: 50) { nodes { name kind enabled } } }", json!({})).await;
        let names: Vec<&str> = kinds["campaigns"]["nodes"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "Birthday greetings",
                "Win-back offer",
                "Purchase anniversary",
                "Holiday greetings",
                "Segment entry",
                "Satisfaction survey",
                "Membership tier upgrade",
                "Points expiring"
            ],
            "the survey (and each later kind) is installed once, the deleted one stays deleted"
        );
        assert_eq!(answers(&app, &ada).await, before);

        // The new flow works on the upgraded database.
        let email = survey_email(&app, &ada, 1).await;
        assert_eq!(get(&app, &score_link(&app, &email, &ada, 6).await).await.0, 200);
        assert_eq!(get(&app, &score_link(&app, &email, &ada, 9).await).await.0, 200);
        let after = answers(&app, &ada).await;
        assert_eq!(after.len(), 2);
        assert_eq!(after[1], before[0], "the old answer is untouched");
        assert_eq!((after[0]["score"].as_i64(), after[0]["channel"].as_str()), (Some(9), Some("EMAIL")));
        assert_report(&report(&app, None).await, &[8, 9]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// The thank-you page in a real browser (Debian's chromium through chromedriver, as the
// GraphiQL test drives it): no internet, nothing blocked by the page's policy.

#[tokio::test]
async fn the_thank_you_page_works_in_a_headless_browser_without_internet() {
    use crate::graphiql::{browser_available, open_browser, start_chromedriver};
    if !browser_available("the_thank_you_page_works_in_a_headless_browser_without_internet") {
        return;
    }
    // The page does not depend on the database; SQLite is enough.
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let ada = app
        .create_customer(json!({ "email": "ada@example.com", "marketingConsent": true }))
        .await;
    let email = survey_email(&app, &ada, 1).await;
    let link = score_link(&app, &email, &ada, 9).await;
    let driver = start_chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&driver, profile.path()).await;
    let outcome = std::panic::AssertUnwindSafe(drive(&browser, &app, &link, &ada))
        .catch_unwind()
        .await;
    let _ = browser.client.delete(&browser.session).send().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The text of the element with `id` once it is there (the page may still be loading).
async fn text_of(browser: &crate::graphiql::Browser, id: &str) -> Value {
    browser
        .wait_for(
            id,
            "const e = document.getElementById(arguments[0]); return e && (e.value || e.innerText);",
            json!([id]),
        )
        .await
}

async fn drive(browser: &crate::graphiql::Browser, app: &TestApp, link: &str, ada: &str) {
    browser.post("/url", json!({ "url": link })).await;
    assert_eq!(
        text_of(browser, "score").await,
        "You gave Test Shop a 9 out of 10."
    );
    let heading = browser
        .script("return document.querySelector('h1').innerText;", json!([]))
        .await;
    assert_eq!(heading, "Thank you for your feedback!");
    // The stylesheet applied: the policy admitted it by its hash.
    let width = browser
        .script(
            "return getComputedStyle(document.body).maxWidth;",
            json!([]),
        )
        .await;
    assert_eq!(width, "480px");
    assert_eq!(answers(app, ada).await[0]["score"], 9);

    browser.click("#comment").await;
    browser.type_text("Fast delivery, lovely packaging").await;
    browser.click("button[type=submit]").await;
    assert_eq!(
        text_of(browser, "notice").await,
        "Your comment was saved. Thank you!"
    );
    assert_eq!(
        text_of(browser, "comment").await,
        "Fast delivery, lovely packaging"
    );
    let answer = answers(app, ada).await;
    assert_eq!(answer.len(), 1);
    assert_eq!(
        (answer[0]["score"].as_i64(), answer[0]["comment"].as_str()),
        (Some(9), Some("Fast delivery, lovely packaging"))
    );
    browser.screenshot("survey-thank-you.png").await;

    // Nothing came from elsewhere, nothing was blocked or failed.
    crate::graphiql::assert_loaded_only_from(browser, &app.address).await;
}
