//! The status page for users: who may read it, what it shows (and never: traces, error text,
//! incident titles, exercises, other organisations' pathways), its JSON and Atom feeds, and
//! upstream status feeds served locally, polled and shown beside the pathways.

use std::time::Duration;

use audit_store::{SpanStore, NANOS_PER_SEC};
use axum::http::StatusCode;
use dashboard::auth::accounts::{Accounts, Role};
use engine::status::{Access, StatusPageConfig};
use engine::upstream::{FeedConfig, FeedFormat, Upstream};

use crate::web::{get, sign_in};

const PASSWORD: &str = "correct horse battery";

/// PDS failing for the last hour (national); MESH healthy runs yesterday (national); NRL B82002's.
async fn rig(
    access: Access,
    upstream: Upstream,
    feeds: Vec<FeedConfig>,
) -> (tempfile::TempDir, axum::Router, Accounts, u64) {
    let (dir, app, accounts, now, _, _) = rig_with_parts(access, upstream, feeds).await;
    (dir, app, accounts, now)
}

/// `rig`, with the store and the clock the pages read, for a test to stop one and move the other.
async fn rig_with_parts(
    access: Access,
    upstream: Upstream,
    feeds: Vec<FeedConfig>,
) -> (tempfile::TempDir, axum::Router, Accounts, u64, audit_store::SqliteStore, domain::Clock) {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    accounts.create("b-ig", Role::IgLead, &["B82002".into()], PASSWORD, false).await.unwrap();
    // 4 Feb 2027, 12:00 UTC: a fixed instant, nothing to do with today.
    let now = 1_801_742_400 * NANOS_PER_SEC;
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    store.insert_spans(&crate::alerts::failed_runs("pds", 0, now)).await.unwrap();
    let clock = domain::Clock::manual(now);
    let mut healthy = crate::alerts::failed_runs("mesh", 1000, now - 86_400 * NANOS_PER_SEC);
    for s in &mut healthy {
        s.status = audit_store::SpanStatus::Ok;
        s.status_message.clear();
        s.attributes = vec![("pathwatch.canary.status".into(), "healthy".into())];
    }
    store.insert_spans(&healthy).await.unwrap();
    let mut pathways = vec![engine::pathways::default_pathway("pds"), engine::pathways::default_pathway("mesh")];
    let mut nrl = engine::pathways::default_pathway("nrl");
    nrl.organisations = vec!["B82002".into()];
    pathways.push(nrl);
    let pool = accounts.pool();
    let declare = |title: &str, exercise: &str| engine::incidents::NewIncident {
        title: title.into(),
        severity: engine::incidents::Severity::Sev2,
        lead: "sam".into(),
        pathways: vec!["look-up-patient".into()],
        exercise: exercise.into(),
        alert_id: 0,
        // A stray control character pasted in: the Atom feed must stay well-formed.
        message: "Looking up patients is failing.\u{b} Use the fallback process.".into(),
    };
    let open =
        engine::incidents::declare(pool, &declare("INTERNAL pds-gw-3 certificate expired", ""), "sam", now as i64)
            .await
            .unwrap();
    engine::incidents::add_note(pool, open.id, "sam", "cert on pds-gw-3 expired at 02:00", false, now as i64)
        .await
        .unwrap()
        .unwrap();
    engine::incidents::declare(pool, &declare("DRILL mock breach", "mock breach"), "sam", now as i64).await.unwrap();
    let config =
        StatusPageConfig { access, title: "Booking app status".into(), upstream: feeds, ..StatusPageConfig::default() };
    let state = dashboard::state::DashboardState::builder(
        accounts.clone(),
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(
        audit_store::AnyStore::Sqlite(store.clone()),
        ["pds", "mesh", "nrl"].map(engine::slo::SloConfig::availability).to_vec(),
        pathways,
    )
    .with_status_page(config, upstream)
    .with_clock(clock.clone())
    .build();
    (dir, dashboard::web::router(state), accounts, now, store, clock)
}

/// Nothing internal: no trace or span ids, no error text, no incident titles or notes, no exercise,
/// no pathway of one organisation.
fn assert_nothing_internal(body: &str) {
    for internal in [
        "HTTP 503",
        "INTERNAL",
        "pds-gw-3",
        "DRILL",
        "mock breach",
        "Find a crisis plan",
        "canary pds",
        "Tell users",
        "run book",
        "INC-",
    ] {
        assert!(!body.contains(internal), "{internal:?} shows: {body}");
    }
    let hex32 = body.as_bytes().windows(32).any(|w| w.iter().all(|b| b.is_ascii_hexdigit()));
    assert!(!hex32, "a trace id shows: {body}");
}

#[tokio::test]
async fn a_public_status_page_shows_pathways_in_user_words_with_their_90_days_and_messages_for_users() {
    let (_dir, app, _accounts, _) = rig(Access::Public, Upstream::default(), vec![]).await;
    let page = get(&app, "/status", "").await;
    assert_eq!(page.status, StatusCode::OK, "no sign-in needed");
    assert_eq!(page.headers["cache-control"], "public, max-age=30");
    for shown in [
        "Booking app status",
        "1 of 2 services has problems.",
        "Look up a patient",
        "Not working",
        "Send results by MESH",
        "Use the fallback process.",
        "Investigating: we know something is wrong",
        "Use your usual fallback process until it is back",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert_eq!(page.body.matches("class=\"day day-").count(), 2 * 90, "a 90-day strip per pathway");
    assert!(page.body.contains("day day-major_outage") && page.body.contains("day day-operational"), "{}", page.body);
    assert_nothing_internal(&page.body);

    let json = get(&app, "/status.json", "").await;
    assert_nothing_internal(&json.body);
    let json = json.json();
    assert_eq!(json["indicator"], "major");
    assert_eq!(json["pathways"].as_array().unwrap().len(), 2);
    assert_eq!(json["pathways"][0]["days"].as_array().unwrap().len(), 90);
    assert_eq!(json["pathways"][0]["state"], "major_outage");
    assert_eq!(json["incidents"].as_array().unwrap().len(), 1, "the exercise is not there: {json}");
    assert_eq!(json["incidents"][0]["message"], "Looking up patients is failing.\u{b} Use the fallback process.");

    let atom = get(&app, "/status.atom", "").await;
    assert_eq!(atom.headers["content-type"], "application/atom+xml; charset=utf-8");
    assert_nothing_internal(&atom.body);
    let feed = feed_rs::parser::parse(atom.body.as_bytes()).expect("a well-formed Atom feed");
    assert_eq!(feed.entries.len(), 1);
    let entry = &feed.entries[0];
    assert_eq!(
        entry.title.as_ref().unwrap().content,
        "Look up a patient: Investigating: we know something is wrong and are finding out what"
    );
    assert!(entry.summary.as_ref().unwrap().content.contains("Use the fallback process"));
}

#[tokio::test]
async fn the_status_page_is_off_or_for_signed_in_users_only_as_configured() {
    let (_dir, app, _accounts, _) = rig(Access::Off, Upstream::default(), vec![]).await;
    for path in ["/status", "/status.json", "/status.atom"] {
        assert_eq!(get(&app, path, "").await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let (_dir, app, _accounts, _) = rig(Access::SignedIn, Upstream::default(), vec![]).await;
    assert_eq!(get(&app, "/status", "").await.location(), "/login");
    assert_eq!(get(&app, "/status.json", "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "/status.atom", "").await.status, StatusCode::UNAUTHORIZED);
    let (sam, _) = sign_in(&app, "sam", PASSWORD).await;
    let page = get(&app, "/status", &sam).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["cache-control"], "private, no-store", "each reader's own view: never kept by a proxy");
    assert!(page.body.contains("Look up a patient"), "{}", page.body);
    assert_nothing_internal(&page.body);
}

#[tokio::test]
async fn upstream_feeds_served_locally_are_polled_and_shown_beside_the_pathways() {
    // A local server with an Atom feed, a Statuspage summary and a feed that fails.
    let atom = r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>NHS England</title>
        <id>urn:nhse</id><updated>2027-02-04T11:00:00Z</updated>
        <entry><title>Personal Demographics Service: degraded performance</title><id>urn:e1</id>
        <updated>2027-02-04T11:00:00Z</updated><link href="https://status.example/pds"/></entry></feed>"#;
    let summary = r#"{"incidents":[{"name":"GP Connect provider errors","status":"identified","impact":"major",
        "updated_at":"2027-02-04T11:30:00Z","shortlink":"https://stspg.io/x"}],"scheduled_maintenances":[]}"#;
    let app = axum::Router::new()
        .route("/feed.atom", axum::routing::get(move || async move { atom }))
        .route("/summary.json", axum::routing::get(move || async move { summary }))
        .route("/down", axum::routing::get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let feed = |name: &str, path: &str, format| FeedConfig { name: name.into(), url: format!("{base}{path}"), format };
    let feeds = vec![
        feed("NHS England", "/feed.atom", FeedFormat::Atom),
        feed("GP system supplier", "/summary.json", FeedFormat::Statuspage),
        feed("Broken feed", "/down", FeedFormat::Atom),
    ];
    let upstream = Upstream::new(&feeds);
    let (_dir, app, _accounts, now) = rig(Access::Public, upstream.clone(), feeds.clone()).await;
    // The entries are dated on the rig's day.
    assert_eq!(chrono::DateTime::from_timestamp_nanos(now as i64).date_naive().to_string(), "2027-02-04");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    engine::upstream::poll_all(&client, &feeds, &upstream, &domain::Clock::manual(now)).await;

    let (sam, _) = sign_in(&app, "sam", PASSWORD).await;
    let overview = get(&app, "/", &sam).await;
    for shown in [
        "Upstream status",
        "Personal Demographics Service: degraded performance",
        "GP Connect provider errors</a> (identified (major impact))",
        "Broken feed: not read (answered 500 Internal Server Error)",
    ] {
        assert!(overview.body.contains(shown), "{shown}: {}", overview.body);
    }
    let status = get(&app, "/status", "").await;
    assert!(
        status.body.contains("Services we depend on") && status.body.contains("GP Connect provider errors"),
        "{}",
        status.body
    );
    // Users see that a feed is not available, never its address or the failure.
    assert!(status.body.contains("Broken feed: its notices are not available just now."), "{}", status.body);
    let json = get(&app, "/status.json", "").await;
    assert!(!json.body.contains("127.0.0.1") && !json.body.contains("500"), "{}", json.body);
    let json = json.json();
    assert_eq!(json["upstream"][0]["notices"][0]["link"], "https://status.example/pds");
    assert_eq!(json["upstream"][2]["available"], false);
}

/// The store goes away during an outage: the page keeps the last states it read, says they are
/// as they were then, and never answers 5xx; the figures are read afresh only every 30 s.
#[tokio::test]
async fn the_status_page_keeps_the_last_known_states_when_the_store_stops_answering() {
    let (_dir, app, _accounts, _, store, clock) = rig_with_parts(Access::Public, Upstream::default(), vec![]).await;
    let before = get(&app, "/status", "").await;
    assert!(before.body.contains("Not working") && !before.body.contains("cannot be read"), "{}", before.body);
    store.close().await;
    // Within 30 s the figures already read are served as they are.
    assert_eq!(get(&app, "/status", "").await.body, before.body);
    // Past 30 s they are worked out again: the store fails, the last states stay up, marked.
    clock.advance(Duration::from_secs(31));
    let mut after = get(&app, "/status", "").await;
    for _ in 0..100 {
        if after.body.contains("cannot be read just now") {
            break;
        }
        // The refresh runs apart from the request: the next reader sees its result.
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = get(&app, "/status", "").await;
    }
    assert_eq!(after.status, StatusCode::OK);
    assert!(
        after.body.contains("The services&#39; states cannot be read just now: these are as they were at"),
        "{}",
        after.body
    );
    assert!(after.body.contains("Not working") && after.body.contains("Look up a patient"), "{}", after.body);
    assert_eq!(get(&app, "/status.json", "").await.json()["pathways"][0]["state"], "major_outage");
}
