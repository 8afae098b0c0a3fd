//! Data minimisation for traces: NHS numbers in span names, attribute values and URLs become a keyed
//! pseudonym, so traces are not a patient-data store yet the same patient still correlates across
//! spans (same number, same key, same pseudonym).
//!
//! A candidate is a run of exactly ten digits (or the 3-3-4 display form with spaces) not touching
//! other digits, that passes the Modulus 11 check. About one in eleven arbitrary ten-digit numbers
//! passes too (a Unix time in seconds, say): those are pseudonymised as well. Over-hiding is the safe
//! error for patient data; the choice is documented in `deploy/configuration.md`.

use std::borrow::Cow;

use domain::NhsNumber;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Replaces NHS numbers with `nhsp_` + the first 16 hex digits of HMAC-SHA256(key, number).
#[derive(Clone)]
pub struct Pseudonymiser {
    key: Vec<u8>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser { key: <secret> }")
    }
}

impl Pseudonymiser {
    pub fn new(key: Vec<u8>) -> Self {
        Pseudonymiser { key }
    }

    /// The pseudonym of one (normalised, ten-digit) NHS number.
    pub fn pseudonym(&self, nhs_number: &str) -> String {
        #[allow(clippy::expect_used)] // provably infallible: HMAC accepts keys of any length
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(nhs_number.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("nhsp_{}", hex::encode(&digest[..8]))
    }

    /// `text` with every NHS number replaced; borrowed unchanged when there is none.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let bytes = text.as_bytes();
        if bytes.iter().filter(|b| b.is_ascii_digit()).count() < 10 {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
                if let Some(end) = candidate_end(bytes, i) {
                    if let Ok(n) = NhsNumber::parse(&text[i..end]) {
                        out.push_str(&text[copied..i]);
                        out.push_str(&self.pseudonym(n.as_str()));
                        copied = end;
                        i = end;
                        continue;
                    }
                }
            }
            i += 1;
        }
        if copied == 0 {
            Cow::Borrowed(text)
        } else {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// End of a ten-digit candidate starting at `start`: ten contiguous digits, or 3-3-4 separated by
/// single spaces; in both cases not followed by another digit.
fn candidate_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let run = (start..).take_while(|&i| digit(i)).count();
    if run == 10 {
        return Some(start + 10);
    }
    if run == 3 {
        let grouped = bytes.get(start + 3) == Some(&b' ')
            && (start + 4..start + 7).all(digit)
            && bytes.get(start + 7) == Some(&b' ')
            && (start + 8..start + 12).all(digit)
            && !digit(start + 12);
        if grouped {
            return Some(start + 12);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> Pseudonymiser {
        Pseudonymiser::new(b"test-key".to_vec())
    }

    #[test]
    fn urls_and_names_lose_the_number_but_keep_correlating() {
        let a = p().scrub("GET /Patient/9000000009");
        let b = p().scrub("patient 900 000 0009 read");
        assert!(!a.contains("9000000009") && !b.contains("000 0009"), "{a} / {b}");
        let pseudonym = p().pseudonym("9000000009");
        assert_eq!(a, format!("GET /Patient/{pseudonym}"));
        assert_eq!(b, format!("patient {pseudonym} read"));
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for text in ["9000000000", "90000000091", "order 12345", "trace 4bf92f3577b34da6a3ce929d0e0e4736"] {
            assert_eq!(p().scrub(text), text);
        }
    }

    #[test]
    fn a_different_key_gives_a_different_pseudonym() {
        assert_ne!(p().pseudonym("9000000009"), Pseudonymiser::new(b"other".to_vec()).pseudonym("9000000009"));
    }

    proptest! {
        #[test]
        fn no_valid_nhs_number_survives(prefix in "[a-z/ ]{0,8}", nine in proptest::collection::vec(0u32..10, 9), suffix in "[a-z/ ]{0,8}") {
            if let Some(check) = domain::nhs_number::check_digit(&nine) {
                let number: String = nine.iter().chain(std::iter::once(&check)).map(|d| char::from(b'0' + *d as u8)).collect();
                let text = format!("{prefix}{number}{suffix}");
                let scrubbed = p().scrub(&text);
                prop_assert!(!scrubbed.contains(&number));
            }
        }

        #[test]
        fn scrub_never_panics(s in "\\PC{0,40}") {
            let _ = p().scrub(&s);
        }
    }
}
