//! Writing customers: create, update, bulk upsert by externalId. Every input is parsed
//! completely before anything is written; a batch with one bad row writes nothing and
//! reports every bad row.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use entity::{Gender, customer, customer_interest};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, SqlErr,
};

use super::{EmailAddress, MAX_BATCH, locks, parse_id};
use crate::domain::{
    CountryCode, InterestTag, Label, Locale, PhoneNumber, TimeZoneName, parse_birth_date,
};
use crate::errors::{DomainError, DomainResult, Problems};

/// Most interest tags per customer.
const MAX_INTERESTS: usize = 50;
pub(super) const DEFAULT_LOCALE: &str = "en";
pub(super) const DEFAULT_TIME_ZONE: &str = "UTC";

/// A change to one field: leave it, clear it, or set it to a value as sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
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

/// The profile fields shared by create, update and upsert, as sent. On update and
/// upsert `Keep` leaves a field as it is and `Clear` clears it (`gender`, `locale`,
/// `time_zone` and `marketing_consent` go back to their defaults).
#[derive(Clone, Debug, Default)]
pub struct Fields {
    pub name: Patch<String>,
    pub email: Patch<String>,
    /// E.164.
    pub phone: Patch<String>,
    pub gender: Patch<Gender>,
    /// Not in the future.
    pub birth_date: Patch<NaiveDate>,
    /// ISO 3166-1 alpha-2.
    pub country: Patch<String>,
    pub region: Patch<String>,
    pub city: Patch<String>,
    pub income_band: Patch<String>,
    pub occupation: Patch<String>,
    /// Replaces the customer's interest tags.
    pub interests: Patch<Vec<String>>,
    pub lifestyle: Patch<String>,
    pub needs: Patch<String>,
    pub acquisition_channel: Patch<String>,
    /// Id of the customer who referred this one.
    pub referred_by: Patch<String>,
    /// The referrer's code, standing for their id in `referred_by`.
    pub referral_code: Option<String>,
    /// BCP 47, default `en`.
    pub locale: Patch<String>,
    /// IANA, default `UTC`.
    pub time_zone: Patch<String>,
    /// Default false. Changing it records `consent_updated_at`.
    pub marketing_consent: Patch<bool>,
}

/// `createCustomer`'s input.
#[derive(Clone, Debug, Default)]
pub struct NewCustomer {
    /// The partner's key; unique.
    pub external_id: Option<String>,
    pub fields: Fields,
}

/// `updateCustomer`'s input.
#[derive(Clone, Debug, Default)]
pub struct CustomerChanges {
    pub external_id: Patch<String>,
    pub fields: Fields,
}

/// One row of `upsertCustomers`.
#[derive(Clone, Debug, Default)]
pub struct UpsertRow {
    /// Finds the customer to update, or names the one to create.
    pub external_id: String,
    pub fields: Fields,
}

/// What a write did to one customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// The row matched the customer exactly as it already was.
    Unchanged,
}

/// Who is told whose an email or externalId already is: only a caller allowed to read
/// personal data learns which customer holds an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    NameOwners,
    HideOwners,
}

/// Parses one optional field, recording a problem and keeping it unchanged when invalid.
fn patch<I, T>(
    problems: &mut Problems,
    index: Option<usize>,
    path: &str,
    input: &Patch<I>,
    parse: impl FnOnce(&I) -> Result<T, String>,
) -> Patch<T> {
    match input {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(value) => match parse(value) {
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
    gender: Patch<Gender>,
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
    /// A well-formed referral code, normalised; resolved to `referred_by` by [`save`].
    referral_code: Option<String>,
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

fn parse_external_id(value: &str) -> Result<String, String> {
    Label::parse(value, 128).map(Label::into_inner)
}

impl Fields {
    fn parse(&self, problems: &mut Problems, index: Option<usize>, prefix: &str) -> ParsedFields {
        let path = |field: &str| format!("{prefix}.{field}");
        ParsedFields {
            name: patch(problems, index, &path("name"), &self.name, label(200)),
            email: patch(problems, index, &path("email"), &self.email, |v| {
                EmailAddress::parse(v).map(EmailAddress::into_inner)
            }),
            phone: patch(problems, index, &path("phone"), &self.phone, |v| {
                PhoneNumber::parse(v).map(PhoneNumber::into_inner)
            }),
            gender: patch(problems, index, &path("gender"), &self.gender, |g| Ok(*g)),
            birth_date: patch(problems, index, &path("birthDate"), &self.birth_date, |d| {
                parse_birth_date(*d)
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
                |id| parse_id(id),
            ),
            referral_code: self.referral_code.as_ref().and_then(|typed| {
                problems.check(
                    index,
                    &path("referralCode"),
                    entity::codes::normalise_referral_code(typed)
                        .ok_or_else(|| "is not a referral code".to_owned()),
                )
            }),
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
            Patch::Clear => model.gender = Gender::Unknown,
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

/// A customer as it is before any field is set.
pub(super) fn blank_customer(external_id: Option<String>) -> customer::Model {
    let now = Utc::now();
    customer::Model {
        external_id,
        referral_code: Some(entity::codes::referral_code()),
        locale: DEFAULT_LOCALE.into(),
        time_zone: DEFAULT_TIME_ZONE.into(),
        created_at: now,
        updated_at: now,
        ..customer::Model::empty()
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

/// Creates one customer.
pub async fn create(
    db: &DatabaseConnection,
    input: &NewCustomer,
    disclosure: Disclosure,
) -> DomainResult<customer::Model> {
    let mut problems = Problems::new();
    let external_id = match &input.external_id {
        Some(value) => problems
            .check(None, "input.externalId", parse_external_id(value))
            .map_or(Patch::Keep, Patch::Set),
        None => Patch::Keep,
    };
    let fields = input.fields.parse(&mut problems, None, "input");
    save_one(db, Target::New, external_id, fields, problems, disclosure).await
}

/// Changes the given fields of the customer with this id (as the API spells it).
pub async fn update(
    db: &DatabaseConnection,
    id: &str,
    input: &CustomerChanges,
    disclosure: Disclosure,
) -> DomainResult<customer::Model> {
    let existing = super::find_for_write(db, id).await?;
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
    save_one(db, target, external_id, fields, problems, disclosure).await
}

/// Creates or updates up to [`MAX_BATCH`] customers by externalId, in input order, with
/// what each row did.
pub async fn upsert(
    db: &DatabaseConnection,
    input: &[UpsertRow],
    disclosure: Disclosure,
) -> DomainResult<Vec<(customer::Model, Outcome)>> {
    if input.len() > MAX_BATCH {
        return Err(DomainError::invalid(
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
    let txn = locks::begin_write(db)
        .await
        .context("failed to begin an upsert")?;
    locks::lock_external_ids(&txn, &external_ids)
        .await
        .context("failed to lock the upserted externalIds")?;
    let mut existing: HashMap<String, customer::Model> =
        super::keys::by_external_ids(&txn, external_ids.clone())
            .await
            .context("failed to read the upserted customers")?;
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
    save(txn, rows, problems, disclosure).await
}

/// Saves the single row of `create` / `update`.
async fn save_one(
    db: &DatabaseConnection,
    target: Target,
    external_id: Patch<String>,
    fields: ParsedFields,
    problems: Problems,
    disclosure: Disclosure,
) -> DomainResult<customer::Model> {
    let row = Row {
        index: None,
        prefix: "input".into(),
        target,
        external_id,
        fields,
    };
    let txn = locks::begin_write(db)
        .await
        .context("failed to begin a customer write")?;
    let mut saved = save(txn, vec![row], problems, disclosure).await?;
    saved
        .pop()
        .map(|(model, _)| model)
        .ok_or_else(|| anyhow::anyhow!("a saved customer did not come back").into())
}

/// The checks that need the database (unique emails and externalIds, referrers exist,
/// erased customers stay erased), then the write, all-or-nothing.
///
/// `txn` comes from [`locks::begin_write`], holding whatever locks the caller needs
/// (upserts: their externalIds), so that the checks read what the write will find.
async fn save(
    txn: DatabaseTransaction,
    mut rows: Vec<Row>,
    mut problems: Problems,
    disclosure: Disclosure,
) -> DomainResult<Vec<(customer::Model, Outcome)>> {
    resolve_referral_codes(&txn, &mut rows, &mut problems).await?;
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
    let owners_by_email = super::keys::owners_of_emails(&txn, emails_in_batch.keys().cloned())
        .await
        .context("failed to look up the owners of the emails")?;
    let owners_by_external_id =
        super::keys::owners_of_external_ids(&txn, external_ids_in_batch.keys().cloned())
            .await
            .context("failed to look up the owners of the externalIds")?;
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
        .context("failed to look up the referrers")?
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
            let message = match disclosure {
                Disclosure::NameOwners => format!("`{email}` already belongs to customer {owner}"),
                Disclosure::HideOwners => "is already the email of another customer".to_owned(),
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
    refuse_referral_cycles(&txn, &rows, &mut problems).await?;
    problems.into_result()?;

    let mut saved = Vec::with_capacity(rows.len());
    for row in rows {
        saved.push(write_row(&txn, row).await?);
    }
    txn.commit()
        .await
        .map_err(|error| unique_violation_or_internal(error, "failed to commit customers"))?;
    Ok(saved)
}

/// A referral code stands for its owner's id from here on: `referredBy` is set to it
/// (or checked against it, when both are given).
async fn resolve_referral_codes(
    txn: &DatabaseTransaction,
    rows: &mut [Row],
    problems: &mut Problems,
) -> DomainResult<()> {
    let codes: Vec<String> = rows
        .iter()
        .filter_map(|row| row.fields.referral_code.clone())
        .collect();
    if codes.is_empty() {
        return Ok(());
    }
    let owners = crate::referrals::owners_of_codes(txn, codes)
        .await
        .context("failed to look up the referral codes")?;
    for row in rows {
        let Some(code) = row.fields.referral_code.take() else {
            continue;
        };
        let field = format!("{}.referralCode", row.prefix);
        match (owners.get(&code), &row.fields.referred_by) {
            (None, _) => problems.push(row.index, field, "no customer has this referral code"),
            (Some(owner), Patch::Keep) => row.fields.referred_by = Patch::Set(*owner),
            (Some(owner), Patch::Set(id)) if id == owner => {}
            (Some(_), _) => problems.push(
                row.index,
                field,
                "names another referrer than referredBy; send one of the two",
            ),
        }
    }
    Ok(())
}

/// Refuses referrers that would close a cycle (A referred by B referred by … A),
/// counting the referrers this same write gives other customers. New customers cannot
/// close one: nobody can name them yet.
async fn refuse_referral_cycles(
    txn: &DatabaseTransaction,
    rows: &[Row],
    problems: &mut Problems,
) -> DomainResult<()> {
    let pending: HashMap<i64, Option<i64>> = rows
        .iter()
        .filter_map(|row| match (&row.target, &row.fields.referred_by) {
            (Target::Existing(existing), Patch::Set(referrer)) => {
                Some((existing.id, Some(*referrer)))
            }
            (Target::Existing(existing), Patch::Clear) => Some((existing.id, None)),
            _ => None,
        })
        .collect();
    for row in rows {
        if let (Target::Existing(existing), Patch::Set(referrer)) =
            (&row.target, &row.fields.referred_by)
            // Referring oneself has its own message above; an unchanged referrer is
            // no new link.
            && *referrer != existing.id
            && existing.referred_by != Some(*referrer)
            && crate::referrals::closes_cycle(txn, existing.id, *referrer, &pending)
                .await
                .context("failed to follow a chain of referrers")?
        {
            problems.push(
                row.index,
                format!("{}.referredBy", row.prefix),
                format!(
                    "customer {referrer} was referred, directly or through others, by this \
                     customer: referrals cannot go round in a circle"
                ),
            );
        }
    }
    Ok(())
}

async fn write_row(
    txn: &DatabaseTransaction,
    row: Row,
) -> DomainResult<(customer::Model, Outcome)> {
    let (mut model, existed) = match row.target {
        Target::New => (blank_customer(None), None),
        Target::Existing(existing) => (*existing.clone(), Some(*existing)),
    };
    row.external_id.apply(&mut model.external_id);
    let interests = row.fields.apply(&mut model);
    let interests_changed = match (&interests, &existed) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(tags), Some(existing)) => {
            current_interests(txn, existing.id)
                .await
                .context("failed to read a customer's interests")?
                != *tags
        }
    };
    let before = existed.clone();
    let outcome;
    let saved = match existed {
        None => {
            let mut active = model.into_active_model();
            active.id = sea_orm::ActiveValue::NotSet;
            outcome = Outcome::Created;
            active.insert(txn).await.map_err(|error| {
                unique_violation_or_internal(error, "failed to insert a customer")
            })?
        }
        Some(existing) if existing == model && !interests_changed => {
            outcome = Outcome::Unchanged;
            existing
        }
        Some(_) => {
            model.updated_at = Utc::now();
            let mut active = model.into_active_model().reset_all();
            crate::orders::OrderAggregates::leave_out(&mut active);
            outcome = Outcome::Updated;
            active.update(txn).await.map_err(|error| {
                unique_violation_or_internal(error, "failed to update a customer")
            })?
        }
    };
    if outcome != Outcome::Unchanged {
        super::keys::keep(txn, before.as_ref(), &saved)
            .await
            .map_err(|error| {
                unique_violation_or_internal(error, "failed to keep the unique keys")
            })?;
    }
    if interests_changed && let Some(tags) = interests {
        replace_interests(txn, saved.id, tags)
            .await
            .context("failed to replace a customer's interests")?;
    }
    Ok((saved, outcome))
}

async fn current_interests(
    db: &impl ConnectionTrait,
    customer_id: i64,
) -> Result<Vec<String>, DbErr> {
    let mut tags: Vec<String> = customer_interest::Entity::find()
        .filter(customer_interest::Column::CustomerId.eq(customer_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.tag)
        .collect();
    tags.sort();
    Ok(tags)
}

/// Replaces a customer's interest tags (none: erasure).
pub(super) async fn replace_interests(
    db: &impl ConnectionTrait,
    customer_id: i64,
    tags: Vec<String>,
) -> Result<(), DbErr> {
    customer_interest::Entity::delete_many()
        .filter(customer_interest::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    if !tags.is_empty() {
        customer_interest::Entity::insert_many(tags.into_iter().map(|tag| {
            customer_interest::ActiveModel {
                customer_id: sea_orm::Set(customer_id),
                tag: sea_orm::Set(tag),
            }
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// A unique index caught a concurrent writer that our checks could not see.
fn unique_violation_or_internal(error: DbErr, what: &'static str) -> DomainError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DomainError::invalid(
            "input",
            "another request just stored the same email or externalId; retry to see which",
        ),
        _ => anyhow::Error::from(error).context(what).into(),
    }
}
