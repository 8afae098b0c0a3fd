//! Expected access on the dashboard: an IG lead closes a finding as justified and records that its
//! user's access to that patient is expected; the exception is listed (patient masked), in the API,
//! within the account's organisations only, revocable with a note, and every step is in the audit
//! trail before it is saved. No one excuses their own access.

use axum::http::StatusCode;
use dashboard::auth::accounts::Role;

use crate::findings::{auditor_events, fixture_day, raise, rig, PASSWORD, RELATIVE};
use crate::web::{get, post, sign_in};

#[tokio::test]
async fn an_ig_lead_records_expected_access_from_a_justified_finding_and_revokes_it() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    let path = format!("/audit/findings/{id}");
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let csrf = get(&rig.app, &path, &ig).await.csrf();
    let until = fixture_day(30);
    let form = |scope: &'static str, until: String, reason: &'static str| {
        vec![("csrf", csrf.clone()), ("scope", scope.into()), ("until", until), ("reason", reason.into())]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let (app, ig, path) = (rig.app.clone(), ig.clone(), format!("{path}/exception"));
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&app, &path, &ig, &pairs).await
        }
    };
    let reason = "She is his mother and he is her named carer";
    // Only a justified finding teaches the rules.
    let open = send(form("patient", until.clone(), reason)).await;
    assert_eq!(open.status, StatusCode::BAD_REQUEST);
    assert!(open.body.contains("closed as justified"), "{}", open.body);
    let fields = [("csrf", csrf.as_str()), ("expected", "open"), ("to", "justified"), ("note", "her carer")];
    assert_eq!(post(&rig.app, &format!("{path}/status"), &ig, &fields).await.status, StatusCode::SEE_OTHER);
    let page = get(&rig.app, &path, &ig).await;
    assert!(page.body.contains("Expect this again"), "{}", page.body);
    for (bad, says) in [
        (form("", until.clone(), reason), "Choose what is expected"),
        (form("patient", "next month".into(), reason), "YYYY-MM-DD"),
        (form("patient", fixture_day(-1), reason), "end in the future"),
        (form("patient", until.clone(), "ok"), "10 to 1000 characters"),
    ] {
        let reply = send(bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{says}");
        assert!(reply.body.contains(says), "{says}: {}", reply.body);
    }
    let made = send(form("patient", until.clone(), reason)).await;
    assert_eq!((made.status, made.location()), (StatusCode::SEE_OTHER, "/audit/exceptions"));

    let list = get(&rig.app, "/audit/exceptions", &ig).await;
    assert_eq!(list.status, StatusCode::OK);
    for text in ["recep1 (A81001)", "the patient *** *** 1235, any rule", reason, "active", "Revoke"] {
        assert!(list.body.contains(text), "{text}: {}", list.body);
    }
    assert!(!list.body.contains(RELATIVE), "the NHS number never appears unmasked");
    let api = get(&rig.app, "/api/v1/audit/exceptions", &ig).await;
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["exceptions"][0]["nhs_number"], "*** *** 1235");
    assert_eq!(json["exceptions"][0]["rule"], serde_json::Value::Null);
    let exception = json["exceptions"][0]["id"].as_i64().unwrap();
    // Another organisation's IG lead sees none of it and cannot revoke it.
    let (b2, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    assert!(!get(&rig.app, "/audit/exceptions", &b2).await.body.contains("recep1"));
    let theirs = get(&rig.app, "/api/v1/audit/exceptions", &b2).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&theirs.body).unwrap()["exceptions"], serde_json::json!([]));
    let b2_csrf = get(&rig.app, "/", &b2).await.csrf();
    let revoke = format!("/audit/exceptions/{exception}/revoke");
    let refused = post(&rig.app, &revoke, &b2, &[("csrf", b2_csrf.as_str()), ("note", "not mine")]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    // Revoked with a note: still listed.
    let no_note = post(&rig.app, &revoke, &ig, &[("csrf", csrf.as_str()), ("note", " ")]).await;
    assert_eq!(no_note.status, StatusCode::BAD_REQUEST);
    let revoked = post(&rig.app, &revoke, &ig, &[("csrf", csrf.as_str()), ("note", "she has left the ward")]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let list = get(&rig.app, "/audit/exceptions", &ig).await;
    assert!(list.body.contains("revoked") && list.body.contains("she has left the ward"), "{}", list.body);
    // Every decision is in the audit trail, refused ones as not saved.
    let trail: Vec<String> = auditor_events(&rig.store).await.into_iter().map(|(_, _, _, purpose)| purpose).collect();
    let recorded = |text: &str| trail.iter().filter(|p| p.contains(text)).count();
    // The four the store judged (not justified, past, a short reason, then saved); the form's own
    // mistakes never reached a decision.
    assert_eq!(recorded("audit review decision: exception recorded (this patient"), 4, "{trail:#?}");
    assert_eq!(recorded("not saved (exception recorded"), 3, "{trail:#?}");
    // (The attempt without a note, then the revocation.)
    assert_eq!(recorded(&format!("audit review decision: exception {exception} revoked")), 2);
    assert_eq!(recorded(&format!("not saved (exception {exception} revoked)")), 1);
    assert_eq!(recorded("named carer"), 0, "the reason's free text stays out of the trail");
    // The finding's history tells it too.
    let history = get(&rig.app, &path, &ig).await.body;
    assert!(history.contains(&format!("exception {exception} recorded")), "{history}");
}

#[tokio::test]
async fn no_one_records_an_exception_for_their_own_access() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    rig.accounts.create("recep1", Role::IgLead, &[], PASSWORD, false).await.unwrap();
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let path = format!("/audit/findings/{id}");
    let csrf = get(&rig.app, &path, &ig).await.csrf();
    let fields = [("csrf", csrf.as_str()), ("expected", "open"), ("to", "justified"), ("note", "fine")];
    post(&rig.app, &format!("{path}/status"), &ig, &fields).await;
    let (own, _) = sign_in(&rig.app, "recep1", PASSWORD).await;
    let csrf = get(&rig.app, &path, &own).await.csrf();
    let until = fixture_day(30);
    let fields =
        [("csrf", csrf.as_str()), ("scope", "patient"), ("until", until.as_str()), ("reason", "my own mother, honest")];
    let reply = post(&rig.app, &format!("{path}/exception"), &own, &fields).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("your own access"), "{}", reply.body);
    assert!(rig.findings.exceptions(&[]).await.unwrap().is_empty());
}
