//! Known errors kept on the dashboard: added, matched against the failing canary runs as
//! configured ones are, shown on the overview (and on the status page when public), edited,
//! retired; each mistake named; only over pathways wholly of the user's organisations.

use audit_store::{SpanStore, NANOS_PER_SEC};
use axum::http::StatusCode;
use dashboard::auth::accounts::{Accounts, Role};

use crate::web::{get, post, sign_in, Reply};

const PASSWORD: &str = "correct horse battery";

async fn rig() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    accounts.create("a-oncall", Role::Oncall, &["A81001".into()], PASSWORD, false).await.unwrap();
    accounts.create("cso", Role::SafetyOfficer, &[], PASSWORD, false).await.unwrap();
    // 4 Feb 2027, 12:00 UTC: a fixed instant. PDS (national) has failed with HTTP 503 for an hour.
    let now = 1_801_742_400 * NANOS_PER_SEC;
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    store.insert_spans(&crate::alerts::failed_runs("pds", 0, now)).await.unwrap();
    let config = engine::status::StatusPageConfig { access: engine::status::Access::Public, ..Default::default() };
    let state = dashboard::state::DashboardState::builder(
        accounts,
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(
        audit_store::AnyStore::Sqlite(store),
        vec![engine::slo::SloConfig::availability("pds")],
        vec![engine::pathways::default_pathway("pds")],
    )
    .with_status_page(config, engine::upstream::Upstream::default())
    .with_clock(domain::Clock::manual(now))
    .build();
    (dir, dashboard::web::router(state))
}

async fn submit(app: &axum::Router, who: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
    let (session, _) = sign_in(app, who, PASSWORD).await;
    let csrf = get(app, "/", &session).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    post(app, path, &session, &all).await
}

#[tokio::test]
async fn a_known_error_added_on_the_dashboard_matches_shows_its_workaround_and_retires() {
    let (_dir, app) = rig().await;
    let fields = |class: &'static str, message: &'static str| {
        vec![
            ("pathway", "look-up-patient"),
            ("title", "PDS answers 503 since release R42"),
            ("error_class", class),
            ("message_contains", message),
            ("workaround", "Use the paper look-up form."),
            ("expected", "2027-02-05T18:00"),
            ("public", "on"),
        ]
    };
    // Mistakes are named, field by field.
    let bad = submit(&app, "sam", "/known-errors", &fields("boom", "503")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("error_class: one of timeout"), "{}", bad.body);
    let vague = submit(&app, "sam", "/known-errors", &fields("", "")).await;
    assert!(vague.body.contains("matches every failure"), "{}", vague.body);
    let mut late = fields("", "503");
    late[5] = ("expected", "tomorrow");
    assert!(submit(&app, "sam", "/known-errors", &late).await.body.contains("expected: &#34;tomorrow&#34;"));
    late[5] = ("expected", "2027-02-03T18:00");
    assert!(submit(&app, "sam", "/known-errors", &late).await.body.contains("expected: that time has passed"));
    late[5] = ("expected", "-262143-01-01T00:00");
    assert_eq!(submit(&app, "sam", "/known-errors", &late).await.status, StatusCode::BAD_REQUEST, "not a panic");
    // Not wholly theirs: refused for someone limited to one organisation.
    assert_eq!(submit(&app, "a-oncall", "/known-errors", &fields("", "503")).await.status, StatusCode::FORBIDDEN);
    // Not an on-call role: refused.
    assert_eq!(submit(&app, "cso", "/known-errors", &fields("", "503")).await.status, StatusCode::FORBIDDEN);

    let made = submit(&app, "sam", "/known-errors", &fields("", "503")).await;
    assert_eq!((made.status, made.location()), (StatusCode::SEE_OTHER, "/known-errors"), "{}", made.body);
    let (sam, _) = sign_in(&app, "sam", PASSWORD).await;
    let overview = get(&app, "/", &sam).await;
    assert!(overview.body.contains("Known error KE-1: PDS answers 503 since release R42"), "{}", overview.body);
    assert!(
        overview.body.contains("Use the paper look-up form. Expected to be fixed by 5 Feb 2027, 18:00 GMT."),
        "{}",
        overview.body
    );
    let status = get(&app, "/status", "").await;
    assert!(status.body.contains("Use the paper look-up form."), "public: {}", status.body);
    // The pathway's own page and the API agree with the overview.
    let pathway = get(&app, "/pathways/look-up-patient", &sam).await;
    assert!(pathway.body.contains("Known error KE-1"), "{}", pathway.body);
    let api = get(&app, "/api/v1/pathways", &sam).await.json();
    assert_eq!(api["pathways"][0]["known_error"]["id"], "KE-1", "{api}");

    // Edited: no longer public; the status page gives the general words again.
    let edit = get(&app, "/known-errors/1", &sam).await;
    assert!(edit.body.contains("value=\"PDS answers 503 since release R42\""), "{}", edit.body);
    let mut private = fields("", "503");
    private.pop();
    assert_eq!(submit(&app, "sam", "/known-errors/1", &private).await.status, StatusCode::SEE_OTHER);
    // (The status page's figures are kept 30 s; the overview reads afresh.)
    let list = get(&app, "/known-errors", &sam).await;
    assert!(list.body.contains("not shown"), "{}", list.body);

    // Retired: matches nothing, stays listed.
    assert_eq!(submit(&app, "sam", "/known-errors/1/retire", &[]).await.status, StatusCode::SEE_OTHER);
    let overview = get(&app, "/", &sam).await;
    assert!(!overview.body.contains("KE-1"), "{}", overview.body);
    let list = get(&app, "/known-errors", &sam).await;
    assert!(
        list.body.contains("KE-1: PDS answers 503 since release R42 (Look up a patient), retired"),
        "{}",
        list.body
    );
    assert_eq!(submit(&app, "sam", "/known-errors/1/retire", &[]).await.status, StatusCode::CONFLICT);
    assert_eq!(get(&app, "/known-errors/99", &sam).await.status, StatusCode::NOT_FOUND);
}
