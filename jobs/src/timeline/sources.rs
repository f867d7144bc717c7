//! The timeline's sources: each reads its rows for a page through [`keyset_rows`] (one
//! statement for every customer asked) and says what they mean in one line.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::sql::Params;
use entity::{
    ChangeKind, Direction, EmailKind, EmailStatus, FeedbackKind, email, feedback, interaction,
    lifecycle_event, loyalty_entry, loyalty_tier_event, order, segment_event,
};
use sea_orm::{ConnectionTrait, FromQueryResult, QueryResult};

use super::{Item, Kind, Position, Subject};
use crate::domain::minor_units;
use crate::errors::DomainResult;

/// What a source is asked for: a page of these kinds for these customers.
pub struct Read<'a> {
    pub customer_ids: &'a [i64],
    /// The asked kinds this source holds.
    pub kinds: &'a [Kind],
    pub after: Option<Position>,
    pub limit: u64,
}

/// How a table gives one kind of item: the SQL of its time (a column of the table,
/// aliased `t`) and of the condition a row must meet, if any.
pub struct Branch {
    pub kind: Kind,
    pub time: &'static str,
    pub condition: Option<String>,
}

impl Branch {
    pub fn new(kind: Kind, time: &'static str) -> Self {
        Self {
            kind,
            time,
            condition: None,
        }
    }

    pub fn when(mut self, condition: String) -> Self {
        self.condition = Some(condition);
        self
    }
}

/// A row read for an item: its kind and time, and the table's columns.
pub struct Row {
    pub kind: Kind,
    pub at: DateTime<Utc>,
    pub row: QueryResult,
}

/// The first `read.limit` rows per customer past `read.after`, newest first, of the
/// branches whose kind is asked, in one statement: each branch selects `columns` from
/// `from` (the table aliased `t`, with any joins) tagged with its kind, rank and time,
/// the branches are put together with UNION ALL, and a window partitioned by customer
/// keeps each customer's first rows in timeline order.
pub async fn keyset_rows(
    db: &impl ConnectionTrait,
    read: &Read<'_>,
    from: &str,
    columns: &str,
    branches: &[Branch],
) -> DomainResult<Vec<Row>> {
    let mut params = Params::new(db.get_database_backend());
    let ids = read
        .customer_ids
        .iter()
        .map(|id| params.bind(*id))
        .collect::<Vec<_>>()
        .join(", ");
    let after = read
        .after
        .map(|position| (position, params.bind(position.at), params.bind(position.id)));
    let selects: Vec<String> = branches
        .iter()
        .filter(|branch| read.kinds.contains(&branch.kind))
        .map(|branch| {
            let time = branch.time;
            // Past the position in (time, rank, id) order, newest first; the rank is
            // this branch's, a constant, so the test is on time and id only.
            let keyset = match &after {
                None => String::new(),
                Some((position, at, id)) => match branch.kind.rank().cmp(&position.kind.rank()) {
                    std::cmp::Ordering::Less => format!(" AND {time} <= {at}"),
                    std::cmp::Ordering::Equal => {
                        format!(" AND ({time} < {at} OR ({time} = {at} AND t.id < {id}))")
                    }
                    std::cmp::Ordering::Greater => format!(" AND {time} < {at}"),
                },
            };
            let condition = branch
                .condition
                .as_deref()
                .map(|c| format!(" AND {c}"))
                .unwrap_or_default();
            format!(
                "SELECT {columns}, '{kind}' AS timeline_kind, {rank} AS timeline_rank, \
                        {time} AS timeline_at \
                 FROM {from} \
                 WHERE t.customer_id IN ({ids}) AND {time} IS NOT NULL{condition}{keyset}",
                kind = branch.kind.as_str(),
                rank = branch.kind.rank(),
            )
        })
        .collect();
    if selects.is_empty() {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(read.limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT * FROM ( \
           SELECT u.*, ROW_NUMBER() OVER (PARTITION BY u.customer_id \
                  ORDER BY u.timeline_at DESC, u.timeline_rank DESC, u.id DESC) AS timeline_row \
           FROM ({}) u) numbered \
         WHERE numbered.timeline_row <= {limit}",
        selects.join(" UNION ALL ")
    );
    let rows = db
        .query_all_raw(params.statement(sql))
        .await
        .with_context(|| format!("failed to read a timeline page from {from}"))?;
    rows.into_iter()
        .map(|row| {
            let kind: String = row
                .try_get("", "timeline_kind")
                .context("failed to read a timeline kind")?;
            let kind =
                Kind::parse(&kind).with_context(|| format!("unknown timeline kind {kind}"))?;
            let at = row
                .try_get("", "timeline_at")
                .context("failed to read a timeline time")?;
            Ok(Row { kind, at, row })
        })
        .collect()
}

/// The table's model of a row.
fn model<M: FromQueryResult>(row: &Row) -> DomainResult<M> {
    Ok(M::from_query_result(&row.row, "").context("failed to read a timeline row")?)
}

/// `order_summary` and friends: lower-case words of a stored name.
fn words(name: &str) -> String {
    name.to_lowercase().replace('_', " ")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub async fn orders(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let branches = [Branch::new(Kind::Order, "t.ordered_at")];
    let rows = keyset_rows(db, read, "orders t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let order: order::Model = model(row)?;
            let amount = order.amount.to_amount(minor_units(&order.currency));
            let channel = order
                .channel
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            Ok(Item {
                customer_id: order.customer_id,
                kind: row.kind,
                at: row.at,
                id: order.id,
                summary: format!(
                    "Order {}: {amount} {}{channel}",
                    order.external_id, order.currency
                ),
                subject: Subject::Order(order),
            })
        })
        .collect()
}

pub async fn interactions(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let branches = [Branch::new(Kind::Interaction, "t.occurred_at")];
    let rows = keyset_rows(db, read, "interactions t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let interaction: interaction::Model = model(row)?;
            let direction = match interaction.direction {
                Direction::Inbound => "Inbound",
                Direction::Outbound => "Outbound",
            };
            // The subject and note are personal text: the summary leaves them out.
            let channel = {
                use sea_orm::ActiveEnum;
                words(&interaction.channel.to_value())
            };
            Ok(Item {
                customer_id: interaction.customer_id,
                kind: row.kind,
                at: row.at,
                id: interaction.id,
                summary: format!("{direction} {channel} interaction"),
                subject: Subject::Interaction(interaction),
            })
        })
        .collect()
}

pub async fn feedback(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let branches = [Branch::new(Kind::Feedback, "t.occurred_at")];
    let rows = keyset_rows(db, read, "feedback t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let answer: feedback::Model = model(row)?;
            let score = match answer.kind {
                FeedbackKind::Nps => {
                    let category = match answer.score {
                        9.. => "promoter",
                        7..=8 => "passive",
                        _ => "detractor",
                    };
                    format!("NPS {} ({category})", answer.score)
                }
                FeedbackKind::Csat => format!("CSAT {} of 5", answer.score),
            };
            let channel = answer
                .channel
                .map(|c| {
                    use sea_orm::ActiveEnum;
                    format!(" via {}", words(&c.to_value()))
                })
                .unwrap_or_default();
            Ok(Item {
                customer_id: answer.customer_id,
                kind: row.kind,
                at: row.at,
                id: answer.id,
                summary: format!("{score}{channel}"),
                subject: Subject::Feedback(answer),
            })
        })
        .collect()
}

/// One row of `emails` gives up to five items, one per moment of its life.
pub async fn emails(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let failed = {
        use sea_orm::ActiveEnum;
        format!("t.status = '{}'", EmailStatus::Failed.to_value())
    };
    let branches = [
        Branch::new(Kind::EmailQueued, "t.created_at"),
        Branch::new(Kind::EmailSent, "t.sent_at"),
        // A failure has no time of its own: the row's last change is when it failed.
        Branch::new(Kind::EmailFailed, "t.updated_at").when(failed),
        Branch::new(Kind::EmailUnsubscribed, "t.unsubscribed_at"),
        Branch::new(Kind::EmailConverted, "t.converted_at"),
    ];
    let rows = keyset_rows(db, read, "emails t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let email: email::Model = model(row)?;
            let what = match email.kind {
                EmailKind::WinBack => "win-back".to_owned(),
                kind => words(kind.as_str()),
            };
            // Subjects carry names: the summary names the kind of email only.
            let summary = match row.kind {
                Kind::EmailQueued => capitalised(&format!("{what} email queued")),
                Kind::EmailSent => capitalised(&format!("{what} email sent")),
                Kind::EmailFailed => capitalised(&format!(
                    "{what} email failed after {} attempts",
                    email.attempts
                )),
                Kind::EmailUnsubscribed => format!("Unsubscribed through a {what} email"),
                _ => match &email.offer_code {
                    Some(code) => format!("Redeemed offer {code} of a {what} email"),
                    None => format!("Ordered after a {what} email"),
                },
            };
            Ok(Item {
                customer_id: email.customer_id.unwrap_or_default(),
                kind: row.kind,
                at: row.at,
                id: email.id,
                summary,
                subject: Subject::Email(email),
            })
        })
        .collect()
}

pub async fn stage_changes(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let branches = [Branch::new(Kind::StageChanged, "t.at")];
    let rows = keyset_rows(db, read, "lifecycle_events t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let event: lifecycle_event::Model = model(row)?;
            let change = match event.from_stage {
                Some(from) => format!("{} → {}", from.as_str(), event.to_stage.as_str()),
                None => format!("First stage {}", event.to_stage.as_str()),
            };
            let reactivation = if event.reactivation {
                " (reactivation)"
            } else {
                ""
            };
            Ok(Item {
                customer_id: event.customer_id,
                kind: row.kind,
                at: row.at,
                id: event.id,
                summary: format!("{change}{reactivation}: {}", event.reason),
                subject: Subject::StageChange(event),
            })
        })
        .collect()
}

pub async fn segment_changes(
    db: &impl ConnectionTrait,
    read: &Read<'_>,
) -> DomainResult<Vec<Item>> {
    let branches = [
        Branch::new(Kind::SegmentEntered, "t.at")
            .when(format!("t.kind = '{}'", ChangeKind::Entered.as_str())),
        Branch::new(Kind::SegmentExited, "t.at")
            .when(format!("t.kind = '{}'", ChangeKind::Exited.as_str())),
    ];
    // The segment's name for the summary; a deleted segment has none.
    let rows = keyset_rows(
        db,
        read,
        "segment_events t LEFT JOIN segments s ON s.id = t.segment_id",
        "t.*, s.name AS segment_name",
        &branches,
    )
    .await?;
    rows.iter()
        .map(|row| {
            let event: segment_event::Model = model(row)?;
            let segment_name: Option<String> = row
                .row
                .try_get("", "segment_name")
                .context("failed to read a segment name")?;
            let segment_name = segment_name.unwrap_or_default();
            let name = if segment_name.is_empty() {
                "a deleted segment".to_owned()
            } else {
                format!("segment “{segment_name}”")
            };
            let summary = match row.kind {
                Kind::SegmentEntered => format!("Entered {name}"),
                _ => format!("Left {name}"),
            };
            Ok(Item {
                customer_id: event.customer_id,
                kind: row.kind,
                at: row.at,
                id: event.id,
                summary,
                subject: Subject::SegmentChange {
                    event,
                    segment_name,
                },
            })
        })
        .collect()
}

pub async fn ledger_entries(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let branches = [Branch::new(Kind::PointsChanged, "t.occurred_at")];
    let rows = keyset_rows(db, read, "loyalty_ledger t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let entry: loyalty_entry::Model = model(row)?;
            // The reason is free text an agent typed, and a client's idempotency key is
            // the client's own text: both are read on the subject only.
            let cause = match (entry.order_id, entry.cause_key.as_deref()) {
                (Some(order), _) => format!(" for order {order}"),
                (None, Some(key))
                    if key.starts_with("birthday:") || key.starts_with("referral:") =>
                {
                    format!(" ({key})")
                }
                _ => String::new(),
            };
            Ok(Item {
                customer_id: entry.customer_id,
                kind: row.kind,
                at: row.at,
                id: entry.id,
                summary: format!(
                    "{} {:+} points{cause}",
                    capitalised(&words(entry.kind.as_str())),
                    entry.points
                ),
                subject: Subject::LedgerEntry(entry),
            })
        })
        .collect()
}

pub async fn tier_changes(db: &impl ConnectionTrait, read: &Read<'_>) -> DomainResult<Vec<Item>> {
    let branches = [Branch::new(Kind::TierChanged, "t.occurred_at")];
    let rows = keyset_rows(db, read, "loyalty_tier_events t", "t.*", &branches).await?;
    rows.iter()
        .map(|row| {
            let event: loyalty_tier_event::Model = model(row)?;
            let tier = |name: &Option<String>| name.clone().unwrap_or_else(|| "no tier".into());
            Ok(Item {
                customer_id: event.customer_id,
                kind: row.kind,
                at: row.at,
                id: event.id,
                summary: format!(
                    "Tier {} → {} ({})",
                    tier(&event.from_tier),
                    tier(&event.to_tier),
                    words(event.reason.as_str())
                ),
                subject: Subject::TierChange(event),
            })
        })
        .collect()
}
