//! Every route in `route_table()`, for every role, on a dashboard with data behind every page: a role the
//! table admits is served (GET pages answer 200 with real ids; forms are judged on their content,
//! never refused for the role), and every other role gets 403, for reads and for form posts alike.

use axum::http::StatusCode;
use dashboard::auth::accounts::Role;
use dashboard::web::route_table;

use crate::findings::{draw_sample, raise, rig, PASSWORD};
use crate::web::{get, post, sign_in};
use audit_store::SpanStore;

#[tokio::test]
async fn every_route_serves_the_roles_it_admits_and_refuses_the_others() {
    let mut rig = rig().await;
    let finding = raise(&mut rig).await;
    let now = domain::Clock::System.now_ns_i64() as u64;
    rig.store.insert_spans(&crate::hazards::canary_run(7, now - 60_000_000_000, false)).await.unwrap();
    let trace = format!("{:032x}", 7);
    // A sample to open, drawn by an IG lead.
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let sample = draw_sample(&rig.app, &ig, "1", "7").await;
    let alert = rig.fire_alert().await.to_string();
    let incident = engine::incidents::NewIncident {
        title: "PDS look-ups failing".into(),
        severity: engine::incidents::Severity::Sev2,
        lead: "oncall".into(),
        pathways: vec!["look-up-patient".into()],
        exercise: String::new(),
        alert_id: 0,
        message: String::new(),
    };
    let incident =
        engine::incidents::declare(rig.accounts.pool(), &incident, "oncall", now as i64).await.unwrap().id.to_string();
    let known = engine::known_errors::KnownErrorInput {
        pathway: "look-up-patient".into(),
        title: "PDS 503s".into(),
        message_contains: "503".into(),
        workaround: "Use the paper form.".into(),
        ..Default::default()
    };
    let known =
        engine::known_errors::create(rig.accounts.pool(), &known, "oncall", now as i64).await.unwrap().id.to_string();

    let id_for = |path: &str| -> String {
        let id = if path.starts_with("/pathways/") || path.starts_with("/api/v1/pathways/") {
            "look-up-patient".to_string()
        } else if path.starts_with("/hazards/") || path.starts_with("/api/v1/hazards/") {
            "HAZ-001".to_string()
        } else if path.contains("/findings/") {
            finding.to_string()
        } else if path.contains("/samples/") {
            sample.clone()
        } else if path.starts_with("/alerts/") || path.starts_with("/api/v1/alerts/") {
            alert.clone()
        } else if path.starts_with("/incidents/") || path.starts_with("/api/v1/incidents/") {
            incident.clone()
        } else if path.starts_with("/known-errors/") && !path.ends_with("/retire") {
            // (Retiring needs nothing but the token: the walk would retire the one the edit
            // page then opens.)
            known.clone()
        } else {
            trace.clone()
        };
        let path = path.replace("{id}", &id);
        // Pages that need a query to show data get one.
        match path.as_str() {
            "/trace" => format!("/trace?q={trace}"),
            "/reports/download" => "/reports/download?report=dtac&from=2026-10-01&to=2026-11-01".into(),
            "/audit/search" => "/audit/search?user=recep1&from=2026-11-01&to=2026-12-01".into(),
            "/api/v1/audit/search" => "/api/v1/audit/search?user=recep1&from=2026-11-01&to=2026-12-01".into(),
            p if p.ends_with("/export") => format!("{p}?format=csv"),
            p => p.to_string(),
        }
    };

    let mut checked = 0;
    for (name, role) in
        [("oncall", Role::Oncall), ("ig", Role::IgLead), ("cso", Role::SafetyOfficer), ("admin", Role::Admin)]
    {
        let (session, _) = sign_in(&rig.app, name, PASSWORD).await;
        let csrf = get(&rig.app, "/", &session).await.csrf();
        // Signing out is everyone's and ends the session the walk uses; the sign-in tests cover it.
        for route in route_table().iter().filter(|r| r.path != "/logout") {
            let path = id_for(route.path);
            let admitted = route.roles.contains(&role);
            let reply = if route.method == "GET" {
                get(&rig.app, &path, &session).await
            } else {
                post(&rig.app, &path, &session, &[("csrf", &csrf)]).await
            };
            let what = format!("{role} {} {path}", route.method);
            if !admitted {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}");
            } else if route.method == "GET" {
                assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.body);
            } else {
                // A form with nothing but its token is judged on its content: 400, 401 for a wrong
                // current password, 303 when there was nothing to say; never 403 or back to sign-in.
                assert_ne!(reply.status, StatusCode::FORBIDDEN, "{what}: {}", reply.body);
                assert_ne!(reply.location(), "/login", "{what}");
                assert!(reply.status.is_client_error() || reply.status.is_redirection(), "{what}: {}", reply.status);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * (route_table().len() - 1), "every route but sign-out, for every role");
}
