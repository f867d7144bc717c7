//! The outbox through the API: `Email`, the email list and its filter, and
//! `Customer.emails` and `Campaign.emails` (a page per parent through `EmailPageLoader`).

use async_graphql::{Context, ID, InputObject, Object, Result, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use entity::email;
use jobs::mail::outbox::{self, EmailOwner};
use sea_orm::DatabaseConnection;

use super::parse_id;
use crate::api_keys::Scope;
use crate::graphql::{
    enums::{EmailKind, EmailStatus},
    errors::IntoApi,
    guards::{RequireScope, require},
    loaders::{EmailPageKey, EmailPageLoader, IdPageKey},
    pagination::{IdCursor, Page, PlainConnection, by_id},
    scalars::Date,
};

/// One email of the outbox.
pub struct Email(pub email::Model);

#[Object]
impl Email {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> EmailKind {
        self.0.kind.into()
    }
    async fn status(&self) -> EmailStatus {
        self.0.status.into()
    }
    /// The unique key its producer gave it (`birthday:2026:<customer>`).
    async fn dedupe_key(&self) -> &str {
        &self.0.dedupe_key
    }
    async fn campaign_id(&self) -> Option<ID> {
        self.0.campaign_id.map(|id| ID(id.to_string()))
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer().map(|id| ID(id.to_string()))
    }
    /// Set at each send attempt (null when it never rendered). Personal: greetings
    /// carry the customer's name. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// The address it went to. Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn to_address(&self) -> Option<&str> {
        self.0.to_address.as_deref()
    }
    async fn offer_code(&self) -> Option<&str> {
        self.0.offer_code.as_deref()
    }
    async fn offer_expires_on(&self) -> Option<Date> {
        self.0.offer_expires_on.map(Date)
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The last SMTP reply or rendering error. Personal: servers echo the recipient
    /// (`550 <ann@…>: no such user`). Needs `pii:read`.
    #[graphql(guard = "RequireScope(Scope::PiiRead)")]
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// Why it was not sent: `NO_CONSENT`, `UNSUBSCRIBED`, `ERASED`, `NO_ADDRESS`,
    /// `INVALID_ADDRESS`, `CAMPAIGN_DISABLED`.
    async fn suppression_reason(&self) -> Option<&str> {
        self.0.suppression_reason.map(|reason| reason.as_str())
    }
    /// When it is (or was) due: quiet hours, the frequency cap and retries move it.
    async fn scheduled_for(&self) -> DateTime<Utc> {
        self.0.scheduled_for
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// A win-back email whose customer ordered within the offer window.
    async fn converted(&self) -> bool {
        self.0.converted_at.is_some()
    }
    async fn converted_at(&self) -> Option<DateTime<Utc>> {
        self.0.converted_at
    }
    /// The customer unsubscribed through this email.
    async fn unsubscribed_at(&self) -> Option<DateTime<Utc>> {
        self.0.unsubscribed_at
    }
    async fn message_id(&self) -> Option<&str> {
        self.0.message_id.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Narrows the email list; every part given must hold.
#[derive(InputObject, Default)]
pub struct EmailFilter {
    pub status: Option<EmailStatus>,
    pub kind: Option<EmailKind>,
    pub customer_id: Option<ID>,
    pub campaign_id: Option<ID>,
}

impl EmailFilter {
    fn into_domain(self) -> Result<outbox::EmailFilter> {
        Ok(outbox::EmailFilter {
            status: self.status.map(Into::into),
            kind: self.kind.map(Into::into),
            customer_id: self
                .customer_id
                .map(|id| parse_id("filter.customerId", &id, "customer"))
                .transpose()?,
            campaign_id: self
                .campaign_id
                .map(|id| parse_id("filter.campaignId", &id, "campaign"))
                .transpose()?,
        })
    }
}

/// A page of emails, newest first.
pub(crate) async fn email_page(
    ctx: &Context<'_>,
    filter: EmailFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PlainConnection<Email>> {
    let db = ctx.data::<DatabaseConnection>()?;
    let page = Page::<IdCursor>::forward(first, after)?;
    let filter = filter.into_domain()?;
    let before = page.cursor.map(|IdCursor(id)| id);
    let rows = outbox::page(db, &filter, before, page.fetch_limit())
        .await
        .into_api()?;
    Ok(by_id(&page, rows, |e| e.id, Email))
}

/// `Customer.emails`: the care emails of one customer, newest first.
pub(crate) async fn customer_emails(
    ctx: &Context<'_>,
    customer_id: i64,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PlainConnection<Email>> {
    require(ctx, Scope::CampaignsRead)?;
    emails_of(ctx, EmailOwner::Customer, customer_id, first, after).await
}

/// The emails of one customer or campaign, newest first: a page for every parent of a
/// list in one statement (`EmailPageLoader`).
pub(crate) async fn emails_of(
    ctx: &Context<'_>,
    owner: EmailOwner,
    owner_id: i64,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PlainConnection<Email>> {
    let page = Page::<IdCursor>::forward(first, after)?;
    let loader = ctx.data::<DataLoader<EmailPageLoader>>()?;
    let key = EmailPageKey {
        owner,
        page: IdPageKey::of(owner_id, &page),
    };
    let rows = loader.load_one(key).await?.unwrap_or_default();
    Ok(by_id(&page, rows, |e| e.id, Email))
}
