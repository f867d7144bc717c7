//! Writing customers: create, update, bulk upsert by externalId, and privacy erasure.
//! Every input is parsed completely before anything is written; a batch with one bad
//! row writes nothing and reports every bad row.

use std::collections::{HashMap, HashSet};

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{NaiveDate, Utc};
use entity::{Gender as StoredGender, Money, customer, customer_interest};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, SqlErr, TransactionTrait,
};

use crate::api_keys::Scope;
use crate::domain::{
    CountryCode, InterestTag, Label, Locale, PhoneNumber, TimeZoneName, parse_birth_date,
};
use crate::graphql::{
    customer::{Customer, customer_id_of},
    enums::Gender,
    errors::{IntoApi, OrInternal, Problems, bad_input, internal, not_found},
    guards::{RequireScope, principal},
    scalars::Date,
};
use jobs::customers::{MAX_BATCH, locks as write_locks};

/// Most interest tags per customer.
const MAX_INTERESTS: usize = 50;

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

/// A change to one field.
#[derive(Clone, Debug, PartialEq)]
enum Patch<T> {
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    fn apply(self, target: &mut Option<T>) {
        match self {
            Patch::Keep => {}
            Patch::Clear => *target = None,
            Patch::Set(value) => *target = Some(value),
        }
    }
}

/// Parses one optional field, recording a problem and keeping it unchanged when invalid.
fn patch<I, T>(
    problems: &mut Problems,
    index: Option<usize>,
    path: &str,
    input: &MaybeUndefined<I>,
    parse: impl FnOnce(&I) -> Result<T, String>,
) -> Patch<T> {
    match input {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(value) => match parse(value) {
            Ok(parsed) => Patch::Set(parsed),
            Err(message) => {
                problems.push(index, path, message);
                Patch::Keep
            }
        },
    }
}

/// A row of input that passed every check that needs no database.
struct ParsedFields {
    name: Patch<String>,
    email: Patch<String>,
    phone: Patch<String>,
    gender: Patch<StoredGender>,
    birth_date: Patch<NaiveDate>,
    country: Patch<String>,
    region: Patch<String>,
    city: Patch<String>,
    income_band: Patch<String>,
    occupation: Patch<String>,
    interests: Patch<Vec<String>>,
    lifestyle: Patch<String>,
    needs: Patch<String>,
    acquisition_channel: Patch<String>,
    referred_by: Patch<i64>,
    locale: Patch<String>,
    time_zone: Patch<String>,
    marketing_consent: Patch<bool>,
}

fn label(max: usize) -> impl Fn(&String) -> Result<String, String> {
    move |value| Label::parse(value, max).map(Label::into_inner)
}

fn parse_interests(tags: &[String]) -> Result<Vec<String>, String> {
    if tags.len() > MAX_INTERESTS {
        return Err(format!("at most {MAX_INTERESTS} interests"));
    }
    let mut parsed = tags
        .iter()
        .map(|tag| {
            InterestTag::parse(tag)
                .map(InterestTag::into_inner)
                .map_err(|m| format!("`{tag}` {m}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    Ok(parsed)
}

impl CustomerFields {
    fn parse(&self, problems: &mut Problems, index: Option<usize>, prefix: &str) -> ParsedFields {
        let path = |field: &str| format!("{prefix}.{field}");
        ParsedFields {
            name: patch(problems, index, &path("name"), &self.name, label(200)),
            email: patch(problems, index, &path("email"), &self.email, |v| {
                jobs::customers::EmailAddress::parse(v)
                    .map(jobs::customers::EmailAddress::into_inner)
            }),
            phone: patch(problems, index, &path("phone"), &self.phone, |v| {
                PhoneNumber::parse(v).map(PhoneNumber::into_inner)
            }),
            gender: patch(problems, index, &path("gender"), &self.gender, |g| {
                Ok((*g).into())
            }),
            birth_date: patch(problems, index, &path("birthDate"), &self.birth_date, |d| {
                parse_birth_date(d.0)
            }),
            country: patch(problems, index, &path("country"), &self.country, |v| {
                CountryCode::parse(v).map(CountryCode::into_inner)
            }),
            region: patch(problems, index, &path("region"), &self.region, label(100)),
            city: patch(problems, index, &path("city"), &self.city, label(100)),
            income_band: patch(
                problems,
                index,
                &path("incomeBand"),
                &self.income_band,
                label(64),
            ),
            occupation: patch(
                problems,
                index,
                &path("occupation"),
                &self.occupation,
                label(100),
            ),
            interests: patch(
                problems,
                index,
                &path("interests"),
                &self.interests,
                |tags| parse_interests(tags),
            ),
            lifestyle: patch(
                problems,
                index,
                &path("lifestyle"),
                &self.lifestyle,
                label(100),
            ),
            needs: patch(problems, index, &path("needs"), &self.needs, label(100)),
            acquisition_channel: patch(
                problems,
                index,
                &path("acquisitionChannel"),
                &self.acquisition_channel,
                label(64),
            ),
            referred_by: patch(
                problems,
                index,
                &path("referredBy"),
                &self.referred_by,
                customer_id_of,
            ),
            locale: patch(problems, index, &path("locale"), &self.locale, |v| {
                Locale::parse(v).map(Locale::into_inner)
            }),
            time_zone: patch(problems, index, &path("timeZone"), &self.time_zone, |v| {
                TimeZoneName::parse(v).map(TimeZoneName::into_inner)
            }),
            marketing_consent: patch(
                problems,
                index,
                &path("marketingConsent"),
                &self.marketing_consent,
                |b| Ok(*b),
            ),
        }
    }
}

impl ParsedFields {
    /// Applies the patch to a customer; returns the new interest tags when they change.
    fn apply(self, model: &mut customer::Model) -> Option<Vec<String>> {
        let now = Utc::now();
        self.name.apply(&mut model.name);
        self.email.apply(&mut model.email);
        self.phone.apply(&mut model.phone);
        self.birth_date.apply(&mut model.birth_date);
        self.country.apply(&mut model.country);
        self.region.apply(&mut model.region);
        self.city.apply(&mut model.city);
        self.income_band.apply(&mut model.income_band);
        self.occupation.apply(&mut model.occupation);
        self.lifestyle.apply(&mut model.lifestyle);
        self.needs.apply(&mut model.needs);
        self.acquisition_channel
            .apply(&mut model.acquisition_channel);
        self.referred_by.apply(&mut model.referred_by);
        match self.gender {
            Patch::Keep => {}
            Patch::Clear => model.gender = StoredGender::Unknown,
            Patch::Set(gender) => model.gender = gender,
        }
        match self.locale {
            Patch::Keep => {}
            Patch::Clear => model.locale = DEFAULT_LOCALE.into(),
            Patch::Set(locale) => model.locale = locale,
        }
        match self.time_zone {
            Patch::Keep => {}
            Patch::Clear => model.time_zone = DEFAULT_TIME_ZONE.into(),
            Patch::Set(zone) => model.time_zone = zone,
        }
        let consent = match self.marketing_consent {
            Patch::Keep => model.marketing_consent,
            Patch::Clear => false,
            Patch::Set(consent) => consent,
        };
        if consent != model.marketing_consent {
            model.marketing_consent = consent;
            model.consent_updated_at = Some(now);
        }
        model.refresh_search_text();
        match self.interests {
            Patch::Keep => None,
            Patch::Clear => Some(Vec::new()),
            Patch::Set(tags) => Some(tags),
        }
    }
}

const DEFAULT_LOCALE: &str = "en";
const DEFAULT_TIME_ZONE: &str = "UTC";

/// A customer as it is before any field is set.
fn blank_customer(external_id: Option<String>) -> customer::Model {
    let now = Utc::now();
    customer::Model {
        id: 0,
        external_id,
        name: None,
        email: None,
        phone: None,
        gender: StoredGender::Unknown,
        birth_date: None,
        country: None,
        region: None,
        city: None,
        income_band: None,
        occupation: None,
        lifestyle: None,
        needs: None,
        acquisition_channel: None,
        referred_by: None,
        locale: DEFAULT_LOCALE.into(),
        time_zone: DEFAULT_TIME_ZONE.into(),
        marketing_consent: false,
        consent_updated_at: None,
        unsubscribed_at: None,
        erased_at: None,
        created_at: now,
        updated_at: now,
        order_count: 0,
        total_spent: Money::ZERO,
        first_order_at: None,
        last_order_at: None,
        purchase_days: 0,
        first_day_total: Money::ZERO,
        median_gap_days: None,
        search_text: None,
    }
}

/// What one row of a write does.
enum Target {
    /// Create a customer.
    New,
    /// Change this existing customer.
    Existing(Box<customer::Model>),
}

struct Row {
    index: Option<usize>,
    prefix: String,
    target: Target,
    /// A new externalId (create, upsert-create, or update that changes it).
    external_id: Patch<String>,
    fields: ParsedFields,
}

fn parse_external_id(value: &str) -> Result<String, String> {
    Label::parse(value, 128).map(Label::into_inner)
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// The checks that need the database (unique emails and externalIds, referrers exist,
/// erased customers stay erased), then the write, all-or-nothing. A taken email names
/// its owner only to a caller allowed to read personal data (`reveal_owner`): an error
/// must not tell a write-only key who holds an address.
///
/// `txn` comes from [`write_locks::begin_write`], holding whatever locks the caller needs
/// (upserts: their externalIds), so that the checks read what the write will find.
async fn save(
    txn: DatabaseTransaction,
    rows: Vec<Row>,
    mut problems: Problems,
    reveal_owner: bool,
) -> Result<Vec<(customer::Model, Outcome)>> {
    // Emails and externalIds must be unique across the batch and the database.
    let mut emails_in_batch: HashMap<String, Option<usize>> = HashMap::new();
    let mut external_ids_in_batch: HashMap<String, Option<usize>> = HashMap::new();
    for row in &rows {
        if let Patch::Set(email) = &row.fields.email
            && emails_in_batch.insert(email.clone(), row.index).is_some()
        {
            problems.push(
                row.index,
                format!("{}.email", row.prefix),
                "appears twice in the input",
            );
        }
        if let Patch::Set(external_id) = &row.external_id
            && external_ids_in_batch
                .insert(external_id.clone(), row.index)
                .is_some()
        {
            problems.push(
                row.index,
                format!("{}.externalId", row.prefix),
                format!("`{external_id}` appears twice in the input"),
            );
        }
        if let Target::Existing(existing) = &row.target {
            if existing.erased_at.is_some() {
                problems.push(
                    row.index,
                    row.prefix.clone(),
                    format!("customer {} was erased and cannot be changed", existing.id),
                );
            }
            if row.fields.referred_by == Patch::Set(existing.id) {
                problems.push(
                    row.index,
                    format!("{}.referredBy", row.prefix),
                    "a customer cannot refer themself",
                );
            }
        }
    }
    let owners_by_email: HashMap<String, i64> = customer::Entity::find()
        .filter(customer::Column::Email.is_in(emails_in_batch.keys().cloned()))
        .all(&txn)
        .await
        .or_internal()?
        .into_iter()
        .filter_map(|c| c.email.map(|email| (email, c.id)))
        .collect();
    let owners_by_external_id: HashMap<String, i64> = customer::Entity::find()
        .filter(customer::Column::ExternalId.is_in(external_ids_in_batch.keys().cloned()))
        .all(&txn)
        .await
        .or_internal()?
        .into_iter()
        .filter_map(|c| c.external_id.map(|external_id| (external_id, c.id)))
        .collect();
    let referrers: Vec<i64> = rows
        .iter()
        .filter_map(|row| match row.fields.referred_by {
            Patch::Set(id) => Some(id),
            _ => None,
        })
        .collect();
    let known_referrers: HashSet<i64> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(referrers))
        .all(&txn)
        .await
        .or_internal()?
        .into_iter()
        .map(|c| c.id)
        .collect();
    for row in &rows {
        let own_id = match &row.target {
            Target::Existing(existing) => Some(existing.id),
            Target::New => None,
        };
        if let Patch::Set(email) = &row.fields.email
            && let Some(owner) = owners_by_email
                .get(email)
                .filter(|owner| Some(**owner) != own_id)
        {
            let message = if reveal_owner {
                format!("`{email}` already belongs to customer {owner}")
            } else {
                "is already the email of another customer".to_owned()
            };
            problems.push(row.index, format!("{}.email", row.prefix), message);
        }
        if let Patch::Set(external_id) = &row.external_id
            && let Some(owner) = owners_by_external_id
                .get(external_id)
                .filter(|owner| Some(**owner) != own_id)
        {
            problems.push(
                row.index,
                format!("{}.externalId", row.prefix),
                format!("`{external_id}` already belongs to customer {owner}"),
            );
        }
        if let Patch::Set(referrer) = row.fields.referred_by
            && !known_referrers.contains(&referrer)
        {
            problems.push(
                row.index,
                format!("{}.referredBy", row.prefix),
                format!("no customer with id {referrer}"),
            );
        }
    }
    problems.into_result().into_api()?;

    let mut saved = Vec::with_capacity(rows.len());
    for row in rows {
        saved.push(write_row(&txn, row).await?);
    }
    txn.commit().await.map_err(unique_violation_or_internal)?;
    Ok(saved)
}

async fn write_row(txn: &DatabaseTransaction, row: Row) -> Result<(customer::Model, Outcome)> {
    let (mut model, existed) = match row.target {
        Target::New => (blank_customer(None), None),
        Target::Existing(existing) => (*existing.clone(), Some(*existing)),
    };
    row.external_id.apply(&mut model.external_id);
    let interests = row.fields.apply(&mut model);
    let interests_changed = match (&interests, &existed) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(tags), Some(existing)) => current_interests(txn, existing.id).await? != *tags,
    };
    let outcome;
    let saved = match existed {
        None => {
            let mut active = model.into_active_model();
            active.id = sea_orm::ActiveValue::NotSet;
            outcome = Outcome::Created;
            active
                .insert(txn)
                .await
                .map_err(unique_violation_or_internal)?
        }
        Some(existing) if existing == model && !interests_changed => {
            outcome = Outcome::Unchanged;
            existing
        }
        Some(_) => {
            model.updated_at = Utc::now();
            let active = model.into_active_model().reset_all();
            outcome = Outcome::Updated;
            active
                .update(txn)
                .await
                .map_err(unique_violation_or_internal)?
        }
    };
    if interests_changed && let Some(tags) = interests {
        replace_interests(txn, saved.id, tags).await?;
    }
    Ok((saved, outcome))
}

async fn current_interests(txn: &DatabaseTransaction, customer_id: i64) -> Result<Vec<String>> {
    let mut tags: Vec<String> = customer_interest::Entity::find()
        .filter(customer_interest::Column::CustomerId.eq(customer_id))
        .all(txn)
        .await
        .or_internal()?
        .into_iter()
        .map(|row| row.tag)
        .collect();
    tags.sort();
    Ok(tags)
}

async fn replace_interests(
    txn: &DatabaseTransaction,
    customer_id: i64,
    tags: Vec<String>,
) -> Result<()> {
    customer_interest::Entity::delete_many()
        .filter(customer_interest::Column::CustomerId.eq(customer_id))
        .exec(txn)
        .await
        .or_internal()?;
    if !tags.is_empty() {
        customer_interest::Entity::insert_many(tags.into_iter().map(|tag| {
            customer_interest::ActiveModel {
                customer_id: sea_orm::Set(customer_id),
                tag: sea_orm::Set(tag),
            }
        }))
        .exec_without_returning(txn)
        .await
        .or_internal()?;
    }
    Ok(())
}

/// A unique index caught a concurrent writer that our checks could not see.
fn unique_violation_or_internal(error: sea_orm::DbErr) -> async_graphql::Error {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => bad_input(
            "input",
            "another request just stored the same email or externalId; retry to see which",
        ),
        _ => internal(error),
    }
}

async fn find_customer(db: &DatabaseConnection, id: &ID) -> Result<customer::Model> {
    let numeric = customer_id_of(id).map_err(|message| bad_input("id", message))?;
    customer::Entity::find_by_id(numeric)
        .one(db)
        .await
        .or_internal()?
        .ok_or_else(|| not_found(format!("customer {}", id.as_str())))
}

/// Whether the caller may read personal data (and so be told whose it is).
fn reads_personal_data(ctx: &Context<'_>) -> bool {
    principal(ctx).is_ok_and(|principal| principal.has(Scope::PiiRead))
}

/// Saves the single row of `createCustomer` / `updateCustomer`.
async fn save_one(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    target: Target,
    external_id: Patch<String>,
    fields: ParsedFields,
    problems: Problems,
) -> Result<Customer> {
    let row = Row {
        index: None,
        prefix: "input".into(),
        target,
        external_id,
        fields,
    };
    let txn = write_locks::begin_write(db).await.or_internal()?;
    let mut saved = save(txn, vec![row], problems, reads_personal_data(ctx)).await?;
    saved
        .pop()
        .map(|(model, _)| Customer(model))
        .ok_or_else(|| internal(anyhow::anyhow!("a saved customer did not come back")))
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
        let mut problems = Problems::new();
        let external_id = match &input.external_id {
            Some(value) => problems
                .check(None, "input.externalId", parse_external_id(value))
                .map_or(Patch::Keep, Patch::Set),
            None => Patch::Keep,
        };
        let fields = input.fields.parse(&mut problems, None, "input");
        save_one(ctx, db, Target::New, external_id, fields, problems).await
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
        let existing = find_customer(db, &id).await?;
        let mut problems = Problems::new();
        let external_id = patch(
            &mut problems,
            None,
            "input.externalId",
            &input.external_id,
            |value| parse_external_id(value),
        );
        let fields = input.fields.parse(&mut problems, None, "input");
        let target = Target::Existing(Box::new(existing));
        save_one(ctx, db, target, external_id, fields, problems).await
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
        if input.len() > MAX_BATCH {
            return Err(bad_input(
                "input",
                format!(
                    "at most {MAX_BATCH} customers per call, got {}",
                    input.len()
                ),
            ));
        }
        let mut problems = Problems::new();
        let external_ids: Vec<String> = input
            .iter()
            .map(|row| row.external_id.trim().to_owned())
            .collect();
        // Whether each externalId is new is decided under its lock: concurrent upserts of
        // one externalId run one after the other (the last one's fields win), and none is
        // told that the externalId belongs to the customer another one just created.
        let txn = write_locks::begin_write(db).await.or_internal()?;
        write_locks::lock_external_ids(&txn, &external_ids)
            .await
            .or_internal()?;
        let mut existing: HashMap<String, customer::Model> = customer::Entity::find()
            .filter(customer::Column::ExternalId.is_in(external_ids.clone()))
            .all(&txn)
            .await
            .or_internal()?
            .into_iter()
            .filter_map(|c| c.external_id.clone().map(|external_id| (external_id, c)))
            .collect();
        let mut rows = Vec::with_capacity(input.len());
        let mut seen = HashSet::new();
        for (index, row) in input.iter().enumerate() {
            let prefix = format!("input[{index}]");
            let external_id = problems
                .check(
                    Some(index),
                    &format!("{prefix}.externalId"),
                    parse_external_id(&row.external_id),
                )
                .unwrap_or_default();
            if !seen.insert(external_id.clone()) {
                problems.push(
                    Some(index),
                    format!("{prefix}.externalId"),
                    format!("`{external_id}` appears twice in the input"),
                );
                continue;
            }
            let fields = row.fields.parse(&mut problems, Some(index), &prefix);
            let (target, external_id) = match existing.remove(&external_id) {
                Some(model) => (Target::Existing(Box::new(model)), Patch::Keep),
                None => (Target::New, Patch::Set(external_id)),
            };
            rows.push(Row {
                index: Some(index),
                prefix,
                target,
                external_id,
                fields,
            });
        }
        let saved = save(txn, rows, problems, reads_personal_data(ctx)).await?;
        let mut payload = UpsertCustomersPayload {
            customers: Vec::new(),
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
        let existing = find_customer(db, &id).await?;
        if existing.erased_at.is_some() {
            return Ok(Customer(existing));
        }
        let now = Utc::now();
        let mut erased = blank_customer(existing.external_id.clone());
        erased.id = existing.id;
        erased.country = existing.country.clone();
        erased.acquisition_channel = existing.acquisition_channel.clone();
        erased.referred_by = existing.referred_by;
        erased.created_at = existing.created_at;
        erased.order_count = existing.order_count;
        erased.total_spent = existing.total_spent;
        erased.first_order_at = existing.first_order_at;
        erased.last_order_at = existing.last_order_at;
        erased.purchase_days = existing.purchase_days;
        erased.first_day_total = existing.first_day_total;
        erased.median_gap_days = existing.median_gap_days;
        erased.consent_updated_at = if existing.marketing_consent {
            Some(now)
        } else {
            existing.consent_updated_at
        };
        erased.unsubscribed_at = existing.unsubscribed_at;
        erased.erased_at = Some(now);
        erased.updated_at = now;

        let txn = db.begin().await.or_internal()?;
        let active = erased.into_active_model().reset_all();
        let saved = active.update(&txn).await.or_internal()?;
        replace_interests(&txn, saved.id, Vec::new()).await?;
        jobs::interactions::erase_texts(&txn, saved.id)
            .await
            .or_internal()?;
        jobs::feedback::erase_comments(&txn, saved.id)
            .await
            .or_internal()?;
        let files = jobs::mail::erasure::erase_customer(&txn, saved.id, now)
            .await
            .or_internal()?;
        txn.commit().await.or_internal()?;
        jobs::mail::erasure::flush_erased_pages(db)
            .await
            .or_internal()?;
        let outbox = &ctx.data::<jobs::JobContext>()?.mail.settings.outbox_dir;
        let deleted = files.delete(outbox).await.or_internal()?;
        tracing::info!(
            customer_id = saved.id,
            eml_files_deleted = deleted,
            "customer erased"
        );
        Ok(Customer(saved))
    }
}
