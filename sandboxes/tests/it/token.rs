//! APIM token endpoint: reply shape and each client-assertion rule.

use axum::http::StatusCode;
use serde_json::json;

use sandboxes::DEMO_KID;

use crate::common::*;

#[tokio::test]
async fn issues_a_599_second_bearer_token_in_apims_shape() {
    let app = app();
    let answer = post_token(&app, token_form(&sign(&assertion_header(), &assertion_claims()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["expires_in"], "599");
    assert_eq!(answer.json["token_type"], "Bearer");
    assert!(answer.json["access_token"].as_str().unwrap().len() >= 20);
    let issued: u64 = answer.json["issued_at"].as_str().unwrap().parse().unwrap();
    assert!(issued / 1000 >= now() - 5, "issued_at is milliseconds since the epoch");
}

async fn rejected(form: String) -> (StatusCode, String, String) {
    let answer = post_token(&app(), form).await;
    (
        answer.status,
        answer.json["error"].as_str().unwrap_or_default().to_owned(),
        answer.json["error_description"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn the_body_must_be_form_encoded() {
    let app = app();
    let form = token_form(&sign(&assertion_header(), &assertion_claims()));
    let json = request(axum::http::Method::POST, "/oauth2/token", &[("content-type", "application/json")], form);
    let answer = send(&app, json).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.json["error"], "invalid_request");
    assert!(answer.json["message_id"].is_string());
}

#[tokio::test]
async fn form_rules() {
    let jwt = sign(&assertion_header(), &assertion_claims());
    let (status, error, _) = rejected(format!("client_assertion={jwt}")).await;
    assert_eq!((status, error.as_str()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (status, error, _) = rejected(token_form(&jwt).replace("client_credentials", "password")).await;
    assert_eq!((status, error.as_str()), (StatusCode::BAD_REQUEST, "unsupported_grant_type"));
    let (status, _, description) = rejected(token_form(&jwt).replace("jwt-bearer", "saml2-bearer")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(description.contains("client_assertion_type"), "{description}");
    let (status, _, description) = rejected(token_form("")).await;
    assert_eq!((status, description.as_str()), (StatusCode::BAD_REQUEST, "Missing client_assertion"));
    let (status, _, description) = rejected(token_form("not.a-jwt")).await;
    assert_eq!((status, description.as_str()), (StatusCode::BAD_REQUEST, "Malformed JWT in client_assertion"));
}

#[tokio::test]
async fn header_rules() {
    let mut header = assertion_header();
    header["alg"] = json!("RS256");
    let (status, _, description) = rejected(token_form(&sign(&header, &assertion_claims()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(description.contains("'alg'"), "{description}");

    let header = json!({"alg": "RS512", "typ": "JWT"});
    let (status, _, description) = rejected(token_form(&sign(&header, &assertion_claims()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(description.contains("Missing 'kid'"), "{description}");

    let header = json!({"alg": "RS512", "typ": "JOSE", "kid": DEMO_KID});
    let (status, _, description) = rejected(token_form(&sign(&header, &assertion_claims()))).await;
    assert_eq!(
        (status, description.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid 'typ' header in client_assertion JWT - must be 'JWT'")
    );

    let header = json!({"alg": "RS512", "typ": "JWT", "kid": "someone-else"});
    let (status, _, description) = rejected(token_form(&sign(&header, &assertion_claims()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(description.contains("no matching public key"), "{description}");
}

#[tokio::test]
async fn a_tampered_signature_is_401() {
    let jwt = sign(&assertion_header(), &assertion_claims());
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut claims = assertion_claims();
    claims["exp"] = json!(now() + 60);
    parts[1] = b64(&claims);
    let (status, error, description) = rejected(token_form(&parts.join("."))).await;
    assert_eq!((status, error.as_str()), (StatusCode::UNAUTHORIZED, "public_key error"));
    assert_eq!(description, "JWT signature verification failed");
}

#[tokio::test]
async fn claim_rules() {
    let cases: Vec<(&str, serde_json::Value, StatusCode, &str)> = vec![
        ("sub", json!("other"), StatusCode::BAD_REQUEST, "non-matching 'iss'/'sub'"),
        ("aud", json!("https://int.api.service.nhs.uk/oauth2/token"), StatusCode::UNAUTHORIZED, "'aud'"),
        ("exp", json!(now() + 400), StatusCode::BAD_REQUEST, "more than 5 minutes"),
        ("exp", json!(now() - 1), StatusCode::BAD_REQUEST, "expired"),
        ("exp", json!("soon"), StatusCode::BAD_REQUEST, "integer"),
        ("jti", serde_json::Value::Null, StatusCode::BAD_REQUEST, "Missing 'jti'"),
    ];
    for (claim, value, status, words) in cases {
        let mut claims = assertion_claims();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(claim);
        } else {
            claims[claim] = value;
        }
        let (got, _, description) = rejected(token_form(&sign(&assertion_header(), &claims))).await;
        assert_eq!(got, status, "{claim}: {description}");
        assert!(description.contains(words), "{claim}: {description}");
    }
    let mut claims = assertion_claims();
    claims["iss"] = json!("unknown-app");
    claims["sub"] = json!("unknown-app");
    let (status, _, description) = rejected(token_form(&sign(&assertion_header(), &claims))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(description.contains("Invalid 'iss'/'sub'"), "{description}");
}

#[tokio::test]
async fn a_replayed_jti_is_refused() {
    let app = app();
    let form = token_form(&sign(&assertion_header(), &assertion_claims()));
    assert_eq!(post_token(&app, form.clone()).await.status, StatusCode::OK);
    let again = post_token(&app, form).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.json["error_description"].as_str().unwrap().contains("Non-unique 'jti'"));
}

#[tokio::test]
async fn expired_tokens_are_refused_by_pds_and_nrl() {
    let app = app();
    let token = token(&app).await;
    assert_eq!(pds_get(&app, "/Patient/9000000009", &token).await.status, StatusCode::OK);
    let expire = request(axum::http::Method::POST, "/_admin/tokens/expire", &[], axum::body::Body::empty());
    assert_eq!(send(&app, expire).await.status, StatusCode::NO_CONTENT);
    let answer = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "ACCESS_DENIED"));
    assert!(answer.json["issue"][0]["diagnostics"].as_str().unwrap().contains("expired"));
}

/// No key ships with the crate: a default sandbox knows no application until one is registered.
#[tokio::test]
async fn the_default_configuration_registers_no_application() {
    assert!(sandboxes::SandboxConfig::default().client_keys.is_empty());
    let app = app_with(sandboxes::SandboxConfig::default());
    let answer = post_token(&app, token_form(&sign(&assertion_header(), &assertion_claims()))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
    assert_eq!(answer.json["error_description"], "Invalid 'iss'/'sub' claims in client_assertion JWT");
}
