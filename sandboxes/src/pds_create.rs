//! PDS `POST /Patient`: NHS number allocation for a new patient, with the checks and answers of NHS
//! England's hosted PDS sandbox (`post-patient.js`; see `docs/pds-published-scenarios.md` §3.5):
//! after the header rules, the first of these wins: a missing `name`, `address`, `gender` or
//! `birthDate` (400 MISSING_VALUE), an address that is not an object (400 INVALID_VALUE), an address
//! without a `period` (400 MISSING_VALUE), `given` not a list, a gender outside male, female and
//! unknown, a birth date not `YYYY-MM-DD` (400 INVALID_VALUE); the demographics of someone PDS already
//! holds (family `McMatch-Single` at `BAP 4WG`: 200 SINGLE_MATCH naming them; `McMatch-Multiple` at
//! `DN19 7UD`: 200 MULTIPLE_MATCHES); otherwise 201 with the new patient.
//!
//! As in the hosted sandbox, nothing is kept and the new patient's number is always the same. Where
//! the sandbox names the wrong value in an error (always `'other'` for a gender, `'not-a-date'` for a
//! birth date), ours names the value sent.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rand::Rng;
use serde_json::{json, Value};

use crate::fhir::FhirResponse;
use crate::pds::{check_headers, echo, error, missing_value as missing, PdsCode, PdsError};
use crate::state::SandboxState;

/// The number the hosted sandbox gives every new patient.
pub const NEW_PATIENT: &str = "5182663366";
/// Whom the single-match demographics find.
const MATCHED: &str = "5900054586";

pub(crate) async fn create_patient(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    echo(answer(&state, &headers, &body).unwrap_or_else(FhirResponse::from), &headers)
}

/// `value` as the sandbox quotes it in a message: text as it is, anything else as JSON with single
/// quotes (`['another', 'array']`).
fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string().replace('"', "'").replace("','", "', '"),
    }
}

fn invalid(value: &Value, field: &str) -> PdsError {
    let said = format!("Invalid value - '{}' in field '{field}'", quoted(value));
    error(StatusCode::BAD_REQUEST, PdsCode::InvalidValue, Some(said))
}

/// A field that must be present and not empty.
fn present<'a>(body: &'a Value, field: &str) -> Result<&'a Value, PdsError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(missing(field)),
        Some(Value::Array(a)) if a.is_empty() => Err(missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(missing(field)),
        Some(v) => Ok(v),
    }
}

fn answer(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, PdsError> {
    check_headers(state, headers)?;
    let body: Value = serde_json::from_slice(body).map_err(|_| {
        error(StatusCode::BAD_REQUEST, PdsCode::InvalidValue, Some("Invalid value - the body is not JSON".into()))
    })?;
    let name = present(&body, "name")?;
    let address = present(&body, "address")?;
    let gender = present(&body, "gender")?;
    let birth_date = present(&body, "birthDate")?;
    let first_address = address.get(0).unwrap_or(address);
    if !first_address.is_object() {
        return Err(invalid(first_address, "address/0"));
    }
    if first_address.get("period").is_none_or(Value::is_null) {
        return Err(missing("address/0/period"));
    }
    let first_name = name.get(0).unwrap_or(name);
    if let Some(given) = first_name.get("given").filter(|g| !g.is_array()) {
        return Err(invalid(given, "name/0/given"));
    }
    if !matches!(gender.as_str(), Some("male" | "female" | "unknown")) {
        return Err(invalid(gender, "gender"));
    }
    let date_shaped = birth_date
        .as_str()
        .is_some_and(|d| d.len() == 10 && crate::clock::parse_date(d).is_some() && d.as_bytes()[4] == b'-');
    if !date_shaped {
        return Err(invalid(birth_date, "birthDate"));
    }
    let family = first_name.get("family").and_then(Value::as_str).unwrap_or("");
    let postcode = first_address.get("postalCode").and_then(Value::as_str).unwrap_or("");
    match (family, postcode) {
        ("McMatch-Single", "BAP 4WG") => {
            let said =
                format!("Unable to create new patient. NHS number {MATCHED} found for supplied demographic data.");
            return Err(error(StatusCode::OK, PdsCode::SingleMatch, Some(said)));
        }
        ("McMatch-Multiple", "DN19 7UD") => {
            let said = "Unable to create new patient. Multiple matches found for supplied demographic data.";
            return Err(error(StatusCode::OK, PdsCode::MultipleMatches, Some(said.into())));
        }
        _ => {}
    }
    let object_id = || format!("{:06X}", rand::rng().random_range(0..0x100_0000u32));
    let mut new_name = if first_name.is_object() { first_name.clone() } else { json!({}) };
    new_name["id"] = Value::from(object_id());
    let mut new_address = first_address.clone();
    if let Some(lines) = new_address.get_mut("line").and_then(Value::as_array_mut) {
        lines.retain(|l| l.as_str() != Some(""));
    }
    new_address["id"] = Value::from(object_id());
    Ok(FhirResponse::new(
        StatusCode::CREATED,
        json!({
            "resourceType": "Patient",
            "id": NEW_PATIENT,
            "identifier": [crate::patients::nhs_number_identifier(NEW_PATIENT)],
            "meta": {"versionId": "1", "security": [crate::patients::security_label(false)]},
            "name": [new_name],
            "address": [new_address],
            "gender": gender,
            "birthDate": birth_date,
        }),
    ))
}
