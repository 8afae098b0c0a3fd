//! NHS numbers: ten digits whose last is a Modulus 11 check digit, and how they are shown masked.

use std::fmt;

/// A syntactically valid NHS number (ten digits, correct Modulus 11 check digit). Spaces and hyphens
/// in the 3-3-4 display form are accepted on input and dropped.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct NhsNumber(String);

/// Why a string is not an NHS number, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("an NHS number has 10 digits; this has {0}")]
    Length(usize),
    #[error("an NHS number has only digits (spaces allowed in 3-3-4 form); found {0:?}")]
    NonDigit(char),
    #[error("the check digit is wrong (Modulus 11): expected {expected}, found {found}")]
    CheckDigit { expected: u32, found: u32 },
    #[error("the first nine digits give check value 10, which no NHS number has")]
    CheckTen,
}

impl NhsNumber {
    pub fn parse(input: &str) -> Result<Self, NhsNumberError> {
        let mut digits = Vec::with_capacity(10);
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c.to_digit(10).unwrap_or(0)),
                ' ' | '-' => {}
                other => return Err(NhsNumberError::NonDigit(other)),
            }
        }
        if digits.len() != 10 {
            return Err(NhsNumberError::Length(digits.len()));
        }
        let expected = check_digit(&digits[..9]).ok_or(NhsNumberError::CheckTen)?;
        if expected != digits[9] {
            return Err(NhsNumberError::CheckDigit { expected, found: digits[9] });
        }
        Ok(NhsNumber(digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Modulus 11 check digit for nine digits, or `None` when the remainder makes it 10 (invalid).
pub fn check_digit(first_nine: &[u32]) -> Option<u32> {
    let sum: u32 = first_nine.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        d => Some(d),
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NhsNumber({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for NhsNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NhsNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An NHS number as pages and exports show it to someone who has not asked to reveal it: the last
/// four digits only (`*** *** 4321`). Empty stays empty.
pub fn mask(nhs: &str) -> String {
    if nhs.is_empty() {
        return String::new();
    }
    let tail: String = nhs.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("*** *** {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masking_keeps_the_last_four_digits_only() {
        assert_eq!(mask("9434765919"), "*** *** 5919");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn published_sandbox_numbers_are_valid() {
        for n in ["9000000009", "9000000017", "9000000025", "9000000033", "9690937278", "4409815415"] {
            assert!(NhsNumber::parse(n).is_ok(), "{n} should be valid");
        }
    }

    #[test]
    fn the_pds_sandbox_invalid_number_is_rejected() {
        // PDS's sandbox uses 9000000000 as its "invalid NHS number" case.
        assert!(matches!(NhsNumber::parse("9000000000"), Err(NhsNumberError::CheckDigit { .. })));
    }

    #[test]
    fn display_form_is_accepted_and_normalised() {
        assert_eq!(NhsNumber::parse("900 000 0009").unwrap().as_str(), "9000000009");
    }

    #[test]
    fn wrong_shapes_say_what_is_wrong() {
        assert_eq!(NhsNumber::parse("12345"), Err(NhsNumberError::Length(5)));
        assert_eq!(NhsNumber::parse("90000000O9"), Err(NhsNumberError::NonDigit('O')));
    }

    proptest! {
        #[test]
        fn every_nine_digit_prefix_has_at_most_one_valid_completion(prefix in proptest::collection::vec(0u32..10, 9)) {
            let valid: Vec<u32> = (0..10)
                .filter(|last| {
                    let s: String = prefix.iter().chain(std::iter::once(last)).map(|d| char::from(b'0' + *d as u8)).collect();
                    NhsNumber::parse(&s).is_ok()
                })
                .collect();
            prop_assert!(valid.len() <= 1);
            prop_assert_eq!(valid.first().copied(), check_digit(&prefix));
        }

        #[test]
        fn changing_one_digit_of_a_valid_number_invalidates_it(prefix in proptest::collection::vec(0u32..10, 9), pos in 0usize..10, delta in 1u32..10) {
            if let Some(check) = check_digit(&prefix) {
                let mut digits = prefix.clone();
                digits.push(check);
                digits[pos] = (digits[pos] + delta) % 10;
                let s: String = digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
                prop_assert!(NhsNumber::parse(&s).is_err());
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = NhsNumber::parse(&s);
        }
    }
}
