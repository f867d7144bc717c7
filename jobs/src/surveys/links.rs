//! The score links of a survey email: `<email id>.<customer id>.<score>.<signature>`,
//! signed for `survey` like the unsubscribe link ([`crate::mail::links`]). A link names
//! its email, so clicking two links of one email gives one answer; the score is signed,
//! so a link cannot be edited into another score.

use std::ops::RangeInclusive;

use serde::Serialize;

use crate::mail::links;

/// What the signature says a token is for.
const PURPOSE: &str = "survey";

/// The scores offered: NPS, 0 (not at all likely to recommend us) to 10 (extremely).
pub const SCORES: RangeInclusive<i32> = 0..=10;

/// One score link of one survey email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreLink {
    pub email_id: i64,
    pub customer_id: i64,
    /// In [`SCORES`].
    pub score: i32,
}

impl ScoreLink {
    /// The token of this link.
    pub fn sign(self, secret: &[u8]) -> String {
        links::sign(
            secret,
            PURPOSE,
            &[self.email_id, self.customer_id, i64::from(self.score)],
        )
    }

    /// The link of a genuine token; None for anything else (a tampered or made-up token,
    /// another kind of link, a score outside [`SCORES`]).
    pub fn verify(secret: &[u8], token: &str) -> Option<Self> {
        let [email_id, customer_id, score] = links::verify::<3>(secret, PURPOSE, token)?;
        let score = i32::try_from(score).ok().filter(|s| SCORES.contains(s))?;
        Some(Self {
            email_id,
            customer_id,
            score,
        })
    }

    /// The URL the email links to (the click records the score: `GET`).
    pub fn url(self, secret: &[u8], public_url: &str) -> String {
        format!(
            "{}/survey/{}",
            public_url.trim_end_matches('/'),
            self.sign(secret)
        )
    }
}

/// One link as templates see it (`score_links`: `{{ link.score }}`, `{{ link.url }}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateLink {
    pub score: i32,
    pub url: String,
}

/// The eleven links of one email, 0 to 10.
pub fn score_links(
    secret: &[u8],
    public_url: &str,
    email_id: i64,
    customer_id: i64,
) -> Vec<TemplateLink> {
    SCORES
        .map(|score| TemplateLink {
            score,
            url: ScoreLink {
                email_id,
                customer_id,
                score,
            }
            .url(secret, public_url),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn each_score_has_its_own_link_and_none_can_be_edited_into_another() {
        let links = score_links(SECRET, "https://shop.example/", 42, 7);
        assert_eq!(links.len(), 11);
        for (link, score) in links.iter().zip(0..) {
            assert_eq!(link.score, score);
            let token = link
                .url
                .strip_prefix("https://shop.example/survey/")
                .unwrap();
            assert_eq!(
                ScoreLink::verify(SECRET, token),
                Some(ScoreLink {
                    email_id: 42,
                    customer_id: 7,
                    score
                })
            );
            // The score edited, the customer edited: refused.
            let signature = token.rsplit('.').next().unwrap();
            let other = (score + 1) % 11;
            assert_eq!(
                ScoreLink::verify(SECRET, &format!("42.7.{other}.{signature}")),
                None
            );
            assert_eq!(
                ScoreLink::verify(SECRET, &format!("42.8.{score}.{signature}")),
                None
            );
        }
        // An unsubscribe token of the same email is no survey link, and a score outside
        // 0–10 is refused even when signed.
        let unsubscribe = crate::mail::unsubscribe::sign(SECRET, 42, 7);
        assert_eq!(ScoreLink::verify(SECRET, &unsubscribe), None);
        let eleven = links::sign(SECRET, PURPOSE, &[42, 7, 11]);
        assert_eq!(ScoreLink::verify(SECRET, &eleven), None);
        assert_eq!(ScoreLink::verify(SECRET, "garbage"), None);
    }
}
