//! MESH: authorisation, the send → inbox → download → acknowledge → tracking flow and its error codes,
//! as mesh-sandbox answers them.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::Router;

use crate::common::*;

const V2: &str = "application/vnd.mesh.v2+json";

pub(crate) async fn mesh(
    app: &Router,
    method: Method,
    path: &str,
    mailbox: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> Answer {
    let auth = mesh_auth(mailbox, "password");
    let mut headers = vec![("authorization", auth.as_str())];
    if !extra.iter().any(|(name, _)| *name == "accept") {
        headers.push(("accept", V2));
    }
    headers.extend_from_slice(extra);
    send(app, request(method, &format!("/messageexchange{path}"), &headers, body.to_owned())).await
}

async fn send_message(app: &Router, from: &str, to: &str, body: &str) -> Answer {
    let headers = [
        ("mex-from", from),
        ("mex-to", to),
        ("mex-workflowid", "TEST_WORKFLOW"),
        ("mex-localid", "canary-1"),
        ("mex-subject", "Pathwatch canary"),
        ("mex-filename", "canary.txt"),
        ("content-type", "text/plain"),
    ];
    mesh(app, Method::POST, &format!("/{from}/outbox"), from, &headers, body).await
}

#[tokio::test]
async fn handshake_and_authorisation() {
    let app = app();
    let client = [("mex-clientversion", "pathwatch"), ("mex-osname", "Linux"), ("mex-osversion", "6.1")];
    let ok = mesh(&app, Method::POST, "/X26ABC1", "X26ABC1", &client, "").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.bytes.is_empty(), "v2 handshake has no body");
    let auth = mesh_auth("X26ABC1", "password");
    let mut v1_headers = vec![("authorization", auth.as_str())];
    v1_headers.extend_from_slice(&client);
    let v1 = send(&app, request(Method::GET, "/messageexchange/X26ABC1", &v1_headers, Body::empty())).await;
    assert_eq!(v1.json["mailboxId"], "X26ABC1");
    let bare = mesh(&app, Method::POST, "/X26ABC1", "X26ABC1", &client[..1], "").await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST, "mex-OSName and mex-OSVersion are required");
    assert_eq!(bare.json["detail"][0]["loc"][1], "mex-osname");

    let other = mesh(&app, Method::POST, "/X26ABC2", "X26ABC1", &[], "").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "a token for another mailbox");
    assert_eq!(other.json["detail"][0]["msg"], "Mailbox id does not match token");
    let wrong_password = mesh_auth("X26ABC1", "not-the-password");
    let bad = send(
        &app,
        request(Method::POST, "/messageexchange/X26ABC1", &[("authorization", &wrong_password)], Body::empty()),
    )
    .await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    let none = send(&app, request(Method::POST, "/messageexchange/X26ABC1", &[], Body::empty())).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let short = send(
        &app,
        request(Method::POST, "/messageexchange/X26ABC1", &[("authorization", "NHSMESH X26ABC1:abc")], Body::empty()),
    )
    .await;
    assert_eq!(short.status, StatusCode::FORBIDDEN);
    let unknown = mesh(&app, Method::POST, "/X99ZZZ9", "X99ZZZ9", &[], "").await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn send_list_download_acknowledge_track() {
    let app = app();
    let sent = send_message(&app, "X26ABC1", "X26ABC2", "hello from the canary").await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.json);
    let id = sent.json["message_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);

    let tracked =
        mesh(&app, Method::GET, &format!("/X26ABC1/outbox/tracking?messageID={id}"), "X26ABC1", &[], "").await;
    assert_eq!((tracked.status, tracked.json["status"].as_str()), (StatusCode::OK, Some("accepted")));
    assert_eq!(tracked.json["recipient"], "X26ABC2");
    assert_eq!(tracked.json["local_id"], "canary-1");

    let inbox = mesh(&app, Method::GET, "/X26ABC2/inbox", "X26ABC2", &[], "").await;
    assert_eq!(inbox.json["messages"], serde_json::json!([id]));
    assert_eq!(inbox.json["approx_inbox_count"], 1);
    assert_eq!(inbox.header("content-type"), Some(V2));

    let download = mesh(&app, Method::GET, &format!("/X26ABC2/inbox/{id}"), "X26ABC2", &[], "").await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.bytes, b"hello from the canary");
    for (name, value) in [
        ("mex-from", "X26ABC1"),
        ("mex-to", "X26ABC2"),
        ("mex-workflowid", "TEST_WORKFLOW"),
        ("mex-messageid", id.as_str()),
        ("mex-localid", "canary-1"),
        ("mex-subject", "Pathwatch canary"),
        ("mex-filename", "canary.txt"),
        ("mex-messagetype", "DATA"),
        ("mex-statuscode", "00"),
        ("mex-statussuccess", "SUCCESS"),
        ("mex-chunk-range", "1:1"),
        // mesh-sandbox answers through Starlette, which adds a charset to text/* types.
        ("content-type", "text/plain; charset=utf-8"),
    ] {
        assert_eq!(download.header(name), Some(value), "{name}");
    }
    let stranger = mesh(&app, Method::GET, &format!("/X26ABC3/inbox/{id}"), "X26ABC3", &[], "").await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);

    let ack = mesh(&app, Method::PUT, &format!("/X26ABC2/inbox/{id}/status/acknowledged"), "X26ABC2", &[], "").await;
    assert_eq!(ack.status, StatusCode::OK);
    let inbox = mesh(&app, Method::GET, "/X26ABC2/inbox", "X26ABC2", &[], "").await;
    assert_eq!(inbox.json["messages"], serde_json::json!([]));
    let tracked =
        mesh(&app, Method::GET, &format!("/X26ABC1/outbox/tracking?messageID={id}"), "X26ABC1", &[], "").await;
    assert_eq!(tracked.json["status"], "acknowledged");
    // mesh-sandbox still serves an acknowledged message to its recipient (410 is for expired/failed ones).
    let after = mesh(&app, Method::GET, &format!("/X26ABC2/inbox/{id}"), "X26ABC2", &[], "").await;
    assert_eq!(after.status, StatusCode::OK);
}

#[tokio::test]
async fn send_errors() {
    let app = app();
    let unknown = send_message(&app, "X26ABC1", "X99ZZZ9", "x").await;
    assert_eq!(unknown.status, StatusCode::EXPECTATION_FAILED);
    assert_eq!(unknown.json["detail"][0]["event"], "SEND");
    assert_eq!(unknown.json["detail"][0]["code"], "12");
    let empty_to = send_message(&app, "X26ABC1", " ", "x").await;
    assert_eq!((empty_to.status, empty_to.json["detail"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("08")));
    let no_to = mesh(&app, Method::POST, "/X26ABC1/outbox", "X26ABC1", &[("mex-workflowid", "W")], "x").await;
    assert_eq!(no_to.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_to.json["detail"][0]["loc"][1], "mex-to");
    let no_body = send_message(&app, "X26ABC1", "X26ABC2", "").await;
    assert_eq!(no_body.status, StatusCode::EXPECTATION_FAILED);
    let bad_accept =
        mesh(&app, Method::GET, "/X26ABC1/inbox", "X26ABC1", &[("accept", "application/vnd.mesh.vX+json")], "").await;
    assert!(bad_accept.status.is_client_error());
}

#[tokio::test]
async fn unknown_messages_and_reset() {
    let app = app();
    let missing = mesh(&app, Method::GET, "/X26ABC2/inbox/NOSUCHMESSAGE", "X26ABC2", &[], "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["detail"][0]["code"], "20");
    let ack = mesh(&app, Method::PUT, "/X26ABC2/inbox/NOSUCHMESSAGE/status/acknowledged", "X26ABC2", &[], "").await;
    assert_eq!(ack.status, StatusCode::NOT_FOUND);
    let track = mesh(&app, Method::GET, "/X26ABC1/outbox/tracking?messageID=NOSUCHMESSAGE", "X26ABC1", &[], "").await;
    assert_eq!(track.status, StatusCode::NOT_FOUND);

    let sent = send_message(&app, "X26ABC1", "X26ABC2", "to be reset").await;
    let id = sent.json["message_id"].as_str().unwrap().to_owned();
    let someone_else =
        mesh(&app, Method::GET, &format!("/X26ABC3/outbox/tracking?messageID={id}"), "X26ABC3", &[], "").await;
    assert_eq!(someone_else.status, StatusCode::NOT_FOUND, "tracking another sender's message is 404, not 403");
    let reset = send(&app, request(Method::DELETE, "/messageexchange/admin/reset", &[], Body::empty())).await;
    assert_eq!((reset.status, reset.json["message"].as_str()), (StatusCode::OK, Some("all mailboxes reset")));
    let inbox = mesh(&app, Method::GET, "/X26ABC2/inbox", "X26ABC2", &[], "").await;
    assert_eq!(inbox.json["messages"], serde_json::json!([]));
}

async fn inbox_page(app: &Router, mailbox: &str, query: &str) -> Answer {
    mesh(app, Method::GET, &format!("/{mailbox}/inbox{query}"), mailbox, &[], "").await
}

/// A message the `drop_messages` fault loses is answered 202, is 410 Gone to its recipient and puts a
/// non-delivery REPORT (status code 14, linked to it) in its sender's inbox, as live MESH does.
#[tokio::test]
async fn dropped_messages_come_back_to_the_sender_as_a_non_delivery_report() {
    let app = app();
    let plan = request(Method::PUT, "/_admin/faults/mesh", &[], r#"{"drop_messages": true}"#);
    assert_eq!(send(&app, plan).await.status, StatusCode::OK);
    let sent = send_message(&app, "X26ABC1", "X26ABC2", "lost in transit").await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.json);
    let lost = sent.json["message_id"].as_str().unwrap().to_owned();
    send(&app, request(Method::DELETE, "/_admin/faults/mesh", &[], Body::empty())).await;

    assert_eq!(inbox_page(&app, "X26ABC2", "").await.json["messages"], serde_json::json!([]));
    let gone = mesh(&app, Method::GET, &format!("/X26ABC2/inbox/{lost}"), "X26ABC2", &[], "").await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.json["detail"][0]["msg"], "Message no longer available for download");
    let tracked =
        mesh(&app, Method::GET, &format!("/X26ABC1/outbox/tracking?messageID={lost}"), "X26ABC1", &[], "").await;
    assert_eq!(
        (tracked.json["status"].as_str(), &tracked.json["status_success"]),
        (Some("undeliverable"), &serde_json::json!(false))
    );

    let sender_inbox = inbox_page(&app, "X26ABC1", "").await;
    let reports = sender_inbox.json["messages"].as_array().unwrap().clone();
    assert_eq!(reports.len(), 1, "{}", sender_inbox.json);
    let report_id = reports[0].as_str().unwrap();
    let report = mesh(&app, Method::GET, &format!("/X26ABC1/inbox/{report_id}"), "X26ABC1", &[], "").await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.bytes.is_empty());
    for (name, value) in [
        ("mex-messagetype", "REPORT"),
        ("mex-statuscode", "14"),
        ("mex-statussuccess", "ERROR"),
        ("mex-linkedmsgid", lost.as_str()),
        ("mex-to", "X26ABC1"),
        ("mex-workflowid", "TEST_WORKFLOW"),
        ("mex-localid", "canary-1"),
    ] {
        assert_eq!(report.header(name), Some(value), "{name}");
    }
    assert!(report.header("mex-from").is_none(), "reports come from MESH itself");
    let ack =
        mesh(&app, Method::PUT, &format!("/X26ABC1/inbox/{report_id}/status/acknowledged"), "X26ABC1", &[], "").await;
    assert_eq!(ack.status, StatusCode::OK);
    assert_eq!(inbox_page(&app, "X26ABC1", "").await.json["messages"], serde_json::json!([]));
}

/// The v2 inbox pages at `max_results` (default 500) with `links.next`; `approx_inbox_count` counts the
/// whole inbox, as mesh-sandbox's `mailbox.inbox_count` does.
#[tokio::test]
async fn the_inbox_is_paged_with_links_next_and_counts_everything() {
    let app = app();
    let mut sent = Vec::new();
    for i in 0..25 {
        let answer = send_message(&app, "X26ABC1", "X26ABC2", &format!("message {i}")).await;
        sent.push(answer.json["message_id"].as_str().unwrap().to_owned());
    }
    let all = inbox_page(&app, "X26ABC2", "").await;
    assert_eq!(all.json["messages"].as_array().unwrap().len(), 25);
    assert_eq!(all.json["approx_inbox_count"], 25);
    assert_eq!(all.json["links"]["self"], "/messageexchange/X26ABC2/inbox");
    assert!(all.json["links"].get("next").is_none());

    let mut seen = Vec::new();
    let mut next = Some("/messageexchange/X26ABC2/inbox?max_results=10".to_owned());
    while let Some(path) = next {
        let page = mesh(&app, Method::GET, path.trim_start_matches("/messageexchange"), "X26ABC2", &[], "").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json);
        assert_eq!(page.json["approx_inbox_count"], 25, "the whole inbox, not the page");
        let ids = page.json["messages"].as_array().unwrap();
        assert!(ids.len() <= 10);
        seen.extend(ids.iter().map(|id| id.as_str().unwrap().to_owned()));
        next = page.json["links"]["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, sent, "every message once, oldest first");

    for bad in ["?max_results=9", "?max_results=5001", "?max_results=lots"] {
        assert_eq!(inbox_page(&app, "X26ABC2", bad).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let capped = {
        for i in 0..480 {
            send_message(&app, "X26ABC1", "X26ABC2", &format!("more {i}")).await;
        }
        inbox_page(&app, "X26ABC2", "").await
    };
    assert_eq!(capped.json["messages"].as_array().unwrap().len(), 500, "default page size");
    assert_eq!(capped.json["approx_inbox_count"], 505);
    assert!(capped.json["links"]["next"].as_str().unwrap().contains("continue_from="));
}

/// Test-only: `POST /messageexchange/admin/backlog/{mailbox}` leaves uncollected messages accepted
/// some minutes ago, and a `HEAD` of one tells when (`mex-StatusTimestamp`) without its body.
#[tokio::test]
async fn a_backlog_can_be_left_in_an_inbox_and_its_age_read_by_head() {
    let app = app();
    let seed = |body: &str, mailbox: &str| {
        request(
            Method::POST,
            &format!("/messageexchange/admin/backlog/{mailbox}"),
            &[("content-type", "application/json")],
            body.to_owned(),
        )
    };
    let made = send(&app, seed(r#"{"messages": 3, "age_minutes": 90}"#, "x26abc3")).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.json);
    let ids = made.json["message_ids"].as_array().unwrap().clone();
    assert_eq!((made.json["mailbox"].as_str(), ids.len()), (Some("X26ABC3"), 3));
    let inbox = inbox_page(&app, "X26ABC3", "").await;
    assert_eq!(
        (inbox.json["approx_inbox_count"].as_u64(), inbox.json["messages"].as_array().map(Vec::len)),
        (Some(3), Some(3))
    );
    let first = inbox.json["messages"][0].as_str().unwrap().to_owned();
    let head = mesh(&app, Method::HEAD, &format!("/X26ABC3/inbox/{first}"), "X26ABC3", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.bytes.is_empty(), "a HEAD has no body");
    let stamp = head.headers.get("mex-statustimestamp").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let accepted = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y%m%d%H%M%S").unwrap().and_utc();
    let waited = (chrono::Utc::now() - accepted).num_minutes();
    assert!((89..=91).contains(&waited), "accepted about 90 minutes ago: {stamp}");

    for (body, mailbox, status, says) in [
        (r#"{"messages": 0}"#, "X26ABC3", StatusCode::BAD_REQUEST, "messages must be from 1 to 100"),
        (r#"{"messages": 101}"#, "X26ABC3", StatusCode::BAD_REQUEST, "messages must be from 1 to 100"),
        (
            r#"{"messages": 1, "age_minutes": 7200}"#,
            "X26ABC3",
            StatusCode::BAD_REQUEST,
            "age_minutes must be under 7200",
        ),
        (r#"{"messages": 1, "colour": "red"}"#, "X26ABC3", StatusCode::BAD_REQUEST, "unknown field `colour`"),
        (r#"{"messages": 1, "sender": "NOBODY"}"#, "X26ABC3", StatusCode::BAD_REQUEST, "no sender mailbox NOBODY"),
        (r#"{"messages": 1}"#, "NOBODY", StatusCode::NOT_FOUND, "no mailbox NOBODY"),
    ] {
        let refused = send(&app, seed(body, mailbox)).await;
        let error = refused.json["error"].as_str().unwrap_or_default();
        assert_eq!(refused.status, status, "{body}: {error}");
        assert!(error.contains(says), "{body}: {error}");
    }
}
