use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::{route_table, router};
use dashboard::RunningParts;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Rig {
    _dir: tempfile::TempDir,
    accounts: Accounts,
    app: Router,
}

const PASSWORD: &str = "correct horse battery staple";

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    for role in Role::ALL {
        accounts.create(role.as_str().replace('_', "-").as_str(), role, &[], PASSWORD, false).await.unwrap();
    }
    let parts = RunningParts { lines: vec!["collector: http://127.0.0.1:4318".into()] };
    let app = router(DashboardState::builder(accounts.clone(), parts, WebConfig::default()).build());
    Rig { _dir: dir, accounts, app }
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub(crate) fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// `name=value` of a Set-Cookie for `name`.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap_or("").to_string())
    }
    pub(crate) fn set_cookie_line(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or("")
            .to_string()
    }
    pub(crate) fn csrf(&self) -> String {
        let start = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

pub(crate) async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string();
    Reply { status, headers, body }
}

pub(crate) async fn get(app: &Router, path: &str, cookie: &str) -> Reply {
    send(app, Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap()).await
}

pub(crate) async fn post(app: &Router, path: &str, cookie: &str, form: &[(&str, &str)]) -> Reply {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('%', "%25").replace(' ', "+").replace('&', "%26")))
        .collect::<Vec<_>>()
        .join("&");
    let request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

/// Signs in; returns the session cookie (`__Host-pathwatch_session=…`) and where the sign-in sent us.
pub(crate) async fn sign_in(app: &Router, name: &str, password: &str) -> (String, Reply) {
    let form = get(app, "/login", "").await;
    let login_cookie = form.cookie("__Secure-pathwatch_login").expect("login CSRF cookie");
    let reply =
        post(app, "/login", &login_cookie, &[("name", name), ("password", password), ("csrf", &form.csrf())]).await;
    (reply.cookie("__Host-pathwatch_session").unwrap_or_default(), reply)
}

#[tokio::test]
async fn signing_in_gives_a_hardened_session_cookie_and_the_overview() {
    let rig = rig().await;
    assert_eq!(get(&rig.app, "/", "").await.location(), "/login");
    let (session, reply) = sign_in(&rig.app, "oncall", PASSWORD).await;
    assert_eq!((reply.status, reply.location()), (StatusCode::SEE_OTHER, "/"));
    let line = reply.set_cookie_line("__Host-pathwatch_session");
    assert!(!line.contains("Domain"), "__Host- cookies carry no Domain: {line}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(line.contains(attribute), "{line}");
    }
    let home = get(&rig.app, "/", &session).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("Signed in as oncall, acting as oncall for all organisations")
            && home.body.contains("collector: http://127.0.0.1:4318")
    );
    let footer = home.body.split("<footer>").nth(1).unwrap_or_default();
    assert!(footer.contains("Page updated ") && (footer.contains(" GMT.") || footer.contains(" BST.")), "{footer}");
    // The session token is stored only as a hash.
    let token = session.split('=').nth(1).unwrap();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT token_sha256 FROM sessions").fetch_all(rig.accounts.pool()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
}

#[tokio::test]
async fn wrong_passwords_and_forged_forms_are_refused_and_repeated_failures_throttled() {
    let rig = rig().await;
    let (_, reply) = sign_in(&rig.app, "oncall", "not the password at all").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("Wrong account name or password."));
    let (_, unknown) = sign_in(&rig.app, "nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "unknown names look like wrong passwords");

    // No CSRF cookie, or a token that does not match it: refused without checking the password.
    let forged = post(&rig.app, "/login", "", &[("name", "oncall"), ("password", PASSWORD), ("csrf", "x")]).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.cookie("__Host-pathwatch_session").is_none());

    // A post from another site is refused even with a valid token; `Origin: null` (what browsers
    // send under no-referrer) falls back on the token.
    let form = get(&rig.app, "/login", "").await;
    let login_cookie = form.cookie("__Secure-pathwatch_login").unwrap();
    let body = format!("name=oncall&password={}&csrf={}", PASSWORD.replace(' ', "+"), form.csrf());
    let from = |origin: &str| {
        Request::post("/login")
            .header(header::COOKIE, &login_cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, origin)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    assert_eq!(send(&rig.app, from("https://evil.example")).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(send(&rig.app, from("null")).await.status, StatusCode::SEE_OTHER);

    // The successful sign-in just now cleared earlier failures: five more lock the name out.
    for _ in 0..5 {
        sign_in(&rig.app, "oncall", "still not the password").await;
    }
    let (session, throttled) = sign_in(&rig.app, "oncall", PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
    assert!(session.is_empty());
    let retry: u64 = throttled.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    // Another account is not locked out by someone guessing this one.
    assert_eq!(sign_in(&rig.app, "admin", PASSWORD).await.1.status, StatusCode::SEE_OTHER);
}

/// Every route for every role is walked in `routes`, on a dashboard with data.
#[tokio::test]
async fn the_accounts_page_lists_every_account_with_its_role() {
    let rig = rig().await;
    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let page = get(&rig.app, "/admin/accounts", &admin).await;
    assert!(page.body.contains("ig-lead") && page.body.contains("safety_officer"), "{}", page.body);
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let rig = rig().await;
    rig.accounts.create("newbie", Role::IgLead, &[], "one time password 1", true).await.unwrap();
    let (session, reply) = sign_in(&rig.app, "newbie", "one time password 1").await;
    assert_eq!(reply.location(), "/account/password");
    assert_eq!(get(&rig.app, "/", &session).await.location(), "/account/password");
    let form = get(&rig.app, "/account/password", &session).await;
    assert!(form.body.contains("one-time password"));
    let csrf = form.csrf();
    let mismatch = post(
        &rig.app,
        "/account/password",
        &session,
        &[
            ("csrf", &csrf),
            ("current", "one time password 1"),
            ("new", "my own long passphrase"),
            ("confirm", "different"),
        ],
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let short = post(
        &rig.app,
        "/account/password",
        &session,
        &[("csrf", &csrf), ("current", "one time password 1"), ("new", "short"), ("confirm", "short")],
    )
    .await;
    assert!(short.body.contains("at least 12 characters"), "{}", short.body);
    let changed = post(
        &rig.app,
        "/account/password",
        &session,
        &[
            ("csrf", &csrf),
            ("current", "one time password 1"),
            ("new", "my own long passphrase"),
            ("confirm", "my own long passphrase"),
        ],
    )
    .await;
    assert_eq!(changed.location(), "/");
    let fresh = changed.cookie("__Host-pathwatch_session").unwrap();
    assert_eq!(get(&rig.app, "/", &fresh).await.status, StatusCode::OK);
    // The session that signed in with the old password is over.
    assert_eq!(get(&rig.app, "/", &session).await.location(), "/login");
    assert!(!rig.accounts.get("newbie").await.unwrap().must_change_password);
}

#[tokio::test]
async fn signing_out_needs_the_form_token_and_ends_the_session() {
    let rig = rig().await;
    let (session, _) = sign_in(&rig.app, "safety-officer", PASSWORD).await;
    let home = get(&rig.app, "/", &session).await;
    let refused = post(&rig.app, "/logout", &session, &[("csrf", "not-the-token")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&rig.app, "/", &session).await.status, StatusCode::OK);
    let out = post(&rig.app, "/logout", &session, &[("csrf", &home.csrf())]).await;
    assert_eq!(out.location(), "/login");
    assert_eq!(get(&rig.app, "/", &session).await.location(), "/login");
}

#[tokio::test]
async fn a_disabled_account_loses_its_session() {
    let rig = rig().await;
    let (session, _) = sign_in(&rig.app, "oncall", PASSWORD).await;
    rig.accounts.set_disabled("oncall", true).await.unwrap();
    assert_eq!(get(&rig.app, "/", &session).await.location(), "/login");
}

/// HEAD is GET without the body (uptime checks, `curl -I`): admitted on the GET route's roles.
#[tokio::test]
async fn head_is_answered_as_get_is() {
    let rig = rig().await;
    let (session, _) = sign_in(&rig.app, "oncall", PASSWORD).await;
    let head =
        |path: &'static str| Request::head(path).header(header::COOKIE, session.as_str()).body(Body::empty()).unwrap();
    assert_eq!(send(&rig.app, head("/")).await.status, StatusCode::OK);
    assert_eq!(send(&rig.app, head("/admin/accounts")).await.status, StatusCode::FORBIDDEN, "not on-call's");
}

#[tokio::test]
async fn nothing_but_sign_in_is_served_before_signing_in() {
    let rig = rig().await;
    for route in route_table() {
        let request = Request::builder()
            .method(route.method)
            .uri(route.path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("csrf=x"))
            .unwrap();
        let reply = send(&rig.app, request).await;
        if route.path.starts_with("/api/") {
            // The API answers 401 with a JSON error rather than redirecting.
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{} {}", route.method, route.path);
            assert!(reply.body.contains("\"error\""), "{}", reply.body);
        } else {
            assert_eq!(
                (reply.status, reply.location()),
                (StatusCode::SEE_OTHER, "/login"),
                "{} {}",
                route.method,
                route.path
            );
        }
    }
    // A malformed form gets the HTML error page, not a framework message.
    let (session, _) = sign_in(&rig.app, "oncall", PASSWORD).await;
    let reply = post(&rig.app, "/logout", &session, &[("wrong", "field")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("<h1>Form not accepted</h1>"), "{}", reply.body);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let rig = rig().await;
    let (session, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    for (path, cookie) in
        [("/login", ""), ("/", ""), ("/", session.as_str()), ("/nowhere", ""), ("/static/app.css", "")]
    {
        let reply = get(&rig.app, path, cookie).await;
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{path}: {csp}"
        );
        assert_eq!(reply.headers[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    }
    assert_eq!(get(&rig.app, "/nowhere", "").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_time_out_when_idle_and_after_their_lifetime() {
    use dashboard::auth::sessions::{SessionPolicy, Sessions};
    let rig = rig().await;
    let minute = 60_000_000_000i64;
    let sessions = Sessions::new(
        rig.accounts.pool().clone(),
        SessionPolicy { idle_timeout_ns: 30 * minute, max_lifetime_ns: 720 * minute },
    );
    let token = sessions.start("oncall", 0).await.unwrap();
    assert!(sessions.find(&token, 29 * minute).await.unwrap().is_some());
    assert!(sessions.find(&token, 58 * minute).await.unwrap().is_some(), "activity keeps it alive");
    assert!(sessions.find(&token, 89 * minute).await.unwrap().is_none(), "31 idle minutes end it");
    let token = sessions.start("oncall", 0).await.unwrap();
    let mut t = 0;
    while t < 760 * minute {
        t += 20 * minute;
        let alive = sessions.find(&token, t).await.unwrap().is_some();
        assert_eq!(alive, t <= 720 * minute, "at {} minutes: alive for 12 hours of activity, then over", t / minute);
    }
}

/// Behind a reverse proxy every sign-in comes from the proxy's address: with the proxy trusted,
/// `X-Forwarded-For` names the client, so one client's failures do not lock out the others; from an
/// address not trusted the header is ignored (else anyone could claim any address).
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_one_throttled() {
    use dashboard::auth::peer::client_address;
    let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
    let trusted = vec!["10.0.0.0/24".parse().unwrap()];
    let headers = |xff: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    };
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(client_address(proxy, &headers("203.0.113.5"), &trusted), ip("203.0.113.5"));
    // The client's own claim (left) is passed over for what the trusted proxy heard (right-most).
    assert_eq!(client_address(proxy, &headers("1.2.3.4, 203.0.113.5, 10.0.0.3"), &trusted), ip("203.0.113.5"));
    assert_eq!(client_address(proxy, &headers("not-an-address"), &trusted), proxy);
    assert_eq!(client_address(ip("198.51.100.9"), &headers("203.0.113.5"), &trusted), ip("198.51.100.9"));
    assert_eq!(client_address(proxy, &headers("203.0.113.5"), &[]), proxy, "no proxy trusted: header ignored");
    // A listener on [::] sees the proxy as ::ffff:10.0.0.2; some proxies add ports; IPv6 in brackets.
    assert_eq!(client_address(ip("::ffff:10.0.0.2"), &headers("203.0.113.5:4711"), &trusted), ip("203.0.113.5"));
    assert_eq!(client_address(proxy, &headers("[2001:db8::7]:4711"), &trusted), ip("2001:db8::7"));

    // Through the router: one address's failures lock out that address, not another behind the proxy.
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("oncall", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    let config = WebConfig { trusted_proxies: trusted, ..WebConfig::default() };
    let app = router(DashboardState::builder(accounts, RunningParts { lines: vec![] }, config).build());
    let attempt = |client: &'static str, password: &'static str| {
        let app = app.clone();
        async move {
            let form = get(&app, "/login", "").await;
            let cookie = form.cookie("__Secure-pathwatch_login").unwrap();
            let body = format!("name=oncall&password={}&csrf={}", password.replace(' ', "+"), form.csrf());
            let mut request = Request::post("/login")
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::HOST, "127.0.0.1:8080")
                .header("x-forwarded-for", client)
                .body(Body::from(body))
                .unwrap();
            let peer = std::net::SocketAddr::from(([10, 0, 0, 2], 40000));
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            send(&app, request).await.status
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("203.0.113.5", "a wrong password").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt("203.0.113.5", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "that client is locked out");
    assert_eq!(attempt("203.0.113.6", PASSWORD).await, StatusCode::SEE_OTHER, "another behind the same proxy is not");
}
