//! OpenID Connect sign-in, end to end against the fake provider in `fake_idp`: the dashboard is
//! driven with `oneshot`, the provider's authorize step with reqwest (as a browser would follow it).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use dashboard::auth::accounts::{AccountError, Accounts, Role};
use dashboard::auth::oidc::{ClientAuth, OidcConfig, OidcProvider, OidcSettings};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use serde_json::json;

use crate::fake_idp::{self, ClientCheck, FakeIdp, Signing};
use crate::web::{get, post, send, sign_in, Reply};

const REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/oidc/callback";
const SUBJECT_ACCOUNT: &str = "oidc-555021935107";

struct Rig {
    _dir: tempfile::TempDir,
    accounts: Accounts,
    app: Router,
}

fn settings(issuer: &str) -> OidcSettings {
    OidcSettings {
        config: OidcConfig {
            display_name: "NHS CIS2".into(),
            issuer: issuer.into(),
            client_id: fake_idp::CLIENT_ID.into(),
            scopes: vec!["openid".into(), "profile".into(), "nationalrbacaccess".into()],
            acr_values: Some("AAL3_ANY".into()),
            role_claim: "roles".into(),
            roles: BTreeMap::from([("pw-oncall".into(), Role::Oncall), ("pw-admin".into(), Role::Admin)]),
            organisation_claim: Some("org_codes".into()),
            name_claim: "name".into(),
            ..OidcConfig::default()
        },
        client_auth: ClientAuth::Secret(fake_idp::CLIENT_SECRET.into()),
        redirect_uri: REDIRECT_URI.into(),
    }
}

async fn rig_with(settings: OidcSettings) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let state = DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, WebConfig::default())
        .with_oidc(OidcProvider::new(settings).unwrap())
        .build();
    Rig { _dir: dir, accounts, app: router(state) }
}

async fn rig(idp: &FakeIdp) -> Rig {
    rig_with(settings(&idp.url)).await
}

/// `GET /auth/oidc/start`: the provider URL it redirects to and the browser-binding cookie.
async fn start(app: &Router) -> (String, String) {
    let reply = get(app, "/auth/oidc/start", "").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let cookie = reply.cookie("__Secure-pathwatch_oidc").expect("browser-binding cookie");
    let line = reply.set_cookie_line("__Secure-pathwatch_oidc");
    assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax") && line.contains("Max-Age=600"), "{line}");
    (reply.location().to_string(), cookie)
}

/// Follows the provider's authorize URL as a browser would; returns the callback path and query.
async fn authorize(url: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let back = response.headers()[header::LOCATION].to_str().unwrap().to_string();
    back.strip_prefix("http://127.0.0.1:8080").expect("back to the redirect URI").to_string()
}

/// A whole sign-in in one browser: start, provider, callback.
async fn sign_in_oidc(app: &Router) -> Reply {
    let (url, cookie) = start(app).await;
    let callback = authorize(&url).await;
    get(app, &callback, &cookie).await
}

fn assert_refused(reply: &Reply, status: StatusCode, says: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body.contains(says), "expected {says:?} in {}", reply.body);
    assert!(reply.cookie("__Host-pathwatch_session").is_none(), "no session on a refusal");
}

#[tokio::test]
async fn signing_in_through_the_provider_starts_a_session_with_the_mapped_role_and_organisations() {
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;
    let login = get(&rig.app, "/login", "").await;
    assert!(login.body.contains("<a class=\"button\" href=\"/auth/oidc/start\">Sign in with NHS CIS2</a>"));

    let (url, cookie) = start(&rig.app).await;
    let sent = url::Url::parse(&url).unwrap();
    let query: BTreeMap<String, String> = sent.query_pairs().into_owned().collect();
    assert!(url.starts_with(&format!("{}/authorize?", idp.url)), "{url}");
    assert_eq!(query["redirect_uri"], REDIRECT_URI);
    assert_eq!(query["scope"], "openid profile nationalrbacaccess");
    assert_eq!(query["acr_values"], "AAL3_ANY");
    assert_eq!((query["code_challenge_method"].as_str(), query["code_challenge"].len()), ("S256", 43));
    // Only hashes of the state are kept.
    let stored: String =
        sqlx::query_scalar("SELECT state_sha256 FROM oidc_logins").fetch_one(rig.accounts.pool()).await.unwrap();
    assert_ne!(stored, query["state"]);

    let callback = authorize(&url).await;
    let reply = get(&rig.app, &callback, &cookie).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("<meta http-equiv=\"refresh\" content=\"0; url=/\">"), "{}", reply.body);
    let session = reply.cookie("__Host-pathwatch_session").expect("session cookie");
    let line = reply.set_cookie_line("__Host-pathwatch_session");
    assert!(line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Secure"), "{line}");
    assert!(reply.set_cookie_line("__Secure-pathwatch_oidc").contains("Max-Age=0"), "the binding cookie is cleared");
    let home = get(&rig.app, "/", &session).await;
    assert_eq!(home.status, StatusCode::OK);
    // The header says which role and organisations the person acts as.
    assert!(home.body.contains("Signed in as Dr Ada Lovelace, acting as oncall for A81001, RX1"), "{}", home.body);
    assert!(!home.body.contains("Change password"), "single sign-on accounts have no password here");
    let account = rig.accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    assert_eq!(
        (account.role, account.organisations.clone(), account.oidc),
        (Role::Oncall, vec!["A81001".to_string(), "RX1".to_string()], true)
    );
    assert_eq!(idp.get(|k| (k.token_requests, k.userinfo_requests)), (1, 0), "roles were in the ID token");

    // The role and organisations are refreshed at every sign-in.
    idp.set(|k| k.id_claims = json!({"roles": ["pw-oncall", "pw-admin", "other"], "org_codes": "Y12345"}));
    let again = sign_in_oidc(&rig.app).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let account = rig.accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    assert_eq!(
        (account.role, account.organisations),
        (Role::Admin, vec!["Y12345".to_string()]),
        "the highest mapped role"
    );

    // Such an account can never use a password.
    let (no_session, refused) = sign_in(&rig.app, SUBJECT_ACCOUNT, "").await;
    assert_eq!((refused.status, no_session.as_str()), (StatusCode::UNAUTHORIZED, ""));
    assert!(matches!(
        rig.accounts.set_password(SUBJECT_ACCOUNT, "a long enough password", false).await,
        Err(AccountError::SignsInWithOidc(_))
    ));
    let (no_session, refused) = sign_in(&rig.app, SUBJECT_ACCOUNT, "a long enough password").await;
    assert_eq!((refused.status, no_session.as_str()), (StatusCode::UNAUTHORIZED, ""));
    assert_eq!(get(&rig.app, "/account/password", &session).await.status, StatusCode::FORBIDDEN);
    // Nor can a local account take an OIDC name.
    assert!(matches!(
        rig.accounts.create("oidc-x", Role::Admin, &[], "a long enough password", false).await,
        Err(AccountError::ReservedName(_))
    ));
}

#[tokio::test]
async fn private_key_jwt_client_authentication_is_verified_by_the_provider() {
    let idp = FakeIdp::start().await;
    idp.set(|k| k.client = ClientCheck::Assertion(2));
    let mut with_key = settings(&idp.url);
    with_key.client_auth =
        ClientAuth::private_key_pem(&fake_idp::client_key_pem(), Some("client-key-1".into())).unwrap();
    let rig = rig_with(with_key).await;
    let reply = sign_in_oidc(&rig.app).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.cookie("__Host-pathwatch_session").is_some());

    // The provider holds another public key for us: our assertion no longer verifies.
    idp.set(|k| k.client = ClientCheck::Assertion(0));
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::UNAUTHORIZED, "invalid_client");
    // And a client secret is not accepted where a key is expected.
    let secret_rig = rig_with(settings(&idp.url)).await;
    assert_refused(&sign_in_oidc(&secret_rig.app).await, StatusCode::UNAUTHORIZED, "no client assertion");
}

#[tokio::test]
async fn a_code_from_another_sign_in_fails_the_pkce_check() {
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;
    let (url_a, _) = start(&rig.app).await;
    let (url_b, cookie_b) = start(&rig.app).await;
    let code_a = authorize(&url_a).await;
    let state_b = authorize(&url_b).await;
    // An attacker's code (bound to the attacker's PKCE challenge) injected into this browser's
    // sign-in: our verifier does not match, so the provider refuses to exchange it.
    let code = url::form_urlencoded::parse(code_a.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let state = url::form_urlencoded::parse(state_b.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let reply = get(&rig.app, &format!("/auth/oidc/callback?code={code}&state={state}"), &cookie_b).await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "PKCE verification failed");
}

#[tokio::test]
async fn the_callback_must_match_a_fresh_unused_sign_in_started_in_this_browser() {
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;

    // A state nobody issued.
    let (url, cookie) = start(&rig.app).await;
    let callback = authorize(&url).await;
    let forged = callback.replace("state=", "state=0");
    assert_refused(
        &get(&rig.app, &forged, &cookie).await,
        StatusCode::BAD_REQUEST,
        "already been used, or was not started here",
    );

    // Another browser's cookie.
    let (url, _) = start(&rig.app).await;
    let (_, other_cookie) = start(&rig.app).await;
    let callback = authorize(&url).await;
    assert_refused(&get(&rig.app, &callback, &other_cookie).await, StatusCode::BAD_REQUEST, "another browser");
    assert_refused(&get(&rig.app, &callback, "").await, StatusCode::BAD_REQUEST, "already been used");

    // Replayed: the first use works, the second does not.
    let (url, cookie) = start(&rig.app).await;
    let callback = authorize(&url).await;
    assert_eq!(get(&rig.app, &callback, &cookie).await.status, StatusCode::OK);
    assert_refused(&get(&rig.app, &callback, &cookie).await, StatusCode::BAD_REQUEST, "already been used");

    // Older than ten minutes.
    let (url, cookie) = start(&rig.app).await;
    let callback = authorize(&url).await;
    sqlx::query("UPDATE oidc_logins SET created_ns = created_ns - 601000000000")
        .execute(rig.accounts.pool())
        .await
        .unwrap();
    assert_refused(&get(&rig.app, &callback, &cookie).await, StatusCode::BAD_REQUEST, "longer than 10 minutes");

    // No code, or the provider's error for a sign-in this browser did not start.
    let (url, cookie) = start(&rig.app).await;
    let state = url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let no_code = format!("/auth/oidc/callback?state={state}");
    assert_refused(&get(&rig.app, &no_code, &cookie).await, StatusCode::BAD_REQUEST, "without a sign-in code");
    let crafted = "/auth/oidc/callback?error=x&error_description=Call+0800+000+000&state=made-up";
    let reply = get(&rig.app, crafted, "").await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "not started here");
    assert!(!reply.body.contains("0800"), "a crafted link puts no words on the page");
    // The provider said no.
    let (url, cookie) = start(&rig.app).await;
    let state = url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let denied = format!("/auth/oidc/callback?error=access_denied&error_description=User+cancelled&state={state}");
    assert_refused(&get(&rig.app, &denied, &cookie).await, StatusCode::FORBIDDEN, "NHS CIS2 did not sign you in");
    assert_eq!(idp.get(|k| k.token_requests), 1, "only the one good callback reached the token endpoint");
}

#[tokio::test]
async fn id_tokens_that_do_not_check_out_are_refused() {
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let base = json!({"roles": ["pw-oncall"], "org_codes": ["RX1"]});
    let with = |extra: serde_json::Value| {
        let mut claims = base.clone();
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        claims
    };
    let cases = [
        (with(json!({"nonce": "not-the-nonce"})), Signing::Rs256, "nonce"),
        (with(json!({"aud": "someone-else"})), Signing::Rs256, "another application (aud)"),
        // Another audience beside ours is not trusted, azp or not.
        (with(json!({"aud": ["someone-else", "pathwatch"]})), Signing::Rs256, "another application (aud)"),
        (with(json!({"aud": ["someone-else", "pathwatch"], "azp": "pathwatch"})), Signing::Rs256, "(aud)"),
        (with(json!({"azp": "someone-else"})), Signing::Rs256, "another application (azp)"),
        (with(json!({"iss": "https://evil.example"})), Signing::Rs256, "another service (iss)"),
        (with(json!({"exp": now - 61, "iat": now - 400})), Signing::Rs256, "expired"),
        (with(json!({"iat": now + 120})), Signing::Rs256, "issued in the future"),
        (base.clone(), Signing::Corrupted, "signature does not verify"),
        (base.clone(), Signing::Unsigned, "not signed (alg none)"),
        (base.clone(), Signing::Hs256, "not accepted here"),
    ];
    for (claims, signing, says) in cases {
        idp.set(|k| {
            k.id_claims = claims.clone();
            k.signing = signing;
        });
        assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::UNAUTHORIZED, says);
    }
    assert!(rig.accounts.get(SUBJECT_ACCOUNT).await.is_err(), "no account was made");
    // Sanity: the same rig signs in when nothing is wrong, with RS512 too.
    idp.set(|k| {
        k.id_claims = base.clone();
        k.signing = Signing::Rs512;
    });
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK);
}

#[tokio::test]
async fn rotated_keys_are_found_by_fetching_the_key_set_again() {
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK, "the first key set is now cached");
    idp.set(|k| {
        k.published = vec![("key-1".into(), 0), ("key-2".into(), 1)];
        k.signer = ("key-2".into(), 1);
    });
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK, "unknown kid: refetched and found");
    // A kid that even a fresh key set lacks, and a known kid with the wrong key behind it.
    idp.set(|k| k.signer = ("key-3".into(), 0));
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::UNAUTHORIZED, "a key the provider does not publish");
    idp.set(|k| k.signer = ("key-2".into(), 0));
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::UNAUTHORIZED, "signature does not verify");
}

#[tokio::test]
async fn someone_without_a_mapped_role_gets_no_session_and_no_account() {
    let idp = FakeIdp::start().await;
    idp.set(|k| k.id_claims = json!({"roles": ["receptionist"], "org_codes": ["RX1"]}));
    let rig = rig(&idp).await;
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::FORBIDDEN, "Your account has no Pathwatch role");
    assert!(rig.accounts.list().await.unwrap().is_empty());
    // A role but no ODS code, when organisations are configured: not "every organisation".
    idp.set(|k| k.id_claims = json!({"roles": ["pw-oncall"], "org_codes": ["not an ods code"]}));
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::FORBIDDEN, "no organisation");
    // A disabled account stays disabled.
    idp.set(|k| k.id_claims = json!({"roles": ["pw-oncall"], "org_codes": ["RX1"]}));
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK);
    rig.accounts.set_disabled(SUBJECT_ACCOUNT, true).await.unwrap();
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::FORBIDDEN, "disabled");
}

#[tokio::test]
async fn cis2_roles_are_read_from_userinfo_when_the_id_token_lacks_them() {
    let idp = FakeIdp::start().await;
    idp.set(|k| {
        k.id_claims = json!({"roles": null, "org_codes": null, "name": null});
        k.userinfo = json!({
            "name": "Jo Bloggs",
            "nhsid_nrbac_roles": [
                {"person_roleid": "1", "org_code": "RX1", "role_code": "S8000:G8000:R8001"},
                {"person_roleid": "2", "org_code": "A81001", "role_code": "S0080:G0450:R5080"},
            ],
        });
    });
    let mut cis2 = settings(&idp.url);
    cis2.config.role_claim = "nhsid_nrbac_roles.role_code".into();
    cis2.config.organisation_claim = Some("nhsid_nrbac_roles.org_code".into());
    cis2.config.roles = BTreeMap::from([("S8000:G8000:R8001".into(), Role::SafetyOfficer)]);
    let rig = rig_with(cis2).await;
    let reply = sign_in_oidc(&rig.app).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(idp.get(|k| k.userinfo_requests), 1);
    let account = rig.accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    // The role is held at RX1 only: A81001's profile carries no mapped role, so it gives no scope.
    assert_eq!((account.role, account.organisations), (Role::SafetyOfficer, vec!["RX1".to_string()]));
    assert_eq!(account.display_name.as_deref(), Some("Jo Bloggs"));

    // Userinfo about someone else (OpenID Connect Core 5.3.2) is not used: no session.
    idp.set(|k| k.userinfo["sub"] = json!("someone-else"));
    let reply = sign_in_oidc(&rig.app).await;
    assert_refused(&reply, StatusCode::BAD_GATEWAY, "could not be used just now");
    assert_eq!(idp.get(|k| k.userinfo_requests), 2);
}

/// IG lead at one trust and a clinician at another: the IG lead role covers the first trust only,
/// and a role the person selected for the session is the one they act as.
#[tokio::test]
async fn a_cis2_role_reaches_only_the_organisation_of_its_own_role_profile() {
    let idp = FakeIdp::start().await;
    let profiles = json!([
        {"person_roleid": "11", "org_code": "RTA", "role_code": "S0080:G0450:R0001"},
        {"person_roleid": "22", "org_code": "RTB", "role_code": "S8000:G8000:R8000"},
    ]);
    let claims = |selected: Option<&str>| {
        let mut claims = json!({"roles": null, "org_codes": null, "nhsid_nrbac_roles": profiles.clone()});
        if let Some(id) = selected {
            claims["selected_roleid"] = json!(id);
        }
        claims
    };
    let mut cis2 = settings(&idp.url);
    cis2.config.role_claim = "nhsid_nrbac_roles.role_code".into();
    cis2.config.organisation_claim = Some("nhsid_nrbac_roles.org_code".into());
    cis2.config.roles =
        BTreeMap::from([("S0080:G0450:R0001".into(), Role::IgLead), ("S8000:G8000:R8000".into(), Role::Oncall)]);
    let rig = rig_with(cis2).await;
    // Selected at the provider: the IG lead role, over RTA only (not RTB as well).
    idp.set(|k| k.id_claims = claims(Some("11")));
    let reply = sign_in_oidc(&rig.app).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let account = rig.accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    assert_eq!((account.role, account.organisations), (Role::IgLead, vec!["RTA".to_string()]), "not RTB as well");
    // Signed in choosing the clinician role: on-call at RTB, and nothing of the IG lead role.
    idp.set(|k| k.id_claims = claims(Some("22")));
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK);
    let account = rig.accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    assert_eq!((account.role, account.organisations), (Role::Oncall, vec!["RTB".to_string()]));
    // A selected role that is not among the profiles gives no session.
    idp.set(|k| k.id_claims = claims(Some("99")));
    assert_refused(&sign_in_oidc(&rig.app).await, StatusCode::FORBIDDEN, "role");
}

#[tokio::test]
async fn an_unreachable_or_inconsistent_provider_gets_a_502_page() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let rig = rig_with(settings(&format!("http://{closed}"))).await;
    let reply = get(&rig.app, "/auth/oidc/start", "").await;
    assert_refused(&reply, StatusCode::BAD_GATEWAY, "NHS CIS2 could not be used just now");
    assert!(reply.body.contains("href=\"/login\""));
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM oidc_logins").fetch_one(rig.accounts.pool()).await.unwrap();
    assert_eq!(pending, 0, "nothing stored when the provider is down");

    // The discovery document must name the configured issuer.
    let idp = FakeIdp::start().await;
    idp.set(|k| k.discovery_issuer = Some("https://elsewhere.example".into()));
    assert_eq!(
        get(&rig_with(settings(&idp.url)).await.app, "/auth/oidc/start", "").await.status,
        StatusCode::BAD_GATEWAY
    );

    // Every endpoint is checked before any is called: a plain-http key set elsewhere is refused
    // as the provider's mistake, not fetched (fetching would fail as "unreachable" first).
    idp.set(|k| {
        k.discovery_issuer = None;
        k.jwks_uri = Some("http://keys.example/jwks".into());
    });
    let provider = OidcProvider::new(settings(&idp.url)).unwrap();
    match provider.discovery().await {
        Err(dashboard::auth::oidc::OidcError::Provider(message)) => assert!(message.contains("jwks_uri"), "{message}"),
        other => panic!("expected the provider's mistake, got {other:?}"),
    }

    // Without single sign-on configured the routes do not exist and the button is not shown.
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let plain = router(DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default()).build());
    assert_eq!(get(&plain, "/auth/oidc/start", "").await.status, StatusCode::NOT_FOUND);
    assert!(!get(&plain, "/login", "").await.body.contains("/auth/oidc/start"));
    let reply = send(&plain, Request::get("/auth/oidc/callback?code=x&state=y").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// Starting a sign-in needs no account, so what one address may leave pending is capped: the
/// fifty-first unfinished start from one address is refused, another address is not affected.
#[tokio::test]
async fn one_address_cannot_fill_the_pending_sign_ins() {
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;
    let start_from = |ip: [u8; 4]| {
        let app = rig.app.clone();
        async move {
            let mut request = axum::http::Request::get("/auth/oidc/start").body(axum::body::Body::empty()).unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((ip, 50000))));
            crate::web::send(&app, request).await
        }
    };
    for _ in 0..50 {
        assert_eq!(start_from([198, 51, 100, 7]).await.status, StatusCode::SEE_OTHER);
    }
    let refused = start_from([198, 51, 100, 7]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert!(refused.body.contains("Too many sign-ins"), "{}", refused.body);
    assert_eq!(start_from([198, 51, 100, 8]).await.status, StatusCode::SEE_OTHER, "another address is not held up");
}

/// A single-sign-on account's API token works while its last sign-in would still hold a session
/// (12 hours by default); after that, someone the provider has stopped vouching for is refused by
/// the API too, until they sign in again.
#[tokio::test]
async fn api_tokens_of_a_single_sign_on_account_stop_working_when_its_sign_in_is_too_old() {
    use dashboard::auth::api_tokens::ApiTokens;
    let idp = FakeIdp::start().await;
    let rig = rig(&idp).await;
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK);
    let now = domain::Clock::System.now_ns_i64();
    let (_, token) =
        ApiTokens::new(&rig.accounts).create(&rig.accounts, SUBJECT_ACCOUNT, "script", None, now).await.unwrap();
    let call = || {
        let request = axum::http::Request::get("/api/v1/alerts")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        crate::web::send(&rig.app, request)
    };
    assert_eq!(call().await.status, StatusCode::OK);
    let thirteen_hours_ago = now - 13 * 3_600_000_000_000;
    sqlx::query("UPDATE accounts SET signed_in_ns = ? WHERE name = ?")
        .bind(thirteen_hours_ago)
        .bind(SUBJECT_ACCOUNT)
        .execute(rig.accounts.pool())
        .await
        .unwrap();
    let refused = call().await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("single sign-on") && refused.body.contains("sign in"), "{}", refused.body);
    // Signing in again brings the token back.
    assert_eq!(sign_in_oidc(&rig.app).await.status, StatusCode::OK);
    assert_eq!(call().await.status, StatusCode::OK);
}

/// Several CIS2 roles and none selected at the provider: the person chooses here which to act as,
/// and the session carries that role over that role's organisations only.
#[tokio::test]
async fn with_several_roles_and_none_selected_the_person_chooses_which_to_act_as() {
    let idp = FakeIdp::start().await;
    idp.set(|k| {
        k.id_claims = json!({"roles": null, "org_codes": null, "nhsid_nrbac_roles": [
            {"person_roleid": "11", "org_code": "RTA", "role_code": "S0080:G0450:R0001"},
            {"person_roleid": "22", "org_code": "RTB", "role_code": "S8000:G8000:R8000"},
        ]})
    });
    let mut cis2 = settings(&idp.url);
    cis2.config.role_claim = "nhsid_nrbac_roles.role_code".into();
    cis2.config.organisation_claim = Some("nhsid_nrbac_roles.org_code".into());
    cis2.config.roles =
        BTreeMap::from([("S0080:G0450:R0001".into(), Role::IgLead), ("S8000:G8000:R8000".into(), Role::Oncall)]);
    let rig = rig_with(cis2).await;
    let page = sign_in_oidc(&rig.app).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("ig_lead for RTA") && page.body.contains("oncall for RTB"), "{}", page.body);
    assert!(page.cookie("__Host-pathwatch_session").is_none(), "no session before the choice");
    let choice = page.cookie("__Host-pathwatch_oidc_choice").expect("the choice is bound to this browser");
    let choose = |cookie: String, value: &'static str| {
        let app = rig.app.clone();
        async move { post(&app, "/auth/oidc/choose", &cookie, &[("choice", value)]).await }
    };
    // Without this browser's cookie, or with a choice not offered: refused, no session.
    assert!(choose(String::new(), "1").await.cookie("__Host-pathwatch_session").is_none());
    let out_of_range = choose(choice.clone(), "7").await;
    assert_eq!(out_of_range.status, StatusCode::BAD_REQUEST, "{}", out_of_range.body);
    // The choice was used up by that attempt: start again, and choose on-call at RTB.
    let page = sign_in_oidc(&rig.app).await;
    let chosen = choose(page.cookie("__Host-pathwatch_oidc_choice").unwrap(), "1").await;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.body);
    let session = chosen.cookie("__Host-pathwatch_session").expect("a session as the chosen role");
    let account = rig.accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    assert_eq!((account.role, account.organisations), (Role::Oncall, vec!["RTB".to_string()]));
    let home = get(&rig.app, "/", &session).await;
    assert!(home.body.contains("acting as oncall for RTB"), "{}", home.body);
    // The same person signs in elsewhere as IG lead at RTA: that session is IG lead at RTA, and
    // the first is still on-call at RTB (the role is the session's, not the account's).
    let page = sign_in_oidc(&rig.app).await;
    let second = choose(page.cookie("__Host-pathwatch_oidc_choice").unwrap(), "0").await;
    let second = second.cookie("__Host-pathwatch_session").expect("a second session");
    assert!(get(&rig.app, "/", &second).await.body.contains("acting as ig_lead for RTA"));
    assert!(get(&rig.app, "/", &session).await.body.contains("acting as oncall for RTB"));
    assert_eq!(
        get(&rig.app, "/audit/findings", &session).await.status,
        StatusCode::FORBIDDEN,
        "on-call reads no findings"
    );
}

/// The sign-in's own tables (pending sign-ins, their trimming, single-sign-on accounts, sessions)
/// on SQLite and on PostgreSQL.
async fn a_sign_in_keeps_its_state_on_either_backend(place: &state::testing::Place) {
    let idp = FakeIdp::start().await;
    let accounts = Accounts::from_pool(place.state().await);
    let app = router(
        DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, WebConfig::default())
            .with_oidc(OidcProvider::new(settings(&idp.url)).unwrap())
            .build(),
    );
    // Several sign-ins started and left: the oldest are trimmed, the newest still finishes.
    for _ in 0..3 {
        start(&app).await;
    }
    let (url, cookie) = start(&app).await;
    let callback = authorize(&url).await;
    let reply = get(&app, &callback, &cookie).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.cookie("__Host-pathwatch_session").is_some());
    assert_refused(&get(&app, &callback, &cookie).await, StatusCode::BAD_REQUEST, "already been used");
    let account = accounts.get(SUBJECT_ACCOUNT).await.unwrap();
    assert_eq!((account.role, account.oidc), (Role::Oncall, true));
}

mod state_backends {
    use super::*;
    state::on_every_state!(a_sign_in_keeps_its_state_on_either_backend);
}
