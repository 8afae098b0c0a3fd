//! Validation of a producer's pointer, in NRLF's order (`create_document_reference.py`,
//! `DocumentReferenceValidator`): body present and parseable by the model, required fields, identifier
//! systems, `relatesTo` codes, category; the NHS number; then the permission checks (custodian is the
//! caller, type permitted, category matches type). Pure: no store, no HTTP.

use axum::http::StatusCode;
use serde_json::Value;

use crate::fhir::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};
use crate::nrl::{NrlCode, NrlError};

pub const SNOMED: &str = "http://snomed.info/sct";
/// Most `relatesTo` entries a pointer may carry (ours: NRLF sets none, and each is checked against the
/// store under its lock).
pub const MAX_RELATIONS: usize = 16;
pub const CARE_PLAN: &str = "734163000";
pub const OBSERVATIONS: &str = "1102421000000108";

/// The category NRL requires for a pointer type (SNOMED codes).
pub fn category_for(type_code: &str) -> &'static str {
    match type_code {
        "1363501000000100" => OBSERVATIONS,
        _ => CARE_PLAN,
    }
}

/// NRL's record categories and the display each must carry.
pub(crate) fn category_display(code: &str) -> Option<&'static str> {
    match code {
        CARE_PLAN => Some("Care plan"),
        OBSERVATIONS => Some("Observations"),
        "823651000000106" => Some("Clinical note"),
        "721981007" => Some("Diagnostic studies report"),
        "103693007" => Some("Diagnostic procedure"),
        _ => None,
    }
}

fn invalid(code: NrlCode, diagnostics: impl Into<String>, expression: &str) -> NrlError {
    NrlError::new(StatusCode::BAD_REQUEST, code, diagnostics).at(expression)
}

/// A body the model refuses: MESSAGE_NOT_WELL_FORMED naming the top-level field, as NRLF's parse errors do.
pub fn not_parsed(field: &str, why: &str) -> NrlError {
    invalid(NrlCode::MessageNotWellFormed, format!("Request body could not be parsed ({field}: {why})"), field)
}

/// The upsert id pattern of NRLF's producer model.
fn id_shaped(id: &str) -> bool {
    let Some((producer, local)) = id.split_once('-') else { return false };
    id.len() <= 64
        && !producer.is_empty()
        && producer.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && local.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

const ID_PATTERN: &str = r"^(?=.{1,64}$)[A-Za-z0-9\.]+-[A-Za-z0-9]+[A-Za-z0-9\_\-]*$";

/// What NRLF's producer model refuses, every field at once: `resourceType`, `status` (which must be
/// `current`), `content` with an attachment each (a url and a content type), and an upsert's `id` shape.
fn parse_issues(resource: &Value, upsert: bool) -> Vec<NrlError> {
    let mut issues = Vec::new();
    match &resource["resourceType"] {
        Value::Null => issues.push(not_parsed("resourceType", "Field required")),
        v if v != "DocumentReference" => issues.push(not_parsed("resourceType", "Input should be 'DocumentReference'")),
        _ => {}
    }
    if upsert {
        match &resource["id"] {
            Value::Null => {}
            Value::String(id) if id_shaped(id) => {}
            Value::String(_) => issues.push(not_parsed("id", &format!("String should match pattern '{ID_PATTERN}'"))),
            _ => issues.push(not_parsed("id", "Input should be a valid string")),
        }
    }
    match &resource["status"] {
        Value::Null => issues.push(not_parsed("status", "Field required")),
        Value::String(s) if s == "current" => {}
        Value::String(_) => issues.push(not_parsed("status", "String should match pattern '^current$'")),
        _ => issues.push(not_parsed("status", "Input should be a valid string")),
    }
    match &resource["content"] {
        Value::Null => issues.push(not_parsed("content", "Field required")),
        Value::Array(items) if items.is_empty() => {
            issues.push(not_parsed("content", "List should have at least 1 item after validation, not 0"))
        }
        Value::Array(items) => {
            let whole = |item: &Value| {
                let attachment = &item["attachment"];
                attachment["url"].is_string() && attachment["contentType"].is_string()
            };
            if !items.iter().all(whole) {
                issues.push(not_parsed("content", "Field required"));
            }
        }
        _ => issues.push(not_parsed("content", "Input should be a valid list")),
    }
    issues
}

/// Empty as NRLF judges a required field: absent, null, or an empty string, list or object.
fn empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Checks a create (or, with `upsert`, an upsert) body for the caller `ods` permitted `types`, in NRLF's
/// order: the body, the model (every failure at once), the required fields (all missing at once),
/// identifiers present, then the rest gathered into one answer (identifier systems, `relatesTo`,
/// category); then the NHS number, an upsert's id, and the permissions. Returns the DocumentReference.
pub fn validate_create(body: &[u8], ods: &str, types: &[&str], upsert: bool) -> Result<Value, NrlError> {
    let resource = validate(body, ods, upsert)?;
    permit(&resource, ods, types)?;
    Ok(resource)
}

/// Everything but the permissions, in NRLF's order; `ods` for an upsert's id.
pub fn validate(body: &[u8], ods: &str, upsert: bool) -> Result<Value, NrlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(NrlError::new(StatusCode::BAD_REQUEST, NrlCode::BadRequest, "Request body is required"));
    }
    let resource: Value = serde_json::from_slice(body).map_err(|e| {
        NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::MessageNotWellFormed,
            format!("Request body could not be parsed ({e})"),
        )
    })?;
    if !resource.is_object() {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::MessageNotWellFormed,
            "Request body could not be parsed (a DocumentReference must be a JSON object)",
        ));
    }
    NrlError::all(parse_issues(&resource, upsert))?;
    let required = ["custodian", "id", "type", "status", "subject", "category"]
        .into_iter()
        .filter(|f| (*f != "id" || upsert) && empty(&resource[*f]))
        .map(|f| invalid(NrlCode::InvalidResource, format!("The required field '{f}' is missing"), f).typed("required"))
        .collect();
    NrlError::all(required)?;
    let custodian = &resource["custodian"]["identifier"];
    let subject = &resource["subject"]["identifier"];
    if !custodian.is_object() {
        return Err(invalid(NrlCode::InvalidResource, "Custodian must have an identifier", "custodian.identifier")
            .typed("required"));
    }
    if !subject.is_object() {
        return Err(invalid(NrlCode::InvalidResource, "Subject must have an identifier", "subject.identifier")
            .typed("required"));
    }
    let mut issues = Vec::new();
    if custodian["system"] != ODS_SYSTEM {
        issues.push(invalid(
            NrlCode::InvalidIdentifierSystem,
            format!("Provided custodian identifier system is not the ODS system (expected: '{ODS_SYSTEM}')"),
            "custodian.identifier.system",
        ));
    }
    if subject["system"] != NHS_NUMBER_SYSTEM {
        issues.push(invalid(
            NrlCode::InvalidIdentifierSystem,
            format!("Provided subject identifier system is not the NHS number system (expected '{NHS_NUMBER_SYSTEM}')"),
            "subject.identifier.system",
        ));
    }
    let relations = resource["relatesTo"].as_array().map(Vec::as_slice).unwrap_or_default();
    if relations.len() > MAX_RELATIONS {
        return Err(not_parsed(
            "relatesTo",
            &format!("List should have at most {MAX_RELATIONS} items after validation, not {}", relations.len()),
        ));
    }
    for (i, relation) in relations.iter().enumerate() {
        let code = relation["code"].as_str().unwrap_or_default();
        if !crate::nrl::RELATES_TO_CODES.contains(&code) {
            issues.push(
                invalid(
                    NrlCode::InvalidCodeValue,
                    format!("Invalid relatesTo code: {code}"),
                    &format!("relatesTo[{i}].code"),
                )
                .typed("value"),
            );
        } else if code == "replaces" && !relation["target"]["identifier"]["value"].is_string() {
            issues.push(
                invalid(
                    NrlCode::InvalidIdentifierValue,
                    "relatesTo code 'replaces' must have a target identifier",
                    &format!("relatesTo[{i}].target.identifier.value"),
                )
                .typed("required"),
            );
        }
    }
    if let Err(issue) = category(&resource) {
        issues.push(issue);
    }
    NrlError::all(issues)?;
    let nhs_number = subject["value"].as_str().unwrap_or_default();
    if nhs_number.len() != 10 || domain::NhsNumber::parse(nhs_number).is_err() {
        return Err(invalid(NrlCode::InvalidNhsNumber, "Invalid NHS number", "subject.identifier.value"));
    }
    if upsert && !resource["id"].as_str().is_some_and(|id| crate::nrl::owned_by(id, ods)) {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::BadRequest,
            "The id of the provided DocumentReference does not include the expected ODS code for this organisation",
        ));
    }
    Ok(resource)
}

/// NRLF's permission checks: the custodian is the caller, the type one it may produce, the category the
/// type's.
pub fn permit(resource: &Value, ods: &str, types: &[&str]) -> Result<(), NrlError> {
    let custodian = &resource["custodian"]["identifier"];
    let category_code = category(resource).unwrap_or_default();
    if custodian["value"].as_str() != Some(ods) {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::BadRequest,
            "The custodian of the provided DocumentReference does not match the expected ODS code for this organisation",
        )
        .at("custodian.identifier.value"));
    }
    let type_coding = &resource["type"]["coding"][0];
    let type_code = type_coding["code"].as_str().unwrap_or_default();
    if type_coding["system"] != SNOMED || !types.contains(&type_code) {
        return Err(NrlError::new(
            StatusCode::FORBIDDEN,
            NrlCode::AuthorCredentialsError,
            "The type of the provided DocumentReference is not in the list of allowed types for this organisation",
        )
        .at("type.coding[0].code"));
    }
    let wanted = category_for(type_code);
    if category_code != wanted {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::BadRequest,
            format!(
                "The Category code of the provided document '{SNOMED}|{category_code}' must match the allowed category for pointer type '{SNOMED}|{type_code}' with a category value of '{SNOMED}|{wanted}'"
            ),
        )
        .at("category.coding[0].code"));
    }
    Ok(())
}

/// The one category's code, or the first thing wrong with it (NRLF's checks, in order).
fn category(resource: &Value) -> Result<&str, NrlError> {
    let categories = resource["category"].as_array().map(Vec::as_slice).unwrap_or_default();
    if categories.len() != 1 {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("Invalid category length: {} Category must only contain a single value", categories.len()),
            "category",
        ));
    }
    let codings = categories[0]["coding"].as_array().map(Vec::as_slice).unwrap_or_default();
    let [coding] = codings else {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!(
                "Invalid category coding length: {} Category Coding must only contain a single value",
                codings.len()
            ),
            "category[0].coding",
        ));
    };
    if coding["system"] != SNOMED {
        let system = coding["system"].as_str().map_or_else(|| "None".to_owned(), str::to_owned);
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("Invalid category system: {system} Category system must be '{SNOMED}'"),
            "category[0].coding[0].system",
        )
        .typed("value"));
    }
    let code = coding["code"].as_str().unwrap_or_default();
    let Some(display) = category_display(code) else {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("Invalid category code: {code} Category must be a member of the England-NRLRecordCategory value set (https://fhir.nhs.uk/England/CodeSystem/England-NRLRecordCategory)"),
            "category[0].coding[0].code",
        )
        .typed("value"));
    };
    if coding["display"] != display {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("category code '{code}' must have a display value of '{display}'"),
            "category[0].coding[0].display",
        )
        .typed("value"));
    }
    Ok(code)
}
