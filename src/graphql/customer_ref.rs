//! Inputs that name a customer by `customerId` or `customerExternalId` (the lookup is
//! `jobs::customers::resolve_refs`).

use async_graphql::{ID, Result};
use sea_orm::DatabaseConnection;

use crate::graphql::errors::{OrInternal, Problems};

/// One row's reference to a customer, as sent.
pub struct CustomerRef<'a> {
    pub index: Option<usize>,
    pub prefix: String,
    pub customer_id: Option<&'a ID>,
    pub customer_external_id: Option<&'a str>,
}

/// Resolves every reference; a missing, doubled or unknown reference is a problem at
/// `<prefix>.customerId` / `<prefix>.customerExternalId`.
pub async fn resolve(
    db: &DatabaseConnection,
    refs: &[CustomerRef<'_>],
    problems: &mut Problems,
) -> Result<Vec<Option<i64>>> {
    let refs: Vec<jobs::customers::CustomerRef> = refs
        .iter()
        .map(|r| jobs::customers::CustomerRef {
            index: r.index,
            prefix: r.prefix.clone(),
            customer_id: r.customer_id.map(|id| id.as_str()),
            customer_external_id: r.customer_external_id,
        })
        .collect();
    jobs::customers::resolve_refs(db, &refs, problems)
        .await
        .or_internal()
}
