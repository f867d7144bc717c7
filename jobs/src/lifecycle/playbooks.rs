//! Stage playbooks: the goal and strategy the business sets for each stage, edited by
//! admins (one row per stage, seeded by the migration).

use anyhow::Context;
use chrono::Utc;
use entity::lifecycle_playbook;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::Stage;
use crate::{DomainError, DomainResult, Problems};

/// The longest goal or strategy kept.
pub const PLAYBOOK_TEXT_LIMIT: usize = 4000;

/// Every stage's playbook, in stage order.
pub async fn playbooks(db: &impl ConnectionTrait) -> DomainResult<Vec<lifecycle_playbook::Model>> {
    let mut rows = lifecycle_playbook::Entity::find()
        .all(db)
        .await
        .context("failed to load the playbooks")?;
    rows.sort_by_key(|row| row.stage);
    Ok(rows)
}

/// What to change in a playbook; None keeps the current text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlaybookChanges {
    pub goal: Option<String>,
    pub strategy: Option<String>,
}

impl PlaybookChanges {
    /// Texts given must say something and stay within [`PLAYBOOK_TEXT_LIMIT`].
    pub fn check(&self) -> Result<(), Problems> {
        let mut problems = Problems::new();
        for (field, text) in [("goal", &self.goal), ("strategy", &self.strategy)] {
            if let Some(text) = text {
                if text.trim().is_empty() {
                    problems.push(None, field, "must not be blank");
                } else if text.chars().count() > PLAYBOOK_TEXT_LIMIT {
                    problems.push(
                        None,
                        field,
                        format!("at most {PLAYBOOK_TEXT_LIMIT} characters"),
                    );
                }
            }
        }
        problems.into_result()
    }
}

/// Changes the goal and strategy of a stage's playbook (texts trimmed).
pub async fn update_playbook(
    db: &impl ConnectionTrait,
    stage: Stage,
    changes: PlaybookChanges,
) -> DomainResult<lifecycle_playbook::Model> {
    changes.check()?;
    let name = stage.as_str();
    let existing = lifecycle_playbook::Entity::find_by_id(stage)
        .one(db)
        .await
        .context("failed to load the playbook")?
        .ok_or_else(|| DomainError::not_found(format!("playbook {name}")))?;
    let mut row: lifecycle_playbook::ActiveModel = existing.into();
    if let Some(goal) = changes.goal {
        row.goal = Set(goal.trim().to_owned());
    }
    if let Some(strategy) = changes.strategy {
        row.strategy = Set(strategy.trim().to_owned());
    }
    row.updated_at = Set(Utc::now());
    Ok(row
        .update(db)
        .await
        .context("failed to save the playbook")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_overlong_texts_are_refused_by_field() {
        let changes = PlaybookChanges {
            goal: Some("  ".into()),
            strategy: Some("x".repeat(PLAYBOOK_TEXT_LIMIT + 1)),
        };
        let problems = changes.check().unwrap_err();
        let fields: Vec<&str> = problems
            .as_slice()
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["goal", "strategy"]);
        assert!(PlaybookChanges::default().check().is_ok());
    }
}
