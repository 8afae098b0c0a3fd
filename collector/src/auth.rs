//! Ingest authentication: per-source bearer tokens, compared in constant time.

use axum::http::{header, HeaderMap};

use crate::error::IngestError;

/// The configured tokens. The source name a token belongs to labels what it sends.
#[derive(Clone, Debug)]
pub struct IngestTokens {
    by_source: Vec<(String, Vec<u8>)>,
}

impl IngestTokens {
    pub fn new(tokens: impl IntoIterator<Item = (String, String)>) -> Self {
        IngestTokens { by_source: tokens.into_iter().map(|(s, t)| (s, t.into_bytes())).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }

    /// The source whose token the request carries.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&str, IngestError> {
        let value = headers.get(header::AUTHORIZATION).ok_or(IngestError::MissingToken)?;
        let value = value.to_str().map_err(|_| IngestError::BadToken)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(IngestError::MissingToken)?
            .trim()
            .as_bytes();
        // Check every token so timing says nothing about which one nearly matched. A token that
        // two sources share (refused by the configuration check) is no one's: it would otherwise
        // carry whichever source's rights happened to be listed last.
        let mut found = None;
        let mut matches = 0;
        for (source, expected) in &self.by_source {
            if constant_time_eq(token, expected) {
                found = Some(source.as_str());
                matches += 1;
            }
        }
        match matches {
            1 => found.ok_or(IngestError::BadToken),
            _ => Err(IngestError::BadToken),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The source whose spans the built-in canaries send as (`service.name`): only a token of this
/// source name may write spans of that service, so no other sender can make a pathway look healthy.
pub const CANARY_SOURCE: &str = "pathwatch-canary";

/// The source of the auditors' own trail (what dashboard users do with audit data). A dashboard
/// running in the collector's process writes it through the writer; one running apart sends it to
/// `POST /v1/audit` with the token configured as `collector.ingest_tokens.pathwatch-dashboard`,
/// which may send nothing else.
pub const AUDITOR_SOURCE: &str = audit_store::access::AUDITOR_SOURCE;

/// Sources Pathwatch writes itself, and whose they are: no other ingest token may write as them.
pub fn reserved_source(source: &str) -> Option<&'static str> {
    if source.eq_ignore_ascii_case(AUDITOR_SOURCE) {
        Some("the auditors' own trail, written by Pathwatch's dashboard")
    } else if source.eq_ignore_ascii_case(CANARY_SOURCE) {
        Some("Pathwatch's canaries")
    } else {
        None
    }
}

/// A fresh random token: 32 bytes from the OS, hex encoded.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn the_right_token_names_its_source() {
        let tokens = IngestTokens::new([("ehr".into(), "abc".into()), ("canary".into(), "xyz".into())]);
        assert_eq!(tokens.authenticate(&headers("Bearer xyz")).unwrap(), "canary");
        assert!(matches!(tokens.authenticate(&headers("Bearer xy")), Err(IngestError::BadToken)));
        assert!(matches!(tokens.authenticate(&headers("Basic eHl6")), Err(IngestError::MissingToken)));
        assert!(matches!(tokens.authenticate(&HeaderMap::new()), Err(IngestError::MissingToken)));
    }
}
