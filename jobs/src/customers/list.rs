//! Customer lists: a filter compiled into one SQL condition (the same on both
//! databases), a sort with keyset pages, and the count. The page query reads customers
//! alone unless the sort key is a value score: lists are the API's hottest path, and
//! the unfiltered count comes from the counts kept by triggers.

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{customer, customer_interest, customer_lifecycle, customer_value};
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IdenStatic, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait,
    sea_query::{Expr, ExprTrait, LikeExpr, NullOrdering, Order, Query},
};
use serde::{Deserialize, Serialize};

use super::parse_id;
use crate::errors::{DomainError, DomainResult, Problems};
use crate::lifecycle::Stage;
use crate::value::{clv::ValueTier, rfm::RfmGroup};

/// Narrows a customer list (the argument `filter`). List fields match any of their
/// values; `…_from` bounds are inclusive and `…_to` bounds exclusive for times,
/// inclusive for dates.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Case-insensitive substring of name, email or phone.
    pub search: Option<String>,
    /// Ids as the API spells them.
    pub ids: Option<Vec<String>>,
    pub external_ids: Option<Vec<String>>,
    /// Exact address (case-insensitive).
    pub email: Option<String>,
    /// Exact E.164 number (spaces and dashes ignored).
    pub phone: Option<String>,
    pub gender: Option<Vec<entity::Gender>>,
    pub country: Option<Vec<String>>,
    pub region: Option<Vec<String>>,
    pub city: Option<Vec<String>>,
    pub income_band: Option<Vec<String>>,
    pub occupation: Option<Vec<String>>,
    pub lifestyle: Option<Vec<String>>,
    pub needs: Option<Vec<String>>,
    pub acquisition_channel: Option<Vec<String>>,
    pub locale: Option<Vec<String>>,
    pub time_zone: Option<Vec<String>>,
    /// Has at least one of these interest tags.
    pub interests_any: Option<Vec<String>>,
    /// Has every one of these interest tags.
    pub interests_all: Option<Vec<String>>,
    pub marketing_consent: Option<bool>,
    /// Referred by this customer (id as the API spells it).
    pub referred_by: Option<String>,
    /// `false` hides erased customers, `true` shows only them.
    pub erased: Option<bool>,
    pub birth_date_from: Option<NaiveDate>,
    pub birth_date_to: Option<NaiveDate>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub first_order_from: Option<DateTime<Utc>>,
    pub first_order_to: Option<DateTime<Utc>>,
    pub last_order_from: Option<DateTime<Utc>>,
    pub last_order_to: Option<DateTime<Utc>>,
    pub has_orders: Option<bool>,
    pub min_order_count: Option<i64>,
    pub max_order_count: Option<i64>,
    pub min_total_spent: Option<Decimal>,
    pub max_total_spent: Option<Decimal>,
    /// In any of these value tiers (latest `value-scores` run).
    pub value_tier: Option<Vec<ValueTier>>,
    /// In any of these RFM groups.
    pub rfm_group: Option<Vec<RfmGroup>>,
    /// Predicted CLV at least this.
    pub min_predicted_clv: Option<Decimal>,
    /// Churn risk at most this (0–1).
    pub max_churn_risk: Option<f64>,
    /// In any of these lifecycle stages (latest `lifecycle` run).
    pub stage: Option<Vec<Stage>>,
    /// Entered their current stage at or after this.
    pub stage_since_from: Option<DateTime<Utc>>,
    /// Entered their current stage before this.
    pub stage_since_to: Option<DateTime<Utc>>,
}

/// What a customer list is sorted by; ties are broken by id. (The names are part of
/// the cursors handed out.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortField {
    #[default]
    CreatedAt,
    /// Personal data. Customers without a name come last.
    Name,
    /// Customers without orders come last.
    LastOrderAt,
    TotalSpent,
    /// From the latest `value-scores` run; customers without a prediction come last.
    PredictedClv,
    /// From the latest `value-scores` run; customers without a prediction come last.
    ChurnRisk,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub direction: SortDirection,
}

/// Where a customer list page starts: the sort field (a cursor from another order is
/// refused), the sort key of the row, and its id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Cursor {
    field: SortField,
    key: serde_json::Value,
    id: i64,
}

/// Which rows a page reads: `fetch` rows past `cursor`, forwards (`first`/`after`) or
/// backwards (`last`/`before`, in reversed order).
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub fetch: u64,
    pub backward: bool,
    pub cursor: Option<Cursor>,
}

impl Window {
    /// The argument the cursor came in, for problem paths.
    fn cursor_argument(&self) -> &'static str {
        if self.backward { "before" } else { "after" }
    }
}

/// A list request.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub filter: Filter,
    pub sort: Sort,
    pub window: Window,
    /// The columns the caller will show, `None` for whole rows. The sort key and `id`
    /// are read whatever this says; the other fields of the returned models are empty.
    pub columns: Option<Vec<customer::Column>>,
}

/// One customer of a page, with the cursor that starts after it.
pub struct Listed {
    pub customer: customer::Model,
    pub cursor: Cursor,
}

/// The rows of one page in query order (reversed for backward windows), and how to
/// count every match.
pub struct ListPage {
    pub rows: Vec<Listed>,
    pub total: Total,
}

/// The count of a list's matches, for when a client asks for it.
#[derive(Clone)]
pub struct Total {
    /// `None` unfiltered: the count kept by triggers (exact, a few rows to read).
    condition: Option<Condition>,
}

impl Total {
    pub async fn count(&self, db: &impl ConnectionTrait) -> DomainResult<u64> {
        let counted = match &self.condition {
            None => customer::count_all(db).await,
            Some(condition) => {
                customer::Entity::find()
                    .filter(condition.clone())
                    .count(db)
                    .await
            }
        };
        Ok(counted.map_err(|error| {
            anyhow::Error::from(error).context("failed to count the customers of a list")
        })?)
    }
}

impl Filter {
    /// Whether the filter matches on personal fields (search, email, phone, birth
    /// dates), which only a caller allowed to read personal data may ask for.
    pub fn uses_personal_data(&self) -> bool {
        self.search.is_some()
            || self.email.is_some()
            || self.phone.is_some()
            || self.birth_date_from.is_some()
            || self.birth_date_to.is_some()
    }
}

impl SortField {
    /// Whether sorting by it reads personal data.
    pub fn is_personal(self) -> bool {
        self == SortField::Name
    }
}

/// One page of customers.
pub async fn list(db: &impl ConnectionTrait, query: &ListQuery) -> DomainResult<ListPage> {
    let condition = query.filter.condition()?;
    let filtered = customer::Entity::find().filter(condition.clone());
    let total = Total {
        condition: (!condition.is_empty()).then_some(condition),
    };
    let Sort { field, direction } = query.sort;
    let window = &query.window;
    // Sorted by a value field, the current scores come along in the same query (a
    // LEFT JOIN on the customer and the latest run) to sort the page and key its
    // cursors. Otherwise the page reads customers alone: the join costs the database
    // about as much as the page itself, and the scores have their own loader.
    let rows: Vec<(customer::Model, Option<customer_value::Model>)> = if field.keyed_by_scores() {
        let with_scores = filtered.select_also(customer_value::Entity).join(
            JoinType::LeftJoin,
            customer::Relation::CustomerValue
                .def()
                .on_condition(|_, _| Condition::all().add(customer_value::latest_run())),
        );
        keyset(with_scores, field, direction, window)?
            .limit(window.fetch)
            .all(db)
            .await
            .map_err(|error| anyhow::Error::from(error).context("failed to list customers"))?
    } else if let Some(shown) = &query.columns {
        // Only the columns the caller shows: decoding every column of every row was a
        // quarter of a list page's CPU (`benches/api_throughput.sh`).
        let mut columns = vec![customer::Column::Id];
        columns.extend(field.key_column());
        for column in shown {
            let name = column.as_str();
            if !columns.iter().any(|c| c.as_str() == name) {
                columns.push(*column);
            }
        }
        let mut sparse = filtered.select_only();
        for column in &columns {
            sparse = sparse.column(*column);
        }
        let statement = keyset(sparse, field, direction, window)?
            .limit(window.fetch)
            .build(db.get_database_backend());
        db.query_all_raw(statement)
            .await
            .context("failed to list customers")?
            .iter()
            .map(|row| customer::Model::from_sparse_row(row, &columns).map(|c| (c, None)))
            .collect::<Result<_, _>>()
            .context("failed to decode a page of customers")?
    } else {
        keyset(filtered, field, direction, window)?
            .limit(window.fetch)
            .all(db)
            .await
            .map_err(|error| anyhow::Error::from(error).context("failed to list customers"))?
            .into_iter()
            .map(|row| (row, None))
            .collect()
    };
    let rows = rows
        .into_iter()
        .map(|(customer, value)| Listed {
            cursor: Cursor {
                field,
                key: field.key_of(&customer, value.as_ref()),
                id: customer.id,
            },
            customer,
        })
        .collect();
    Ok(ListPage { rows, total })
}

impl SortField {
    /// The customer column its key is read from (none for the scores, which are joined).
    fn key_column(self) -> Option<customer::Column> {
        match self {
            SortField::CreatedAt => Some(customer::Column::CreatedAt),
            SortField::Name => Some(customer::Column::Name),
            SortField::LastOrderAt => Some(customer::Column::LastOrderAt),
            SortField::TotalSpent => Some(customer::Column::TotalSpent),
            SortField::PredictedClv | SortField::ChurnRisk => None,
        }
    }

    /// The sort key, qualified by its table (value fields come from the joined scores).
    fn column(self) -> Expr {
        let of_customer = |column: customer::Column| Expr::col((customer::Entity, column));
        match self {
            SortField::CreatedAt => of_customer(customer::Column::CreatedAt),
            SortField::Name => of_customer(customer::Column::Name),
            SortField::LastOrderAt => of_customer(customer::Column::LastOrderAt),
            SortField::TotalSpent => of_customer(customer::Column::TotalSpent),
            SortField::PredictedClv => {
                Expr::col((customer_value::Entity, customer_value::Column::PredictedClv))
            }
            SortField::ChurnRisk => {
                Expr::col((customer_value::Entity, customer_value::Column::ChurnRisk))
            }
        }
    }

    fn nullable(self) -> bool {
        !matches!(self, SortField::CreatedAt | SortField::TotalSpent)
    }

    /// Whether the key comes from the latest value scores rather than the customer row.
    fn keyed_by_scores(self) -> bool {
        matches!(self, SortField::PredictedClv | SortField::ChurnRisk)
    }

    fn key_of(
        self,
        model: &customer::Model,
        value: Option<&customer_value::Model>,
    ) -> serde_json::Value {
        match self {
            SortField::CreatedAt => serde_json::json!(model.created_at),
            SortField::Name => serde_json::json!(model.name),
            SortField::LastOrderAt => serde_json::json!(model.last_order_at),
            SortField::TotalSpent => serde_json::json!(model.total_spent.0),
            SortField::PredictedClv => {
                serde_json::json!(value.and_then(|v| v.predicted_clv).map(|m| m.0))
            }
            SortField::ChurnRisk => serde_json::json!(value.and_then(|v| v.churn_risk)),
        }
    }

    /// The cursor's key as a database value; `None` for a null key.
    fn key_value(self, key: &serde_json::Value) -> Result<Option<sea_orm::Value>, String> {
        if key.is_null() {
            return if self.nullable() {
                Ok(None)
            } else {
                Err("cursor has no sort key".into())
            };
        }
        let value = match self {
            SortField::CreatedAt | SortField::LastOrderAt => {
                serde_json::from_value::<DateTime<Utc>>(key.clone())
                    .map(sea_orm::Value::from)
                    .ok()
            }
            SortField::Name => key.as_str().map(|s| sea_orm::Value::from(s.to_owned())),
            SortField::TotalSpent | SortField::PredictedClv => {
                key.as_i64().map(sea_orm::Value::from)
            }
            SortField::ChurnRisk => key.as_f64().map(sea_orm::Value::from),
        };
        value
            .map(Some)
            .ok_or_else(|| "cursor does not match the list's order".into())
    }
}

/// Adds the keyset condition and ordering for one page. NULL keys sort last in display
/// order on both databases; backward pages run the same order reversed.
fn keyset<S: QueryFilter + QueryOrder>(
    mut select: S,
    field: SortField,
    direction: SortDirection,
    window: &Window,
) -> DomainResult<S> {
    let column = field.column();
    let ascending = (direction == SortDirection::Asc) != window.backward;
    let order = if ascending { Order::Asc } else { Order::Desc };
    let nulls_last = !window.backward;
    let beyond = |value: sea_orm::Value| {
        if ascending {
            column.clone().gt(value)
        } else {
            column.clone().lt(value)
        }
    };
    let id_beyond = |id: i64| {
        if ascending {
            customer::Column::Id.gt(id)
        } else {
            customer::Column::Id.lt(id)
        }
    };

    if let Some(cursor) = &window.cursor {
        if cursor.field != field {
            return Err(DomainError::invalid(
                window.cursor_argument(),
                "the cursor comes from a list in another order",
            ));
        }
        let key = field
            .key_value(&cursor.key)
            .map_err(|message| DomainError::invalid(window.cursor_argument(), message))?;
        let column = || column.clone();
        let condition = match (key, field.nullable(), nulls_last) {
            (Some(key), false, _) => Condition::any()
                .add(beyond(key.clone()))
                .add(column().eq(key).and(id_beyond(cursor.id))),
            (Some(key), true, true) => Condition::any()
                .add(beyond(key.clone()))
                .add(column().eq(key).and(id_beyond(cursor.id)))
                .add(column().is_null()),
            (Some(key), true, false) => Condition::all().add(column().is_not_null()).add(
                Condition::any()
                    .add(beyond(key.clone()))
                    .add(column().eq(key).and(id_beyond(cursor.id))),
            ),
            (None, _, true) => Condition::all()
                .add(column().is_null())
                .add(id_beyond(cursor.id)),
            (None, _, false) => Condition::any()
                .add(column().is_not_null())
                .add(column().is_null().and(id_beyond(cursor.id))),
        };
        select = select.filter(condition);
    }
    select = if field.nullable() {
        let nulls = if nulls_last {
            NullOrdering::Last
        } else {
            NullOrdering::First
        };
        select.order_by_with_nulls(column, order.clone(), nulls)
    } else {
        select.order_by(column, order.clone())
    };
    Ok(select.order_by(customer::Column::Id, order))
}

/// `%text%` for LIKE, with the user's own wildcards escaped.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl Filter {
    /// Compiles the filter into one SQL condition (the same on both databases); every
    /// problem of the filter at once otherwise.
    fn condition(&self) -> Result<Condition, Problems> {
        use customer::Column as C;
        let mut problems = Problems::new();
        let mut condition = Condition::all();
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            // Matched against `search_text`, lower-cased in Rust on the way in, so that
            // "émilie" finds "Émilie" on SQLite too. A phone typed with spaces or dashes
            // matches the compact E.164 form.
            let needle = search.to_lowercase();
            let compact: String = needle.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
            let mut any = Condition::any().add(C::SearchText.like(contains_pattern(&needle)));
            if compact != needle && !compact.is_empty() {
                any = any.add(C::Phone.like(contains_pattern(&compact)));
            }
            condition = condition.add(any);
        }
        if let Some(ids) = &self.ids {
            let ids: Vec<i64> = ids
                .iter()
                .filter_map(|id| problems.check(None, "filter.ids", parse_id(id)))
                .collect();
            condition = condition.add(C::Id.is_in(ids));
        }
        if let Some(external_ids) = &self.external_ids {
            condition = condition.add(C::ExternalId.is_in(external_ids.clone()));
        }
        if let Some(email) = &self.email {
            condition = condition.add(C::Email.eq(email.trim().to_lowercase()));
        }
        if let Some(phone) = &self.phone {
            condition = condition.add(C::Phone.eq(phone.replace([' ', '-'], "")));
        }
        if let Some(genders) = &self.gender {
            condition = condition.add(C::Gender.is_in(genders.iter().copied()));
        }
        for (values, column) in [
            (&self.region, C::Region),
            (&self.city, C::City),
            (&self.income_band, C::IncomeBand),
            (&self.occupation, C::Occupation),
            (&self.lifestyle, C::Lifestyle),
            (&self.needs, C::Needs),
            (&self.acquisition_channel, C::AcquisitionChannel),
            (&self.locale, C::Locale),
            (&self.time_zone, C::TimeZone),
        ] {
            if let Some(values) = values {
                condition = condition.add(column.is_in(values.iter().map(|v| v.trim().to_owned())));
            }
        }
        if let Some(countries) = &self.country {
            condition =
                condition.add(C::Country.is_in(countries.iter().map(|c| c.trim().to_uppercase())));
        }
        if let Some(tags) = &self.interests_any {
            let tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
            condition = condition.add(
                C::Id.in_subquery(
                    Query::select()
                        .column(customer_interest::Column::CustomerId)
                        .from(customer_interest::Entity)
                        .and_where(customer_interest::Column::Tag.is_in(tags))
                        .to_owned(),
                ),
            );
        }
        if let Some(tags) = &self.interests_all {
            let mut tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
            tags.sort();
            tags.dedup();
            let wanted = tags.len() as i64;
            condition = condition.add(
                C::Id.in_subquery(
                    Query::select()
                        .column(customer_interest::Column::CustomerId)
                        .from(customer_interest::Entity)
                        .and_where(customer_interest::Column::Tag.is_in(tags))
                        .group_by_col(customer_interest::Column::CustomerId)
                        .and_having(Expr::col(customer_interest::Column::Tag).count().eq(wanted))
                        .to_owned(),
                ),
            );
        }
        if let Some(consent) = self.marketing_consent {
            condition = condition.add(C::MarketingConsent.eq(consent));
        }
        if let Some(referrer) = &self.referred_by
            && let Some(id) = problems.check(None, "filter.referredBy", parse_id(referrer))
        {
            condition = condition.add(C::ReferredBy.eq(id));
        }
        if let Some(erased) = self.erased {
            condition = condition.add(if erased {
                C::ErasedAt.is_not_null()
            } else {
                C::ErasedAt.is_null()
            });
        }
        if let Some(from) = self.birth_date_from {
            condition = condition.add(C::BirthDate.gte(from));
        }
        if let Some(to) = self.birth_date_to {
            condition = condition.add(C::BirthDate.lte(to));
        }
        for (from, to, column) in [
            (self.created_from, self.created_to, C::CreatedAt),
            (self.first_order_from, self.first_order_to, C::FirstOrderAt),
            (self.last_order_from, self.last_order_to, C::LastOrderAt),
        ] {
            if let Some(from) = from {
                condition = condition.add(column.gte(from));
            }
            if let Some(to) = to {
                condition = condition.add(column.lt(to));
            }
        }
        if let Some(has_orders) = self.has_orders {
            condition = condition.add(if has_orders {
                C::OrderCount.gt(0)
            } else {
                C::OrderCount.eq(0)
            });
        }
        if let Some(min) = self.min_order_count {
            condition = condition.add(C::OrderCount.gte(min));
        }
        if let Some(max) = self.max_order_count {
            condition = condition.add(C::OrderCount.lte(max));
        }
        for (bound, field, lower) in [
            (self.min_total_spent, "filter.minTotalSpent", true),
            (self.max_total_spent, "filter.maxTotalSpent", false),
        ] {
            let Some(value) = bound else {
                continue;
            };
            let money = entity::Money::from_decimal(value)
                .map_err(|_| format!("{value} is not an amount of money"));
            if let Some(money) = problems.check(None, field, money) {
                condition = condition.add(if lower {
                    C::TotalSpent.gte(money.0)
                } else {
                    C::TotalSpent.lte(money.0)
                });
            }
        }
        condition = self.value_condition(condition, &mut problems);
        condition = self.stage_condition(condition);
        problems.into_result()?;
        Ok(condition)
    }

    /// Conditions on the current lifecycle stage, as `id IN (SELECT customer_id FROM
    /// customer_lifecycle WHERE …)`: customers never classified never match.
    fn stage_condition(&self, condition: Condition) -> Condition {
        use customer_lifecycle::Column as L;
        let mut stage = Condition::all();
        if let Some(stages) = &self.stage {
            stage = stage.add(L::Stage.is_in(stages.iter().copied()));
        }
        if let Some(from) = self.stage_since_from {
            stage = stage.add(L::Since.gte(from));
        }
        if let Some(to) = self.stage_since_to {
            stage = stage.add(L::Since.lt(to));
        }
        if stage.is_empty() {
            return condition;
        }
        condition.add(
            customer::Column::Id.in_subquery(
                Query::select()
                    .column(L::CustomerId)
                    .from(customer_lifecycle::Entity)
                    .cond_where(stage)
                    .to_owned(),
            ),
        )
    }

    /// Conditions on the latest scores, as `id IN (SELECT customer_id FROM
    /// customer_values WHERE …)`: customers without scores never match.
    fn value_condition(&self, condition: Condition, problems: &mut Problems) -> Condition {
        use customer_value::Column as V;
        let mut scores = Condition::all();
        let mut any = false;
        if let Some(tiers) = &self.value_tier {
            scores = scores.add(V::ValueTier.is_in(tiers.iter().copied()));
            any = true;
        }
        if let Some(groups) = &self.rfm_group {
            scores = scores.add(V::RfmGroup.is_in(groups.iter().copied()));
            any = true;
        }
        if let Some(min) = self.min_predicted_clv {
            let money = entity::Money::from_decimal(min)
                .map_err(|_| format!("{min} is not an amount of money"));
            if let Some(money) = problems.check(None, "filter.minPredictedClv", money) {
                scores = scores.add(V::PredictedClv.gte(money.0));
            }
            any = true;
        }
        if let Some(max) = self.max_churn_risk {
            if !(0.0..=1.0).contains(&max) {
                problems.push(
                    None,
                    "filter.maxChurnRisk",
                    format!("a churn risk is between 0 and 1, got {max}"),
                );
            }
            scores = scores.add(V::ChurnRisk.lte(max));
            any = true;
        }
        if !any {
            return condition;
        }
        condition.add(
            customer::Column::Id.in_subquery(
                Query::select()
                    .column(V::CustomerId)
                    .from(customer_value::Entity)
                    .cond_where(scores.add(customer_value::latest_run()))
                    .to_owned(),
            ),
        )
    }
}
