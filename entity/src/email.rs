use sea_orm::entity::prelude::*;

use crate::{EmailKind, EmailStatus, SuppressionReason};

/// One email in the outbox, from the producer that queued it to its outcome.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "emails")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique with the customer: `birthday:2026:<customer>`; producing twice queues once.
    pub dedupe_key: String,
    pub kind: EmailKind,
    pub campaign_id: Option<i64>,
    /// [`NO_CUSTOMER`] for mail to the business's own people (digests, whose address is
    /// fixed when queued); read it through [`Model::customer`]. (`None` only in rows
    /// written before migration 14, which turned them into `NO_CUSTOMER`.)
    pub customer_id: Option<i64>,
    /// The address it was (or will be, for digests) sent to.
    pub to_address: Option<String>,
    pub subject: Option<String>,
    pub status: EmailStatus,
    pub attempts: i32,
    /// The last SMTP reply or rendering error.
    pub last_error: Option<String>,
    /// Why a `SUPPRESSED` email was not sent.
    pub suppression_reason: Option<SuppressionReason>,
    /// When it is due (deferred by quiet hours, the frequency cap and retries).
    pub scheduled_for: DateTimeUtc,
    /// A dispatcher's claim; once past, another dispatcher may take the row again.
    pub claimed_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub offer_code: Option<String>,
    pub offer_expires_on: Option<Date>,
    /// A win-back email whose customer ordered within the offer window.
    pub converted_at: Option<DateTimeUtc>,
    /// The customer unsubscribed through this email's link.
    pub unsubscribed_at: Option<DateTimeUtc>,
    pub payload: Option<String>,
    pub message_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The customer id that mail to the business's own people (the marketer digest) is filed
/// under. No customer has it (ids start at 1). It exists because the outbox is
/// distributed by customer on Citus, where the distribution column cannot be NULL.
pub const NO_CUSTOMER: i64 = 0;

impl Model {
    /// The customer this email is to, if it is to a customer.
    pub fn customer(&self) -> Option<i64> {
        self.customer_id.filter(|id| *id != NO_CUSTOMER)
    }
}
