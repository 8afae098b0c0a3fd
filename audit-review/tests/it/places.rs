//! Where people live, on every store backend: the first line of the address, the postcode and the
//! postcode sector, from a postcode column or the end of the address. The same first line and
//! postcode is one home; a line or a postcode alone is half of that; a shared sector weighs only
//! beside a shared surname, by how many of the sector's households hold it.

use audit_review::{evaluate, Candidate, Rule, RulesConfig};
use audit_store::{CareRelationship, PatientAccessQuery, PatientRecord, StaffMember, TelemetryStore};

use crate::support::*;

fn member(user: &str, surname: &str, address: &str, postcode: &str) -> StaffMember {
    StaffMember {
        user_id: user.into(),
        surname: surname.into(),
        address: address.into(),
        postcode: postcode.into(),
        ..Default::default()
    }
}

fn patient(n: u32, surname: &str, address: &str, postcode: &str) -> PatientRecord {
    PatientRecord {
        nhs_number: nhs(n),
        surname: surname.into(),
        address: address.into(),
        postcode: postcode.into(),
        ..Default::default()
    }
}

async fn family<S: TelemetryStore>(store: &S, config: &RulesConfig) -> Vec<Candidate> {
    let all = evaluate(store, config, T0, T0 + 7 * DAY).await.unwrap();
    let mut found: Vec<Candidate> = all.into_iter().filter(|c| c.rule == Rule::FamilyOrNeighbour).collect();
    found.sort_by(|a, b| a.nhs_number.cmp(&b.nhs_number));
    found
}

pub async fn a_shared_home_postcode_or_sector_weighs_as_evidence<S: TelemetryStore>(store: &S) {
    store
        .replace_staff_directory(&[
            // Postcodes at the end of the address, and in their own column.
            member("s1", "Smith", "4 Mill Lane, Horsforth, Leeds LS18 5AB", ""),
            member("s2", "Okoro", "9 Park Rd", "LS6 2QT"),
            member("s3", "Doe", "No fixed abode, ZZ99 3VZ", ""),
            member("s4", "Lee", "5 Elm Row", ""),
        ])
        .await
        .unwrap();
    // Two thousand households, a hundred of them Smiths (a common surname), none in LS18 5.
    let mut index: Vec<PatientRecord> = (0..2_000)
        .map(|i| {
            let surname = if i % 20 == 0 { "Smith".to_string() } else { format!("Name{i}") };
            patient(1_000 + i, &surname, &format!("{i} Oak St, Leeds LS7 {}AB", i % 9), "")
        })
        .collect();
    index.extend([
        patient(5001, "Smith", "77 Hill Top, Leeds, LS18 5QQ", ""), // s1's sector: few Smiths there
        patient(5002, "Jones", "9 Park Rd, Headingley", "ls6 2qt"), // s2's first line and postcode
        patient(5003, "Brown", "9 Park Rd, Otley", ""),             // s2's first line, no postcode
        patient(5004, "Adeyemi", "3 Oak Ave, LS6 2QT", ""),         // s2's postcode only
        patient(5005, "Green", "9 Park Rd, Wetherby LS22 6AA", ""), // s2's first line, another postcode
        patient(5006, "Roe", "Hostel, ZZ99 3VZ", ""),               // s3's pseudo-postcode
        patient(5007, "Kim", "5 Elm Row, York", ""),                // s4's first line, no postcode either side
        patient(5008, "Wu", "9 Park Rd", "M1 1AE"),                 // s2's address text, another postcode
        patient(5009, "Poe", "No fixed abode, ZZ99 3VZ", ""),       // s3's address text, a pseudo-postcode
    ]);
    store.replace_patient_index(&index).await.unwrap();
    let cared = CareRelationship {
        organisation: "A1".into(),
        nhs_number: nhs(5002),
        kind: "registration".into(),
        from_ns: T0 - 30 * DAY,
        ..Default::default()
    };
    store.add_care_relationships(&[cared]).await.unwrap();
    let at = T0 + DAY + 10 * HOUR;
    let mut events = vec![read("s1", "A1", &nhs(5001), at), read("s1", "A1", &nhs(1_020), at + SEC)];
    events.extend((5002..=5005).map(|n| read("s2", "A1", &nhs(n), at + u64::from(n - 5000) * SEC)));
    events.push(read("s3", "A1", &nhs(5006), at + 200 * SEC));
    events.push(read("s4", "A1", &nhs(5007), at + 201 * SEC));
    events.push(read("s2", "A1", &nhs(5008), at + 202 * SEC));
    events.push(read("s3", "A1", &nhs(5009), at + 203 * SEC));
    Log::new(store).add(events).await;

    // What the store says of each access.
    let query = PatientAccessQuery { from_ns: T0, to_ns: T0 + 7 * DAY, clock: Default::default(), day_starts_hour: 6 };
    let rows = store.patient_access(&query).await.unwrap();
    let row = |user: &str, n: u32| rows.iter().find(|r| r.user_id == user && r.nhs_number == nhs(n));
    let places = |user: &str, n: u32| row(user, n).map(|r| (r.same_line, r.same_postcode, r.same_sector));
    assert_eq!(places("s1", 5001), Some((false, false, true)));
    assert_eq!(row("s1", 5001).map(|r| r.sector_key.as_str()), Some("ls185"));
    assert_eq!(places("s2", 5002), Some((true, true, true)), "explained, but a shared home comes back");
    assert_eq!(places("s2", 5003), Some((true, false, false)), "a postcode unknown on one side");
    assert_eq!(places("s4", 5007), Some((false, false, false)), "no postcode on either side: any town");
    let same_address = |user: &str, n: u32| row(user, n).map(|r| r.same_address);
    assert_eq!(same_address("s2", 5008), Some(false), "the same text, but the postcodes differ");
    assert_eq!(same_address("s3", 5009), Some(false), "no fixed abode is no one's home");
    assert_eq!(places("s2", 5004), Some((false, true, true)));
    assert_eq!(places("s2", 5005), Some((false, false, false)), "the postcodes differ");
    assert_eq!(places("s3", 5006), Some((false, false, false)), "pseudo-postcodes are no place");
    let households = store.surname_households(&["smith".into()]).await.unwrap();
    assert_eq!(households.by_surname.get("smith"), Some(&102));
    assert_eq!(households.by_surname_sector.get(&("smith".into(), "ls185".into())), Some(&2));
    assert_eq!(households.by_surname_sector.get(&("smith".into(), "ls70".into())), Some(&12));

    // At the default floor: the Smith nearby (a common surname, rare in the sector) and the shared
    // home (though cared for); not the far Smith, nor a line or a postcode alone.
    let found = family(store, &RulesConfig::default()).await;
    let mut about: Vec<&str> = found.iter().map(|c| c.nhs_number.as_str()).collect();
    about.sort_unstable();
    let (smith_nhs, home_nhs) = (nhs(5001), nhs(5002));
    let mut expected = [smith_nhs.as_str(), home_nhs.as_str()];
    expected.sort_unstable();
    assert_eq!(about, expected, "{found:#?}");
    let of = |n: &str| found.iter().find(|c| c.nhs_number == n).unwrap();
    let (smith, home) = (of(&smith_nhs), of(&home_nhs));
    assert!(smith
        .explanation
        .contains("shares their surname (a surname 102 of 2013 households hold) and postcode sector"));
    assert!(smith.reasons[1]
        .text
        .starts_with("lives in the patient's postcode sector, where 2 of those households are"));
    assert!(smith.reasons[1].points > 0 && smith.score >= 30, "{:#?}", smith.reasons);
    assert_eq!(home.reasons[0].text, "shares the first line of the patient's address and their postcode");
    assert_eq!(home.score, 30, "{:#?}", home.reasons);

    // Lower, a first line or a postcode alone shows, each half a shared home.
    let low = RulesConfig { min_score: 20, ..RulesConfig::default() };
    let found = family(store, &low).await;
    let half = |n: u32| {
        found.iter().find(|c| c.nhs_number == nhs(n)).map(|c| (c.reasons[0].text.as_str(), c.reasons[0].points))
    };
    assert_eq!(
        half(5003),
        Some(("shares the first line of the patient's address (the postcodes do not differ)", 15)),
        "{found:#?}"
    );
    assert_eq!(half(5004), Some(("lives in the patient's postcode (about fifteen households)", 15)), "{found:#?}");
    let quiet = [5005, 5006, 5007, 5008, 5009].map(nhs);
    assert!(!found.iter().any(|c| quiet.contains(&c.nhs_number)), "{found:#?}");

    // Off, places weigh nothing: the Smith nearby is a common surname alone again.
    let mut off = RulesConfig::default();
    off.family_or_neighbour.places = false;
    let found = family(store, &off).await;
    assert!(found.iter().all(|c| c.nhs_number != nhs(5001)), "{found:#?}");
}

audit_store::on_every_store!("pwp":
    a_shared_home_postcode_or_sector_weighs_as_evidence,
);
