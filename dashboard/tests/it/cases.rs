//! The findings list an IG lead can work through: cases (a person's findings at one organisation in
//! a week), highest score first, a page at a time with the filters carried, an organisation filter
//! within the account's, a case opened to its findings; the same in the API with a cursor.

use audit_review::{Candidate, Rule, Severity};
use axum::http::StatusCode;

use crate::findings::{rig, AT, PASSWORD};
use crate::web::{get, sign_in};

fn finding(n: u32, organisation: &str) -> Candidate {
    Candidate {
        rule: Rule::NoCareRelationship,
        severity: Severity::Medium,
        user_id: format!("user{n:02}"),
        role: "clerk".into(),
        organisation: organisation.into(),
        nhs_number: String::new(),
        bucket: 1,
        from_ns: AT,
        to_ns: AT + 1,
        events: 5,
        first_seq: 1,
        explanation: format!("user{n:02} opened 5 patients' records"),
        score: 30 + n as i32,
        reasons: vec![audit_review::rules::Reason::new("5 patients in a day with no care relationship", 30 + n as i32)],
    }
}

/// The `href` of the first link whose text is `text`.
fn link<'a>(body: &'a str, text: &str) -> Option<&'a str> {
    let end = body.find(&format!("\">{text}</a>"))?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(&body[start..end])
}

#[tokio::test]
async fn the_list_is_cases_by_score_a_page_at_a_time_within_the_accounts_organisations() {
    let rig = rig().await;
    let mut all: Vec<Candidate> = (0..30).map(|n| finding(n, "A81001")).collect();
    all.extend((30..33).map(|n| finding(n, "B82005")));
    rig.findings.record(&all, AT).await.unwrap();
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let first = get(&rig.app, "/audit/findings?rule=no_care_relationship", &ig).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body.matches("<tr><th scope=\"row\">").count(), 25, "{}", first.body);
    assert!(first.body.find("user32").unwrap() < first.body.find("user31").unwrap(), "highest score first");
    assert!(first.body.contains("5 patients in a day with no care relationship (62)"), "the reasons show");
    let next = link(&first.body, "Next page").expect("a next page").replace("&#38;", "&");
    assert!(next.contains("rule=no_care_relationship") && next.contains("after="), "{next}");
    let second = get(&rig.app, &next, &ig).await;
    assert_eq!(second.body.matches("<tr><th scope=\"row\">").count(), 8);
    assert!(link(&second.body, "Next page").is_none());
    assert!(second.body.contains("user00") && !second.body.contains("user32"));
    // A case opened: its findings.
    let case = link(&second.body, "user00, clerk (A81001)").expect("a case link").replace("&#38;", "&");
    let opened = get(&rig.app, &case, &ig).await;
    assert!(opened.body.contains("user00 opened 5 patients") && opened.body.contains("Back to the cases"));
    // An organisation: the account's own only.
    let b = get(&rig.app, "/audit/findings?organisation=B82005", &ig).await;
    assert_eq!(b.body.matches("<tr><th scope=\"row\">").count(), 3);
    let (scoped, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    assert_eq!(get(&rig.app, "/audit/findings?organisation=A81001", &scoped).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&rig.app, "/audit/findings", &scoped).await.body.matches("<tr><th scope=\"row\">").count(), 3);
    assert_eq!(get(&rig.app, "/audit/findings?after=nonsense", &ig).await.status, StatusCode::BAD_REQUEST);

    // The API: cases and findings by cursor, every one once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/audit/cases?limit=10".to_string();
    loop {
        let reply: serde_json::Value = serde_json::from_str(&get(&rig.app, &path, &ig).await.body).unwrap();
        seen.extend(reply["cases"].as_array().unwrap().iter().map(|c| c["user_id"].as_str().unwrap().to_string()));
        let Some(next) = reply["next"].as_str() else { break };
        path = format!(
            "/api/v1/audit/cases?limit=10&after={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (33, 33));
    let page: serde_json::Value =
        serde_json::from_str(&get(&rig.app, "/api/v1/audit/findings?limit=5", &ig).await.body).unwrap();
    assert_eq!((page["findings"].as_array().unwrap().len(), page["next"].as_str()), (5, Some("58.29")));
    assert_eq!(get(&rig.app, "/api/v1/audit/findings?limit=0", &ig).await.status, StatusCode::BAD_REQUEST);
    let theirs: serde_json::Value =
        serde_json::from_str(&get(&rig.app, "/api/v1/audit/cases", &scoped).await.body).unwrap();
    assert_eq!(theirs["cases"].as_array().unwrap().len(), 3);
}
