//! The hosted PDS sandbox's documented search answers, for `sandbox.require_auth.pds = false`.
//!
//! NHS England's hosted sandbox does not search a population: it answers a fixed list of requests,
//! the first whose condition holds wins, and anything else gets a `NOT_SUPPORTED` warning. Its
//! conditions and the patients each answer names are read from `karate-tests/src/test/java/mocks/
//! sandbox/get-patient-search.js` and `mocks/stubs/searchResponses/*.json` in NHS England's
//! `personal-demographics-service-api` (MIT licence, Crown copyright); the facts are transcribed
//! here in our own shape (`sandboxes/docs/pds-published-scenarios.md` §3.2 lists every case with
//! its line). Where an answer names a patient our population holds (9000000009, 9000000017,
//! 9000000025), our record is returned, so one sandbox never shows two versions of one person.
//!
//! The listed patients are search results only: as in the hosted sandbox, reading one by NHS
//! number answers 404 (except 9733162450, which our population holds for PDS's own history example).
//! As in the hosted sandbox, a documented answer may hold a restricted patient whatever the search
//! named (its Smythe case takes any parameters); the search view still leaves out their address,
//! telecom, contacts and GP.

use serde_json::{json, Value};

use crate::form;
use crate::patients::{nhs_number_identifier, security_label};
use crate::population::{Population, PDS_ORDINARY, PDS_RESTRICTED, PDS_SECOND_SMITH};

/// What a documented request answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Canned {
    /// These patients, each with this score, in this order.
    Found(&'static [&'static str], f64),
    /// These patients with their own scores.
    Scored(&'static [(&'static str, f64)]),
    /// An empty searchset.
    Empty,
    /// 200 with the TOO_MANY_MATCHES outcome.
    TooManyMatches,
}

/// The request as the hosted sandbox reads it: the first value of each parameter (an empty one
/// counts as absent), every `given` and `birthdate`, `_fuzzy-match` true only when `true`, and
/// `_history` and `_exact-match` true for any value.
struct Request<'a> {
    family: &'a str,
    given: Vec<&'a str>,
    gender: &'a str,
    birthdates: Vec<&'a str>,
    postcode: &'a str,
    fuzzy: bool,
    phone: &'a str,
    email: &'a str,
    max_results: &'a str,
    history: bool,
    gp: &'a str,
    death_date: &'a str,
    exact: bool,
}

impl<'a> Request<'a> {
    fn new(pairs: &'a [(String, String)]) -> Self {
        let first = |key: &str| form::first(pairs, key).unwrap_or("");
        let postcode = Some(first("address-postalcode")).filter(|p| !p.is_empty()).unwrap_or(first("address-postcode"));
        Request {
            family: first("family"),
            given: form::all(pairs, "given"),
            gender: first("gender"),
            birthdates: form::all(pairs, "birthdate"),
            postcode,
            fuzzy: first("_fuzzy-match").eq_ignore_ascii_case("true"),
            phone: first("phone"),
            email: first("email"),
            max_results: first("_max-results"),
            // `history` (no underscore) is allowed but read by none of the cases.
            history: !first("_history").is_empty(),
            gp: first("general-practitioner"),
            death_date: first("death-date"),
            exact: !first("_exact-match").is_empty(),
        }
    }

    /// The first birth date, a leading `eq` dropped (`ge`/`le` kept).
    fn born(&self) -> &str {
        let first = self.birthdates.first().copied().unwrap_or("");
        first.strip_prefix("eq").unwrap_or(first)
    }

    fn given(&self, index: usize) -> &str {
        self.given.get(index).copied().unwrap_or("")
    }

    fn family_is(&self, names: &[&str]) -> bool {
        names.contains(&self.family)
    }

    fn male(&self) -> bool {
        matches!(self.gender, "male" | "Male")
    }

    fn female(&self) -> bool {
        matches!(self.gender, "female" | "Female")
    }

    /// `_max-results` below 2, as the sandbox's `parseInt(..) < 2` reads it.
    fn at_most_one(&self) -> bool {
        self.max_results.parse::<i64>().is_ok_and(|n| n < 2)
    }

    fn wildcard_smith(&self) -> bool {
        self.family_is(&["Sm*", "sm*"])
    }

    fn smith(&self) -> bool {
        self.family_is(&["Smith", "smith"])
    }
}

const JANE_PHONE: &str = "01632960587";
const JANE_EMAIL: &str = "jane.smith@example.com";

/// The twenty "Sam Matt Smith, born 2000-05-05, DN17 4AA" patients fuzzy and postcode-wildcard
/// searches find.
const SMITH_CLUSTER: &[&str] = &[
    "5069635395",
    "5502481484",
    "5667541432",
    "5689174815",
    "5900020584",
    "5900021459",
    "5900022366",
    "5900022978",
    "5900025225",
    "5900026086",
    "5900026191",
    "5900027376",
    "5900028917",
    "5900030741",
    "5900031160",
    "5900032809",
    "5900033694",
    "5900034143",
    "5900034372",
    "5900036863",
];

/// The eleven of them a search with phone `01234123123` and e-mail `test@test.com` finds.
const PHONE_AND_EMAIL: &[&str] = &[
    "5069635395",
    "5502481484",
    "5667541432",
    "5689174815",
    "5900021459",
    "5900026086",
    "5900026191",
    "5900030741",
    "5900031160",
    "5900034372",
    "5900036863",
];

/// The hosted sandbox's answer to this search, when it documents one (its cases in its order).
pub(crate) fn documented_answer(pairs: &[(String, String)]) -> Option<Canned> {
    use Canned::*;
    let r = Request::new(pairs);
    let jane = |score| Found(&[PDS_ORDINARY], score);
    let cases = [
        (
            r.fuzzy && r.family == "Blogs" && r.given(0) == "Joe" && r.born() == "1955-11-05",
            Found(&["9693632109"], 1.0),
        ),
        (
            r.fuzzy && r.family == "ATTSÖN" && r.given(0) == "PÀULINÉ" && r.born() == "1960-07-14",
            Scored(&[("9693633148", 0.9317), ("9693633121", 0.9077)]),
        ),
        (r.fuzzy && r.phone == "01222111111" && r.email == "test@test.com", Found(&["5900022366"], 0.8827)),
        (
            r.fuzzy
                && r.family == "Smythe"
                && r.given(0) == "Mat"
                && r.born() == "ge2000-05-03"
                && r.gender == "male"
                && r.postcode == "DN17 4AA",
            if r.email == "rubbish@work.com" { Empty } else { Found(SMITH_CLUSTER, 0.8827) },
        ),
        (
            r.fuzzy && r.family_is(&["MED", "HUME"]) && r.given(0) == "Casey" && r.born() == "1999-09-09",
            Found(&["9733162450"], 0.6806),
        ),
        (r.fuzzy && r.family == "MED" && r.given(0) == "Casey" && r.born() == "2024-01-12", Empty),
        (
            r.fuzzy
                && r.family == "LEEKE"
                && r.given(0) == "Horace"
                && r.born() == "1956-05-02"
                && r.postcode == "DN16",
            Empty,
        ),
        (r.fuzzy && r.phone.is_empty() && r.email.is_empty(), Found(&[PDS_SECOND_SMITH], 0.8976)),
        (r.fuzzy && r.phone == JANE_PHONE && r.email.is_empty(), jane(0.9124)),
        (r.fuzzy && r.email == JANE_EMAIL && r.phone.is_empty(), jane(0.9124)),
        (r.fuzzy && r.phone == JANE_PHONE && r.email == JANE_EMAIL, jane(0.9542)),
        (
            r.smith() && r.male() && r.born() == "2000-05-05" && r.email == "Historic@historic.com",
            if r.history { Found(&["5900020584"], 1.0) } else { Empty },
        ),
        (
            r.family_is(&["Smith", "smith", "Sm*", "sm*"])
                && r.male()
                && r.born() == "2000-05-05"
                && r.email == "rubbish@test.com"
                && r.phone == "01234123123",
            Empty,
        ),
        (r.history && r.family == "HUME" && r.born() == "1999-09-09", Found(&["9733162450"], 0.6806)),
        (
            r.family_is(&["MED", "HUME"])
                && matches!(r.born(), "2024-01-12" | "1999-09-09")
                && matches!(r.gender, "male" | "female"),
            Empty,
        ),
        (
            r.wildcard_smith() && r.phone.is_empty() && r.email.is_empty() && r.max_results.is_empty(),
            Found(&[PDS_ORDINARY, PDS_SECOND_SMITH], 0.8343),
        ),
        (r.wildcard_smith() && r.phone.is_empty() && r.email.is_empty() && r.at_most_one(), TooManyMatches),
        (r.wildcard_smith() && r.phone.is_empty() != r.email.is_empty() && r.at_most_one(), jane(1.0)),
        (r.wildcard_smith() && r.phone == JANE_PHONE && r.email.is_empty(), jane(1.0)),
        (r.wildcard_smith() && r.email == JANE_EMAIL && (r.phone.is_empty() || r.phone == JANE_PHONE), jane(1.0)),
        (r.wildcard_smith() && r.email == "janet.smythe@example.com", jane(1.0)),
        (
            r.wildcard_smith() && r.email == "test@test.com" && r.phone == "01234123123" && r.born() == "2000-05-05",
            Found(PHONE_AND_EMAIL, 1.0),
        ),
        (r.family_is(&["Smythe", "smythe"]), Found(&[PDS_RESTRICTED], 1.0)),
        (
            r.smith()
                && r.female()
                && (r.born() == "2010-10-22"
                    || (r.born() == "ge2010-10-21" && r.birthdates.get(1) == Some(&"le2010-10-23")))
                && (r.phone.is_empty() || r.phone == JANE_PHONE)
                && (r.email.is_empty() || r.email == JANE_EMAIL),
            jane(1.0),
        ),
        (r.smith() && r.male() && r.given(0) == "John Paul" && r.given(1) == "James", Found(&["9000000015"], 0.75)),
        (r.family_is(&["CUFF", "Cuff"]) && r.female() && r.born() == "1926-01-07", Found(&["9732019395"], 1.0)),
        (
            r.smith() && r.male() && r.born() == "2000-05-05" && r.given(0) == "Sam" && r.given(1) == "Bob",
            Found(&["5900030741"], 1.0),
        ),
        (
            r.smith() && r.male() && r.born() == "2000-05-05" && r.phone == "01234123123" && r.email == "test@test.com",
            Found(PHONE_AND_EMAIL, 1.0),
        ),
        (
            r.family == "Muir" && r.male() && r.born() == "2017-09-06" && r.phone == "00917855986859",
            Found(&["9732019506"], 1.0),
        ),
        (r.postcode == "DN17*" && r.smith() && r.male() && r.born() == "2000-05-05", Found(SMITH_CLUSTER, 0.965)),
        (r.gp == "A20047" && r.family == "Me*" && r.born() == "2015-10-22", Found(&["9733162337"], 0.9259)),
        (
            r.death_date == "le2019-02-28" && r.family == "TUNNEY" && r.born() == "ge1980-01-01",
            Found(&["9733163201"], 1.0),
        ),
        (r.family == "McMatch-Single" && r.postcode == "BAP 4WG" && r.gender == "male", Found(&["5900054586"], 1.0)),
        (r.family == "McMatch-Multiple" && r.postcode == "DN19 7UD", Found(&["5900036502", "5900053679"], 1.0)),
        (r.family == "Jones" && r.gender == "male" && r.born() == "ge1992-01-01", Found(&["5900035697"], 1.0)),
        (r.family == "Godsoe" && r.gender == "male" && r.born() == "1936-02-24", Found(&["9693632125"], 1.0)),
        (r.family == "Massam" && matches!(r.born(), "1920-08-11" | "le1920-08-11"), Found(&["9693632966"], 1.0)),
        (r.family == "YOUDS" && r.max_results == "1", TooManyMatches),
        (r.family == "YOUDS", Found(&["9693633679", "9693633687", "9693633695", "9693633709"], 1.0)),
        (
            r.family == "Smith"
                && r.gender == "female"
                && r.born() == "2010-10-22"
                && r.email == "deb.trotter@example.com"
                && r.phone == "0121111111",
            Empty,
        ),
        (matches!(r.family, "Spiderman" | "Bingham") && matches!(r.born(), "1962-07-31" | "1934-12-18"), Empty),
        (
            r.family_is(&["KNAPP", "Knapp", "knapp"]) && r.female() && r.born() == "1943-07-03" && r.exact,
            Found(&["9736363120"], 1.0),
        ),
        // Without `_exact-match` the sandbox finds nothing (its list spells the last `knap`).
        (r.family_is(&["KNAPP", "Knapp", "knap"]) && r.female() && r.born() == "1943-07-03", Empty),
    ];
    cases.into_iter().find_map(|(holds, answer)| holds.then_some(answer))
}

/// The patients a canned answer names with their scores, resolved against our population first.
pub(crate) fn entries(answer: Canned, population: &Population) -> Vec<(Value, f64)> {
    let resolve = |id: &str| population.pds_record(id).cloned().or_else(|| listed(id));
    match answer {
        Canned::Found(ids, score) => ids.iter().filter_map(|id| Some((resolve(id)?, score))).collect(),
        Canned::Scored(hits) => hits.iter().filter_map(|(id, score)| Some((resolve(id)?, *score))).collect(),
        Canned::Empty | Canned::TooManyMatches => Vec::new(),
    }
}

/// A listed patient as a PDS record (restricted ones without address, telecom or GP).
fn listed(id: &str) -> Option<Value> {
    let p = LISTED.iter().find(|p| p.id == id)?;
    let mut record = json!({
        "resourceType": "Patient",
        "id": p.id,
        "meta": {"versionId": p.version.to_string(), "security": [security_label(p.restricted)]},
        "identifier": [nhs_number_identifier(p.id)],
        "name": [{"id": "1", "use": "usual", "family": p.family, "given": p.given}],
        "gender": p.gender,
        "birthDate": p.born,
    });
    if let Some(prefix) = p.prefix {
        record["name"][0]["prefix"] = json!([prefix]);
    }
    if let Some(died) = p.died {
        record["deceasedDateTime"] = json!(format!("{died}T00:00:00+00:00"));
    }
    if !p.restricted {
        let mut address = json!({"id": "1", "use": "home", "line": p.lines});
        if let Some(postcode) = p.postcode {
            address["postalCode"] = json!(postcode);
        }
        record["address"] = json!([address]);
        if !p.telecom.is_empty() {
            let telecom: Vec<Value> = p
                .telecom
                .iter()
                .enumerate()
                .map(|(i, (system, value, usage))| json!({"id": (i + 1).to_string(), "system": system, "value": value, "use": usage}))
                .collect();
            record["telecom"] = json!(telecom);
        }
        if let Some(gp) = p.gp {
            record["generalPractitioner"] = json!([{"id": "1", "type": "Organization",
                "identifier": {"system": crate::fhir::ODS_SYSTEM, "value": gp}}]);
        }
    }
    Some(record)
}

/// One patient a documented answer names.
struct Listed {
    id: &'static str,
    family: &'static str,
    given: &'static [&'static str],
    prefix: Option<&'static str>,
    gender: &'static str,
    born: &'static str,
    died: Option<&'static str>,
    postcode: Option<&'static str>,
    lines: &'static [&'static str],
    /// (system, value, use)
    telecom: &'static [(&'static str, &'static str, &'static str)],
    gp: Option<&'static str>,
    restricted: bool,
    version: u32,
}

#[rustfmt::skip]
const LISTED: &[Listed] = &[
    Listed { id: "5069635395", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["5 The Blackthorns", "Broughton", "BRIGG"], telecom: &[("email", "test@test.com", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5502481484", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["Shahdaroba", "Poplar Drive", "Broughton", "BRIGG"], telecom: &[("phone", "01234123123", "home"), ("email", "test@test.com", "work")], gp: None, restricted: false, version: 2 },
    Listed { id: "5667541432", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: Some("2022-03-03"), postcode: Some("DN17 4AA"), lines: &["146 Burringham Road", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "home")], gp: None, restricted: false, version: 4 },
    Listed { id: "5689174815", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: Some("2022-07-07"), postcode: Some("DN17 4AA"), lines: &["3", "1 Albert Square Meadowside", "DUNDEE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "home")], gp: None, restricted: false, version: 3 },
    Listed { id: "5900020584", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["street", "town"], telecom: &[("phone", "0121000222", "home"), ("email", "New@new.com", "home")], gp: None, restricted: false, version: 4 },
    Listed { id: "5900021459", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["Ivanhoe", "New Holland Road", "BARROW-UPON-HUMBER"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "temp")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900022366", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["Elm Cottage", "West End Road", "ULCEBY"], telecom: &[("email", "test@test.com", "home"), ("phone", "01222111111", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900022978", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["2 HIGHFIELD CRESCENT", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234444444", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900025225", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["1 SCHOOL CROFT", "WESTWOODSIDE", "DONCASTER"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234111111", "temp")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900026086", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["8 Bedale Road", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "work")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900026191", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: Some("2022-07-07"), postcode: Some("DN17 4AA"), lines: &["Riseholme", "Greengate Lane", "Goxhill", "BARROW-UPON-HUMBER"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "home")], gp: None, restricted: false, version: 3 },
    Listed { id: "5900027376", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["6 Sturmer Court", "SCUNTHORPE"], telecom: &[("email", "email@email.com", "home"), ("phone", "01234123123", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900028917", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["DANE LODGE", "MILL LANE", "WRAWBY", "BRIGG"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234333333", "mobile")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900030741", family: "Smith", given: &["Sam", "Bob"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["81 Ermine Street", "Broughton", "BRIGG"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900031160", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["6 Northlands Avenue", "Winterton", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "mobile")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900032809", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["1 ST. VINCENTS AVENUE", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900033694", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["CRESTA", "COLLEGE ROAD", "EAST HALTON", "IMMINGHAM", "S HUMBERSIDE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234222222", "work")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900034143", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["1 ALAN CRESCENT", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[("phone", "01234123123", "home"), ("email", "work@work.com", "work")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900034372", family: "Smith", given: &["Dave", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["Don Moorings", "Island Road", "Garthorpe", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "home")], gp: Some("H81109"), restricted: false, version: 2 },
    Listed { id: "5900035697", family: "jones", given: &["jackie"], prefix: Some("Mr"), gender: "male", born: "2000-01-01", died: None, postcode: None, lines: &["12", "somewhere", "london"], telecom: &[], gp: None, restricted: false, version: 2 },
    Listed { id: "5900036502", family: "McMatch-Multiple", given: &["Leandro", "Gerry"], prefix: None, gender: "male", born: "1997-08-20", died: None, postcode: Some("DN19 7UD"), lines: &["1 Jasmine Court"], telecom: &[], gp: None, restricted: false, version: 3 },
    Listed { id: "5900036863", family: "Smith", given: &["Sam", "Matt"], prefix: None, gender: "male", born: "2000-05-05", died: None, postcode: Some("DN17 4AA"), lines: &["122 Grange Lane South", "SCUNTHORPE"], telecom: &[("email", "test@test.com", "home"), ("phone", "01234123123", "home")], gp: None, restricted: false, version: 2 },
    Listed { id: "5900053679", family: "McMatch-Multiple", given: &["Leandro", "Gerry"], prefix: None, gender: "male", born: "1997-08-20", died: None, postcode: Some("DN19 7UD"), lines: &["1 Jasmine Court"], telecom: &[], gp: None, restricted: false, version: 1 },
    Listed { id: "5900054586", family: "McMatch-Single", given: &["Mickey"], prefix: Some("Mr"), gender: "male", born: "1954-10-26", died: None, postcode: Some("BAP4WG"), lines: &["317 Stuart Streets"], telecom: &[], gp: None, restricted: false, version: 1 },
    Listed { id: "9000000015", family: "Smith", given: &["John Paul"], prefix: Some("Mr"), gender: "male", born: "2010-10-22", died: Some("2010-10-22"), postcode: Some("LS1 6AE"), lines: &["1 Trevelyan Square", "Boar Lane", "City Centre", "Leeds", "West Yorkshire"], telecom: &[("phone", "01632960587", "home"), ("email", "johnp.smith@example.com", "home")], gp: Some("Y12345"), restricted: false, version: 2 },
    Listed { id: "9693632109", family: "GARTON", given: &["BILL"], prefix: Some("MR"), gender: "female", born: "1955-11-05", died: None, postcode: Some("DN18 5DW"), lines: &["1 MOUNT AVENUE", "BARTON-UPON-HUMBER", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 171 },
    Listed { id: "9693632125", family: "GODSOE", given: &["Rodney", "Jeff"], prefix: Some("MR"), gender: "male", born: "1936-02-24", died: None, postcode: None, lines: &[], telecom: &[], gp: None, restricted: true, version: 2 },
    Listed { id: "9693632966", family: "MASSAM", given: &["Martha", "Carol"], prefix: Some("MRS"), gender: "female", born: "1920-08-11", died: None, postcode: Some("DN20 9BB"), lines: &["49 MESSINGHAM LANE", "SCAWBY", "BRIGG", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 4 },
    Listed { id: "9693633121", family: "attison", given: &["Pauline", "Mary"], prefix: Some("Mrs"), gender: "female", born: "1960-07-14", died: None, postcode: Some("DN16 2HB"), lines: &["13 COLLUM AVENUE", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 36 },
    Listed { id: "9693633148", family: "attisón", given: &["Pauline"], prefix: Some("Ms"), gender: "female", born: "1960-07-14", died: None, postcode: Some("DN19 7DX"), lines: &["2 WOODLANDS CLOSE", "BARROW-UPON-HUMBER", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 6 },
    Listed { id: "9693633679", family: "YOUDS", given: &["Luke"], prefix: None, gender: "male", born: "1970-01-24", died: None, postcode: Some("DN15 8PG"), lines: &["109 REGINALD ROAD", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 8 },
    Listed { id: "9693633687", family: "YOUDS", given: &["Luke"], prefix: None, gender: "female", born: "1970-01-24", died: None, postcode: None, lines: &["1", "Shelfford Street", "Scunthorpe"], telecom: &[], gp: None, restricted: false, version: 2 },
    Listed { id: "9693633695", family: "YOUDS", given: &["Luke"], prefix: Some("Miss"), gender: "unknown", born: "1970-01-24", died: None, postcode: Some("DN15 8PG"), lines: &["109 REGINALD ROAD", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 2 },
    Listed { id: "9693633709", family: "YOUDS", given: &["Luke", "Damien"], prefix: Some("Mr"), gender: "other", born: "1970-01-24", died: None, postcode: Some("DN15 8PG"), lines: &["109 REGINALD ROAD", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 2 },
    Listed { id: "9732019395", family: "CUFF", given: &["Jane"], prefix: Some("MRS"), gender: "female", born: "1926-01-07", died: None, postcode: Some("DN20 0PQ"), lines: &["2 CHURCH CLOSE", "BONBY", "BRIGG", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 2 },
    Listed { id: "9732019506", family: "MUIR", given: &["Julius"], prefix: Some("MR"), gender: "male", born: "2017-09-06", died: None, postcode: Some("DN9 2NX"), lines: &["1 HUNTERS CROFT", "HAXEY", "DONCASTER", "S YORKSHIRE"], telecom: &[("phone", "00917855986859", "mobile")], gp: Some("A20047"), restricted: false, version: 3 },
    Listed { id: "9733162337", family: "MEEK", given: &["Bart", "Nathan"], prefix: Some("MR"), gender: "male", born: "2015-10-22", died: None, postcode: Some("DN20 8TD"), lines: &["3 ECCLES COURT", "WRAWBY", "BRIGG", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 1 },
    Listed { id: "9733162450", family: "MED", given: &["Rowenad"], prefix: Some("Miss"), gender: "male", born: "1999-09-09", died: None, postcode: Some("DN16 3JW"), lines: &["10 OAKWOOD RISE", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 3 },
    Listed { id: "9733163201", family: "TUNNEY", given: &["Debra"], prefix: Some("MS"), gender: "female", born: "1980-01-21", died: Some("2019-02-07"), postcode: Some("DN17 4RF"), lines: &["THREE GABLES", "HALKON CLOSE", "LUDDINGTON", "SCUNTHORPE", "S HUMBERSIDE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 1 },
    Listed { id: "9736363120", family: "KNAPP", given: &["Kathy", "Megan"], prefix: Some("MISS"), gender: "female", born: "1943-07-03", died: None, postcode: Some("DN15 7HQ"), lines: &["44 NEWLAND AVENUE", "SCUNTHORPE"], telecom: &[], gp: Some("A20047"), restricted: false, version: 1 },
];
