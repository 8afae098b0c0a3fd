//! Validation of a producer's new pointer, in NRLF's order (`create_document_reference.py`,
//! `DocumentReferenceValidator`): body present and parseable, required fields, status, identifier systems,
//! NHS number, category, content; then the permission checks (custodian is the caller, type permitted,
//! category matches type). Pure: no store, no HTTP.

use axum::http::StatusCode;
use serde_json::Value;

use crate::fhir::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};
use crate::nrl::{NrlCode, NrlError};

pub const SNOMED: &str = "http://snomed.info/sct";
pub const CARE_PLAN: &str = "734163000";
pub const OBSERVATIONS: &str = "1102421000000108";

/// The category NRL requires for a pointer type (SNOMED codes).
pub fn category_for(type_code: &str) -> &'static str {
    match type_code {
        "1363501000000100" => OBSERVATIONS,
        _ => CARE_PLAN,
    }
}

fn category_display(code: &str) -> Option<&'static str> {
    match code {
        CARE_PLAN => Some("Care plan"),
        OBSERVATIONS => Some("Observations"),
        _ => None,
    }
}

fn invalid(code: NrlCode, diagnostics: impl Into<String>, expression: &str) -> NrlError {
    NrlError::new(StatusCode::BAD_REQUEST, code, diagnostics).at(expression)
}

/// Checks a create body for the caller `ods` permitted `types`; returns the parsed DocumentReference.
pub fn validate_create(body: &[u8], ods: &str, types: &[&str]) -> Result<Value, NrlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(NrlError::new(StatusCode::BAD_REQUEST, NrlCode::BadRequest, "Request body is required"));
    }
    let not_parsed = |why: String| {
        NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::MessageNotWellFormed,
            format!("Request body could not be parsed ({why})"),
        )
    };
    let resource: Value = serde_json::from_slice(body).map_err(|e| not_parsed(e.to_string()))?;
    if resource["resourceType"] != "DocumentReference" {
        return Err(not_parsed("resourceType: Input should be 'DocumentReference'".into()));
    }
    for field in ["custodian", "type", "status", "subject", "category", "content"] {
        let value = &resource[field];
        let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty) || value.as_str() == Some("");
        if empty {
            return Err(invalid(NrlCode::InvalidResource, format!("The required field '{field}' is missing"), field));
        }
    }
    if resource["status"] != "current" {
        return Err(invalid(
            NrlCode::InvalidResource,
            "The status of a new DocumentReference must be 'current'",
            "status",
        ));
    }
    let custodian = &resource["custodian"]["identifier"];
    let subject = &resource["subject"]["identifier"];
    if !custodian.is_object() {
        return Err(invalid(NrlCode::InvalidResource, "Custodian must have an identifier", "custodian.identifier"));
    }
    if !subject.is_object() {
        return Err(invalid(NrlCode::InvalidResource, "Subject must have an identifier", "subject.identifier"));
    }
    if custodian["system"] != ODS_SYSTEM {
        return Err(invalid(
            NrlCode::InvalidIdentifierSystem,
            format!("Provided custodian identifier system is not the ODS system (expected: '{ODS_SYSTEM}')"),
            "custodian.identifier.system",
        ));
    }
    if subject["system"] != NHS_NUMBER_SYSTEM {
        return Err(invalid(
            NrlCode::InvalidIdentifierSystem,
            format!("Provided subject identifier system is not the NHS number system (expected '{NHS_NUMBER_SYSTEM}')"),
            "subject.identifier.system",
        ));
    }
    let nhs_number = subject["value"].as_str().unwrap_or_default();
    if nhs_number.len() != 10 || domain::NhsNumber::parse(nhs_number).is_err() {
        return Err(invalid(NrlCode::InvalidNhsNumber, "Invalid NHS number", "subject.identifier.value"));
    }
    let categories = resource["category"].as_array().cloned().unwrap_or_default();
    if categories.len() != 1 {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("Invalid category length: {} Category must only contain a single value", categories.len()),
            "category",
        ));
    }
    let codings = categories[0]["coding"].as_array().cloned().unwrap_or_default();
    let [category] = codings.as_slice() else {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!(
                "Invalid category coding length: {} Category Coding must only contain a single value",
                codings.len()
            ),
            "category[0].coding",
        ));
    };
    if category["system"] != SNOMED {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("Invalid category system: {} Category system must be '{SNOMED}'", category["system"]),
            "category[0].coding[0].system",
        ));
    }
    let category_code = category["code"].as_str().unwrap_or_default();
    if category_display(category_code).is_none() {
        return Err(invalid(
            NrlCode::InvalidResource,
            format!("Invalid category code: {category_code} Category must be a member of the England-NRLRecordCategory value set"),
            "category[0].coding[0].code",
        ));
    }
    let attachment = &resource["content"][0]["attachment"];
    if !attachment["url"].is_string() || !attachment["contentType"].is_string() {
        return Err(invalid(
            NrlCode::InvalidResource,
            "content[0].attachment must have a url and a contentType",
            "content[0].attachment",
        ));
    }
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
    Ok(resource)
}
