//! Random codes people type: offer codes at a till, referral codes in a sign-up form.
//! Crockford's base32 alphabet (no I, L, O, U: nothing to misread), drawn from the
//! thread's cryptographically secure generator, so a code cannot be guessed from others.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `length` random characters of Crockford's base32 (5 bits each).
pub fn random_code(length: usize) -> String {
    code_from(&mut rand::rng(), length)
}

/// `length` characters of Crockford's base32 drawn from `rng` (the demo's seeded
/// generator makes the same codes on every run).
pub fn code_from(rng: &mut impl Rng, length: usize) -> String {
    (0..length)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Characters of a referral code: 60 bits, so that even at 100 million customers a
/// repeat is a few-in-a-thousand event (the lookup table's key catches it and a new code
/// is drawn) and guessing a code takes about 10^18 tries.
pub const REFERRAL_CODE_LENGTH: usize = 12;

/// A new referral code.
pub fn referral_code() -> String {
    random_code(REFERRAL_CODE_LENGTH)
}

/// A referral code as a person may type it: case and separators ignored, and the letters
/// Crockford's alphabet leaves out read as the digits they look like. `None` when what
/// is left is not a code's length or has other characters.
pub fn normalise_referral_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        })
        .collect();
    (code.len() == REFERRAL_CODE_LENGTH && code.bytes().all(|b| ALPHABET.contains(&b)))
        .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_differ() {
        let a = referral_code();
        let b = referral_code();
        assert_eq!(a.len(), REFERRAL_CODE_LENGTH);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn typed_codes_are_read_as_meant() {
        assert_eq!(
            normalise_referral_code("abcd-efgh-jk0o"),
            Some("ABCDEFGHJK00".to_owned())
        );
        assert_eq!(
            normalise_referral_code("i1l1 2345 6789"),
            Some("111123456789".to_owned())
        );
        assert_eq!(normalise_referral_code("ABCDEFGHJK0"), None);
        assert_eq!(normalise_referral_code("ABCDEFGHJK0U"), None);
    }
}
