//! Searching the audit trail: IG leads and admins only, NHS numbers masked, a reveal needs a reason,
//! and every search and reveal is an audit event other IG leads can find.

use axum::http::StatusCode;

use crate::findings::{auditor_events, draw_sample, read, rig, PASSWORD, RELATIVE};
use crate::web::{get, post, sign_in};

#[tokio::test]
async fn searches_are_masked_recorded_and_reveals_need_a_reason() {
    let mut rig = rig().await;
    rig.add(vec![read(1, "recep1", "A81001", RELATIVE), read(2, "nurse2", "B82005", "9990009999")]).await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    // The bare form searches nothing and records nothing.
    assert_eq!(get(&rig.app, "/audit/search", &ig).await.status, StatusCode::OK);
    assert!(auditor_events(&rig.store).await.is_empty());

    let found = get(&rig.app, &format!("/audit/search?patient={RELATIVE}&from=2026-11-01&to=2026-12-01"), &ig).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.body.contains("recep1") && !found.body.contains("nurse2"), "{}", found.body);
    assert!(found.body.contains("*** *** 1235"), "masked");
    assert_eq!(found.body.matches(RELATIVE).count(), 1, "only in the search box the lead typed it into");
    let searches = auditor_events(&rig.store).await;
    assert_eq!(searches.len(), 1);
    assert_eq!(
        (searches[0].0.as_str(), searches[0].1.as_str(), searches[0].3.as_str()),
        ("ig", "search", "audit search")
    );
    assert!(searches[0].2.starts_with("patient, from "), "{searches:?}");

    // Bad input: the form again with the reason, nothing recorded.
    for (query, says) in [
        ("patient=123", "is not an NHS number"),
        ("from=yesterday", "yesterday&#34; is not a date"),
        ("from=2026-11-02&to=2026-11-01", "To must be after From"),
    ] {
        let reply = get(&rig.app, &format!("/audit/search?{query}"), &ig).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.body.contains(says), "{query}: {}", reply.body);
    }
    assert_eq!(auditor_events(&rig.store).await.len(), 1);

    let csrf = found.csrf();
    let seq = found.body.split("name=\"seq\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let unexplained =
        post(&rig.app, "/audit/reveal", &ig, &[("csrf", &csrf), ("seq", &seq), ("reason", "because")]).await;
    assert_eq!(unexplained.status, StatusCode::BAD_REQUEST);
    assert!(unexplained.body.contains("Give the reason"), "{}", unexplained.body);
    let reason = "Subject access request SAR-2026-114";
    let revealed = post(&rig.app, "/audit/reveal", &ig, &[("csrf", &csrf), ("seq", &seq), ("reason", reason)]).await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.body);
    assert!(revealed.body.contains(RELATIVE) && revealed.body.contains(reason));
    let recorded = auditor_events(&rig.store).await;
    let last = recorded.last().unwrap();
    assert_eq!((last.1.as_str(), last.2.as_str()), ("read", seq.as_str()));
    assert_eq!(last.3, format!("reveal NHS number: {reason}"));

    // Another IG lead sees what this one did.
    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let activity = get(&rig.app, "/audit/search?auditors=1", &admin).await;
    assert_eq!(activity.status, StatusCode::OK);
    assert!(activity.body.contains("reveal NHS number: Subject access request"), "{}", activity.body);
    assert!(activity.body.contains("pathwatch-dashboard"));
    assert!(audit_store::chain::verify(&rig.store, 100).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn only_ig_leads_and_admins_search_and_scoped_leads_stay_in_their_organisations() {
    let mut rig = rig().await;
    rig.add(vec![read(1, "recep1", "A81001", RELATIVE), read(2, "nurse2", "B82005", "9990009999")]).await;
    for name in ["cso", "oncall"] {
        let (session, _) = sign_in(&rig.app, name, PASSWORD).await;
        assert_eq!(get(&rig.app, "/audit/search?user=recep1", &session).await.status, StatusCode::FORBIDDEN);
        let reply =
            post(&rig.app, "/audit/reveal", &session, &[("csrf", "x"), ("seq", "1"), ("reason", "curious about it")])
                .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
    let (b2, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let own = get(&rig.app, "/audit/search?from=2026-11-01", &b2).await;
    assert!(own.body.contains("nurse2") && !own.body.contains("recep1"), "{}", own.body);
    let other = get(&rig.app, "/audit/search?organisation=A81001", &b2).await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    assert!(other.body.contains("A81001 is not one of yours"));
    // Record 1 is A81001's: not revealed to B82005's lead, and the answer gives nothing away.
    let csrf = own.csrf();
    let reply =
        post(&rig.app, "/audit/reveal", &b2, &[("csrf", &csrf), ("seq", "1"), ("reason", "checking a complaint")])
            .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_searches_samples_and_covers_as_the_pages_do_and_records_each_use() {
    let mut rig = rig().await;
    rig.add(vec![read(1, "recep1", "A81001", RELATIVE), read(2, "nurse2", "B82005", "9990009999")]).await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let found =
        get(&rig.app, &format!("/api/v1/audit/search?patient={RELATIVE}&from=2026-11-01&to=2026-12-01"), &ig).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let json: serde_json::Value = serde_json::from_str(&found.body).unwrap();
    let events = json["events"].as_array().unwrap();
    // The receptionist's read, and this search itself (recorded before it ran), nobody else's.
    let users: Vec<&str> = events.iter().map(|e| e["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["recep1", "ig"], "{json}");
    assert_eq!(events[0]["patient"], "*** *** 1235");
    assert!(!found.body.contains(RELATIVE), "masked everywhere: {}", found.body);
    let recorded = auditor_events(&rig.store).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].1.as_str(), recorded[0].3.as_str()), ("search", "audit search (API)"));
    // Bad and empty searches: 400 in JSON, nothing recorded.
    for query in ["patient=123", "from=2026-11-02&to=2026-11-01", ""] {
        let reply = get(&rig.app, &format!("/api/v1/audit/search?{query}"), &ig).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.body.starts_with("{\"error\""), "{query}: {}", reply.body);
    }
    assert_eq!(auditor_events(&rig.store).await.len(), 1);

    // A sample drawn on the page, read through the API (masked, recorded), and the coverage.
    let id = draw_sample(&rig.app, &ig, "5", "3").await;
    let sample = get(&rig.app, &format!("/api/v1/audit/samples/{id}"), &ig).await;
    assert_eq!(sample.status, StatusCode::OK, "{}", sample.body);
    let json: serde_json::Value = serde_json::from_str(&sample.body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2, "{json}");
    assert!(!sample.body.contains(RELATIVE) && !sample.body.contains("9990009999"), "{}", sample.body);
    let purposes: Vec<String> = auditor_events(&rig.store).await.into_iter().map(|e| e.3).collect();
    assert!(purposes.contains(&"audit sampling: review (API)".to_string()), "{purposes:?}");
    assert_eq!(get(&rig.app, "/api/v1/audit/samples/999", &ig).await.status, StatusCode::NOT_FOUND);
    let coverage = get(&rig.app, "/api/v1/audit/coverage?year=2026", &ig).await;
    assert_eq!(coverage.status, StatusCode::OK, "{}", coverage.body);
    let json: serde_json::Value = serde_json::from_str(&coverage.body).unwrap();
    assert_eq!(json["dspt_year"], "2026/27", "{json}");
    assert!(!json["strata"].as_array().unwrap().is_empty(), "{json}");
    assert_eq!(get(&rig.app, "/api/v1/audit/coverage?year=1900", &ig).await.status, StatusCode::BAD_REQUEST);

    // Scoped IG leads cannot use samples (they span every organisation); other roles are refused.
    let (scoped, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    assert_eq!(get(&rig.app, &format!("/api/v1/audit/samples/{id}"), &scoped).await.status, StatusCode::FORBIDDEN);
    let (oncall, _) = sign_in(&rig.app, "oncall", PASSWORD).await;
    for path in ["/api/v1/audit/search?user=recep1", "/api/v1/audit/coverage"] {
        assert_eq!(get(&rig.app, path, &oncall).await.status, StatusCode::FORBIDDEN, "{path}");
    }
}
