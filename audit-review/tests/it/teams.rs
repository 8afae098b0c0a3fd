//! Care below the organisation, on every store backend: where a patient's care names a team or a
//! clinician and the staff directory names teams, only the user's own team, the named clinician or
//! a day's cover of the team explains an access; without team data the organisation does, as
//! before. Colleagues of one team opening the same unexplained record weigh against a finding.

use audit_review::{evaluate, Candidate, Rule, RulesConfig};
use audit_store::{CareRelationship, PatientRecord, StaffMember, TelemetryStore};

use crate::support::*;

fn member(user: &str, teams: &[&str]) -> StaffMember {
    StaffMember {
        user_id: user.into(),
        surname: format!("Surname{user}"),
        teams: teams.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

fn cared(nhs: &str, team: &str, clinician: &str) -> CareRelationship {
    CareRelationship {
        organisation: "A1".into(),
        nhs_number: nhs.into(),
        kind: "admission".into(),
        from_ns: T0 - 30 * DAY,
        to_ns: 0,
        team: team.into(),
        clinician: clinician.into(),
    }
}

async fn sensitive<S: TelemetryStore>(store: &S, config: &RulesConfig) -> Vec<Candidate> {
    let all = evaluate(store, config, T0, T0 + 7 * DAY).await.unwrap();
    let mut found: Vec<Candidate> = all.into_iter().filter(|c| c.rule == Rule::SensitiveRecord).collect();
    found.sort_by(|a, b| (&a.user_id, &a.nhs_number).cmp(&(&b.user_id, &b.nhs_number)));
    found
}

pub async fn a_vip_opened_from_outside_their_care_team_is_found<S: TelemetryStore>(store: &S) {
    store
        .replace_staff_directory(&[
            member("ward3", &["Ward 3"]),
            member("ward5", &["WARD 5", "Theatres"]),
            member("cover5", &["Ward 5"]),
            member("sneak", &["Ward 5"]),
            member("busy", &["Ward 5"]),
            member("doc", &["Ward 9"]),
            member("porter", &[]),
        ])
        .await
        .unwrap();
    let celebrity = nhs(300);
    let mut index =
        vec![PatientRecord { nhs_number: celebrity.clone(), surname: "Star".into(), vip: true, ..Default::default() }];
    index.extend((310..316).chain(330..338).map(|n| PatientRecord { nhs_number: nhs(n), ..Default::default() }));
    store.replace_patient_index(&index).await.unwrap();
    let mut care = vec![cared(&celebrity, "ward 3", "doc")];
    care.extend((310..316).map(|n| cared(&nhs(n), "Ward 3", "")));
    care.extend((330..338).map(|n| cared(&nhs(n), "Ward 5", "")));
    store.add_care_relationships(&care).await.unwrap();
    let at = T0 + DAY + 10 * HOUR;
    let mut events = vec![
        read("ward3", "A1", &celebrity, at),            // their own ward: quiet
        read("ward5", "A1", &celebrity, at + SEC),      // another ward: found
        read("doc", "A1", &celebrity, at + 2 * SEC),    // the named clinician: quiet
        read("porter", "A1", &celebrity, at + 3 * SEC), // no teams known: the trust's care, as before
    ];
    // A nurse of Ward 5 moved to Ward 3 for the day: six of its patients, and the celebrity.
    for (k, n) in (310..316).enumerate() {
        events.push(read("cover5", "A1", &nhs(n), at + (10 + k as u64) * SEC));
    }
    events.push(read("cover5", "A1", &celebrity, at + 20 * SEC));
    // Two of Ward 3's patients opened to pass for cover, then the celebrity.
    events.extend([310, 311].map(|n| read("sneak", "A1", &nhs(n), at + 30 * SEC + u64::from(n))));
    events.push(read("sneak", "A1", &celebrity, at + 40 * SEC));
    // A day on their own ward (eight patients), with six of Ward 3's and its celebrity on the side.
    for (k, n) in (330..338).chain(310..316).enumerate() {
        events.push(read("busy", "A1", &nhs(n), at + (50 + k as u64) * SEC));
    }
    events.push(read("busy", "A1", &celebrity, at + 70 * SEC));
    Log::new(store).add(events).await;

    // Cover is a day mostly on the other team's patients: the covering nurse's look at the
    // celebrity is explained; two patients first, or a few beside one's own ward's, are not cover.
    let found = sensitive(store, &RulesConfig::default()).await;
    let users: Vec<&str> = found.iter().map(|c| c.user_id.as_str()).collect();
    assert_eq!(users, ["busy", "sneak", "ward5"], "{found:#?}");
    let no_cover = RulesConfig { team_cover_patients: 0, ..Default::default() };
    let users: Vec<String> = sensitive(store, &no_cover).await.into_iter().map(|c| c.user_id).collect();
    assert_eq!(users, ["busy", "cover5", "sneak", "ward5"]);
    let ward5 = &found[2];
    assert_eq!(ward5.score, 35);
    assert!(
        ward5.explanation.contains("A1 cares for them, but not the user's team nor the user as their named clinician"),
        "{}",
        ward5.explanation
    );
    // Browsing counts the organisation's care unless by_team; by team, a day's cover of Ward 3 (four
    // of its patients, three others for each) explains its unflagged patients.
    let mut by_team = RulesConfig::default();
    by_team.no_care_relationship.min_patients = 5;
    let browsing = |c: &RulesConfig| {
        let c = c.clone();
        async move {
            let all = evaluate(store, &c, T0, T0 + 7 * DAY).await.unwrap();
            all.into_iter().filter(|c| c.rule == Rule::NoCareRelationship).count()
        }
    };
    assert_eq!(browsing(&by_team).await, 0);
    by_team.no_care_relationship.by_team = true;
    assert_eq!(browsing(&by_team).await, 1, "busy's seven of Ward 3 are not cover; cover5's are");
    by_team.team_cover_patients = 0;
    assert_eq!(browsing(&by_team).await, 2, "without cover, cover5's seven of Ward 3 are browsing too");

    let query = audit_store::PatientAccessQuery {
        from_ns: T0,
        to_ns: T0 + 7 * DAY,
        clock: audit_store::LocalClock::utc(),
        day_starts_hour: 6,
    };
    let rows = store.patient_access(&query).await.unwrap();
    let ward5 = rows.iter().find(|r| r.user_id == "ward5").expect("the other ward's look comes back");
    assert_eq!((ward5.explained, ward5.explained_org), (false, true));
    assert_eq!(ward5.care_teams, ["ward3"]);
    let mut teams = ward5.user_teams.clone();
    teams.sort();
    assert_eq!(teams, ["theatres", "ward5"]);
    // A VIP's accesses all come back (the record is flagged): the own ward's and the clinician's
    // explained.
    for user in ["ward3", "doc", "porter"] {
        let row = rows.iter().find(|r| r.user_id == user).expect("flagged rows come back");
        assert!(row.explained && row.care_teams.is_empty(), "{row:?}");
    }
}

pub async fn colleagues_of_one_team_opening_an_unrecorded_patient_weigh_against_a_finding<S: TelemetryStore>(
    store: &S,
) {
    store
        .replace_staff_directory(&[
            member("n1", &["Ward 5"]),
            member("n2", &["Ward 5"]),
            member("n3", &["Ward 5"]),
            member("other", &["Ward 7"]),
        ])
        .await
        .unwrap();
    let hidden = nhs(320);
    store
        .replace_patient_index(&[PatientRecord { nhs_number: hidden.clone(), restricted: true, ..Default::default() }])
        .await
        .unwrap();
    let at = T0 + 2 * DAY + 10 * HOUR;
    // The patient is on Ward 5 before the files say so: three of its nurses open the record over
    // three days; a nurse of Ward 7 opens it once.
    Log::new(store)
        .add(vec![
            read("n1", "A1", &hidden, at),
            read("other", "A1", &hidden, at + HOUR),
            read("n2", "A1", &hidden, at + DAY),
            read("n3", "A1", &hidden, at + 2 * DAY),
        ])
        .await;
    let found = sensitive(store, &RulesConfig::default()).await;
    let users: Vec<&str> = found.iter().map(|c| c.user_id.as_str()).collect();
    assert_eq!(users, ["other"], "{found:#?}");
    // Scored without the floor, a Ward 5 nurse's look carries the colleagues' reason.
    let all = sensitive(store, &RulesConfig { min_score: 0, ..Default::default() }).await;
    let n1 = all.iter().find(|c| c.user_id == "n1").expect("scored");
    assert_eq!(n1.score, 15, "{:#?}", n1.reasons);
    assert!(n1.reasons.iter().any(|r| r.text.starts_with("2 colleagues of the same team") && r.points == -15));
}

audit_store::on_every_store!("pwt":
    a_vip_opened_from_outside_their_care_team_is_found,
    colleagues_of_one_team_opening_an_unrecorded_patient_weigh_against_a_finding,
);
