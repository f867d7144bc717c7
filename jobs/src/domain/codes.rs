use std::str::FromStr;

/// ISO 3166-1 alpha-2 country code, upper case (`CN`, `US`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(input: &str) -> Result<Self, String> {
        let code = input.trim().to_uppercase();
        match isocountry::CountryCode::for_alpha2(&code) {
            Ok(_) => Ok(Self(code)),
            Err(_) => Err(format!(
                "`{}` is not an ISO 3166-1 alpha-2 country code",
                input.trim()
            )),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// ISO 4217 currency code, upper case (`CNY`, `USD`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(input: &str) -> Result<Self, String> {
        let code = input.trim().to_uppercase();
        match iso_currency::Currency::from_code(&code) {
            Some(_) => Ok(Self(code)),
            None => Err(format!(
                "`{}` is not an ISO 4217 currency code",
                input.trim()
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decimal places of the currency's minor unit (USD 2, JPY 0, BHD 3).
    pub fn minor_units(&self) -> u32 {
        minor_units(&self.0)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Decimal places of a stored currency code's minor unit; the four places money keeps
/// for a code without one (gold, SDRs) or unknown to this build.
pub fn minor_units(code: &str) -> u32 {
    iso_currency::Currency::from_code(code)
        .and_then(|currency| currency.exponent())
        .map_or(entity::Money::SCALE, u32::from)
}

/// A well-formed BCP 47 language tag (`zh-CN`, `en`, `pt-BR`), as the customer's locale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    pub fn parse(input: &str) -> Result<Self, String> {
        let tag = input.trim();
        match language_tags::LanguageTag::parse(tag) {
            Ok(parsed) if parsed.is_valid() => Ok(Self(parsed.to_string())),
            _ => Err(format!(
                "`{tag}` is not a BCP 47 language tag (like zh-CN or en)"
            )),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An IANA time zone name known to the bundled tz database (`Asia/Shanghai`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let name = input.trim();
        match chrono_tz::Tz::from_str(name) {
            Ok(zone) => Ok(Self(zone.name().to_owned())),
            Err(_) => Err(format!(
                "`{name}` is not an IANA time zone (like Asia/Shanghai)"
            )),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised() {
        assert_eq!(CountryCode::parse("cn").unwrap().into_inner(), "CN");
        assert_eq!(CurrencyCode::parse("usd").unwrap().into_inner(), "USD");
        assert_eq!(Locale::parse("zh-CN").unwrap().into_inner(), "zh-CN");
        assert_eq!(
            TimeZoneName::parse("Asia/Shanghai").unwrap().into_inner(),
            "Asia/Shanghai"
        );
    }

    #[test]
    fn unknown_codes_are_refused() {
        assert!(CountryCode::parse("XX").is_err());
        assert!(CountryCode::parse("CHN").is_err());
        assert!(CurrencyCode::parse("ABC").is_err());
        assert!(Locale::parse("not a locale").is_err());
        assert!(Locale::parse("").is_err());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
    }
}
