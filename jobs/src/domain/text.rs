use chrono::{NaiveDate, Utc};

/// A short free-text value (name, city, occupation, …): trimmed, non-empty, bounded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label(String);

impl Label {
    pub fn parse(input: &str, max_chars: usize) -> Result<Self, String> {
        let value = input.trim();
        if value.is_empty() {
            return Err("must not be empty (omit the field or send null to leave it unset)".into());
        }
        if value.chars().count() > max_chars {
            return Err(format!("is longer than {max_chars} characters"));
        }
        if value.chars().any(char::is_control) {
            return Err("contains control characters".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Free text (an interaction's note, a feedback comment): trimmed, `None` when nothing
/// is left, refused past `max_chars` characters.
pub fn parse_free_text(input: &str, max_chars: usize) -> Result<Option<String>, String> {
    let text = input.trim();
    if text.chars().count() > max_chars {
        return Err(format!("is longer than {max_chars} characters"));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// An interest tag: lower-cased so that `Coffee` and `coffee` are one interest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct InterestTag(String);

impl InterestTag {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(input: &str) -> Result<Self, String> {
        Label::parse(input, Self::MAX_CHARS).map(|label| Self(label.into_inner().to_lowercase()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A feedback topic as a client tags an answer (`delivery`, `price`, `物流`): trimmed,
/// inner runs of whitespace made one space, lower-cased, so that ` Delivery ` and
/// `delivery` are one topic; letters, digits, spaces, `-` and `_` only, because topics
/// are categories to group by, not free text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicTag(String);

impl TopicTag {
    /// As long as the `feedback_topics.topic` column.
    pub const MAX_CHARS: usize = 64;

    pub fn parse(input: &str) -> Result<Self, String> {
        let topic = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if topic.is_empty() {
            return Err("a topic must not be empty".into());
        }
        if topic.chars().count() > Self::MAX_CHARS {
            return Err(format!("a topic is at most {} characters", Self::MAX_CHARS));
        }
        if let Some(bad) = topic
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_')))
        {
            return Err(format!(
                "a topic has letters, digits, spaces, `-` and `_` only, not `{bad}`"
            ));
        }
        Ok(Self(topic.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A birth date must be in the past and after 1900.
pub fn parse_birth_date(date: NaiveDate) -> Result<NaiveDate, String> {
    let today = Utc::now().date_naive();
    if date > today {
        return Err("birth date is in the future".into());
    }
    if date < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
        return Err("birth date is before 1900".into());
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(Label::parse("  上海  ", 10).unwrap().into_inner(), "上海");
        assert!(Label::parse("   ", 10).is_err());
        assert!(Label::parse("abcdef", 5).is_err());
        assert!(Label::parse("a\u{0}b", 5).is_err());
    }

    #[test]
    fn tags_are_lower_cased() {
        assert_eq!(
            InterestTag::parse(" Coffee ").unwrap().into_inner(),
            "coffee"
        );
    }

    #[test]
    fn topics_are_normalised_and_checked() {
        let topic = |s: &str| TopicTag::parse(s).map(TopicTag::into_inner);
        assert_eq!(topic("  Delivery  Time ").unwrap(), "delivery time");
        assert_eq!(topic("物流").unwrap(), "物流");
        assert_eq!(topic("after-sales_service").unwrap(), "after-sales_service");
        assert!(topic("   ").is_err());
        assert!(topic("price!").unwrap_err().contains('!'));
        assert!(topic(&"a".repeat(65)).is_err());
        assert!(topic(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn birth_dates_in_the_future_are_refused() {
        let tomorrow = Utc::now().date_naive() + chrono::Days::new(1);
        assert!(parse_birth_date(tomorrow).is_err());
        assert!(parse_birth_date(NaiveDate::from_ymd_opt(1990, 2, 28).unwrap()).is_ok());
        assert!(parse_birth_date(NaiveDate::from_ymd_opt(1899, 12, 31).unwrap()).is_err());
    }
}
