/// A syntactically valid email address, trimmed and lower-cased (addresses are matched
/// case-insensitively in practice, and uniqueness must agree with that).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, String> {
        let candidate = input.trim().to_lowercase();
        if candidate.len() > 254 {
            return Err("email is longer than 254 characters".into());
        }
        // The crate implements RFC 5322/5321 syntax; we additionally require a dot in the
        // domain, since dotless domains are never deliverable for a business's customers.
        // Only a bare addr-spec: the crate's default also takes `"Name" <addr>`, and such a
        // value stored beside `addr` would get around uniqueness of addresses (the check
        // on `email()` is belt and braces should the option ever stop refusing them).
        let options = email_address::Options::default().without_display_text();
        match email_address::EmailAddress::parse_with_options(&candidate, options) {
            Ok(parsed)
                if parsed.email() == candidate
                    && parsed.domain().contains('.')
                    && !parsed.domain().starts_with('[') =>
            {
                Ok(Self(candidate))
            }
            // The input is personal data: the error names the field, never the value.
            _ => Err("is not a valid email address".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn valid_addresses_are_lower_cased() {
        assert_eq!(
            EmailAddress::parse(" Li.Na@Example.COM ").unwrap().as_str(),
            "li.na@example.com"
        );
        assert!(EmailAddress::parse("wang+crm@mail.shop.example").is_ok());
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for bad in [
            "",
            "plain",
            "a@",
            "@b.example",
            "a b@c.example",
            "a@localhost",
            "a@@b.example",
            "\"X\" <carol@example.com>",
            "Carol <carol@example.com>",
            "<carol@example.com>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
