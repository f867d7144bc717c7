use sea_orm::entity::prelude::*;

/// The answer a survey email's score links recorded: one per email, so a second click
/// changes that answer instead of adding one. `customer_id` leads the key so the table
/// distributes by customer, on the shard of the email and the answer.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "survey_responses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: i64,
    /// The survey email (`emails.id`) whose link was clicked.
    #[sea_orm(primary_key, auto_increment = false)]
    pub email_id: i64,
    /// The answer (`feedback.id`) it recorded.
    pub feedback_id: i64,
    /// The first click.
    pub created_at: DateTimeUtc,
    /// The latest click or comment.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
