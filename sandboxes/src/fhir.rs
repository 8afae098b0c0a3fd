//! FHIR response plumbing shared by PDS, GP Connect and NRL: the `application/fhir+json` response type and
//! the three OperationOutcome dialects (PDS R4, GP Connect STU3, NRL), which differ only in the code
//! system, profile and a few codes. Each API module owns its own codes; this module only shapes them.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const FHIR_JSON: &str = "application/fhir+json";
/// PDS FHIR R4 error codes.
pub const R4_SPINE_SYSTEM: &str = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode";
/// GP Connect (STU3) error codes.
pub const STU3_SPINE_SYSTEM: &str = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1";
/// NRL v3 error codes, as NRLF's `SpineErrorConcept` writes them.
pub const NRL_SPINE_SYSTEM: &str = "https://fhir.nhs.uk/ValueSet/Spine-ErrorOrWarningCode-1";
/// The errors NRL's API gateway (APIM) raises itself, before NRL sees the request.
pub const APIM_SPINE_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode";
/// NRL v3 success codes (RESOURCE_CREATED, RESOURCE_DELETED).
pub const NRL_RESPONSE_SYSTEM: &str = "https://fhir.nhs.uk/ValueSet/NRL-ResponseCode";
pub const GPC_OPERATION_OUTCOME_PROFILE: &str =
    "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1";
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const SDS_USER_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-user-id";

/// A FHIR JSON answer: status, body and any extra headers (ETag, Location, echoed request IDs).
#[derive(Debug, Clone)]
pub struct FhirResponse {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl FhirResponse {
    pub fn new(status: StatusCode, body: Value) -> Self {
        FhirResponse { status, body, headers: HeaderMap::new() }
    }

    pub fn ok(body: Value) -> Self {
        Self::new(StatusCode::OK, body)
    }

    /// Adds a header; values that are not valid header text are dropped rather than failing the request.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
        self
    }
}

impl IntoResponse for FhirResponse {
    fn into_response(self) -> Response {
        // A null body means "no body" (FHIR `Prefer: return=minimal`).
        let body = if self.body.is_null() { String::new() } else { self.body.to_string() };
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        response.headers_mut().extend(self.headers);
        response
    }
}

/// One issue of an OperationOutcome: FHIR issue type, the Spine code and its display, diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: &'static str,
    pub issue_type: &'static str,
    pub code: &'static str,
    pub display: &'static str,
    pub diagnostics: Option<String>,
    pub expression: Option<String>,
}

impl Issue {
    pub fn error(issue_type: &'static str, code: &'static str, display: &'static str) -> Self {
        Issue { severity: "error", issue_type, code, display, diagnostics: None, expression: None }
    }

    pub fn severity(mut self, severity: &'static str) -> Self {
        self.severity = severity;
        self
    }

    pub fn diagnostics(mut self, text: impl Into<String>) -> Self {
        self.diagnostics = Some(text.into());
        self
    }

    pub fn expression(mut self, path: impl Into<String>) -> Self {
        self.expression = Some(path.into());
        self
    }

    pub(crate) fn to_json(&self, system: &str, with_version: bool) -> Value {
        let mut coding = json!({"system": system, "code": self.code, "display": self.display});
        if with_version {
            coding["version"] = json!("1");
        }
        let mut issue = json!({
            "severity": self.severity,
            "code": self.issue_type,
            "details": {"coding": [coding]},
        });
        if let Some(d) = &self.diagnostics {
            issue["diagnostics"] = json!(d);
        }
        if let Some(e) = &self.expression {
            issue["expression"] = json!([e]);
        }
        issue
    }

    /// PDS (R4) OperationOutcome, codings carry `version: "1"` as PDS's do.
    pub fn r4(&self) -> Value {
        json!({"resourceType": "OperationOutcome", "issue": [self.to_json(R4_SPINE_SYSTEM, true)]})
    }

    /// GP Connect (STU3) OperationOutcome with the GP Connect profile.
    pub fn stu3(&self) -> Value {
        json!({
            "resourceType": "OperationOutcome",
            "meta": {"profile": [GPC_OPERATION_OUTCOME_PROFILE]},
            "issue": [self.to_json(STU3_SPINE_SYSTEM, false)],
        })
    }

    /// NRL v3 OperationOutcome.
    pub fn nrl(&self) -> Value {
        json!({"resourceType": "OperationOutcome", "issue": [self.to_json(NRL_SPINE_SYSTEM, false)]})
    }
}

/// Diagnostics of an injected fault for APIs whose gateway publishes no body of its own for it (GP Connect
/// behind the Spine Secure Proxy, NRL behind APIM): a timeout says plainly that the gateway timed out, so
/// nobody mistakes it for the service's own error.
pub fn injected_fault_diagnostics(status: StatusCode) -> &'static str {
    match status {
        StatusCode::GATEWAY_TIMEOUT => {
            "Injected fault: the gateway timed out - the downstream service has not responded within the configured timeout period"
        }
        StatusCode::REQUEST_TIMEOUT => {
            "Injected fault: the gateway timed out waiting for the request to complete within the configured timeout period"
        }
        _ => "Injected fault",
    }
}

/// The value of an identifier with `system` anywhere in a FHIR `identifier` array.
pub fn identifier_value<'a>(identifiers: &'a Value, system: &str) -> Option<&'a str> {
    identifiers.as_array()?.iter().find(|i| i["system"] == system).and_then(|i| i["value"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_differ_in_system_and_profile() {
        let issue = Issue::error("value", "INVALID_RESOURCE_ID", "Resource Id is invalid").diagnostics("x");
        let r4 = issue.r4();
        assert_eq!(r4["issue"][0]["details"]["coding"][0]["system"], R4_SPINE_SYSTEM);
        assert_eq!(r4["issue"][0]["details"]["coding"][0]["version"], "1");
        assert_eq!(r4["issue"][0]["diagnostics"], "x");
        let stu3 = issue.stu3();
        assert_eq!(stu3["meta"]["profile"][0], GPC_OPERATION_OUTCOME_PROFILE);
        assert_eq!(stu3["issue"][0]["details"]["coding"][0]["system"], STU3_SPINE_SYSTEM);
        assert_eq!(issue.nrl()["issue"][0]["details"]["coding"][0]["system"], NRL_SPINE_SYSTEM);
    }
}
