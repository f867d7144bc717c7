//! Unsubscribe links over time: a link speaks for the consent in force when its email
//! went out, every unsubscribe is dated, and a token has one spelling.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::helpers::{TestApp, on_each_database};

const CONSENT: &str =
    "query($id: ID!) { customer(id: $id) { marketingConsent unsubscribedAt consentUpdatedAt } }";
const SET_CONSENT: &str = "mutation($id: ID!, $c: Boolean!) { updateCustomer(id: $id, input: { marketingConsent: $c }) { id } }";

/// A care email that went out to `customer` just now; its unsubscribe link.
async fn sent_email(app: &TestApp, customer: &str, n: u32) -> String {
    let now = Utc::now();
    let row = entity::email::ActiveModel {
        dedupe_key: Set(format!("unsubscribe-test:{customer}:{n}")),
        kind: Set(entity::EmailKind::Holiday),
        customer_id: Set(Some(customer.parse().unwrap())),
        status: Set(entity::EmailStatus::Sent),
        attempts: Set(1),
        scheduled_for: Set(now),
        sent_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let secret = jobs::mail::unsubscribe::load_or_create_secret(&app.db)
        .await
        .unwrap();
    let token = jobs::mail::unsubscribe::sign(&secret, row.id, customer.parse().unwrap());
    jobs::mail::unsubscribe::url(&app.address, &token)
}

#[tokio::test]
async fn an_old_link_cannot_undo_a_later_consent_and_every_unsubscribe_is_dated() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({ "externalId": "una", "marketingConsent": true }))
            .await;
        let old_link = sent_email(&app, &id, 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;

        // Unsubscribe, then agree again (at the till): the old email's link is stale.
        let first = app.client.post(&old_link).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let after_first = app.admin_ok(CONSENT, json!({ "id": id })).await["customer"].clone();
        assert_eq!(after_first["marketingConsent"], false);
        let first_time = after_first["unsubscribedAt"].as_str().unwrap().to_owned();
        app.admin_ok(SET_CONSENT, json!({ "id": id, "c": true }))
            .await;
        let stale = app.client.post(&old_link).send().await.unwrap();
        assert_eq!(stale.status(), 200);
        assert!(stale.text().await.unwrap().contains("out of date"));
        assert_eq!(
            app.admin_ok(CONSENT, json!({ "id": id })).await["customer"]["marketingConsent"],
            true,
            "the later consent stands"
        );

        // A newer email's link unsubscribes, and the time is the new one.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let new_link = sent_email(&app, &id, 2).await;
        assert_eq!(
            app.client.post(&new_link).send().await.unwrap().status(),
            200
        );
        let after_second = app.admin_ok(CONSENT, json!({ "id": id })).await["customer"].clone();
        assert_eq!(after_second["marketingConsent"], false);
        let second_time = after_second["unsubscribedAt"].as_str().unwrap();
        assert!(
            second_time > first_time.as_str(),
            "{second_time} after {first_time}"
        );
        // Clicking again changes nothing.
        assert_eq!(
            app.client.post(&new_link).send().await.unwrap().status(),
            200
        );
        assert_eq!(
            app.admin_ok(CONSENT, json!({ "id": id })).await["customer"]["unsubscribedAt"],
            json!(second_time)
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_with_respelled_ids_is_refused() {
    on_each_database(|app| async move {
        let id = app
            .create_customer(json!({ "externalId": "zed", "marketingConsent": true }))
            .await;
        let link = sent_email(&app, &id, 1).await;
        let (base, token) = link.rsplit_once('/').unwrap();
        let (email_id, rest) = token.split_once('.').unwrap();
        for respelled in [format!("0{email_id}.{rest}"), format!("+{email_id}.{rest}")] {
            let url = format!("{base}/{respelled}");
            assert_eq!(
                app.client.post(&url).send().await.unwrap().status(),
                400,
                "{url}"
            );
        }
        assert_eq!(
            app.admin_ok(CONSENT, json!({ "id": id })).await["customer"]["marketingConsent"],
            true
        );
    })
    .await;
}
