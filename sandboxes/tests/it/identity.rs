//! The mock NHS CIS2 and NHS login: discovery, JWKS, the authorization code flow with PKCE, ID tokens
//! (CIS2's role claims, NHS login's vectors of trust), userinfo, refusals, and the identity faults.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

use crate::common::*;

const VERIFIER: &str = "a-pkce-code-verifier-that-is-long-enough-0123456789";
const REDIRECT: &str = "https://client.example/callback";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

async fn get(app: &axum::Router, path: &str) -> Answer {
    send(app, request(Method::GET, path, &[], Body::empty())).await
}

async fn post_form(app: &axum::Router, path: &str, form: &str) -> Answer {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    send(app, request(Method::POST, path, &headers, Body::from(form.to_owned()))).await
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Authorizes with PKCE and exchanges the code: (the token answer, the redirect's query).
async fn sign_in(
    app: &axum::Router,
    base: &str,
    token_path: &str,
    extra: &str,
    client_auth: &str,
) -> (Answer, Vec<(String, String)>) {
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id=pathwatch&redirect_uri={REDIRECT}&scope=openid%20profile%20nationalrbacaccess&state=s1&nonce=n1&code_challenge={}&code_challenge_method=S256{extra}",
        challenge()
    );
    let redirect = get(app, &authorize).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", String::from_utf8_lossy(&redirect.bytes));
    let pairs = query_of(redirect.header("location").unwrap());
    let code = param(&pairs, "code").unwrap_or_default().to_owned();
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&client_id=pathwatch&code_verifier={VERIFIER}&{client_auth}"
    );
    (post_form(app, &format!("{base}{token_path}"), &form).await, pairs)
}

/// The ID token's header and claims, its signature checked against the key the JWKS publishes for its kid.
async fn verified(app: &axum::Router, jwks_path: &str, id_token: &str, alg: jsonwebtoken::Algorithm) -> (Value, Value) {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwks = get(app, jwks_path).await.json;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header.kid.clone().unwrap().as_str())
        .expect("the signing kid is published");
    let decoding =
        jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["pathwatch"]);
    let data = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation).expect("the signature verifies");
    (json!({"alg": format!("{:?}", header.alg), "kid": header.kid}), data.claims)
}

#[tokio::test]
async fn discovery_names_this_sandbox_and_what_each_service_supports() {
    let app = app();
    let cis2 = get(&app, "/cis2/.well-known/openid-configuration").await;
    assert_eq!(cis2.status, StatusCode::OK);
    let issuer = format!("http://{HOST}/cis2");
    assert_eq!(cis2.json["issuer"], issuer.as_str());
    assert_eq!(cis2.json["token_endpoint"], format!("{issuer}/access_token"));
    assert_eq!(cis2.json["jwks_uri"], format!("{issuer}/connect/jwk_uri"));
    assert_eq!(cis2.json["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(cis2.json["code_challenge_methods_supported"], json!(["S256"]));
    assert!(cis2.json["scopes_supported"].as_array().unwrap().contains(&json!("nationalrbacaccess")));
    let login = get(&app, "/nhslogin/.well-known/openid-configuration").await;
    assert_eq!(login.json["token_endpoint"], format!("http://{HOST}/nhslogin/token"));
    assert_eq!(login.json["id_token_signing_alg_values_supported"], json!(["RS512"]));
    assert_eq!(login.json["token_endpoint_auth_methods_supported"], json!(["private_key_jwt"]));
    assert!(login.json["vtr_values_supported"].as_array().unwrap().contains(&json!("P5.Cp.Cd")));
    assert!(cis2.header("date").is_some() && cis2.header("cache-control") == Some("no-store"));
    let keys = get(&app, "/nhslogin/.well-known/jwks.json").await.json;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "the signing key and the next");
}

#[tokio::test]
async fn cis2_signs_staff_in_with_pkce_and_national_rbac_claims() {
    let app = app();
    let (token, redirect) = sign_in(&app, "/cis2", "/access_token", "", "client_secret=s3cret").await;
    assert_eq!(param(&redirect, "state"), Some("s1"));
    assert_eq!(token.status, StatusCode::OK, "{}", token.json);
    assert_eq!(token.json["token_type"], "Bearer");
    let (header, claims) = verified(
        &app,
        "/cis2/connect/jwk_uri",
        token.json["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS256,
    )
    .await;
    assert_eq!(header["kid"], "cis2-sandbox-current");
    assert_eq!(
        (claims["iss"].as_str(), claims["nonce"].as_str()),
        (Some(format!("http://{HOST}/cis2").as_str()), Some("n1"))
    );
    assert_eq!(claims["acr"], "AAL3_ANY");
    assert_eq!(claims["authentication_assurance_level"], "3");
    let role = &claims["nhsid_nrbac_roles"][0];
    assert_eq!((role["org_code"].as_str(), role["role_code"].as_str()), (Some("A11111"), Some("S0010:G0020:R0260")));
    assert_eq!(claims["selected_roleid"], role["person_roleid"]);
    let access = token.json["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let info = send(&app, request(Method::GET, "/cis2/userinfo", &[("authorization", &bearer)], Body::empty())).await;
    assert_eq!((info.status, info.json["nhsid_useruid"].as_str()), (StatusCode::OK, claims["sub"].as_str()));
    let elsewhere =
        send(&app, request(Method::GET, "/nhslogin/userinfo", &[("authorization", &bearer)], Body::empty())).await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED, "a CIS2 token is nothing to NHS login");
}

fn assertion(client: &str) -> String {
    let claims =
        URL_SAFE_NO_PAD.encode(json!({"iss": client, "sub": client, "aud": "x", "exp": 9_999_999_999u64}).to_string());
    format!("client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=e30.{claims}.sig")
}

#[tokio::test]
async fn nhs_login_answers_the_vector_of_trust_asked_for() {
    let app = app();
    let (p9, _) = sign_in(&app, "/nhslogin", "/token", "", &assertion("pathwatch")).await;
    assert_eq!(p9.status, StatusCode::OK, "{}", p9.json);
    let (header, claims) = verified(
        &app,
        "/nhslogin/.well-known/jwks.json",
        p9.json["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS512,
    )
    .await;
    assert_eq!(header["alg"], "RS512");
    assert_eq!((claims["vot"].as_str(), claims["identity_proofing_level"].as_str()), (Some("P9.Cp.Cd"), Some("P9")));
    assert_eq!(claims["nhs_number"], "9000000009");
    let vtr = url::form_urlencoded::byte_serialize(br#"["P5.Cp.Cd","P5.Cm"]"#).collect::<String>();
    let (p5, _) = sign_in(&app, "/nhslogin", "/token", &format!("&vtr={vtr}"), &assertion("pathwatch")).await;
    let (_, claims) = verified(
        &app,
        "/nhslogin/.well-known/jwks.json",
        p5.json["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS512,
    )
    .await;
    assert_eq!((claims["vot"].as_str(), claims["identity_proofing_level"].as_str()), (Some("P5.Cp.Cd"), Some("P5")));
    assert!(claims.get("nhs_number").is_none(), "no NHS number below P9");
    let (secret, _) = sign_in(&app, "/nhslogin", "/token", "", "client_secret=s3cret").await;
    assert_eq!((secret.status, secret.json["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (wrong_client, _) = sign_in(&app, "/nhslogin", "/token", "", &assertion("someone-else")).await;
    assert_eq!(wrong_client.json["error"], "invalid_client");
}

#[tokio::test]
async fn refusals_follow_oauth() {
    let app = app();
    let base =
        format!("/cis2/authorize?response_type=code&client_id=pathwatch&redirect_uri={REDIRECT}&scope=openid&state=s9");
    let redirected = |answer: &Answer| query_of(answer.header("location").unwrap_or("http://x/"));
    let no_pkce = get(&app, &base).await;
    assert_eq!(no_pkce.status, StatusCode::FOUND);
    let pairs = redirected(&no_pkce);
    assert_eq!((param(&pairs, "error"), param(&pairs, "state")), (Some("invalid_request"), Some("s9")));
    let plain = get(&app, &format!("{base}&code_challenge={}&code_challenge_method=plain", challenge())).await;
    assert_eq!(param(&redirected(&plain), "error"), Some("invalid_request"));
    let no_openid = get(&app, &base.replace("scope=openid", "scope=profile")).await;
    assert_eq!(param(&redirected(&no_openid), "error"), Some("invalid_scope"));
    let bad_vtr = get(&app, &format!("/nhslogin/authorize?response_type=code&client_id=c&redirect_uri={REDIRECT}&scope=openid&nonce=n&code_challenge={}&code_challenge_method=S256&vtr=P9", challenge())).await;
    assert_eq!(param(&redirected(&bad_vtr), "error"), Some("invalid_request"));
    // Nowhere to redirect to: answered directly.
    let no_redirect = get(&app, "/cis2/authorize?response_type=code&client_id=pathwatch&scope=openid").await;
    assert_eq!(
        (no_redirect.status, no_redirect.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let no_client = get(&app, &format!("/cis2/authorize?response_type=code&redirect_uri={REDIRECT}")).await;
    assert_eq!(no_client.status, StatusCode::BAD_REQUEST);
    let too_long = get(&app, &format!("{base}&state={}", "x".repeat(3000))).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    let long_client = get(&app, &base.replace("client_id=pathwatch", &format!("client_id={}", "c".repeat(200)))).await;
    assert_eq!(long_client.status, StatusCode::BAD_REQUEST);
    // Clients are not registered, so a real site is never redirected to.
    let elsewhere = get(&app, &base.replace("https://client.example/callback", "https://www.example.com/cb")).await;
    assert_eq!(
        (elsewhere.status, elsewhere.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    for fine in ["http://127.0.0.1:8080/cb", "http://localhost/cb", "https://app.test/cb"] {
        let answer = get(&app, &base.replace("https://client.example/callback", fine)).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{fine}");
    }
    // Nobody authenticated: a secret-less, assertion-less, Basic-less request.
    let unnamed = post_form(&app, "/cis2/access_token", "grant_type=authorization_code&code=x").await;
    assert_eq!((unnamed.status, unnamed.header("www-authenticate")), (StatusCode::UNAUTHORIZED, Some("Basic")));

    // The code: once, with its verifier, by its client.
    let (first, redirect) = sign_in(&app, "/cis2", "/access_token", "", "client_secret=s").await;
    assert_eq!(first.status, StatusCode::OK);
    let code = param(&redirect, "code").unwrap();
    let again = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&client_id=pathwatch&code_verifier={VERIFIER}&client_secret=s");
    assert_eq!(post_form(&app, "/cis2/access_token", &again).await.json["error"], "invalid_grant");
    let (wrong_verifier, _) = {
        let authorize = format!("{base}&code_challenge={}&code_challenge_method=S256", challenge());
        let code = param(&redirected(&get(&app, &authorize).await), "code").unwrap().to_owned();
        let form = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&client_id=pathwatch&code_verifier=not-the-verifier-at-all-but-long-enough-000000&client_secret=s");
        (post_form(&app, "/cis2/access_token", &form).await, ())
    };
    assert_eq!(
        (wrong_verifier.status, wrong_verifier.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let grant = post_form(&app, "/cis2/access_token", "grant_type=password&client_id=pathwatch&client_secret=s").await;
    assert_eq!(grant.json["error"], "unsupported_grant_type");
    let anonymous =
        post_form(&app, "/cis2/access_token", "grant_type=authorization_code&code=x&client_id=pathwatch").await;
    assert_eq!(
        (anonymous.status, anonymous.json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

async fn fault(app: &axum::Router, api: &str, plan: Value) {
    let answer = send(
        app,
        request(
            Method::PUT,
            &format!("/_admin/faults/{api}"),
            &[("content-type", "application/json")],
            Body::from(plan.to_string()),
        ),
    )
    .await;
    assert!(answer.status.is_success(), "{} {}", answer.status, answer.json);
}

#[tokio::test]
async fn identity_faults_take_down_discovery_rotate_keys_skew_the_clock_and_age_the_key() {
    let app = app();
    fault(&app, "cis2", json!({"discovery_down": true})).await;
    assert_eq!(get(&app, "/cis2/.well-known/openid-configuration").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&app, "/cis2/connect/jwk_uri").await.status, StatusCode::OK, "only discovery is down");
    assert_eq!(
        get(&app, "/nhslogin/.well-known/openid-configuration").await.status,
        StatusCode::OK,
        "NHS login is not"
    );

    fault(&app, "cis2", json!({"keys_rotated": true})).await;
    let kids: Vec<String> = get(&app, "/cis2/connect/jwk_uri").await.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["cis2-sandbox-next"]);
    let (token, _) = sign_in(&app, "/cis2", "/access_token", "", "client_secret=s").await;
    let header = jsonwebtoken::decode_header(token.json["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("cis2-sandbox-current"), "still signed with a key no longer published");

    fault(&app, "nhslogin", json!({"clock_skew_s": 600})).await;
    let answer = get(&app, "/nhslogin/.well-known/openid-configuration").await;
    let date = chrono::DateTime::parse_from_rfc2822(answer.header("date").unwrap()).unwrap();
    let ahead = date.timestamp() - chrono::Utc::now().timestamp();
    assert!((590..=610).contains(&ahead), "ahead, not behind: {ahead}");
    fault(&app, "nhslogin", json!({"clock_skew_s": -600})).await;
    let answer = get(&app, "/nhslogin/.well-known/openid-configuration").await;
    let date = chrono::DateTime::parse_from_rfc2822(answer.header("date").unwrap()).unwrap();
    let behind = date.timestamp() - chrono::Utc::now().timestamp();
    assert!((-610..=-590).contains(&behind), "behind: {behind}");

    fault(&app, "nhslogin", json!({"key_expires_in_days": 3})).await;
    let keys = get(&app, "/nhslogin/.well-known/jwks.json").await.json;
    let current = keys["keys"].as_array().unwrap().iter().find(|k| k["kid"] == "nhslogin-sandbox-current").unwrap();
    let der = STANDARD.decode(current["x5c"][0].as_str().unwrap()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let days = (cert.validity().not_after.timestamp() - chrono::Utc::now().timestamp()) / 86_400;
    assert!((2..=4).contains(&days), "{days}");
    let bad = send(
        &app,
        request(
            Method::PUT,
            "/_admin/faults/cis2",
            &[("content-type", "application/json")],
            Body::from(r#"{"clock_skew_s": 100000}"#),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// client_secret_basic: the client named and authenticated in the header only, as libraries send it;
/// an unknown or another client's code, a missing nonce for NHS login, and userinfo without a token.
#[tokio::test]
async fn basic_client_authentication_and_the_other_refusals() {
    let app = app();
    let authorize = format!(
        "/cis2/authorize?response_type=code&client_id=pathwatch&redirect_uri={REDIRECT}&scope=openid&state=s&code_challenge={}&code_challenge_method=S256",
        challenge()
    );
    let code_of = |answer: &Answer| param(&query_of(answer.header("location").unwrap()), "code").unwrap().to_owned();
    let code = code_of(&get(&app, &authorize).await);
    let basic = format!("Basic {}", STANDARD.encode("pathwatch:s3cret"));
    let form = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&code_verifier={VERIFIER}");
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("authorization", basic.as_str())];
    let answer = send(&app, request(Method::POST, "/cis2/access_token", &headers, Body::from(form))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    // Another client's code, or another redirect URI.
    let code = code_of(&get(&app, &authorize).await);
    let other = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&client_id=someone-else&client_secret=s&code_verifier={VERIFIER}");
    assert_eq!(post_form(&app, "/cis2/access_token", &other).await.json["error"], "invalid_grant");
    let code = code_of(&get(&app, &authorize).await);
    let moved = format!("grant_type=authorization_code&code={code}&redirect_uri=https://client.example/elsewhere&client_id=pathwatch&client_secret=s&code_verifier={VERIFIER}");
    assert_eq!(post_form(&app, "/cis2/access_token", &moved).await.json["error"], "invalid_grant");
    let no_nonce = format!(
        "/nhslogin/authorize?response_type=code&client_id=c&redirect_uri={REDIRECT}&scope=openid&code_challenge={}&code_challenge_method=S256",
        challenge()
    );
    let refused = get(&app, &no_nonce).await;
    assert_eq!(param(&query_of(refused.header("location").unwrap()), "error"), Some("invalid_request"));
    let wrong_type = get(&app, &authorize.replace("response_type=code", "response_type=token")).await;
    assert_eq!(param(&query_of(wrong_type.header("location").unwrap()), "error"), Some("unsupported_response_type"));
    let bad_challenge = get(&app, &authorize.replace(&challenge(), "short")).await;
    assert_eq!(param(&query_of(bad_challenge.header("location").unwrap()), "error"), Some("invalid_request"));
    let anonymous = get(&app, "/cis2/userinfo").await;
    assert_eq!(
        (anonymous.status, anonymous.header("www-authenticate")),
        (StatusCode::UNAUTHORIZED, Some("Bearer error=\"invalid_token\""))
    );
    // A reset forgets every code.
    let code = code_of(&get(&app, &authorize).await);
    let reset = send(&app, request(Method::POST, "/_admin/reset", &[], Body::empty())).await;
    assert!(reset.status.is_success());
    let after = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&client_id=pathwatch&client_secret=s&code_verifier={VERIFIER}");
    assert_eq!(post_form(&app, "/cis2/access_token", &after).await.json["error"], "invalid_grant");
}
