/// A phone number in E.164 form: `+`, a country code that does not start with 0, and at
/// most 15 digits in all. Spaces, dashes, dots and parentheses in the input are dropped;
/// numbers without the `+` are refused rather than guessed at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, String> {
        let compact: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        // The input is personal data: the error names the field, never the value.
        let refuse = || Err("is not an E.164 phone number (like +8613800138000)".to_owned());
        let Some(digits) = compact.strip_prefix('+') else {
            return refuse();
        };
        let well_formed = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if well_formed {
            Ok(Self(compact))
        } else {
            refuse()
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::PhoneNumber;

    #[test]
    fn e164_numbers_are_accepted_and_compacted() {
        assert_eq!(
            PhoneNumber::parse("+86 138-0013-8000")
                .unwrap()
                .into_inner(),
            "+8613800138000"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-0100")
                .unwrap()
                .into_inner(),
            "+14155550100"
        );
    }

    #[test]
    fn other_forms_are_refused() {
        for bad in [
            "13800138000",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+86abc",
            "",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
