//! The built-in suggested segments: common strategies (keep the valuable, welcome the
//! new, act on NPS, win back, celebrate, reward), each with a goal and a strategy, that
//! an administrator installs in one step.

use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::segment;
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde_json::json;

use super::edit::{self, SegmentKind};
use super::rule::{Condition, Field, Op, Rule};
use crate::DomainResult;

/// One built-in segment.
#[derive(Clone, Debug)]
pub struct Suggestion {
    pub name: &'static str,
    pub description: &'static str,
    pub goal: &'static str,
    pub strategy: &'static str,
    pub rule: Rule,
}

fn when(field: Field, op: Op, value: serde_json::Value) -> Rule {
    Rule::Condition(Condition {
        field,
        op,
        value: Some(value),
        values: None,
    })
}

/// The built-in segments, in the order they are installed.
pub fn suggestions() -> Vec<Suggestion> {
    use Field::*;
    use Op::*;
    vec![
        Suggestion {
            name: "High value at risk",
            description: "Value tier HIGH with a churn risk of 50 % or more.",
            goal: "Keep the most valuable customers from leaving.",
            strategy: "Personal outreach within a week, a service check, a tailored offer.",
            rule: Rule::All(vec![
                when(ValueTier, Eq, json!(entity::ValueTier::High)),
                when(ChurnRisk, Gte, json!(0.5)),
            ]),
        },
        Suggestion {
            name: "New this month",
            description: "First order in the last 30 days.",
            goal: "Turn a first order into a second one.",
            strategy: "Welcome series, onboarding tips, a timely second-order offer.",
            rule: when(DaysSinceFirstOrder, Lte, json!(30)),
        },
        Suggestion {
            name: "Promoters",
            description: "Latest NPS answer 9 or 10.",
            goal: "Turn enthusiasm into referrals and reviews.",
            strategy: "Referral invitations, review requests, early access.",
            rule: when(NpsCategory, Eq, json!("PROMOTER")),
        },
        Suggestion {
            name: "Detractors",
            description: "Latest NPS answer 0 to 6.",
            goal: "Fix what went wrong before they leave or tell others.",
            strategy: "Call back within 48 hours, resolve the issue, follow up with a survey.",
            rule: when(NpsCategory, Eq, json!("DETRACTOR")),
        },
        Suggestion {
            name: "Silent big spenders",
            description: "Lifecycle stage SILENT with an RFM monetary score of 4 or 5.",
            goal: "Win back high spenders who went quiet.",
            strategy: "Win-back offer with an expiry, highest predicted value first.",
            rule: Rule::All(vec![
                when(LifecycleStage, Eq, json!(entity::LifecycleStage::Silent)),
                when(MScore, Gte, json!(4)),
            ]),
        },
        Suggestion {
            name: "Birthdays this month",
            description: "Born in the current month, with marketing consent.",
            goal: "Celebrate customers on their day.",
            strategy: "Birthday greeting with a small gift, sent on the day in their time zone.",
            rule: Rule::All(vec![
                when(BirthdayThisMonth, Eq, json!(true)),
                when(MarketingConsent, Eq, json!(true)),
            ]),
        },
        Suggestion {
            name: "Loyal champions",
            description: "Lifecycle stage LOYAL in the RFM group Champions.",
            goal: "Recognise and keep the best customers.",
            strategy: "Loyalty rewards, exclusive previews, invitations to give feedback.",
            rule: Rule::All(vec![
                when(LifecycleStage, Eq, json!(entity::LifecycleStage::Loyal)),
                when(RfmGroup, Eq, json!(entity::RfmGroup::Champions)),
            ]),
        },
    ]
}

/// Installs the suggestions at `now`, each with its members computed at once; those
/// whose name already exists are left alone. Returns the segments installed now.
pub async fn install_suggested(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> DomainResult<Vec<segment::Model>> {
    let mut installed = Vec::new();
    for suggestion in suggestions() {
        if edit::name_taken(db, suggestion.name, None).await? {
            continue;
        }
        let rule = serde_json::to_string(&suggestion.rule)
            .context("failed to store a suggested rule as JSON")?;
        let row = segment::ActiveModel {
            name: Set(suggestion.name.to_owned()),
            description: Set(Some(suggestion.description.to_owned())),
            kind: Set(SegmentKind::Dynamic),
            rule: Set(Some(rule)),
            goal: Set(Some(suggestion.goal.to_owned())),
            strategy: Set(Some(suggestion.strategy.to_owned())),
            ..Default::default()
        };
        installed.push(edit::insert(db, row, now).await?);
    }
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suggested_rule_passes_the_rule_checks_and_names_are_unique() {
        let all = suggestions();
        for suggestion in &all {
            assert!(suggestion.rule.check("rule").is_ok(), "{}", suggestion.name);
            assert!(suggestion.name.chars().count() <= edit::NAME_LIMIT);
        }
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
