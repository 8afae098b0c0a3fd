//! MESH: authorisation, the send → inbox → download → acknowledge → tracking flow and its error codes,
//! as mesh-sandbox answers them.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::Router;

use crate::common::*;

const V2: &str = "application/vnd.mesh.v2+json";

async fn mesh(app: &Router, method: Method, path: &str, mailbox: &str, extra: &[(&str, &str)], body: &str) -> Answer {
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
        ("content-type", "text/plain"),
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
