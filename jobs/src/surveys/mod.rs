//! Survey emails: the `SURVEY` campaign kind sends eleven signed score links some days
//! after an order (the producer is `crate::campaigns`', the links [`links`]); a click
//! records an NPS answer through the email channel, and the thank-you page that follows
//! may add a comment to it.
//!
//! One email, one answer: `survey_responses` keys the answer by `(customer_id,
//! email_id)`, so clicking another link of the same email changes the score of that
//! answer, and a comment lands on it too. Concurrent clicks of one email are kept to one
//! answer by that key (see [`write`]). The answer is an ordinary `feedback` row (written
//! through `crate::feedback`), so satisfaction reports, topics, the follow-up queue and
//! segments read a changed score at once.

/// The signed score links.
pub mod links;

pub use links::ScoreLink;
