//! Each rule raises a finding on its misuse and stays quiet on a matched legitimate case, on every
//! store backend. Times are in November 2026 (GMT, so local time is UTC).

use audit_review::{evaluate, Candidate, Rule, RulesConfig};
use audit_store::{Action, CareRelationship, Outcome, PatientRecord, StaffMember, TelemetryStore};

use crate::support::*;

async fn findings<S: TelemetryStore>(store: &S, rule: Rule, from: u64, to: u64) -> Vec<Candidate> {
    let all = evaluate(store, &RulesConfig::default(), from, to).await.unwrap();
    let mut mine: Vec<Candidate> = all.into_iter().filter(|c| c.rule == rule).collect();
    mine.sort_by(|a, b| (&a.user_id, &a.nhs_number, a.bucket).cmp(&(&b.user_id, &b.nhs_number, b.bucket)));
    mine
}

fn users(found: &[Candidate]) -> Vec<&str> {
    found.iter().map(|c| c.user_id.as_str()).collect()
}

fn related(org: &str, nhs: &str) -> CareRelationship {
    CareRelationship {
        organisation: org.into(),
        nhs_number: nhs.into(),
        kind: "registration".into(),
        from_ns: T0 - 400 * DAY,
        to_ns: 0,
        ..Default::default()
    }
}

pub async fn a_volume_spike_against_own_history_and_peers<S: TelemetryStore>(store: &S) {
    let mut log = Log::new(store);
    let mut events = Vec::new();
    let mut patient = 0;
    // Four weeks of ten patients a week each, then this week: u1 opens 60, u2 12, the others 10.
    for week in 0..5u64 {
        for (user, count) in [("u1", 10), ("u2", 10), ("u3", 10), ("u4", 10)] {
            let count = match (week, user) {
                (4, "u1") => 60,
                (4, "u2") => 12,
                _ => count,
            };
            for i in 0..count {
                patient += 1;
                events.push(read(
                    user,
                    "A1",
                    &nhs(patient),
                    T0 - 4 * 7 * DAY + week * 7 * DAY + DAY + 10 * HOUR + i * 60 * SEC,
                ));
            }
        }
    }
    events.sort_by_key(|e| e.occurred_ns);
    log.add(events).await;
    let found = findings(store, Rule::VolumeSpike, T0, T0 + 7 * DAY).await;
    assert_eq!(users(&found), ["u1"], "{found:#?}");
    let text = &found[0].explanation;
    assert!(text.contains("accessed 60 patients' records in the week starting Mon 2 Nov 2026"), "{text}");
    assert!(text.contains("their usual is 10") && text.contains("their role's is 10"), "{text}");
    assert_eq!(found[0].events, 60);
}

pub async fn access_out_of_usual_and_working_hours<S: TelemetryStore>(store: &S) {
    let mut log = Log::new(store);
    let mut events = Vec::new();
    // Four weeks of history: u1 works 09:00–18:00 on weekdays, u2 nights.
    for day in 0..28u64 {
        let start = T0 - 28 * DAY + day * DAY;
        if day % 7 < 5 {
            for (i, hour) in (9..18).enumerate() {
                events.push(read("u1", "A1", &nhs(day as u32 * 20 + i as u32), start + hour * HOUR));
            }
        }
        for (i, hour) in [21, 22, 23, 25, 27].iter().enumerate() {
            events.push(read("u2", "A1", &nhs(600 + day as u32 * 5 + i as u32), start + hour * HOUR));
        }
    }
    // This week: both at 23:30 on Tuesday; u1 also at 18:30 on Wednesday (just after their usual end).
    events.push(read("u1", "A1", &nhs(900), T0 + DAY + 23 * HOUR + 1_800 * SEC));
    events.push(read("u2", "A1", &nhs(901), T0 + DAY + 23 * HOUR + 1_800 * SEC));
    events.push(read("u1", "A1", &nhs(902), T0 + 2 * DAY + 18 * HOUR + 1_800 * SEC));
    events.sort_by_key(|e| e.occurred_ns);
    log.add(events).await;
    let found = findings(store, Rule::OutOfHours, T0, T0 + 7 * DAY).await;
    assert_eq!(users(&found), ["u1"], "{found:#?}");
    assert_eq!(found[0].events, 1);
    assert!(found[0].explanation.contains("at 23:00–24:00 on Tue 3 Nov 2026"), "{}", found[0].explanation);
}

async fn load_people<S: TelemetryStore>(store: &S) {
    store
        .replace_staff_directory(&[
            StaffMember {
                user_id: "u1".into(),
                surname: "Okafor".into(),
                address: "1 High St".into(),
                nhs_number: nhs(900),
                teams: Vec::new(),
                postcode: String::new(),
            },
            StaffMember {
                user_id: "u2".into(),
                surname: "Smith".into(),
                address: "2 Low Road".into(),
                nhs_number: String::new(),
                teams: Vec::new(),
                postcode: String::new(),
            },
        ])
        .await
        .unwrap();
    let patient = |n: u32, surname: &str, address: &str| PatientRecord {
        nhs_number: nhs(n),
        surname: surname.into(),
        address: address.into(),
        ..Default::default()
    };
    store
        .replace_patient_index(&[
            patient(1, "Okafor", "9 Elm Road"),
            patient(2, "OKAFOR", "7 Oak Road"),
            patient(3, "Adams", "1 HIGH ST."),
            patient(900, "Okafor", "1 High St"),
            PatientRecord { vip: true, ..patient(5, "Star", "") },
            PatientRecord { vip: true, ..patient(6, "Star", "") },
            PatientRecord { deceased_ns: T0 + DAY, ..patient(7, "Gone", "") },
            PatientRecord { deceased_ns: T0 + 5 * DAY, ..patient(8, "Later", "") },
            PatientRecord { restricted: true, ..patient(9, "Hidden", "") },
        ])
        .await
        .unwrap();
    store
        .add_care_relationships(&[
            related("A1", &nhs(2)),
            related("A1", &nhs(3)),
            related("A1", &nhs(900)),
            related("A1", &nhs(6)),
        ])
        .await
        .unwrap();
}

pub async fn family_neighbour_and_self_access<S: TelemetryStore>(store: &S) {
    load_people(store).await;
    let at = T0 + DAY + 10 * HOUR;
    Log::new(store)
        .add(vec![
            read("u1", "A1", &nhs(1), at),             // same surname, no relationship: raised
            read("u1", "A1", &nhs(2), at + SEC),       // same surname, cared for: quiet
            read("u1", "A1", &nhs(3), at + 2 * SEC),   // same address, cared for: raised all the same
            read("u1", "A1", &nhs(900), at + 3 * SEC), // their own record
            read("u2", "A1", &nhs(900), at + 4 * SEC), // a colleague's record, cared for: quiet
        ])
        .await;
    let family = findings(store, Rule::FamilyOrNeighbour, T0, T0 + 7 * DAY).await;
    let about: Vec<(&str, &str)> = family.iter().map(|c| (c.user_id.as_str(), c.nhs_number.as_str())).collect();
    let (n1, n3, n900) = (nhs(1), nhs(3), nhs(900));
    assert_eq!(about, [("u1", n1.as_str()), ("u1", n3.as_str()), ("u1", n900.as_str())], "{family:#?}");
    assert!(
        family[0].explanation.contains(
            "shares their surname (a surname 3 of 9 households hold); no care relationship is \
             recorded for A1"
        ),
        "{}",
        family[0].explanation
    );
    assert!(family[1].explanation.contains("shares their address; A1 has a care relationship"));
    // The evidence, weighed: a surname 3 of 8 households hold (pulled toward the prior, 22 points)
    // with no relationship (10); the address alone (30).
    let weighed = |c: &Candidate| (c.score, c.reasons.iter().map(|r| r.points).collect::<Vec<_>>());
    assert_eq!(weighed(&family[0]), (32, vec![22, 10]), "{:#?}", family[0].reasons);
    assert_eq!(family[0].reasons[1].text, "no care relationship is recorded for A1");
    assert_eq!(weighed(&family[1]), (30, vec![30]), "{:#?}", family[1].reasons);
    let own = findings(store, Rule::SelfAccess, T0, T0 + 7 * DAY).await;
    assert_eq!(
        own.iter().map(|c| (c.user_id.as_str(), c.nhs_number.as_str())).collect::<Vec<_>>(),
        [("u1", n900.as_str())]
    );
    assert!(own[0].explanation.contains("their own record"));
}

/// A surname many households share says little on its own: a Patel opening another Patel's record
/// (no relationship recorded yet) is not raised for the surname, though a shared address still is,
/// and a rare surname still is.
pub async fn a_surname_many_households_hold_is_no_evidence_alone<S: TelemetryStore>(store: &S) {
    let staff = |user: &str, surname: &str, address: &str| StaffMember {
        user_id: user.into(),
        surname: surname.into(),
        address: address.into(),
        nhs_number: String::new(),
        teams: Vec::new(),
        postcode: String::new(),
    };
    store
        .replace_staff_directory(&[staff("p1", "Patel", "5 Park Lane"), staff("q1", "Quenwell", "8 Mill Lane")])
        .await
        .unwrap();
    let mut index: Vec<PatientRecord> = (0..40u32)
        .map(|i| PatientRecord {
            nhs_number: nhs(100 + i),
            surname: if i < 20 { "Patel".into() } else { format!("Other{}", (b'a' + (i % 26) as u8) as char) },
            address: format!("{i} Long Road"),
            ..Default::default()
        })
        .collect();
    index.push(PatientRecord {
        nhs_number: nhs(200),
        surname: "Patel".into(),
        address: "5 Park Lane".into(),
        ..Default::default()
    });
    index.push(PatientRecord {
        nhs_number: nhs(201),
        surname: "Quenwell".into(),
        address: "3 Far Away".into(),
        ..Default::default()
    });
    store.replace_patient_index(&index).await.unwrap();
    let at = T0 + DAY + 10 * HOUR;
    Log::new(store)
        .add(vec![
            read("p1", "A1", &nhs(100), at), // a Patel elsewhere: 21 of 42 households are Patels: quiet
            read("p1", "A1", &nhs(200), at + SEC), // a Patel at their own address: raised
            read("q1", "A1", &nhs(201), at + 2 * SEC), // a rare surname elsewhere: raised
        ])
        .await;
    let family = findings(store, Rule::FamilyOrNeighbour, T0, T0 + 7 * DAY).await;
    let about: Vec<(&str, &str)> = family.iter().map(|c| (c.user_id.as_str(), c.nhs_number.as_str())).collect();
    let (n200, n201) = (nhs(200), nhs(201));
    assert_eq!(about, [("p1", n200.as_str()), ("q1", n201.as_str())], "{family:#?}");
    assert!(family[1].explanation.contains("a surname 2 of 43 households hold"), "{}", family[1].explanation);
    let households = store.surname_households(&["patel".into(), "quenwell".into(), "nobody".into()]).await.unwrap();
    // The staff directory's households count too: q1's home is one more, and another Quenwell's.
    assert_eq!(households.households, 43);
    assert_eq!((households.by_surname.get("patel"), households.by_surname.get("quenwell")), (Some(&21), Some(&2)));
    assert_eq!(households.by_surname.get("nobody"), None);
}

pub async fn sensitive_records_without_a_care_relationship<S: TelemetryStore>(store: &S) {
    load_people(store).await;
    let at = T0 + 2 * DAY + 10 * HOUR;
    Log::new(store)
        .add(vec![
            read("u2", "A1", &nhs(5), at),           // VIP, no relationship: raised
            read("u2", "A1", &nhs(6), at + SEC),     // VIP, cared for: quiet
            read("u2", "A1", &nhs(7), at + 2 * SEC), // after death: raised
            read("u2", "A1", &nhs(8), at + 3 * SEC), // before death: quiet
            read("u2", "A1", &nhs(9), at + 4 * SEC), // restricted: raised
        ])
        .await;
    let found = findings(store, Rule::SensitiveRecord, T0, T0 + 7 * DAY).await;
    let about: Vec<String> = found.iter().map(|c| c.nhs_number.clone()).collect();
    assert_eq!(about, [nhs(5), nhs(7), nhs(9)], "{found:#?}");
    assert!(found[0].explanation.contains("a VIP-flagged patient"));
    assert!(found[1].explanation.contains("deceased, after the date of death"));
    assert!(found[2].explanation.contains("restricted (S-flagged)"));
    assert_eq!((found[0].score, found[0].reasons[0].text.as_str()), (30, "opened a VIP-flagged patient"));
    // A floor above 30, for every rule or for this one, raises none of them; a lower floor with
    // `when_explained` also raises the cared-for VIP, saying why.
    let (from, to) = (T0, T0 + 7 * DAY);
    let count = |c: RulesConfig| async move {
        let all = evaluate(store, &c, from, to).await.unwrap();
        all.into_iter().filter(|c| c.rule == Rule::SensitiveRecord).collect::<Vec<_>>()
    };
    assert_eq!(count(RulesConfig { min_score: 31, ..Default::default() }).await.len(), 0);
    let mut own_floor = RulesConfig::default();
    own_floor.sensitive_record.min_score = Some(31);
    assert_eq!(count(own_floor).await.len(), 0);
    let mut when_explained = RulesConfig::default();
    when_explained.sensitive_record.when_explained = true;
    let all = count(when_explained).await;
    let cared = all.iter().find(|c| c.nhs_number == nhs(6)).expect("the cared-for VIP is raised");
    assert_eq!(cared.score, 30);
    assert_eq!(cared.reasons[1].text, "a care relationship explains it, but sensitive_record.when_explained is set");
}

pub async fn browsing_patients_without_a_care_relationship<S: TelemetryStore>(store: &S) {
    let cared: Vec<CareRelationship> = (100..110).map(|n| related("A1", &nhs(n))).collect();
    store.add_care_relationships(&cared).await.unwrap();
    let at = T0 + DAY + 9 * HOUR;
    let mut events = Vec::new();
    for n in 10..16 {
        events.push(read("u3", "A1", &nhs(n), at + u64::from(n) * 60 * SEC)); // six unexplained: raised
    }
    for n in 20..24 {
        events.push(read("u4", "A1", &nhs(n), at + u64::from(n) * 60 * SEC)); // four: quiet
    }
    for n in 100..110 {
        events.push(read("u4", "A1", &nhs(n), at + 3 * HOUR + u64::from(n) * SEC));
        // cared for
    }
    Log::new(store).add(events).await;
    let found = findings(store, Rule::NoCareRelationship, T0, T0 + 7 * DAY).await;
    assert_eq!(users(&found), ["u3"], "{found:#?}");
    assert!(found[0].explanation.contains(
        "opened 6 patients' records in the day from 06:00 on Tue 3 Nov 2026 with no care relationship recorded for A1"
    ));
    assert_eq!(found[0].nhs_number, "");
}

pub async fn bulk_exports_searches_and_break_glass<S: TelemetryStore>(store: &S) {
    let at = T0 + 2 * DAY + 9 * HOUR;
    let mut events = Vec::new();
    let mut add = |user: &str, action: Action, n: u32| {
        for i in 0..n {
            events.push(access(
                user,
                "administrator",
                "A1",
                &nhs(i),
                action,
                Outcome::Success,
                at + u64::from(i) * SEC,
            ));
        }
    };
    add("u1", Action::Export, 25);
    add("u2", Action::Export, 5);
    add("u3", Action::BreakGlass, 1);
    add("u4", Action::Search, 200);
    add("u5", Action::Search, 50);
    events.sort_by_key(|e| e.occurred_ns);
    Log::new(store).add(events).await;
    let found = findings(store, Rule::BulkOrUnusual, T0, T0 + 7 * DAY).await;
    assert_eq!(users(&found), ["u1", "u3", "u4"], "{found:#?}");
    assert!(found[0]
        .explanation
        .contains("exported 25 records (more than 20 a day) on the day from 06:00 on Wed 4 Nov 2026"));
    assert!(found[1].explanation.contains("used break-glass access 1 time"));
    assert!(found[2].explanation.contains("ran 200 searches"));
}

/// A ward clerk whose job is exports (18 a day, and a few prints) is usual; a receptionist who
/// exports 18 once is not, judged by their own history; a new starter is judged by their role's.
pub async fn exports_and_prints_are_judged_against_the_persons_usual_or_their_roles<S: TelemetryStore>(store: &S) {
    let mut events = Vec::new();
    let at = |d: u64, i: u32| T0 + d * DAY + 9 * HOUR + u64::from(i) * SEC;
    let mut add = |user: &str, role: &str, action: Action, n: u32, d: u64| {
        for i in 0..n {
            events.push(access(user, role, "A1", &nhs(i), action, Outcome::Success, at(d, i)));
        }
    };
    // Fourteen working days of history, then the day judged (day 15).
    for d in 0..14u64 {
        add("clerk", "ward clerk", Action::Export, 15 + (d % 4) as u32, d);
        add("clerk", "ward clerk", Action::Print, (d % 3) as u32, d);
        add("recep", "receptionist", Action::Read, 30, d);
        add("recep2", "receptionist", Action::Read, 25, d);
    }
    add("clerk", "ward clerk", Action::Export, 18, 15);
    add("clerk", "ward clerk", Action::Print, 8, 15);
    add("recep", "receptionist", Action::Export, 18, 15);
    add("starter", "receptionist", Action::Export, 12, 15);
    add("recep2", "receptionist", Action::Export, 4, 15);
    events.sort_by_key(|e| e.occurred_ns);
    let mut log = Log::new(store);
    log.add(events).await;
    let found = findings(store, Rule::BulkOrUnusual, T0 + 15 * DAY, T0 + 16 * DAY).await;
    assert_eq!(users(&found), ["recep", "starter"], "{found:#?}");
    assert!(
        found[0].explanation.contains("exported 18 records, where their median over 14 working days is 0"),
        "{}",
        found[0].explanation
    );
    assert!(
        found[1].explanation.contains("exported 12 records, where the median of 28 days of receptionists at A1 is 0"),
        "{}",
        found[1].explanation
    );
    // The ceiling holds whatever is usual: the clerk's 18 a day does not let 25 through.
    let mut more = Vec::new();
    for i in 0..25 {
        more.push(access("clerk", "ward clerk", "A1", &nhs(i), Action::Export, Outcome::Success, at(16, i)));
    }
    log.add(more).await;
    // (Days run from 06:00: this period is day 16's alone.)
    let found = findings(store, Rule::BulkOrUnusual, T0 + 16 * DAY + 7 * HOUR, T0 + 17 * DAY).await;
    assert_eq!(users(&found), ["clerk"], "{found:#?}");
    assert!(found[0].explanation.contains("exported 25 records (more than 20 a day)"), "{}", found[0].explanation);
    // A night's exports either side of midnight are one day's; 20 exports and 20 prints together
    // pass the ceiling on exports and prints together.
    let night = T0 + 20 * DAY + 23 * HOUR;
    let mut late = Vec::new();
    for i in 0..18u32 {
        late.push(access(
            "recep",
            "receptionist",
            "A1",
            &nhs(i),
            Action::Export,
            Outcome::Success,
            night + u64::from(i) * 400 * SEC,
        ));
    }
    for i in 0..20u32 {
        for action in [Action::Export, Action::Print] {
            late.push(access(
                "clerk",
                "ward clerk",
                "A1",
                &nhs(i),
                action,
                Outcome::Success,
                night + u64::from(i) * SEC,
            ));
        }
    }
    late.sort_by_key(|e| e.occurred_ns);
    log.add(late).await;
    let found = findings(store, Rule::BulkOrUnusual, T0 + 20 * DAY + 7 * HOUR, T0 + 22 * DAY).await;
    assert_eq!(users(&found), ["clerk", "recep"], "{found:#?}");
    assert!(
        found[0].explanation.contains("exported and printed 40 records together (more than 30 a day)"),
        "{}",
        found[0].explanation
    );
    assert!(found[1].explanation.contains("exported 18 records"), "{}", found[1].explanation);
}

pub async fn a_burst_of_denied_access<S: TelemetryStore>(store: &S) {
    let at = T0 + 3 * DAY + 10 * HOUR;
    let denied = |user: &str, n: u32, step: u64| -> Vec<_> {
        (0..n)
            .map(|i| {
                access(user, "nurse", "A1", &nhs(i), Action::Read, Outcome::Denied, at + 60 * SEC + u64::from(i) * step)
            })
            .collect()
    };
    let mut events = denied("u1", 12, 30 * SEC); // 12 in six minutes: raised
    events.extend(denied("u2", 5, 30 * SEC)); // 5: quiet
    events.extend(denied("u3", 12, 10 * 60 * SEC)); // 12 over two hours: quiet
    events.sort_by_key(|e| e.occurred_ns);
    Log::new(store).add(events).await;
    let found = findings(store, Rule::FailedAccessBurst, T0, T0 + 7 * DAY).await;
    assert_eq!(users(&found), ["u1"], "{found:#?}");
    assert!(found[0].explanation.contains("12 failed or denied accesses between 10:00 and 10:10 on Thu 5 Nov 2026"));
}

/// A patient whose index entry names the user as next of kin is family, wherever they live and
/// whatever their surname, even when a care relationship explains the access.
pub async fn a_patient_naming_the_user_as_next_of_kin<S: TelemetryStore>(store: &S) {
    let staff =
        StaffMember { user_id: "k1".into(), surname: "Patel".into(), nhs_number: nhs(950), ..Default::default() };
    store.replace_staff_directory(&[staff]).await.unwrap();
    let patient = |n: u32, kin: &str| PatientRecord {
        nhs_number: nhs(n),
        surname: "Patel".into(),
        address: format!("{n} Far Road"),
        next_of_kin: kin.into(),
        ..Default::default()
    };
    // Many Patels: a shared surname alone says nothing here.
    let mut index: Vec<PatientRecord> = (0..30).map(|n| patient(600 + n, "")).collect();
    index.extend([patient(951, &nhs(950)), patient(952, &nhs(1))]);
    store.replace_patient_index(&index).await.unwrap();
    store.add_care_relationships(&[related("A1", &nhs(951)), related("A1", &nhs(952))]).await.unwrap();
    let at = T0 + DAY + 10 * HOUR;
    Log::new(store)
        .add(vec![
            read("k1", "A1", &nhs(951), at), // names k1 as next of kin: raised, though cared for
            read("k1", "A1", &nhs(952), at + SEC), // another's next of kin: quiet
            read("k1", "A1", &nhs(600), at + 2 * SEC), // a Patel, no relationship: quiet (common)
        ])
        .await;
    let family = findings(store, Rule::FamilyOrNeighbour, T0, T0 + 7 * DAY).await;
    let about: Vec<&str> = family.iter().map(|c| c.nhs_number.as_str()).collect();
    assert_eq!(about, [nhs(951).as_str()], "{family:#?}");
    assert!(
        family[0].explanation.contains("names them as next of kin; A1 has a care relationship"),
        "{}",
        family[0].explanation
    );
    assert_eq!(family[0].reasons[0].text, "the patient names the user as their next of kin");
    assert!(family[0].score >= 40, "{:#?}", family[0].reasons);
}

audit_store::on_every_store!("pwr":
    a_patient_naming_the_user_as_next_of_kin,
    a_volume_spike_against_own_history_and_peers,
    access_out_of_usual_and_working_hours,
    family_neighbour_and_self_access,
    sensitive_records_without_a_care_relationship,
    browsing_patients_without_a_care_relationship,
    bulk_exports_searches_and_break_glass,
    exports_and_prints_are_judged_against_the_persons_usual_or_their_roles,
    a_surname_many_households_hold_is_no_evidence_alone,
    a_burst_of_denied_access,
);
