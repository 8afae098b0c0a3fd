//! Who the sandboxes know: PDS's documented sandbox patients plus the generated synthetic population, as
//! PDS FHIR records keyed by NHS number. Built once from the seed and never changed by requests, so every
//! API sees the same people.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::patients::{self, nhs_number_identifier, security_label, SyntheticPatient};

/// PDS sandbox: an ordinary patient, the one the documented search finds.
pub const PDS_ORDINARY: &str = "9000000009";
/// PDS sandbox: Jayne Smyth, born the same day as Jane Smith (a fuzzy or wildcard search finds both).
pub const PDS_SECOND_SMITH: &str = "9000000017";
/// PDS sandbox: restricted (sensitive) record, no address or telecom.
pub const PDS_RESTRICTED: &str = "9000000025";
/// A record with previous names, addresses and e-mail (PDS's integration test pack: MED, once HUME).
pub const PDS_WITH_HISTORY: &str = "9733162450";
/// PDS sandbox: minimal record (identifier and meta only).
pub const PDS_MINIMAL: &str = "9000000033";
/// PDS sandbox: a valid number PDS does not hold (404).
pub const PDS_NOT_FOUND: &str = "9111231130";
/// An invalidated record (404 INVALIDATED_RESOURCE): PDS's own test pack reads 9990003343 for this on
/// integration (`karate-tests/.../getPatientByNHSNumber.feature@invalidatedResource`); the public sandbox has none.
/// Never in search results, never generated as a synthetic patient.
pub const PDS_INVALIDATED: &str = "9990003343";
/// PDS sandbox: an invalid number (400 INVALID_RESOURCE_ID).
pub const PDS_INVALID: &str = "9000000000";

#[derive(Debug)]
pub struct Population {
    records: BTreeMap<String, Value>,
    superseded: BTreeMap<String, String>,
    synthetic: Vec<SyntheticPatient>,
}

impl Population {
    pub fn new(seed: u64, synthetic_count: usize) -> Self {
        let synthetic = patients::generate(seed, synthetic_count);
        let mut records: BTreeMap<String, Value> =
            documented_patients().into_iter().filter_map(|p| Some((p["id"].as_str()?.to_owned(), p))).collect();
        let mut superseded = BTreeMap::new();
        for patient in &synthetic {
            match &patient.superseded_by {
                Some(target) => {
                    superseded.insert(patient.nhs_number.to_string(), target.to_string());
                }
                None => {
                    records.insert(patient.nhs_number.to_string(), patient.to_fhir());
                }
            }
        }
        Population { records, superseded, synthetic }
    }

    /// The current record for `nhs_number`, following a supersession (the answer's `id` then differs).
    pub fn pds_record(&self, nhs_number: &str) -> Option<&Value> {
        let current = self.superseded.get(nhs_number).map(String::as_str).unwrap_or(nhs_number);
        self.records.get(current)
    }

    /// Whether `nhs_number` is a record PDS has invalidated (and not superseded).
    pub fn is_invalidated(&self, nhs_number: &str) -> bool {
        nhs_number == PDS_INVALIDATED
    }

    /// Every current record, in NHS-number order.
    pub fn records(&self) -> impl Iterator<Item = &Value> {
        self.records.values()
    }

    pub fn synthetic(&self) -> &[SyntheticPatient] {
        &self.synthetic
    }

    pub fn synthetic_patient(&self, nhs_number: &str) -> Option<&SyntheticPatient> {
        self.synthetic.iter().find(|p| p.nhs_number.as_str() == nhs_number)
    }

    /// A different, unrestricted patient than `nhs_number` (for the wrong-patient fault).
    pub fn someone_else(&self, nhs_number: &str) -> Option<&Value> {
        let other = if nhs_number == PDS_ORDINARY { PDS_SECOND_SMITH } else { PDS_ORDINARY };
        self.records.get(other)
    }
}

fn verified(number: &str) -> Value {
    json!([nhs_number_identifier(number)])
}

/// The PDS sandbox's documented patients, shaped like its published examples.
fn documented_patients() -> Vec<Value> {
    vec![
        json!({
            "resourceType": "Patient",
            "id": PDS_ORDINARY,
            "meta": {"versionId": "2", "security": [security_label(false)]},
            "identifier": verified(PDS_ORDINARY),
            "name": [{"id": "123", "use": "usual", "period": {"start": "2020-01-01", "end": "2021-12-31"},
                      "given": ["Jane"], "family": "Smith", "prefix": ["Mrs"], "suffix": ["MBE"]}],
            "gender": "female",
            "birthDate": "2010-10-22",
            "multipleBirthInteger": 1,
            "generalPractitioner": [{"id": "254406A3", "type": "Organization",
                "identifier": {"system": crate::fhir::ODS_SYSTEM, "value": "Y12345",
                               "period": {"start": "2020-01-01", "end": "2021-12-31"}}}],
            "address": [{"id": "456", "use": "home", "period": {"start": "2020-01-01", "end": "2021-12-31"},
                         "line": ["1 Trevelyan Square", "Boar Lane", "City Centre", "Leeds", "West Yorkshire"],
                         "postalCode": "LS1 6AE"}],
            "telecom": [{"id": "789", "period": {"start": "2020-01-01", "end": "2021-12-31"},
                         "system": "phone", "use": "home", "value": "01632960587"},
                        {"id": "OC789", "period": {"start": "2020-01-01", "end": "2021-12-31"},
                         "system": "email", "use": "home", "value": "jane.smith@example.com"}],
        }),
        json!({
            "resourceType": "Patient",
            "id": PDS_SECOND_SMITH,
            "meta": {"versionId": "1", "security": [security_label(false)]},
            "identifier": verified(PDS_SECOND_SMITH),
            "name": [{"id": "1", "use": "usual", "given": ["Jayne"], "family": "Smyth", "prefix": ["Mrs"]}],
            "gender": "female",
            "birthDate": "2010-10-22",
            "generalPractitioner": [{"id": "1", "type": "Organization",
                "identifier": {"system": crate::fhir::ODS_SYSTEM, "value": "Y12345"}}],
            "address": [{"id": "1", "use": "home", "line": ["2 Whitehall Quay"], "city": "Leeds",
                         "postalCode": "LS1 4BU"}],
            "telecom": [{"id": "1", "system": "phone", "use": "mobile", "value": "07700900017"}],
        }),
        json!({
            "resourceType": "Patient",
            "id": PDS_RESTRICTED,
            "meta": {"versionId": "2", "security": [security_label(true)]},
            "identifier": verified(PDS_RESTRICTED),
            "name": [{"id": "123", "use": "usual", "given": ["Janet"], "family": "Smythe", "prefix": ["Mrs"],
                      "suffix": ["MBE"]}],
            "gender": "female",
            "birthDate": "2005-06-16",
            "deceasedDateTime": "2005-06-16T00:00:00+00:00",
            "multipleBirthInteger": 1,
        }),
        // PDS's own test pack searches integration for this record's history
        // (`searchParams.feature`, "historic DOB, family name, gender"): current MED Rowenad, male,
        // previously HUME Casey, female; a birth date of 2024-01-12 it once had is not searched.
        json!({
            "resourceType": "Patient",
            "id": PDS_WITH_HISTORY,
            "meta": {"versionId": "3", "security": [security_label(false)]},
            "identifier": verified(PDS_WITH_HISTORY),
            "name": [{"id": "1", "use": "usual", "given": ["Rowenad"], "family": "MED", "prefix": ["Miss"]},
                     {"id": "2", "use": "old", "given": ["Casey"], "family": "HUME",
                      "period": {"start": "1999-09-09", "end": "2017-03-01"}}],
            "gender": "male",
            "birthDate": "1999-09-09",
            "generalPractitioner": [{"id": "1", "type": "Organization",
                "identifier": {"system": crate::fhir::ODS_SYSTEM, "value": "A20047"}}],
            "address": [{"id": "1", "use": "home", "line": ["10 Oakwood Rise", "Scunthorpe"], "postalCode": "DN16 3JW"},
                        {"id": "2", "use": "old", "line": ["4 Church Lane", "Brigg"], "postalCode": "DN20 8AA",
                         "period": {"start": "1999-09-09", "end": "2017-03-01"}}],
            "telecom": [{"id": "1", "system": "email", "use": "home", "value": "r.med@example.com"},
                        {"id": "2", "system": "email", "use": "old", "value": "casey.hume@example.com"}],
        }),
        json!({
            "resourceType": "Patient",
            "id": PDS_MINIMAL,
            "meta": {"versionId": "2", "security": [security_label(false)]},
            "identifier": verified(PDS_MINIMAL),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supersession_is_followed_and_documented_numbers_resolve() {
        let population = Population::new(1, 200);
        let (old, new) = population.superseded.iter().next().map(|(a, b)| (a.clone(), b.clone())).unwrap();
        assert_eq!(population.pds_record(&old).unwrap()["id"], new.as_str());
        assert!(population.pds_record(PDS_RESTRICTED).unwrap().get("address").is_none());
        assert!(population.pds_record(PDS_NOT_FOUND).is_none());
        assert_ne!(population.someone_else(PDS_ORDINARY).unwrap()["id"], PDS_ORDINARY);
    }
}
