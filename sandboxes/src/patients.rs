//! Synthetic patients: reproducible people with NHS numbers from the 999 test range (valid Modulus 11 check
//! digit), varied names, birth dates, UK addresses and GP registrations, some restricted, deceased or
//! superseded. PDS, GP Connect and NRL all know the same population.
//!
//! [`Morph`] turns a good record or request into the awkward case a real API must reject or flag
//! (malformed birth date, invalid NHS number, unexpected coding...). This module never invents real NHS
//! numbers: every number it makes starts with 999.

use chrono::{Datelike, NaiveDate};
use domain::nhs_number::check_digit;
use domain::NhsNumber;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::fhir::NHS_NUMBER_SYSTEM;

const FEMALE_GIVEN: &[&str] = &[
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Ruby", "Evie", "Freya", "Aisha", "Priya", "Zainab",
    "Niamh", "Siobhan", "Megan", "Eleanor", "Harriet", "Margaret", "Joan", "Dorothy", "Fatima",
];
const MALE_GIVEN: &[&str] = &[
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Oscar", "Charlie", "Thomas", "Rhys",
    "Callum", "Dylan", "Arjun", "Kwame", "Tomasz", "Ewan", "Albert", "Frank", "Stanley", "Kenneth",
];
const NEUTRAL_GIVEN: &[&str] = &["Alex", "Sam", "Jordan", "Morgan", "Robin", "Charlie", "Jamie"];
const FAMILY: &[&str] = &[
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Roberts",
    "Johnson",
    "Lewis",
    "Walker",
    "Robinson",
    "Wood",
    "Thompson",
    "White",
    "Watson",
    "Jackson",
    "Wright",
    "Green",
    "Harris",
    "Cooper",
    "King",
    "Lee",
    "Martin",
    "Clarke",
    "James",
    "Morgan",
    "Hughes",
    "Patel",
    "Khan",
    "Begum",
    "Ahmed",
    "Nowak",
    "O'Brien",
    "McDonald",
    "Okafor",
    "Nguyen",
    "Fitzgerald-Hart",
];
const STREETS: &[&str] = &[
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Avenue",
    "Mill Lane",
    "Kings Road",
    "Queens Drive",
    "The Crescent",
    "Orchard Close",
    "Meadow Way",
    "Elm Grove",
];
/// (town, postcode district) pairs: real districts, made-up sectors and units.
const TOWNS: &[(&str, &str)] = &[
    ("Leeds", "LS1"),
    ("Leeds", "LS6"),
    ("Bradford", "BD7"),
    ("Sheffield", "S10"),
    ("Manchester", "M14"),
    ("Liverpool", "L17"),
    ("Birmingham", "B15"),
    ("Bristol", "BS6"),
    ("Norwich", "NR2"),
    ("Exeter", "EX4"),
    ("Newcastle upon Tyne", "NE2"),
    ("Nottingham", "NG7"),
    ("London", "SE1"),
    ("London", "N16"),
    ("Scunthorpe", "DN17"),
    ("Truro", "TR1"),
    ("Carlisle", "CA1"),
    ("Leicester", "LE2"),
];
/// GP practice ODS codes synthetic patients are registered with.
pub const GP_PRACTICES: &[&str] = &["Y12345", "A20047", "B82005", "C81007", "D82044", "E85120", "F83004", "Y05868"];
const POSTCODE_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// Administrative gender as PDS records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
    Other,
    Unknown,
}

impl Gender {
    pub fn as_fhir(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Other => "other",
            Gender::Unknown => "unknown",
        }
    }
}

/// A UK postal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub lines: Vec<String>,
    pub city: String,
    pub postcode: String,
}

/// One generated patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticPatient {
    pub nhs_number: NhsNumber,
    pub given: Vec<String>,
    pub family: String,
    pub prefix: Option<String>,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub address: Address,
    pub phone: String,
    /// ODS code of the registered GP practice.
    pub gp_ods: String,
    /// Sensitive record: `meta.security` R, no address or telecom may be shown.
    pub restricted: bool,
    pub deceased: Option<NaiveDate>,
    /// Set when this NHS number was superseded (merged) into another; PDS answers with that record.
    pub superseded_by: Option<NhsNumber>,
    pub version: u32,
}

/// `count` patients, the same for the same `seed`.
pub fn generate(seed: u64, count: usize) -> Vec<SyntheticPatient> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = std::collections::HashSet::new();
    let mut patients: Vec<SyntheticPatient> = Vec::with_capacity(count);
    while patients.len() < count {
        let nhs_number = test_range_nhs_number(&mut rng);
        // The invalidated documented number must stay unknown to every API.
        if nhs_number.as_str() == crate::population::PDS_INVALIDATED || !seen.insert(nhs_number.clone()) {
            continue;
        }
        patients.push(person(&mut rng, nhs_number));
    }
    // Which numbers are superseded is decided first; successors are then chosen from the final set of
    // current patients (the next one after, wrapping round), so no chain is ever longer than one hop and
    // PDS can always follow it. Deciding and linking in one pass let A point at a B superseded later.
    let superseded: Vec<bool> =
        (0..patients.len()).map(|i| rng.random_ratio(1, 20) && i + 1 < patients.len()).collect();
    let current: Vec<usize> = (0..patients.len()).filter(|i| !superseded[*i]).collect();
    for i in (0..patients.len()).filter(|i| superseded[*i]) {
        let successor = current.iter().find(|j| **j > i).or_else(|| current.first());
        if let Some(&j) = successor {
            patients[i].superseded_by = Some(patients[j].nhs_number.clone());
        }
    }
    patients
}

/// A random 999-range NHS number with a valid check digit.
fn test_range_nhs_number(rng: &mut ChaCha8Rng) -> NhsNumber {
    loop {
        let mut digits = vec![9, 9, 9];
        digits.extend((0..6).map(|_| rng.random_range(0..10u32)));
        let Some(check) = check_digit(&digits) else { continue };
        digits.push(check);
        let text: String = digits.iter().filter_map(|d| char::from_digit(*d, 10)).collect();
        if let Ok(number) = NhsNumber::parse(&text) {
            return number;
        }
    }
}

fn pick(rng: &mut ChaCha8Rng, list: &[&'static str]) -> String {
    list.choose(rng).copied().unwrap_or("Unknown").to_owned()
}

fn person(rng: &mut ChaCha8Rng, nhs_number: NhsNumber) -> SyntheticPatient {
    let gender = match rng.random_range(0..100) {
        0..=47 => Gender::Female,
        48..=95 => Gender::Male,
        96..=97 => Gender::Other,
        _ => Gender::Unknown,
    };
    let names = match gender {
        Gender::Female => FEMALE_GIVEN,
        Gender::Male => MALE_GIVEN,
        _ => NEUTRAL_GIVEN,
    };
    let mut given = vec![pick(rng, names)];
    if rng.random_ratio(1, 3) {
        given.push(pick(rng, names));
    }
    let prefix = match gender {
        Gender::Female => Some(if rng.random_bool(0.5) { "Mrs" } else { "Ms" }.to_owned()),
        Gender::Male => Some("Mr".to_owned()),
        _ => None,
    };
    let year = rng.random_range(1925..=2024);
    // Drawn as u8, as always, so a seed still gives the same people.
    let month = u32::from(rng.random_range(1..=12u8));
    let day = u32::from(rng.random_range(1..=28u8));
    let birth_date = NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN);
    let (city, district) = TOWNS.choose(rng).copied().unwrap_or(("Leeds", "LS1"));
    let letter = |rng: &mut ChaCha8Rng| char::from(POSTCODE_LETTERS[rng.random_range(0..POSTCODE_LETTERS.len())]);
    let postcode = format!("{district} {}{}{}", rng.random_range(1..10), letter(rng), letter(rng));
    let address = Address {
        lines: vec![format!("{} {}", rng.random_range(1..200), pick(rng, STREETS))],
        city: city.to_owned(),
        postcode,
    };
    let deceased = rng.random_ratio(1, 15).then(|| {
        // A fixed "today" keeps generation independent of the clock.
        let reference = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or(NaiveDate::MIN);
        // In i32 days, as always, so a seed still gives the same people.
        let age_days = (reference.num_days_from_ce() - birth_date.num_days_from_ce()).max(1);
        birth_date
            .checked_add_signed(chrono::Duration::days(i64::from(rng.random_range(0..age_days))))
            .unwrap_or(birth_date)
    });
    SyntheticPatient {
        nhs_number,
        given,
        family: pick(rng, FAMILY),
        prefix,
        gender,
        birth_date,
        address,
        phone: format!("01632 {:06}", rng.random_range(0..1_000_000)),
        gp_ods: pick(rng, GP_PRACTICES),
        restricted: rng.random_ratio(1, 12),
        deceased,
        superseded_by: None,
        version: rng.random_range(1..=4),
    }
}

impl SyntheticPatient {
    /// The record as PDS FHIR R4 returns it (UK Core-shaped Patient).
    pub fn to_fhir(&self) -> Value {
        let number = self.nhs_number.as_str();
        let mut name = json!({"id": "1", "use": "usual", "family": self.family, "given": self.given});
        if let Some(prefix) = &self.prefix {
            name["prefix"] = json!([prefix]);
        }
        let mut patient = json!({
            "resourceType": "Patient",
            "id": number,
            "meta": {
                "versionId": self.version.to_string(),
                "security": [security_label(self.restricted)],
            },
            "identifier": [nhs_number_identifier(number)],
            "name": [name],
            "gender": self.gender.as_fhir(),
            "birthDate": self.birth_date.to_string(),
        });
        if !self.restricted {
            patient["address"] = json!([{
                "id": "1",
                "use": "home",
                "line": self.address.lines,
                "city": self.address.city,
                "postalCode": self.address.postcode,
            }]);
            patient["telecom"] = json!([{"id": "1", "system": "phone", "use": "home", "value": self.phone}]);
            patient["generalPractitioner"] = json!([{
                "id": "1",
                "type": "Organization",
                "identifier": {"system": crate::fhir::ODS_SYSTEM, "value": self.gp_ods},
            }]);
        }
        if let Some(date) = self.deceased {
            patient["deceasedDateTime"] = json!(format!("{date}T00:00:00+00:00"));
        }
        patient
    }
}

/// `meta.security` label: R (restricted) or U (unrestricted), as PDS sends it.
pub fn security_label(restricted: bool) -> Value {
    let (code, display) = if restricted { ("R", "restricted") } else { ("U", "unrestricted") };
    json!({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": code, "display": display})
}

/// An NHS number identifier with the UK Core verification-status extension ("01" verified).
pub fn nhs_number_identifier(number: &str) -> Value {
    json!({
        "system": NHS_NUMBER_SYSTEM,
        "value": number,
        "extension": [{
            "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
            "valueCodeableConcept": {"coding": [{
                "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
                "version": "1.0.0",
                "code": "01",
                "display": "Number present and verified",
            }]},
        }],
    })
}

/// Ten digits that fail the Modulus 11 check: the right check digit plus one (mod 10).
pub fn invalid_nhs_number(number: &NhsNumber) -> String {
    let mut digits: Vec<u32> = number.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
    if let Some(last) = digits.last_mut() {
        *last = (*last + 1) % 10;
    }
    digits.iter().filter_map(|d| char::from_digit(*d, 10)).collect()
}

/// An awkward variation of a record or request, for testing that APIs reject or flag it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Morph {
    /// `birthDate` (and any `birthdate` search value) in a non-FHIR format: `22/10/2010`.
    MalformedBirthDate,
    /// The NHS number identifier removed.
    MissingIdentifier,
    /// Every coding's system and code replaced with ones no NHS API knows.
    UnexpectedCoding,
    /// The record answers for a different NHS number than asked (`id` no longer matches).
    Superseded,
    /// Marked restricted: `meta.security` R, address and telecom removed.
    Restricted,
    /// Given a `deceasedDateTime`.
    Deceased,
    /// Every NHS number (resource id, identifiers, `valueIdentifier`s) made to fail Modulus 11.
    InvalidNhsNumber,
    /// `gender` set to a value outside the FHIR value set.
    InvalidGender,
}

impl Morph {
    pub const ALL: [Morph; 8] = [
        Morph::MalformedBirthDate,
        Morph::MissingIdentifier,
        Morph::UnexpectedCoding,
        Morph::Superseded,
        Morph::Restricted,
        Morph::Deceased,
        Morph::InvalidNhsNumber,
        Morph::InvalidGender,
    ];

    /// Applies the morph to a patient's FHIR record.
    pub fn apply_to_patient(self, patient: &SyntheticPatient) -> Value {
        self.apply(&patient.to_fhir())
    }

    /// Applies the morph to any FHIR JSON: a Patient, a GP Connect `Parameters`, an NRL `DocumentReference`.
    pub fn apply(self, value: &Value) -> Value {
        let mut out = value.clone();
        match self {
            Morph::MalformedBirthDate => {
                if let Some(date) = out["birthDate"].as_str().and_then(|d| d.get(..10)).map(str::to_owned) {
                    let parts: Vec<&str> = date.split('-').collect();
                    if let [y, m, d] = parts.as_slice() {
                        set_field(&mut out, "birthDate", json!(format!("{d}/{m}/{y}")));
                    }
                } else if let Some(object) = out.as_object_mut() {
                    object.insert("birthDate".into(), json!("22/10/2010"));
                }
            }
            Morph::MissingIdentifier => strip_nhs_identifiers(&mut out),
            Morph::UnexpectedCoding => walk_codings(&mut out),
            Morph::Superseded => {
                if let Some(number) = out["id"].as_str().and_then(|n| NhsNumber::parse(n).ok()) {
                    let other = successor(&number);
                    set_field(&mut out, "id", json!(other));
                    replace_nhs_numbers(&mut out, &other, false);
                }
            }
            Morph::Restricted => {
                if let Some(object) = out.as_object_mut() {
                    let mut meta = object.get("meta").and_then(Value::as_object).cloned().unwrap_or_default();
                    meta.insert("security".into(), json!([security_label(true)]));
                    object.insert("meta".into(), Value::Object(meta));
                    object.remove("address");
                    object.remove("telecom");
                }
            }
            Morph::Deceased => set_field(&mut out, "deceasedDateTime", json!("2024-01-01T00:00:00+00:00")),
            Morph::InvalidNhsNumber => replace_nhs_numbers(&mut out, "", true),
            Morph::InvalidGender => set_field(&mut out, "gender", json!("F")),
        }
        out
    }

    /// Applies the morph to a PDS search query's `birthdate` values (only `MalformedBirthDate` changes it).
    pub fn apply_to_birthdate_query(self, value: &str) -> String {
        match self {
            Morph::MalformedBirthDate => {
                let date = value.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                let parts: Vec<&str> = date.split('-').collect();
                match parts.as_slice() {
                    [y, m, d] => format!("{d}/{m}/{y}"),
                    _ => "not-a-date".to_owned(),
                }
            }
            _ => value.to_owned(),
        }
    }
}

/// Sets `key` when `value` is an object and leaves anything else alone: morphs take arbitrary JSON, and
/// serde_json's `value[key] = …` panics on a non-object.
fn set_field(value: &mut Value, key: &str, field: Value) {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.to_owned(), field);
    }
}

/// Another valid 999-range number derived from `number` (for the superseded morph).
fn successor(number: &NhsNumber) -> String {
    let base: u32 = number.as_str().get(3..9).and_then(|s| s.parse().ok()).unwrap_or(0);
    (1..1000)
        .find_map(|step| {
            let candidate = format!("999{:06}", (base + step) % 1_000_000);
            let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
            check_digit(&digits).map(|c| format!("{candidate}{c}"))
        })
        .unwrap_or_else(|| "9990000018".to_owned())
}

fn is_nhs_number_identifier(value: &Value) -> bool {
    value.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM)
}

fn strip_nhs_identifiers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(ids)) = map.get_mut("identifier") {
                ids.retain(|id| !is_nhs_number_identifier(id));
            }
            if map.get("identifier").is_some_and(is_nhs_number_identifier) {
                map.remove("identifier");
            }
            if map.get("valueIdentifier").is_some_and(is_nhs_number_identifier) {
                map.remove("valueIdentifier");
            }
            map.values_mut().for_each(strip_nhs_identifiers);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nhs_identifiers),
        _ => {}
    }
}

/// Replaces every NHS number: with `replacement`, or (when `invalidate`) with the same number made invalid.
fn replace_nhs_numbers(value: &mut Value, replacement: &str, invalidate: bool) {
    let swap = |current: &str| -> String {
        if !invalidate {
            return replacement.to_owned();
        }
        match NhsNumber::parse(current) {
            Ok(number) => invalid_nhs_number(&number),
            Err(_) => current.to_owned(),
        }
    };
    match value {
        Value::Object(map) => {
            if map.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM) {
                if let Some(current) = map.get("value").and_then(Value::as_str).map(str::to_owned) {
                    map.insert("value".into(), json!(swap(&current)));
                }
            }
            if map.get("resourceType").and_then(Value::as_str) == Some("Patient") && invalidate {
                if let Some(current) = map.get("id").and_then(Value::as_str).map(str::to_owned) {
                    map.insert("id".into(), json!(swap(&current)));
                }
            }
            map.values_mut().for_each(|v| replace_nhs_numbers(v, replacement, invalidate));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_nhs_numbers(v, replacement, invalidate)),
        _ => {}
    }
}

fn walk_codings(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(codings)) = map.get_mut("coding") {
                for coding in codings.iter_mut() {
                    set_field(coding, "system", json!("https://example.org/CodeSystem/unexpected"));
                    set_field(coding, "code", json!("UNEXPECTED-1"));
                }
            }
            map.values_mut().for_each(walk_codings);
        }
        Value::Array(items) => items.iter_mut().for_each(walk_codings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_reproducible_and_varied() {
        let a = generate(42, 200);
        assert_eq!(a, generate(42, 200));
        assert_ne!(a, generate(43, 200));
        assert!(a.iter().any(|p| p.restricted));
        assert!(a.iter().any(|p| p.deceased.is_some()));
        assert!(a.iter().any(|p| p.superseded_by.is_some()));
        let families: std::collections::HashSet<_> = a.iter().map(|p| &p.family).collect();
        assert!(families.len() > 20);
    }

    #[test]
    fn restricted_records_hide_address_and_telecom() {
        let patient = generate(1, 200).into_iter().find(|p| p.restricted).unwrap();
        let fhir = patient.to_fhir();
        assert_eq!(fhir["meta"]["security"][0]["code"], "R");
        assert!(fhir.get("address").is_none() && fhir.get("telecom").is_none());
    }

    #[test]
    fn invalid_number_fails_the_check() {
        let n = NhsNumber::parse("9000000009").unwrap();
        assert!(NhsNumber::parse(&invalid_nhs_number(&n)).is_err());
        assert!(NhsNumber::parse(&successor(&n)).is_ok());
    }
}
