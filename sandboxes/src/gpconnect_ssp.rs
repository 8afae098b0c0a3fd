//! The rules every GP Connect request must pass before a provider looks at it: Spine Secure Proxy headers
//! (`Ssp-TraceID` a UUID), the interaction ID against verb and URL, media types, and the unsigned JWT (alg
//! none, claims, an `aud` present (the provider's service root URL, which the demonstrator does not
//! compare since 1.2.0), exp = iat + 300, directcare, requested scope with an optional confidentiality
//! scope (`patient/*.read conf/N`, Access Record Structured 1.6.0), requesting
//! device/organisation/practitioner).
//! Statuses follow the GP Connect provider assurance suite (gpconnect-provider-testing `JWT.feature`):
//! a missing or wrong claim is 400, a claim resource of the wrong type 422, an `iat` in the future is fine.
//!
//! Order and messages follow the GP Connect demonstrator (`FhirRequestGenericIntercepter`,
//! `WebTokenFactory`, `WebTokenValidator`); codes follow the GP Connect specification (BAD_REQUEST for
//! header and JWT failures, 415 for media types). This module never trusts a JWT signature: there is none.

use axum::http::{header, HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::clock::now_s;
use crate::fhir::{identifier_value, ODS_SYSTEM, SDS_USER_SYSTEM};
use crate::gpconnect::{GpcCode, GpcError};

const INTERACTION_BASE: &str = "urn:nhs:names:services:gpconnect:fhir:";

/// One GP Connect interaction: its ID and whether it needs a write scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interaction {
    pub id: &'static str,
    pub write: bool,
}

pub const GET_STRUCTURED_RECORD: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1", write: false };
pub const SEARCH_SLOT: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1", write: false };
pub const CREATE_APPOINTMENT: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:create:appointment-1", write: true };
pub const READ_APPOINTMENT: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:read:appointment-1", write: false };
pub const CANCEL_APPOINTMENT: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:cancel:appointment-1", write: true };
pub const READ_METADATA: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1", write: false };
pub const READ_STRUCTURED_METADATA: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:structured:fhir:rest:read:metadata-1", write: false };
pub const UPDATE_APPOINTMENT: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:update:appointment-1", write: true };

fn bad(diagnostics: impl Into<String>) -> GpcError {
    GpcError::new(StatusCode::BAD_REQUEST, GpcCode::BadRequest, diagnostics)
}

fn unsupported_media(diagnostics: &str) -> GpcError {
    GpcError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, GpcCode::BadRequest, diagnostics)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn is_fhir_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(essence.as_str(), "application/fhir+json" | "application/json+fhir")
}

/// Checks a request for one of `allowed` interactions; returns the interaction used and the JWT claims.
pub fn check(
    headers: &HeaderMap,
    provider_asid: &str,
    allowed: &[Interaction],
    has_body: bool,
) -> Result<(Interaction, Value), GpcError> {
    for name in ["Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID"] {
        if header_text(headers, name).is_none() {
            return Err(bad(format!("{name} header missing or blank")));
        }
    }
    if header_text(headers, "Ssp-TraceID").is_none_or(|id| uuid::Uuid::try_parse(id).is_err()) {
        return Err(bad("Ssp-TraceID header must be a UUID"));
    }
    if header_text(headers, "Ssp-To") != Some(provider_asid) {
        return Err(bad("Ssp-To header does not match ASID of system"));
    }
    let interaction_id = header_text(headers, "Ssp-InteractionID").unwrap_or_default();
    let interaction = allowed.iter().find(|i| i.id == interaction_id).copied().ok_or_else(|| {
        if interaction_id.starts_with(INTERACTION_BASE) {
            bad(format!("Interaction id {interaction_id} does not match the request verb and URL"))
        } else {
            bad(format!("Unsupported interaction id {interaction_id}"))
        }
    })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| bad("Authorization header missing"))?
        .to_str()
        .map_err(|_| bad("Authorization header invalid"))?;
    let token = match authorization.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty() => token.trim(),
        _ => return Err(bad("Authorization header invalid")),
    };
    if has_body {
        match header_text(headers, "Content-Type") {
            None => return Err(unsupported_media("No content media type set")),
            Some(media) if !is_fhir_json(media) => return Err(unsupported_media("Unsupported content media type")),
            Some(_) => {}
        }
    }
    if let Some(accept) = header_text(headers, "Accept") {
        if !accept.split(',').any(|a| is_fhir_json(a) || a.trim().starts_with("*/*")) {
            return Err(unsupported_media("Unsupported accept media type"));
        }
    }
    let claims = decode_jwt(token)?;
    validate_claims(&claims, interaction)?;
    Ok((interaction, claims))
}

fn decode_jwt(token: &str) -> Result<Value, GpcError> {
    if token.contains('=') {
        return Err(bad("JWT must be encoded using Base64URL. Padding is not allowed"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature] = parts.as_slice() else {
        return Err(bad(format!("Invalid number of JWT base 64 blocks {}", parts.len())));
    };
    let decode = |part: &str| -> Result<Value, GpcError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| bad("JWT is not Base 64"))?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| bad("Invalid WebToken: JSON is not valid"))
    };
    let jwt_header = decode(header_b64)?;
    if let Some(object) = jwt_header.as_object() {
        for (key, value) in object {
            match (key.as_str(), value.as_str()) {
                ("alg", Some("none")) | ("typ", Some("JWT")) => {}
                ("alg" | "typ", _) => return Err(bad(format!("Invalid JWT header {key} value {value}"))),
                _ => return Err(bad(format!("Unrecognised JWT Header header key {key}"))),
            }
        }
        for key in ["alg", "typ"] {
            if !object.contains_key(key) {
                return Err(bad(format!("Missing JWT Header key {key}")));
            }
        }
    }
    if !signature.is_empty() {
        return Err(bad("JWT signature must be empty (alg none)"));
    }
    decode(claims_b64)
}

fn claim_missing(name: &str) -> GpcError {
    bad(format!("JWT JSON entry incomplete: claim {name} is null."))
}

fn validate_claims(claims: &Value, interaction: Interaction) -> Result<(), GpcError> {
    for name in ["aud", "exp", "iat", "iss", "sub", "reason_for_request", "requested_scope"] {
        if claims[name].is_null() {
            return Err(claim_missing(name));
        }
    }
    let device = &claims["requesting_device"];
    let organisation = &claims["requesting_organization"];
    let practitioner = &claims["requesting_practitioner"];
    let present: [(&str, bool); 12] = [
        ("requesting_device", device.is_object()),
        ("requesting_device.identifier.system", device["identifier"][0]["system"].is_string()),
        ("requesting_device.identifier.value", device["identifier"][0]["value"].is_string()),
        ("requesting_device.model", device["model"].is_string()),
        ("requesting_device.version", device["version"].is_string()),
        ("requesting_organization", organisation.is_object()),
        ("requesting_organization.name", organisation["name"].is_string()),
        (
            "requesting_organization.identifier (ODS)",
            identifier_value(&organisation["identifier"], ODS_SYSTEM).is_some(),
        ),
        ("requesting_practitioner.id", practitioner["id"].is_string()),
        ("requesting_practitioner.name.family", practitioner["name"][0]["family"].is_string()),
        ("requesting_practitioner.name.given", practitioner["name"][0]["given"][0].is_string()),
        (
            "requesting_practitioner.identifier (SDS)",
            identifier_value(&practitioner["identifier"], SDS_USER_SYSTEM).is_some(),
        ),
    ];
    if let Some((name, _)) = present.iter().find(|(_, ok)| !ok) {
        return Err(claim_missing(name));
    }
    if claims["aud"].as_str().is_none_or(|aud| aud.trim().is_empty()) {
        return Err(bad("JWT aud claim must be the provider's service root URL"));
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(bad("JWT iat and exp must be integers (seconds since the epoch)"));
    };
    // An `iat` in the future is accepted: providers must not reject it (GP Connect assurance #188).
    let now = now_s();
    if exp.checked_sub(iat) != Some(300) {
        return Err(bad("JWT expiry time is not 5 minutes after the creation time"));
    }
    if exp < now {
        return Err(bad("JWT Request time has expired"));
    }
    if claims["reason_for_request"] != "directcare" {
        return Err(bad("JWT Reason for request is not directcare"));
    }
    for (name, resource, expected) in [
        ("requestingDevice", device, "Device"),
        ("requestingOrganization", organisation, "Organization"),
        ("requestingPractitioner", practitioner, "Practitioner"),
    ] {
        if resource["resourceType"] != expected {
            // A claim that is not the right FHIR resource is unprocessable, not malformed (assurance suite).
            return Err(GpcError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                GpcCode::BadRequest,
                format!("JWT Invalid {name} resource type \"{}\"", resource["resourceType"]),
            ));
        }
    }
    if claims["sub"] != practitioner["id"] {
        return Err(bad("JWT Practitioner ids do not match!"));
    }
    let requested = claims["requested_scope"].as_str().unwrap_or_default();
    let scopes: Vec<&str> = requested.split_whitespace().collect();
    let scope = match scopes.as_slice() {
        [scope] | [scope, "conf/N" | "conf/R"]
            if ["patient/*.read", "patient/*.write", "organization/*.read", "organization/*.write"].contains(scope) =>
        {
            *scope
        }
        _ => return Err(bad(format!("JWT Bad Request Exception Invalid requested scope: {requested}"))),
    };
    let wants = if interaction.write { ".write" } else { ".read" };
    if !scope.ends_with(wants) {
        let operation = if interaction.write { "write" } else { "read" };
        return Err(bad(format!("The claim requested scope does not match the requested operation ({operation})")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(is_fhir_json("application/fhir+json; charset=utf-8"));
        assert!(is_fhir_json("application/json+fhir"));
        assert!(!is_fhir_json("application/json"));
    }

    #[test]
    fn padded_or_short_tokens_are_bad_requests() {
        for token in ["a.b", "eyJ=.e30.", "a.b.c.d", "%%%.e30."] {
            assert_eq!(decode_jwt(token).unwrap_err().status, StatusCode::BAD_REQUEST, "{token}");
        }
    }
}
