//! GP Connect Appointment Management: a rolling diary of free slots (weekdays 09:00–12:00 UTC, 15 minutes
//! each, from now to 14 days ahead), search for free slots, book, read, amend and cancel. Cancelling frees
//! the slots, so a canary can book and clean up after itself forever.
//!
//! Slot IDs are their start time (`yyyyMMddHHmm`, UTC), so the diary needs no storage: only bookings are kept.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday};
use serde_json::{json, Value};

use crate::fhir::FhirResponse;
use crate::form;
use crate::gpconnect::{parse_resource, GpcCode, GpcError, BASE};
use crate::gpconnect_ssp::{
    self as ssp, CANCEL_APPOINTMENT, CREATE_APPOINTMENT, READ_APPOINTMENT, SEARCH_SLOT, UPDATE_APPOINTMENT,
};
use crate::state::SandboxState;

const SLOT_MINUTES: i64 = 15;
const FIRST_SLOT_HOUR: u32 = 9;
const LAST_SLOT_HOUR: u32 = 12;
const DIARY_DAYS: i64 = 14;
const CANCELLATION_REASON_URL: &str =
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1";

/// Bookings: appointments by id and which appointment holds each slot.
#[derive(Debug)]
pub struct AppointmentBook {
    appointments: BTreeMap<String, Value>,
    booked: HashMap<String, String>,
    next_id: u64,
}

impl Default for AppointmentBook {
    fn default() -> Self {
        AppointmentBook { appointments: BTreeMap::new(), booked: HashMap::new(), next_id: 1 }
    }
}

impl AppointmentBook {
    /// Forgets appointments that ended more than a day before `now`, with their slots: the diary only
    /// looks ahead, and a canary booking and cancelling every run would otherwise grow the book forever.
    fn forget_past(&mut self, now: DateTime<Utc>) {
        let cutoff = now - Duration::days(1);
        let ended = |a: &Value| {
            a["end"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).is_some_and(|end| end < cutoff)
        };
        let past: Vec<String> = self.appointments.iter().filter(|(_, a)| ended(a)).map(|(id, _)| id.clone()).collect();
        for id in &past {
            self.appointments.remove(id);
        }
        self.booked.retain(|_, id| !past.contains(id));
    }
}

fn slot_id(start: DateTime<Utc>) -> String {
    start.format("%Y%m%d%H%M").to_string()
}

fn fhir_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Start time of a slot in the diary, if `id` names one that is still ahead of now.
fn slot_start(id: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // chrono's parser takes fewer digits and spaces: an id is exactly twelve digits.
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let start = NaiveDateTime::parse_from_str(id, "%Y%m%d%H%M").ok()?.and_utc();
    let in_hours =
        (FIRST_SLOT_HOUR..LAST_SLOT_HOUR).contains(&start.hour()) && i64::from(start.minute()) % SLOT_MINUTES == 0;
    let weekday = !matches!(start.weekday(), Weekday::Sat | Weekday::Sun);
    let ahead = start > now && start < now + Duration::days(DIARY_DAYS + 1);
    (in_hours && weekday && ahead).then_some(start)
}

/// Every diary slot starting within `[from, to]`. The bounds keep the offset they were given in, and
/// their dates are the dates there.
fn slots_between(from: DateTime<FixedOffset>, to: DateTime<FixedOffset>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut day: NaiveDate = from.date_naive().max(now.date_naive());
    let mut out = Vec::new();
    while day <= to.date_naive() && day <= (now + Duration::days(DIARY_DAYS)).date_naive() {
        for index in 0..(i64::from(LAST_SLOT_HOUR - FIRST_SLOT_HOUR) * 60 / SLOT_MINUTES) {
            let start = day.and_time(NaiveTime::MIN).and_utc()
                + Duration::hours(i64::from(FIRST_SLOT_HOUR))
                + Duration::minutes(index * SLOT_MINUTES);
            if start >= from && start <= to && slot_start(&slot_id(start), now).is_some() {
                out.push(start);
            }
        }
        day = match day.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    out
}

fn slot_resource(start: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Slot",
        "id": slot_id(start),
        "meta": {"versionId": "1", "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Slot-1"]},
        "extension": [{"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2",
                       "valueCode": "In-person"}],
        "serviceType": [{"text": "General GP Appointment"}],
        "schedule": {"reference": "Schedule/1"},
        "status": "free",
        "start": fhir_time(start),
        "end": fhir_time(start + Duration::minutes(SLOT_MINUTES)),
    })
}

/// A search date: `ge`/`le` prefix plus a date or dateTime; date-only `le` means the end of that day.
fn parse_bound(value: &str, prefix: &str) -> Option<DateTime<FixedOffset>> {
    let rest = value.strip_prefix(prefix)?;
    if let Some(date) = crate::clock::parse_date(rest) {
        let time = if prefix == "le" { NaiveTime::from_hms_opt(23, 59, 59)? } else { NaiveTime::MIN };
        return Some(date.and_time(time).and_utc().fixed_offset());
    }
    DateTime::parse_from_rfc3339(rest).ok()
}

/// `GET /Slot?start=ge…&end=le…&status=free&_include=Slot:schedule`.
pub async fn search_slots(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(find_slots(&state, &headers, query.as_deref().unwrap_or("")).map(FhirResponse::ok))
}

fn respond(result: Result<FhirResponse, GpcError>) -> Response {
    match result {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    }
}

fn find_slots(state: &SandboxState, headers: &HeaderMap, query: &str) -> Result<Value, GpcError> {
    ssp::check(headers, &state.config().gpconnect_provider_asid, &[SEARCH_SLOT], false)?;
    let pairs = form::parse_pairs(query);
    // Parameters it does not know are ignored: "unrecognized search criteria SHALL always be ignored"
    // (GP Connect's general API guidance; the provider test suite sends some and expects 200).
    // A missing parameter is a bad request; a present but unusable one is an invalid parameter
    // (gpconnect-provider-testing `SearchForFreeSlots.feature`).
    for name in ["start", "end", "status", "_include"] {
        if form::first(&pairs, name).is_none() {
            return Err(GpcError::new(
                StatusCode::BAD_REQUEST,
                GpcCode::BadRequest,
                format!("Missing parameter: {name}"),
            ));
        }
    }
    let start = form::first(&pairs, "start")
        .and_then(|v| parse_bound(v, "ge"))
        .ok_or_else(|| GpcError::invalid_parameter("start must be given as ge{date} or ge{dateTime}"))?;
    let end = form::first(&pairs, "end")
        .and_then(|v| parse_bound(v, "le"))
        .ok_or_else(|| GpcError::invalid_parameter("end must be given as le{date} or le{dateTime}"))?;
    if form::first(&pairs, "status") != Some("free") {
        return Err(GpcError::invalid_parameter("status must be free"));
    }
    if !form::all(&pairs, "_include").contains(&"Slot:schedule") {
        return Err(GpcError::invalid_parameter("_include must be Slot:schedule"));
    }
    if end < start {
        return Err(GpcError::invalid_parameter("The search end date is before the start date"));
    }
    if (end.date_naive() - start.date_naive()).num_days() > DIARY_DAYS {
        return Err(GpcError::invalid_parameter("The search period must not exceed 14 days"));
    }
    let now = Utc::now();
    let book = state.appointments();
    let free: Vec<Value> = slots_between(start, end, now)
        .into_iter()
        .filter(|s| !book.booked.contains_key(&slot_id(*s)))
        .map(|s| json!({"fullUrl": format!("{BASE}/Slot/{}", slot_id(s)), "resource": slot_resource(s)}))
        .collect();
    let mut entries = free;
    if !entries.is_empty() {
        entries.push(json!({"resource": {
            "resourceType": "Schedule", "id": "1",
            "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Schedule-1"]},
            "serviceCategory": {"text": "GP Appointments"},
            "actor": [{"reference": "Practitioner/1"}, {"reference": "Location/1"}],
        }}));
        let recurse = form::all(&pairs, "_include:recurse");
        if recurse.contains(&"Schedule:actor:Practitioner") {
            entries.push(json!({"resource": {"resourceType": "Practitioner", "id": "1",
                "name": [{"family": "Gilbert", "given": ["Nichole"], "prefix": ["Dr"]}]}}));
        }
        if recurse.contains(&"Schedule:actor:Location") {
            entries.push(json!({"resource": {"resourceType": "Location", "id": "1", "name": "Demonstrator Surgery"}}));
        }
    }
    Ok(json!({"resourceType": "Bundle", "type": "searchset", "entry": entries}))
}

fn with_etag(appointment: &Value, status: StatusCode) -> FhirResponse {
    let version = appointment["meta"]["versionId"].as_str().unwrap_or("1").to_owned();
    FhirResponse::new(status, appointment.clone()).with_header(header::ETAG, &format!("W/\"{version}\""))
}

fn slot_ids(appointment: &Value) -> Result<Vec<String>, GpcError> {
    let slots = appointment["slot"].as_array().filter(|s| !s.is_empty());
    let slots = slots.ok_or_else(|| GpcError::invalid_resource("The appointment must reference at least one slot"))?;
    slots
        .iter()
        .map(|s| {
            let reference = s["reference"].as_str().unwrap_or_default();
            reference
                .strip_prefix("Slot/")
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| GpcError::invalid_resource(format!("The slot reference value {reference} is not valid")))
        })
        .collect()
}

/// `POST /Appointment`: books free slots.
pub async fn book(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    respond(book_appointment(&state, &headers, &body))
}

fn book_appointment(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, GpcError> {
    ssp::check(headers, &state.config().gpconnect_provider_asid, &[CREATE_APPOINTMENT], true)?;
    let mut appointment = parse_resource(body, "Appointment")?;
    if appointment.get("meta").is_some_and(|meta| !meta.is_object()) {
        return Err(GpcError::invalid_resource("Appointment meta must be an object"));
    }
    if appointment["status"] != "booked" {
        return Err(GpcError::invalid_resource("Appointment status must be booked"));
    }
    let ids = slot_ids(&appointment)?;
    check_booking_fields(&appointment)?;
    let now = Utc::now();
    let mut starts = Vec::new();
    for id in &ids {
        let start = slot_start(id, now).ok_or_else(|| {
            GpcError::invalid_resource(format!("Slot resource reference value {id} is not a valid resource."))
        })?;
        starts.push(start);
    }
    let first = starts.iter().min().copied().unwrap_or(now);
    let last_end = starts.iter().max().copied().unwrap_or(now) + Duration::minutes(SLOT_MINUTES);
    // As UTC to compare with the slots' times: equal instants match whatever offset the client wrote.
    let given = |field: &str| {
        appointment[field].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
    };
    if given("start") != Some(first) {
        return Err(GpcError::invalid_resource(format!(
            "Start date '{}' must match start date of first slot '{}'",
            appointment["start"],
            fhir_time(first)
        )));
    }
    if given("end") != Some(last_end) {
        return Err(GpcError::invalid_resource(format!(
            "End date '{}' must match end date of last slot '{}'",
            appointment["end"],
            fhir_time(last_end)
        )));
    }
    let mut book = state.appointments();
    book.forget_past(now);
    if ids.iter().any(|id| book.booked.contains_key(id)) {
        return Err(GpcError::new(StatusCode::CONFLICT, GpcCode::DuplicateRejected, "Slot is already in use."));
    }
    let id = book.next_id.to_string();
    book.next_id += 1;
    // `meta` is rebuilt whole rather than indexed into: serde_json's IndexMut panics on a non-object, and a
    // panic here would poison the appointments lock.
    let mut meta = appointment["meta"].as_object().cloned().unwrap_or_default();
    meta.insert("versionId".into(), json!("1"));
    meta.insert("lastUpdated".into(), json!(crate::clock::rfc3339_now()));
    appointment["id"] = json!(id);
    appointment["meta"] = Value::Object(meta);
    for slot in ids {
        book.booked.insert(slot, id.clone());
    }
    book.appointments.insert(id.clone(), appointment.clone());
    Ok(with_etag(&appointment, StatusCode::CREATED)
        .with_header(header::LOCATION, &format!("{BASE}/Appointment/{id}/_history/1")))
}

/// A description of at most 100 characters and a comment of at most 500, each text when sent.
fn check_texts(appointment: &Value) -> Result<(), GpcError> {
    for (field, most) in [("description", 100), ("comment", 500)] {
        match &appointment[field] {
            Value::Null => {}
            Value::String(text) if text.chars().count() <= most => {}
            Value::String(_) => {
                return Err(GpcError::invalid_resource(format!(
                    "Appointment {field} cannot be greater then {most} characters"
                )))
            }
            _ => return Err(GpcError::invalid_resource(format!("Appointment {field} must be text"))),
        }
    }
    Ok(())
}

/// The elements of an STU3 Appointment; anything else in a booking is refused, as the provider's strict
/// FHIR parser refuses it.
const APPOINTMENT_ELEMENTS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "text",
    "contained",
    "extension",
    "modifierExtension",
    "identifier",
    "status",
    "serviceCategory",
    "serviceType",
    "specialty",
    "appointmentType",
    "reason",
    "indication",
    "priority",
    "description",
    "supportingInformation",
    "start",
    "end",
    "minutesDuration",
    "slot",
    "created",
    "comment",
    "incomingReferral",
    "participant",
    "requestedPeriod",
];
const BOOKING_ORGANISATION: &str =
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1";
const PARTICIPANT_STATUSES: &[&str] = &["accepted", "declined", "tentative", "needs-action"];

/// Booking rules beyond slots and times (Appointment Management 1.2.7, "Book an appointment", and the
/// provider assurance suite's `AppointmentBook.feature`): only Appointment elements; no `reason` or
/// `specialty`; a Patient and a Location participant, each participant with a status from the code list;
/// `created`; a description of at most 100 characters and a comment of at most 500; the booking
/// organisation as an extension naming a contained Organization with an ODS code, a name and a phone.
fn check_booking_fields(appointment: &Value) -> Result<(), GpcError> {
    if let Some(unknown) =
        // `_description` and the like carry a primitive's extensions (FHIR JSON).
        appointment
            .as_object()
            .and_then(|o| o.keys().find(|k| !APPOINTMENT_ELEMENTS.contains(&k.strip_prefix('_').unwrap_or(k))))
    {
        return Err(GpcError::invalid_resource(format!("Unknown element '{unknown}' in an Appointment")));
    }
    if !appointment["reason"].is_null() {
        return Err(GpcError::invalid_resource("An appointment booking must not contain a reason"));
    }
    if !appointment["specialty"].is_null() {
        return Err(GpcError::invalid_resource("Appointment speciality shouldn't be provided!"));
    }
    let participants = appointment["participant"].as_array().cloned().unwrap_or_default();
    if participants.iter().any(|p| !p["status"].as_str().is_some_and(|s| PARTICIPANT_STATUSES.contains(&s))) {
        return Err(GpcError::invalid_resource(
            "Every participant must have a status: accepted, declined, tentative or needs-action",
        ));
    }
    let relative = |prefix: &str, r: &str| {
        r.strip_prefix(prefix).is_some_and(|id| {
            !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
    };
    for (kind, what) in [("Patient/", "Patient"), ("Location/", "Location")] {
        if !participants.iter().any(|p| p["actor"]["reference"].as_str().is_some_and(|r| relative(kind, r))) {
            return Err(GpcError::invalid_resource(format!(
                "The appointment must have a {what} participant with a valid reference"
            )));
        }
    }
    if appointment["created"].as_str().is_none_or(str::is_empty) {
        return Err(GpcError::invalid_resource("Created must be populated"));
    }
    check_texts(appointment)?;
    let booking = appointment["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["url"] == BOOKING_ORGANISATION)
        .ok_or_else(|| GpcError::invalid_resource("Booking organization extension must be present"))?;
    let reference = booking["valueReference"]["reference"].as_str().unwrap_or_default();
    let id = reference
        .strip_prefix('#')
        .ok_or_else(|| GpcError::invalid_resource("Booking organization reference does not start with #"))?;
    let organisation = appointment["contained"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["resourceType"] == "Organization" && c["id"] == id)
        .ok_or_else(|| GpcError::invalid_resource(format!("No contained Organization {reference}")))?;
    let phone = organisation["telecom"].as_array().into_iter().flatten().any(|t| t["system"] == "phone");
    let ods = crate::fhir::identifier_value(&organisation["identifier"], crate::fhir::ODS_SYSTEM).is_some();
    if !organisation["name"].is_string() || !phone || !ods {
        return Err(GpcError::invalid_resource(
            "The booking organization must have an ODS code, a name and a phone number",
        ));
    }
    Ok(())
}

fn not_found(id: &str) -> GpcError {
    GpcError::new(StatusCode::NOT_FOUND, GpcCode::NoRecordFound, format!("No appointment details found for ID: {id}"))
}

/// `GET /Appointment/{id}`.
pub async fn read(State(state): State<SandboxState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    respond((|| {
        ssp::check(&headers, &state.config().gpconnect_provider_asid, &[READ_APPOINTMENT], false)?;
        let book = state.appointments();
        let appointment = book.appointments.get(&id).ok_or_else(|| not_found(&id))?;
        Ok(with_etag(appointment, StatusCode::OK))
    })())
}

/// `PUT /Appointment/{id}`: cancel (cancel interaction, status cancelled) or amend (update interaction).
pub async fn amend_or_cancel(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(update_appointment(&state, &headers, &id, &body))
}

/// Fields a cancellation must leave as they were booked.
const FIXED_ON_CANCEL: &[&str] = &["description", "comment", "participant", "start", "end", "slot", "type", "reason"];

fn update_appointment(
    state: &SandboxState,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Result<FhirResponse, GpcError> {
    let asid = &state.config().gpconnect_provider_asid;
    let (interaction, _) = ssp::check(headers, asid, &[CANCEL_APPOINTMENT, UPDATE_APPOINTMENT], true)?;
    let incoming = parse_resource(body, "Appointment")?;
    if incoming["id"].as_str() != Some(id) {
        return Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::BadRequest,
            "The resource id must match the id in the URL",
        ));
    }
    let mut book = state.appointments();
    let stored = book.appointments.get(id).cloned().ok_or_else(|| not_found(id))?;
    let version: u64 = stored["meta"]["versionId"].as_str().and_then(|v| v.parse().ok()).unwrap_or(1);
    if let Some(if_match) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if if_match.trim() != format!("W/\"{version}\"") {
            return Err(GpcError::new(
                StatusCode::CONFLICT,
                GpcCode::FhirConstraintViolation,
                format!("The If-Match version {if_match} does not match the current version W/\"{version}\""),
            ));
        }
    }
    if stored["status"] == "cancelled" {
        return Err(GpcError::invalid_resource("The appointment has been cancelled and cannot be changed"));
    }
    let mut updated = stored.clone();
    if interaction == CANCEL_APPOINTMENT {
        if incoming["status"] != "cancelled" {
            return Err(GpcError::invalid_resource("Status must be \"cancelled\""));
        }
        if let Some(field) = FIXED_ON_CANCEL.iter().find(|f| incoming[**f] != stored[**f]) {
            return Err(GpcError::invalid_resource(format!(
                "Invalid Appointment property has been amended (cancellation): {field}"
            )));
        }
        let extension =
            incoming["extension"].as_array().into_iter().flatten().find(|e| e["url"] == CANCELLATION_REASON_URL);
        let Some(extension) = extension else {
            return Err(GpcError::invalid_resource(format!(
                "The cancellation reason extension ({CANCELLATION_REASON_URL}) must be provided"
            )));
        };
        let Some(reason) = extension["valueString"].as_str().filter(|r| !r.trim().is_empty()) else {
            return Err(GpcError::invalid_parameter("The cancellation reason can not be blank"));
        };
        updated["status"] = json!("cancelled");
        let mut extensions = updated["extension"].as_array().cloned().unwrap_or_default();
        extensions.push(json!({"url": CANCELLATION_REASON_URL, "valueString": reason}));
        updated["extension"] = json!(extensions);
        for slot in slot_ids(&stored)? {
            book.booked.remove(&slot);
        }
    } else {
        if incoming["status"] != "booked" {
            return Err(GpcError::invalid_resource("An amended appointment must stay booked; cancel it instead"));
        }
        check_texts(&incoming)?;
        for field in ["description", "comment"] {
            if !incoming[field].is_null() {
                updated[field] = incoming[field].clone();
            }
        }
    }
    let mut meta = updated["meta"].as_object().cloned().unwrap_or_default();
    meta.insert("versionId".into(), json!((version + 1).to_string()));
    meta.insert("lastUpdated".into(), json!(crate::clock::rfc3339_now()));
    updated["meta"] = Value::Object(meta);
    book.appointments.insert(id.to_owned(), updated.clone());
    let minimal = headers.get("prefer").and_then(|v| v.to_str().ok()).is_some_and(|p| p.contains("return=minimal"));
    let mut response = with_etag(&updated, StatusCode::OK);
    if minimal {
        response.body = Value::Null;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diary_slots_are_weekday_mornings_ahead_of_now() {
        let now = Utc::now();
        let (from, to) = ((now - Duration::days(1)).fixed_offset(), (now + Duration::days(14)).fixed_offset());
        let slots = slots_between(from, to, now);
        assert!(slots.len() >= 8 * 12, "{}", slots.len());
        for s in &slots {
            assert!(*s > now && (9..12).contains(&s.hour()));
            assert_eq!(slot_start(&slot_id(*s), now), Some(*s));
        }
        assert!(slot_start("202001010900", now).is_none());
        assert!(slot_start("garbage", now).is_none());
    }

    #[test]
    fn past_appointments_are_forgotten() {
        let now = Utc::now();
        let mut book = AppointmentBook::default();
        let appointment = |end: DateTime<Utc>| json!({"end": fhir_time(end)});
        book.appointments.insert("1".into(), appointment(now - Duration::days(3)));
        book.appointments.insert("2".into(), appointment(now + Duration::days(3)));
        book.booked.insert("old-slot".into(), "1".into());
        book.booked.insert("new-slot".into(), "2".into());
        book.forget_past(now);
        assert_eq!(book.appointments.keys().collect::<Vec<_>>(), ["2"]);
        assert_eq!(book.booked.keys().collect::<Vec<_>>(), ["new-slot"]);
    }

    #[test]
    fn bounds() {
        assert_eq!(parse_bound("le2026-01-01", "le").map(|d| d.hour()), Some(23));
        assert!(parse_bound("2026-01-01", "ge").is_none());
        assert!(parse_bound("ge2026-01-01T10:00:00+00:00", "ge").is_some());
    }
}
