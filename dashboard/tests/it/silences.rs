//! Silences, maintenance windows and acknowledgement: in the alert engine against a real webhook
//! receiver and a real SMTP server, and on the pages and the API.

use std::time::Duration;

use audit_store::NANOS_PER_SEC;
use dashboard::auth::accounts::Accounts;
use engine::alerts::{self, AckRefused, AlertEngine};
use engine::notify::{Notifier, Transition};
use engine::silences::{self, NewSilence, Target};

use crate::alerts::{receiver, status};

const MIN: u64 = 60 * NANOS_PER_SEC;
const HOUR: u64 = 60 * MIN;

fn window(target: Target, from: u64, to: u64) -> NewSilence {
    NewSilence {
        target,
        reason: "PDS planned maintenance CHG-1234".into(),
        starts_ns: from as i64,
        ends_ns: Some(to as i64),
        recurrence: String::new(),
        duration_secs: 0,
    }
}

async fn events(pool: &state::Pool, alert: i64) -> Vec<String> {
    alerts::history(pool, alert).await.unwrap().into_iter().map(|h| h.event).collect()
}

#[tokio::test]
async fn an_alert_inside_a_window_is_recorded_not_notified_and_notified_when_the_window_ends_still_firing() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let pool = accounts.pool().clone();
    let (url, received) = receiver().await;
    let engine = AlertEngine::new(
        pool.clone(),
        Notifier::new(None, vec![url]).unwrap(),
        Duration::from_secs(3600),
        "",
        "http://x",
    );
    // Relative to a fixed day: no test depends on today's date.
    let t0 = 200 * 86_400 * NANOS_PER_SEC;
    let silence = window(Target::Slo("pds-availability".into()), t0, t0 + 2 * HOUR);
    silence.check(t0 as i64).unwrap();
    let silence = silences::create(&pool, &silence, "sam", t0 as i64).await.unwrap();

    // Fires inside the window: recorded, shown as silenced, nobody told; no reminder either.
    for at in [t0 + MIN, t0 + HOUR + 30 * MIN] {
        assert!(engine.apply(&status(100, at), at as i64).await.unwrap().is_none(), "at +{} min", (at - t0) / MIN);
    }
    let open = alerts::recent(&pool, 10).await.unwrap().remove(0);
    assert_eq!((open.resolved_ns, open.held, open.silence_id, open.notified), (None, 1, silence.id, 0));
    assert_eq!(events(&pool, open.id).await, ["fired", "silenced", "not_notified"]);
    assert!(received.lock().unwrap().is_empty(), "nobody is told during the window");

    // The window ends with the alert still firing: notified then, saying which window held it.
    let after = t0 + 2 * HOUR + MIN;
    let sent = engine.apply(&status(100, after), after as i64).await.unwrap().expect("notified as the window ends");
    assert_eq!(sent.transition, Transition::Firing);
    let note = sent.silence.as_ref().unwrap();
    assert_eq!((note.id, note.holding, note.author.as_str()), (silence.id, false, "sam"));
    assert!(sent.body().contains("has ended with the alert still open"), "{}", sent.body());
    let hook = received.lock().unwrap().clone();
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0]["transition"], "firing");
    assert_eq!(hook[0]["silence"]["reason"], "PDS planned maintenance CHG-1234");
    assert_eq!(hook[0]["dashboard_url"], format!("http://x/alerts/{}", open.id));
    assert_eq!(events(&pool, open.id).await, ["fired", "silenced", "not_notified", "window_ended", "notified"]);
}

#[tokio::test]
async fn an_alert_that_fires_and_clears_inside_a_window_is_never_notified() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let pool = accounts.pool().clone();
    let (url, received) = receiver().await;
    let engine = AlertEngine::new(pool.clone(), Notifier::new(None, vec![url]).unwrap(), Duration::ZERO, "", "");
    let t0 = 200 * 86_400 * NANOS_PER_SEC;
    // The window covers the pathway the SLO measures, not the SLO by name.
    let pathway = engine::pathways::default_pathway("pds");
    let new = window(Target::Pathway(pathway.id.clone()), t0, t0 + HOUR);
    let silence = silences::create(&pool, &new, "sam", t0 as i64).await.unwrap();
    let all = silences::current(&pool, t0 as i64).await.unwrap();
    for minute in 1..=20 {
        let at = t0 + minute * MIN;
        let failing = if minute < 5 { 100 } else { 0 };
        let covering = silences::covering(&all, "pds-availability", std::slice::from_ref(&pathway.id), at as i64);
        assert_eq!(covering.map(|s| s.id), Some(silence.id));
        assert!(engine.apply_with(&status(failing, at), None, covering, at as i64).await.unwrap().is_none());
    }
    let alert = alerts::recent(&pool, 10).await.unwrap().remove(0);
    assert!(alert.resolved_ns.is_some());
    assert_eq!(events(&pool, alert.id).await.last().unwrap(), "resolved_quietly");
    // After the window nothing is owed for it.
    let after = t0 + 2 * HOUR;
    assert!(engine.apply(&status(0, after), after as i64).await.unwrap().is_none());
    assert!(received.lock().unwrap().is_empty(), "{:?}", received.lock().unwrap());
    // Ended by hand: no longer covers anything, and ending it twice says so.
    assert!(silences::end(&pool, silence.id, "sam", (t0 + 30 * MIN) as i64).await.unwrap());
    assert!(!silences::end(&pool, silence.id, "sam", (t0 + 31 * MIN) as i64).await.unwrap());
    let ended = silences::get(&pool, silence.id).await.unwrap().unwrap();
    assert_eq!(ended.state((t0 + 31 * MIN) as i64), silences::SilenceState::Ended);
}

/// An alert that was notified and resolves inside a window owes its RESOLVED; a newer alert firing
/// and clearing inside the same window does not drop it: it goes out when the window ends.
#[tokio::test]
async fn a_resolved_held_by_a_window_is_not_lost_when_a_newer_alert_fires_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let pool = accounts.pool().clone();
    let (url, received) = receiver().await;
    let engine =
        AlertEngine::new(pool.clone(), Notifier::new(None, vec![url]).unwrap(), Duration::from_secs(3600), "", "");
    let t0 = 200 * 86_400 * NANOS_PER_SEC;
    assert_eq!(
        engine.apply(&status(100, t0), t0 as i64).await.unwrap().map(|n| n.transition),
        Some(Transition::Firing)
    );
    let first = alerts::recent(&pool, 1).await.unwrap()[0].id;
    // A window opens; the alert clears inside it (held), then another fires and clears inside it.
    let new = window(Target::Slo("pds-availability".into()), t0 + MIN, t0 + 3 * HOUR);
    silences::create(&pool, &new, "sam", (t0 + MIN) as i64).await.unwrap();
    let mut at = t0 + 2 * MIN;
    for failing in [0, 0, 0, 0, 0, 0, 0, 100, 100, 0, 0, 0, 0, 0, 0, 0] {
        assert!(
            engine.apply(&status(failing, at), at as i64).await.unwrap().is_none(),
            "held at +{} min",
            (at - t0) / MIN
        );
        at += MIN;
    }
    let all = alerts::recent(&pool, 10).await.unwrap();
    assert_eq!(all.len(), 2, "a second alert fired inside the window: {all:?}");
    assert!(all.iter().all(|a| a.resolved_ns.is_some() && a.held == 0), "{all:?}");
    // The window ends: the first alert's RESOLVED goes out; nothing of the second, nobody heard of it.
    let after = t0 + 3 * HOUR + MIN;
    let sent = engine.apply(&status(0, after), after as i64).await.unwrap().expect("the held RESOLVED");
    assert_eq!(sent.transition, Transition::Resolved);
    assert!(sent.dashboard_url.ends_with(&format!("/alerts/{first}")), "{}", sent.dashboard_url);
    assert!(engine.apply(&status(0, after + MIN), (after + MIN) as i64).await.unwrap().is_none());
    let kinds: Vec<String> =
        received.lock().unwrap().iter().map(|n| n["transition"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["firing", "resolved"]);
}

/// A pathway's silence covers every SLO measuring it: when such an SLO also measures another
/// organisation's pathway (a shared canary flow), someone limited to their own may not silence it.
#[tokio::test]
async fn a_pathway_whose_slo_also_measures_another_organisations_pathway_is_not_theirs_to_silence() {
    use crate::web::{get, post, sign_in};
    use axum::http::StatusCode;
    const PASSWORD: &str = "correct horse battery";
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts
        .create("a-oncall", dashboard::auth::accounts::Role::Oncall, &["A81001".into()], PASSWORD, false)
        .await
        .unwrap();
    // Two pathways on the same PDS canary: one A81001's, one B82002's; one SLO measures both.
    let mut a = engine::pathways::default_pathway("pds");
    a.organisations = vec!["A81001".into()];
    let mut b = engine::pathways::default_pathway("pds");
    (b.id, b.name, b.organisations) = ("b-look-up".into(), "B's look-up".into(), vec!["B82002".into()]);
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let state = dashboard::state::DashboardState::builder(
        accounts.clone(),
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(audit_store::AnyStore::Sqlite(store), vec![engine::slo::SloConfig::availability("pds")], vec![a, b])
    .build();
    let app = dashboard::web::router(state);
    let (session, _) = sign_in(&app, "a-oncall", PASSWORD).await;
    let page = get(&app, "/silences", &session).await;
    assert!(!page.body.contains("pathway:look-up-patient"), "not offered: {}", page.body);
    let ends = domain::uk_time::local(domain::Clock::System.now_ns() + 3_600 * NANOS_PER_SEC)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let fields =
        [("csrf", page.csrf()), ("target", "pathway:look-up-patient".into()), ("reason", "x".into()), ("ends", ends)];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = post(&app, "/silences", &session, &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

#[tokio::test]
async fn an_acknowledged_alert_is_not_reminded_until_it_escalates_and_every_channel_hears_who_has_it() {
    let smtp = crate::assurance::smtp();
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let pool = accounts.pool().clone();
    let (url, received) = receiver().await;
    let notifier = Notifier::new(smtp.as_ref().map(|(email, _)| email.clone()), vec![url]).unwrap();
    let engine = AlertEngine::new(pool.clone(), notifier, Duration::from_secs(4 * 3600), "", "http://x");
    let t0 = 200 * 86_400 * NANOS_PER_SEC;
    // A marker in the SLO's name finds this test's messages in the shared maildir.
    let marker = format!("ack-{}", std::process::id());
    let named = |failing: u64, at: u64| engine::slo_eval::SloStatus { name: marker.clone(), ..status(failing, at) };
    let sent = engine.apply(&named(3, t0), t0 as i64).await.unwrap().map(|n| n.transition);
    assert_eq!(sent, Some(Transition::Firing), "3 % failing: a ticket");
    let id = alerts::recent(&pool, 1).await.unwrap()[0].id;

    let acked = alerts::acknowledge(&pool, id, "sam", (t0 + MIN) as i64).await.unwrap().unwrap();
    assert_eq!((acked.acknowledged_by.as_str(), acked.acknowledged_ns), ("sam", Some((t0 + MIN) as i64)));
    assert_eq!(
        alerts::acknowledge(&pool, id, "alex", (t0 + MIN) as i64).await.unwrap(),
        Err(AckRefused::Already("sam".into()))
    );
    assert_eq!(alerts::acknowledge(&pool, id + 99, "alex", t0 as i64).await.unwrap(), Err(AckRefused::NotFound));
    // The channels hear who has it at the next evaluation.
    let at = t0 + 2 * MIN;
    let told = engine.apply(&named(3, at), at as i64).await.unwrap().expect("the acknowledgement goes out");
    assert_eq!(told.transition, Transition::Acknowledged);
    assert_eq!(told.acknowledged.as_ref().map(|a| a.by.as_str()), Some("sam"));
    // Past the repeat interval: no reminder while someone has it.
    let at = t0 + 5 * HOUR;
    assert!(engine.apply(&named(3, at), at as i64).await.unwrap().is_none());
    // An escalation is sent, and needs acknowledging again: reminders resume.
    let at = t0 + 5 * HOUR + MIN;
    let escalated = engine.apply(&named(100, at), at as i64).await.unwrap().expect("escalated");
    assert_eq!(escalated.transition, Transition::Escalated);
    assert!(escalated.acknowledged.is_none());
    let at = t0 + 9 * HOUR + 2 * MIN;
    assert_eq!(engine.apply(&named(100, at), at as i64).await.unwrap().map(|n| n.transition), Some(Transition::Repeat));
    assert_eq!(
        events(&pool, id).await,
        [
            "fired",
            "notified",
            "acknowledged",
            "notified",
            "escalated",
            "acknowledgement_cleared",
            "notified",
            "notified"
        ]
    );
    let hook: Vec<String> =
        received.lock().unwrap().iter().map(|n| n["transition"].as_str().unwrap().to_string()).collect();
    assert_eq!(hook, ["firing", "acknowledged", "escalated", "repeat"]);
    assert_eq!(received.lock().unwrap()[1]["acknowledged"]["by"], "sam");

    let Some((_, maildir)) = smtp else { return };
    let message = crate::assurance::message_with(&maildir, &[&marker, "ACKNOWLEDGED"]).await;
    assert!(message.contains(&format!("Subject: [Pathwatch] ACKNOWLEDGED ticket: {marker}")), "{message}");
    assert!(message.contains("Acknowledged by: sam at "), "{message}");
}

/// Two organisations' pathways, a national one, and on-call staff of each and of neither: what each
/// sees, acknowledges and silences, on the pages and through the API.
#[tokio::test]
async fn on_call_staff_see_acknowledge_and_silence_only_what_is_wholly_their_organisations() {
    use crate::web::{get, post, send, sign_in};
    use axum::http::{header, Request, StatusCode};
    use dashboard::auth::accounts::Role;
    const PASSWORD: &str = "correct horse battery";
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("a-oncall", Role::Oncall, &["A81001".into()], PASSWORD, false).await.unwrap();
    accounts.create("national", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    let pool = accounts.pool().clone();
    // PDS's pathway is A81001's, NRL's B82002's, MESH's national: all three SLOs fire.
    let engine = AlertEngine::new(pool.clone(), Notifier::new(None, vec![]).unwrap(), Duration::ZERO, "", "");
    let now = 200 * 86_400 * NANOS_PER_SEC;
    let named = |name: &str, flow: &str| engine::slo_eval::SloStatus {
        name: name.into(),
        flow: flow.into(),
        ..status(100, now)
    };
    for (name, flow) in [("pds-availability", "pds"), ("nrl-availability", "nrl"), ("mesh-availability", "mesh")] {
        assert!(engine.apply(&named(name, flow), now as i64).await.unwrap().is_some());
    }
    let id_of = |slo: &'static str| {
        let pool = pool.clone();
        async move { alerts::recent(&pool, 10).await.unwrap().into_iter().find(|a| a.slo == slo).unwrap().id.to_string() }
    };
    let (pds, nrl, mesh) =
        (id_of("pds-availability").await, id_of("nrl-availability").await, id_of("mesh-availability").await);
    let mut pathways = vec![];
    for (flow, org) in [("pds", "A81001"), ("nrl", "B82002"), ("mesh", "")] {
        let mut p = engine::pathways::default_pathway(flow);
        p.organisations = if org.is_empty() { vec![] } else { vec![org.into()] };
        pathways.push(p);
    }
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let slos = ["pds", "nrl", "mesh"].map(engine::slo::SloConfig::availability).to_vec();
    let state = dashboard::state::DashboardState::builder(
        accounts.clone(),
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(audit_store::AnyStore::Sqlite(store), slos, pathways.clone())
    .with_clock(domain::Clock::manual(now + MIN))
    .build();
    let app = dashboard::web::router(state);
    let (a, _) = sign_in(&app, "a-oncall", PASSWORD).await;
    let csrf = get(&app, "/", &a).await.csrf();

    // Another organisation's alert reads as if it did not exist; a national one is seen, not acknowledged.
    assert_eq!(get(&app, &format!("/alerts/{nrl}"), &a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, &format!("/api/v1/alerts/{nrl}"), &a).await.status, StatusCode::NOT_FOUND);
    let national = get(&app, &format!("/alerts/{mesh}"), &a).await;
    assert_eq!(national.status, StatusCode::OK);
    assert!(
        national.body.contains("other organisations too") && !national.body.contains(">Acknowledge</button>"),
        "{}",
        national.body
    );
    for (id, refused) in [(&nrl, StatusCode::NOT_FOUND), (&mesh, StatusCode::FORBIDDEN)] {
        let reply = post(&app, &format!("/alerts/{id}/acknowledge"), &a, &[("csrf", &csrf)]).await;
        assert_eq!(reply.status, refused, "{}", reply.body);
    }
    // Their own: acknowledged from the page, and the page says by whom.
    let own = post(&app, &format!("/alerts/{pds}/acknowledge"), &a, &[("csrf", &csrf)]).await;
    assert_eq!((own.status, own.location()), (StatusCode::SEE_OTHER, format!("/alerts/{pds}").as_str()));
    let page = get(&app, &format!("/alerts/{pds}"), &a).await;
    assert!(page.body.contains("acknowledged by a-oncall") && page.body.contains("Acknowledged"), "{}", page.body);
    let again = post(&app, &format!("/alerts/{pds}/acknowledge"), &a, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("a-oncall has acknowledged it"), "{}", again.body);

    // Silences: the form offers only what is wholly theirs; anything else is refused.
    let form = get(&app, "/silences", &a).await;
    assert!(form.body.contains("value=\"slo:pds-availability\""), "{}", form.body);
    assert!(
        !form.body.contains("slo:nrl-availability") && !form.body.contains("slo:mesh-availability"),
        "{}",
        form.body
    );
    let silence = |target: &str, ends: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("target", target.into()),
            ("reason", "release".into()),
            ("kind", "once".into()),
            ("ends", ends.into()),
        ]
    };
    let ends = domain::uk_time::local(now + 2 * HOUR).format("%Y-%m-%dT%H:%M").to_string();
    let ask = |fields: Vec<(&'static str, String)>| {
        let app = app.clone();
        let a = a.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&app, "/silences", &a, &fields).await
        }
    };
    assert_eq!(
        ask(silence("slo:nrl-availability", &ends)).await.status,
        StatusCode::BAD_REQUEST,
        "unseen: as if absent"
    );
    let shared = ask(silence("pathway:send-by-mesh", &ends)).await;
    assert_eq!(shared.status, StatusCode::FORBIDDEN, "national: {}", shared.body);
    let bad = ask(silence("slo:pds-availability", "tomorrow")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("ends: &#34;tomorrow&#34; is not a date and time"), "{}", bad.body);
    let made = ask(silence("pathway:look-up-patient", &ends)).await;
    assert_eq!((made.status, made.location()), (StatusCode::SEE_OTHER, "/silences"), "{}", made.body);
    let list = get(&app, "/silences", &a).await;
    assert!(list.body.contains("pathway Look up a patient") && list.body.contains("tag-active"), "{}", list.body);

    // Someone with no organisation limit silences the national pathway; A's on-call sees it, cannot end it.
    let (n, _) = sign_in(&app, "national", PASSWORD).await;
    let n_csrf = get(&app, "/", &n).await.csrf();
    let fields = [
        ("csrf", n_csrf.as_str()),
        ("target", "pathway:send-by-mesh"),
        ("reason", "MESH upgrade"),
        ("kind", "once"),
        ("ends", ends.as_str()),
    ];
    assert_eq!(post(&app, "/silences", &n, &fields).await.status, StatusCode::SEE_OTHER);
    let theirs: Vec<_> = silences::current(&pool, 0).await.unwrap();
    let mesh_silence = theirs.iter().find(|s| s.reason == "MESH upgrade").unwrap().id;
    let ending = post(&app, &format!("/silences/{mesh_silence}/end"), &a, &[("csrf", &csrf)]).await;
    assert_eq!(ending.status, StatusCode::FORBIDDEN, "{}", ending.body);

    // The API: reads with the session; writes need a token, and the same scope applies.
    let listed = get(&app, "/api/v1/silences", &a).await.json();
    assert_eq!(listed["silences"].as_array().unwrap().len(), 2, "{listed}");
    let cookie_write = post(&app, "/api/v1/silences", &a, &[]).await;
    assert_eq!(cookie_write.status, StatusCode::UNAUTHORIZED, "{}", cookie_write.body);
    let tokens = dashboard::auth::api_tokens::ApiTokens::new(&accounts);
    let (_, token) = tokens.create(&accounts, "a-oncall", "", None, (now + MIN) as i64).await.unwrap();
    let call = |path: String, body: serde_json::Value| {
        let request = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        send(&app, request)
    };
    let at = |ns: u64| chrono::DateTime::from_timestamp_nanos(ns as i64).to_rfc3339();
    let refused = call(
        "/api/v1/silences".into(),
        serde_json::json!({"pathway": "send-by-mesh", "reason": "x", "ends_at": at(now + HOUR)}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let unknown = call(
        "/api/v1/silences".into(),
        serde_json::json!({"slo": "pds-availability", "reason": "x", "until": "later"}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["error"].as_str().unwrap().contains("unknown field `until`"), "{}", unknown.body);
    let both = call(
        "/api/v1/silences".into(),
        serde_json::json!({"slo": "pds-availability", "pathway": "look-up-patient", "reason": "x"}),
    )
    .await;
    assert!(both.json()["error"].as_str().unwrap().contains("exactly one of pathway and slo"), "{}", both.body);
    let weekly = serde_json::json!({"slo": "pds-availability", "reason": "weekly PDS maintenance", "recurrence": "0 2 * * Sun", "duration_minutes": 240});
    let made = call("/api/v1/silences".into(), weekly).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.json()["id"].as_i64().unwrap();
    let ended = call(format!("/api/v1/silences/{id}/end"), serde_json::json!({})).await;
    assert_eq!((ended.status, ended.json()["state"].as_str()), (StatusCode::OK, Some("ended")), "{}", ended.body);
    assert_eq!(call(format!("/api/v1/silences/{id}/end"), serde_json::json!({})).await.status, StatusCode::CONFLICT);
    assert_eq!(
        call(format!("/api/v1/silences/{mesh_silence}/end"), serde_json::json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(format!("/api/v1/alerts/{nrl}/acknowledge"), serde_json::json!({})).await.status,
        StatusCode::NOT_FOUND
    );
}
