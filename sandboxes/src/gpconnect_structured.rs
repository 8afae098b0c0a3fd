//! Access Record Structured 1.6.0: `POST /Patient/$gpc.getstructuredrecord`, as the specification
//! (`accessrecord_structured_development_retrieve_patient_record`), the provider assurance suite and the
//! demonstrator describe it (`sandboxes/docs/gpconnect-published-scenarios.md` §3.2), in the
//! demonstrator's order: the request rules, the body, the NHS number, the patient (404 when unknown,
//! sensitive, deceased or not registered; 403 without consent), then the parameters.
//!
//! Parameters are forwards compatible: a parameter or part this provider does not know is reported in a
//! `not-supported` warning (an OperationOutcome, the Bundle's last entry) and the rest is answered. Known
//! parts are checked against their type, their dates against today, their periods for order; a repeated
//! part is INVALID_RESOURCE, a consultation period with a most-recent count too, and the forbidden
//! combinations across clinical areas are INVALID_PARAMETER. Every requested area answers with its List,
//! empty where this sandbox holds no data. The Bundle's id is the request's `Ssp-TraceID`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::faults::ActiveFaults;
use crate::fhir::{FhirResponse, NHS_NUMBER_SYSTEM, ODS_SYSTEM, SDS_USER_SYSTEM, STU3_SPINE_SYSTEM};
use crate::gpconnect::{other_patient, parse_resource, patient_for, GpcCode, GpcError, PROVIDER_ODS};
use crate::gpconnect_ssp::{self as ssp, GET_STRUCTURED_RECORD};
use crate::state::SandboxState;

/// Most parameters one request names, parts one parameter holds, times `includeProblems` repeats (one
/// per status and significance pair, and no pair need come twice), warnings one answer carries.
const MAX_PARAMETERS: usize = 50;
const MAX_PARTS: usize = 20;
const MAX_PROBLEM_REPEATS: usize = 9;
const MAX_WARNINGS: usize = 20;

/// What a part parameter holds.
#[derive(Clone, Copy)]
enum Kind {
    Boolean,
    /// A full date, today or before.
    PastDate,
    /// A full date, today or after.
    FutureDate,
    /// Start and/or end, full dates, today or before, start not after end.
    Period,
    PositiveInt,
    Code(&'static [&'static str]),
}

/// A clinical area's parameter: its name, its parts, whether it may repeat, its List (code, title).
struct Area {
    name: &'static str,
    parts: &'static [(&'static str, Kind)],
    repeats: bool,
    list: (&'static str, &'static str),
}

const AREAS: &[Area] = &[
    Area {
        name: "includeAllergies",
        parts: &[("includeResolvedAllergies", Kind::Boolean)],
        repeats: false,
        list: ("886921000000105", "Allergies and adverse reactions"),
    },
    Area {
        name: "includeMedication",
        parts: &[("includePrescriptionIssues", Kind::Boolean), ("medicationSearchFromDate", Kind::PastDate)],
        repeats: false,
        list: ("933361000000108", "Medications and medical devices"),
    },
    Area {
        name: "includeConsultations",
        parts: &[("consultationSearchPeriod", Kind::Period), ("includeNumberOfMostRecent", Kind::PositiveInt)],
        repeats: false,
        list: ("1149501000000101", "List of consultations"),
    },
    Area {
        name: "includeProblems",
        parts: &[
            ("filterStatus", Kind::Code(&["active", "inactive"])),
            ("filterSignificance", Kind::Code(&["major", "minor"])),
        ],
        repeats: true,
        list: ("717711000000103", "Problems"),
    },
    Area {
        name: "includeImmunisations",
        parts: &[("includeNotGiven", Kind::Boolean), ("includeStatus", Kind::Boolean)],
        repeats: false,
        list: ("1102181000000102", "Immunisations"),
    },
    Area {
        name: "includeUncategorisedData",
        parts: &[("uncategorisedDataSearchPeriod", Kind::Period)],
        repeats: false,
        list: ("826501000000100", "Miscellaneous record"),
    },
    Area {
        name: "includeInvestigations",
        parts: &[("investigationSearchPeriod", Kind::Period)],
        repeats: false,
        list: ("887191000000108", "Investigations and results"),
    },
    Area {
        name: "includeReferrals",
        parts: &[("referralSearchPeriod", Kind::Period)],
        repeats: false,
        list: ("792931000000107", "Outbound referral"),
    },
    Area {
        name: "includeDiaryEntries",
        parts: &[("diaryEntriesSearchDate", Kind::FutureDate)],
        repeats: false,
        list: ("714311000000108", "Patient recall administration"),
    },
];

/// The parts that may not be sent with `includeConsultations` (all of them) or `includeProblems` (all
/// but the problem filters): retrieve page, "forbidden combinations".
const NOT_WITH_CONSULTATIONS: &[(&str, &str)] = &[
    ("includeMedication", "medicationSearchFromDate"),
    ("includeUncategorisedData", "uncategorisedDataSearchPeriod"),
    ("includeProblems", "filterSignificance"),
    ("includeProblems", "filterStatus"),
    ("includeReferrals", "referralSearchPeriod"),
    ("includeDiaryEntries", "diaryEntriesSearchDate"),
    ("includeImmunisations", "includeNotGiven"),
    ("includeImmunisations", "includeStatus"),
];

pub(crate) async fn structured_record(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
    body: Bytes,
) -> Response {
    let wrong_patient = faults.is_some_and(|Extension(f)| f.wrong_patient);
    match build(&state, &headers, &body, wrong_patient) {
        Ok(bundle) => FhirResponse::ok(bundle).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A requested clinical area with the parts it was sent (name → value).
struct Requested<'a> {
    area: &'static Area,
    parts: Vec<(&'a str, &'a Value)>,
}

fn build(state: &SandboxState, headers: &HeaderMap, body: &[u8], wrong_patient: bool) -> Result<Value, GpcError> {
    ssp::check(headers, &state.config().gpconnect_provider_asid, &[GET_STRUCTURED_RECORD], true)?;
    let parameters = parse_resource(body, "Parameters")?;
    let list = parameters["parameter"].as_array().map(Vec::as_slice).unwrap_or_default();
    let nhs_parameters: Vec<&Value> = list.iter().filter(|p| p["name"] == "patientNHSNumber").collect();
    let identifier = nhs_parameters
        .first()
        .map(|p| &p["valueIdentifier"])
        .filter(|i| i.is_object())
        .ok_or_else(|| GpcError::invalid_parameter("Not all mandatory parameters have been provided"))?;
    if nhs_parameters.len() > 1 {
        return Err(GpcError::invalid_parameter("Repeated Parameter : patientNHSNumber"));
    }
    if identifier["system"] != NHS_NUMBER_SYSTEM {
        return Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::InvalidIdentifierSystem,
            format!("Invalid identifier system: {}", identifier["system"]),
        ));
    }
    let nhs_number = identifier["value"].as_str().unwrap_or_default();
    if domain::NhsNumber::parse(nhs_number).is_err() || nhs_number.len() != 10 {
        return Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::InvalidNhsNumber,
            format!("Invalid NHS number submitted: {nhs_number}"),
        ));
    }
    let patient = patient_for(state, nhs_number)?;
    // "Today" as the practice reads it: the UK date, not UTC's (which lags by an hour after midnight BST).
    let today = domain::uk_time::date(chrono::Utc::now());
    let (requested, warnings) = read_parameters(list, today)?;
    let returned = if wrong_patient { other_patient(nhs_number) } else { nhs_number };
    let trace_id = headers.get("Ssp-TraceID").and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
    Ok(bundle(trace_id, returned, &patient, &requested, &warnings))
}

/// The areas asked for and a warning for everything not known, or the first rule broken.
fn read_parameters(list: &[Value], today: NaiveDate) -> Result<(Vec<Requested<'_>>, Vec<String>), GpcError> {
    if list.len() > MAX_PARAMETERS {
        return Err(GpcError::invalid_resource(format!(
            "{} parameters: a request names at most {MAX_PARAMETERS}",
            list.len()
        )));
    }
    let mut requested: Vec<Requested> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut warn = |name: String| {
        if warnings.len() < MAX_WARNINGS && !warnings.contains(&name) {
            warnings.push(name);
        }
    };
    for parameter in list {
        let Some(name) = parameter["name"].as_str().filter(|n| !n.is_empty()) else {
            return Err(GpcError::invalid_resource("Every parameter must be an object with a name"));
        };
        let parts_sent = parameter["part"].as_array().map_or(0, Vec::len);
        if parts_sent > MAX_PARTS {
            return Err(GpcError::invalid_resource(format!("{name} has {parts_sent} parts: at most {MAX_PARTS}")));
        }
        if name == "patientNHSNumber" {
            continue;
        }
        let Some(area) = AREAS.iter().find(|a| a.name == name) else {
            // Reported at the least granular level: an unknown parameter's parts are not listed.
            warn(name.to_owned());
            continue;
        };
        let times = requested.iter().filter(|r| r.area.name == name).count();
        if times > 0 && (!area.repeats || times >= MAX_PROBLEM_REPEATS) {
            return Err(GpcError::invalid_parameter(format!("Repeated Parameter : {name}")));
        }
        let mut parts: Vec<(&str, &Value)> = Vec::new();
        for part in parameter["part"].as_array().into_iter().flatten() {
            let Some(part_name) = part["name"].as_str().filter(|n| !n.is_empty()) else {
                return Err(GpcError::invalid_resource(format!("Every part of {name} must be an object with a name")));
            };
            let Some((_, kind)) = area.parts.iter().find(|(n, _)| *n == part_name) else {
                warn(format!("{name}.{part_name}"));
                continue;
            };
            if parts.iter().any(|(n, _)| *n == part_name) {
                return Err(GpcError::invalid_resource(format!("Repeated Parameter Part : {part_name}")));
            }
            check_part(part_name, part, *kind, today)?;
            parts.push((part_name, part));
        }
        if name == "includeAllergies" && !parts.iter().any(|(n, _)| *n == "includeResolvedAllergies") {
            return Err(GpcError::invalid_parameter("Miss parameter : includeResolvedAllergies"));
        }
        if name == "includeConsultations"
            && ["consultationSearchPeriod", "includeNumberOfMostRecent"]
                .iter()
                .all(|p| parts.iter().any(|(n, _)| n == p))
        {
            return Err(GpcError::invalid_resource(
                "consultationSearchPeriod and includeNumberOfMostRecent cannot both be sent",
            ));
        }
        requested.push(Requested { area, parts });
    }
    let has = |area: &str| requested.iter().any(|r| r.area.name == area);
    for (anchor, filters_allowed) in [("includeConsultations", false), ("includeProblems", true)] {
        if !has(anchor) {
            continue;
        }
        for (area, part) in NOT_WITH_CONSULTATIONS {
            if filters_allowed && *area == "includeProblems" {
                continue;
            }
            let sent = requested.iter().any(|r| r.area.name == *area && r.parts.iter().any(|(n, _)| n == part));
            if sent {
                return Err(GpcError::invalid_parameter(format!("{area}.{part} cannot be sent with {anchor}")));
            }
        }
    }
    Ok((requested, warnings))
}

/// A part's value against its kind.
fn check_part(name: &str, part: &Value, kind: Kind, today: NaiveDate) -> Result<(), GpcError> {
    let value_key = match kind {
        Kind::Boolean => "valueBoolean",
        Kind::PastDate | Kind::FutureDate => "valueDate",
        Kind::Period => "valuePeriod",
        Kind::PositiveInt => "valuePositiveInt",
        Kind::Code(_) => "valueCode",
    };
    let value = &part[value_key];
    if value.is_null() {
        let any_value = part.as_object().is_some_and(|o| o.keys().any(|k| k.starts_with("value")));
        return Err(GpcError::invalid_parameter(if any_value {
            format!("Invalid parameter part type : {name}")
        } else {
            format!("Invalid parameter part : {name} no value element")
        }));
    }
    let date = |text: &Value| {
        text.as_str().and_then(crate::clock::parse_date).ok_or_else(|| {
            GpcError::invalid_parameter(format!("Invalid date used  {name} {text} does not match yyyy-mm-dd"))
        })
    };
    let not_future = |d: NaiveDate| {
        if d > today {
            Err(GpcError::invalid_parameter(format!("{name} {d} is in the future")))
        } else {
            Ok(d)
        }
    };
    match kind {
        Kind::Boolean if !value.is_boolean() => {
            Err(GpcError::invalid_parameter(format!("Invalid parameter part type : {name}")))
        }
        Kind::Boolean => Ok(()),
        Kind::PastDate => not_future(date(value)?).map(drop),
        Kind::FutureDate => {
            let d = date(value)?;
            if d < today {
                return Err(GpcError::invalid_parameter(format!("{name} {d} is before today")));
            }
            Ok(())
        }
        Kind::Period => {
            let bound = |key: &str| match value.get(key) {
                None => Ok(None),
                Some(text) => date(text).and_then(not_future).map(Some),
            };
            let (start, end) = (bound("start")?, bound("end")?);
            match (start, end) {
                (None, None) => Err(GpcError::invalid_parameter(format!("{name} has neither a start nor an end"))),
                (Some(s), Some(e)) if e < s => {
                    Err(GpcError::invalid_parameter(format!("End date {e} is earlier than Start date {s}")))
                }
                _ => Ok(()),
            }
        }
        Kind::PositiveInt => match value.as_u64() {
            Some(n) if n > 0 => Ok(()),
            _ => Err(GpcError::invalid_parameter(format!("ParameterPart {name} must be greater than 0 : {value}"))),
        },
        Kind::Code(allowed) => match value.as_str() {
            Some(code) if allowed.contains(&code) => Ok(()),
            _ => Err(GpcError::invalid_parameter(format!(
                "Invalid parameter part passed : {name} invalid value {value}"
            ))),
        },
    }
}

fn bundle(
    trace_id: &str,
    nhs: &str,
    (given, family, gender, birth): &(String, String, String, String),
    requested: &[Requested],
    warnings: &[String],
) -> Value {
    let profile = |name: &str| json!({"profile": [format!("https://fhir.nhs.uk/STU3/StructureDefinition/{name}")]});
    let versioned = |name: &str| {
        let mut meta = profile(name);
        meta["versionId"] = json!("1");
        meta
    };
    let mut entries = vec![
        json!({"resource": {
            "resourceType": "Patient", "id": "2", "meta": versioned("CareConnect-GPC-Patient-1"),
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs}],
            "active": true,
            "name": [{"use": "official", "text": format!("{given} {family}"), "family": family,
                      "given": given.split(' ').collect::<Vec<_>>()}],
            "gender": gender, "birthDate": birth,
            "generalPractitioner": [{"reference": "Practitioner/1"}],
            "managingOrganization": {"reference": "Organization/1"},
        }}),
        json!({"resource": {
            "resourceType": "Organization", "id": "1", "meta": versioned("CareConnect-GPC-Organization-1"),
            "identifier": [{"system": ODS_SYSTEM, "value": PROVIDER_ODS}], "name": "GP CONNECT DEMONSTRATOR",
        }}),
        json!({"resource": {
            "resourceType": "Practitioner", "id": "1", "meta": versioned("CareConnect-GPC-Practitioner-1"),
            "identifier": [{"system": SDS_USER_SYSTEM, "value": "G13579135"}],
            "name": [{"use": "usual", "family": "Gilbert", "given": ["Nichole"], "prefix": ["Dr"]}],
            "gender": "female",
        }}),
        json!({"resource": {
            "resourceType": "PractitionerRole", "id": "1", "meta": profile("CareConnect-GPC-PractitionerRole-1"),
            "practitioner": {"reference": "Practitioner/1"}, "organization": {"reference": "Organization/1"},
            "code": [{"coding": [{"system": "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1",
                                   "code": "R0260", "display": "General Medical Practitioner"}]}],
        }}),
    ];
    let list = |(code, title): (&str, &str), items: &[&str]| {
        let mut list = json!({
            "resourceType": "List", "meta": profile("CareConnect-GPC-List-1"), "status": "current", "mode": "snapshot",
            "title": title,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": title}]},
            "subject": {"reference": "Patient/2"},
        });
        if items.is_empty() {
            list["note"] = json!([{"text": "Information not available"}]);
            list["emptyReason"] = json!({"coding": [{
                "system": "http://hl7.org/fhir/stu3/valueset-list-empty-reason.html",
                "code": "no-content-recorded", "display": "No Content Recorded",
            }]});
        } else {
            list["entry"] = items.iter().map(|item| json!({"item": {"reference": item}})).collect();
        }
        json!({"resource": list})
    };
    for r in requested {
        // The problems List once, however many filter pairs were asked for.
        if r.area.repeats && entries.iter().any(|e| e["resource"]["title"] == r.area.list.1) {
            continue;
        }
        match r.area.name {
            "includeAllergies" => {
                entries.push(list(r.area.list, &["AllergyIntolerance/1"]));
                entries.push(json!({"resource": {
                    "resourceType": "AllergyIntolerance", "id": "1", "meta": profile("CareConnect-GPC-AllergyIntolerance-1"),
                    "clinicalStatus": "active", "verificationStatus": "unconfirmed",
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "294505008",
                                          "display": "Amoxicillin allergy"}]},
                    "patient": {"reference": "Patient/2"}, "assertedDate": "2019-05-01",
                }}));
            }
            "includeMedication" => {
                entries.push(list(r.area.list, &["MedicationStatement/1"]));
                entries.push(json!({"resource": {
                    "resourceType": "MedicationStatement", "id": "1", "meta": profile("CareConnect-GPC-MedicationStatement-1"),
                    "status": "active", "medicationReference": {"reference": "Medication/1"},
                    "subject": {"reference": "Patient/2"}, "taken": "unk", "dosage": [{"text": "One tablet daily"}],
                }}));
                entries.push(json!({"resource": {
                    "resourceType": "Medication", "id": "1", "meta": profile("CareConnect-GPC-Medication-1"),
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "322236009",
                                          "display": "Paracetamol 500mg tablets"}]},
                }}));
            }
            _ => entries.push(list(r.area.list, &[])),
        }
    }
    if !warnings.is_empty() {
        let issues: Vec<Value> = warnings
            .iter()
            .map(|name| {
                json!({
                    "severity": "warning",
                    "code": "not-supported",
                    "details": {
                        "coding": [{"system": STU3_SPINE_SYSTEM, "code": "NOT_IMPLEMENTED", "display": "Not implemented"}],
                        "text": format!("{name} is an unrecognised parameter"),
                    },
                    "diagnostics": name,
                })
            })
            .collect();
        entries.push(json!({"resource": {
            "resourceType": "OperationOutcome",
            "id": uuid::Uuid::new_v4().to_string(),
            "meta": profile("GPConnect-OperationOutcome-1"),
            "issue": issues,
        }}));
    }
    json!({
        "resourceType": "Bundle",
        "id": trace_id,
        "meta": profile("GPConnect-StructuredRecord-Bundle-1"),
        "type": "collection",
        "entry": entries,
    })
}
