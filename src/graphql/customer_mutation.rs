//! Writing customers: create, update, bulk upsert by externalId, and privacy erasure
//! (the rules are `jobs::customers`).

use std::convert::identity;

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use jobs::customers::{Disclosure, Outcome, Patch};
use sea_orm::DatabaseConnection;

use crate::api_keys::Scope;
use crate::graphql::{
    customer::Customer,
    enums::Gender,
    errors::IntoApi,
    guards::{RequireScope, principal},
    scalars::Date,
};

/// The profile fields shared by the create, update and upsert inputs. On update and
/// upsert an absent field is left as it is and `null` clears it (`gender`, `locale`,
/// `timeZone` and `marketingConsent` go back to their defaults).
#[derive(InputObject, Default)]
pub struct CustomerFields {
    pub name: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    /// E.164, e.g. `+8613800138000`.
    pub phone: MaybeUndefined<String>,
    pub gender: MaybeUndefined<Gender>,
    /// Not in the future.
    pub birth_date: MaybeUndefined<Date>,
    /// ISO 3166-1 alpha-2.
    pub country: MaybeUndefined<String>,
    pub region: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub income_band: MaybeUndefined<String>,
    pub occupation: MaybeUndefined<String>,
    /// Replaces the customer's interest tags.
    pub interests: MaybeUndefined<Vec<String>>,
    pub lifestyle: MaybeUndefined<String>,
    pub needs: MaybeUndefined<String>,
    pub acquisition_channel: MaybeUndefined<String>,
    /// Id of the customer who referred this one.
    pub referred_by: MaybeUndefined<ID>,
    /// The referrer's referral code (what the new customer typed at sign-up): sets
    /// `referredBy` to its owner. Case, dashes and spaces are ignored. An unknown code,
    /// a code naming another referrer than `referredBy`, the customer's own code, or one
    /// that would make a cycle of referrals is refused.
    pub referral_code: Option<String>,
    /// BCP 47, default `en`.
    pub locale: MaybeUndefined<String>,
    /// IANA, default `UTC`.
    pub time_zone: MaybeUndefined<String>,
    /// Default false. Changing it records `consentUpdatedAt`.
    pub marketing_consent: MaybeUndefined<bool>,
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    /// The partner's key; unique.
    pub external_id: Option<String>,
    #[graphql(flatten)]
    pub fields: CustomerFields,
}

#[derive(InputObject)]
pub struct UpdateCustomerInput {
    pub external_id: MaybeUndefined<String>,
    #[graphql(flatten)]
    pub fields: CustomerFields,
}

#[derive(InputObject)]
pub struct UpsertCustomerInput {
    /// Finds the customer to update, or names the one to create.
    pub external_id: String,
    #[graphql(flatten)]
    pub fields: CustomerFields,
}

#[derive(SimpleObject)]
pub struct UpsertCustomersPayload {
    /// Every customer of the input, in input order.
    pub customers: Vec<Customer>,
    pub created: u32,
    pub updated: u32,
    /// Rows that matched a customer exactly as it already was.
    pub unchanged: u32,
}

/// Absent, `null` or a value, as the domain spells a change.
fn patch<T, U>(value: MaybeUndefined<T>, map: impl FnOnce(T) -> U) -> Patch<U> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(value) => Patch::Set(map(value)),
    }
}

impl From<CustomerFields> for jobs::customers::Fields {
    fn from(input: CustomerFields) -> Self {
        jobs::customers::Fields {
            name: patch(input.name, identity),
            email: patch(input.email, identity),
            phone: patch(input.phone, identity),
            gender: patch(input.gender, Into::into),
            birth_date: patch(input.birth_date, |date| date.0),
            country: patch(input.country, identity),
            region: patch(input.region, identity),
            city: patch(input.city, identity),
            income_band: patch(input.income_band, identity),
            occupation: patch(input.occupation, identity),
            interests: patch(input.interests, identity),
            lifestyle: patch(input.lifestyle, identity),
            needs: patch(input.needs, identity),
            acquisition_channel: patch(input.acquisition_channel, identity),
            referred_by: patch(input.referred_by, |id| id.0),
            referral_code: input.referral_code,
            locale: patch(input.locale, identity),
            time_zone: patch(input.time_zone, identity),
            marketing_consent: patch(input.marketing_consent, identity),
        }
    }
}

/// Whether the caller may read personal data, and so be told whose an address is.
fn disclosure(ctx: &Context<'_>) -> Disclosure {
    if principal(ctx).is_ok_and(|principal| principal.has(Scope::PiiRead)) {
        Disclosure::NameOwners
    } else {
        Disclosure::HideOwners
    }
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomerInput,
    ) -> Result<Customer> {
        let db = ctx.data::<DatabaseConnection>()?;
        let input = jobs::customers::NewCustomer {
            external_id: input.external_id,
            fields: input.fields.into(),
        };
        let created = jobs::customers::create(db, &input, disclosure(ctx))
            .await
            .into_api()?;
        Ok(Customer(created))
    }

    /// Changes the given fields; absent fields stay as they are, `null` clears.
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCustomerInput,
    ) -> Result<Customer> {
        let db = ctx.data::<DatabaseConnection>()?;
        let input = jobs::customers::CustomerChanges {
            external_id: patch(input.external_id, identity),
            fields: input.fields.into(),
        };
        let updated = jobs::customers::update(db, &id, &input, disclosure(ctx))
            .await
            .into_api()?;
        Ok(Customer(updated))
    }

    /// Creates or updates up to 1000 customers by externalId. Absent fields are left as
    /// they are on existing customers. If any row is invalid nothing is written and the
    /// error lists every bad row (`extensions.problems`).
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn upsert_customers(
        &self,
        ctx: &Context<'_>,
        input: Vec<UpsertCustomerInput>,
    ) -> Result<UpsertCustomersPayload> {
        let db = ctx.data::<DatabaseConnection>()?;
        let input: Vec<jobs::customers::UpsertRow> = input
            .into_iter()
            .map(|row| jobs::customers::UpsertRow {
                external_id: row.external_id,
                fields: row.fields.into(),
            })
            .collect();
        let saved = jobs::customers::upsert(db, &input, disclosure(ctx))
            .await
            .into_api()?;
        let mut payload = UpsertCustomersPayload {
            customers: Vec::with_capacity(saved.len()),
            created: 0,
            updated: 0,
            unchanged: 0,
        };
        for (model, outcome) in saved {
            match outcome {
                Outcome::Created => payload.created += 1,
                Outcome::Updated => payload.updated += 1,
                Outcome::Unchanged => payload.unchanged += 1,
            }
            payload.customers.push(Customer(model));
        }
        Ok(payload)
    }

    /// Privacy erasure: wipes the customer's personal data (name, email, phone, birth
    /// date, address, demographic and psychographic fields, interests, interaction notes
    /// and feedback comments; their emails' address, subject, last reply and content,
    /// the `.eml` files written for them and their name in marketer digests) and sets
    /// `erasedAt`. Emails not yet sent are suppressed (`ERASED`). Orders are kept, anonymous, for
    /// aggregates. An erased customer is never emailed and cannot be changed again.
    /// Erasing twice is harmless.
    #[graphql(guard = "RequireScope(Scope::CustomersWrite)")]
    async fn erase_customer(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let db = ctx.data::<DatabaseConnection>()?;
        let outbox = &ctx.data::<jobs::JobContext>()?.mail.settings.outbox_dir;
        let erased = jobs::customers::erase(db, &id, outbox).await.into_api()?;
        Ok(Customer(erased))
    }
}
