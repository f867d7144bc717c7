//! Parse, don't validate: each type here can only be built from input that passed its
//! checks, and code past the API boundary takes these types instead of raw strings.
//! Errors are short English reasons meant for API clients.

/// ISO and IANA codes: country, currency, locale, time zone.
mod codes;
/// Phone numbers in E.164.
mod phone;
/// Free-text labels and interest tags.
mod text;

pub use codes::{CountryCode, CurrencyCode, Locale, TimeZoneName, minor_units};
pub use phone::PhoneNumber;
pub use text::{InterestTag, Label, TopicTag, parse_birth_date, parse_free_text};
