//! `/alerts`: every alert the signed-in user may see, firing first, and whether alert state is
//! up to date (the engine's last evaluation round).

use engine::alerts::{last_evaluation, Evaluation};

/// One alert as the page shows it.
pub struct AlertView {
    pub id: i64,
    /// FIRING or resolved.
    pub state: &'static str,
    /// What holds its notifications: "silenced", "acknowledged by sam", or empty.
    pub quiet: String,
    pub severity: String,
    pub slo: String,
    /// What it is about, and where to read more: an SLO (the SLO page) or a credential.
    pub subject: &'static str,
    pub subject_link: String,
    pub started: String,
    pub resolved: String,
    pub summary: String,
}

impl AlertView {
    pub fn of(a: &engine::alerts::Alert) -> AlertView {
        let quiet = match (a.resolved_ns, a.held != 0, a.acknowledged_by.as_str()) {
            (None, true, _) => format!("silenced (silence #{})", a.silence_id),
            (None, false, by) if !by.is_empty() => format!("acknowledged by {by}"),
            _ => String::new(),
        };
        let credential = a.slo.starts_with(engine::credentials::ALERT_PREFIX);
        AlertView {
            id: a.id,
            state: if a.resolved_ns.is_some() { "resolved" } else { "FIRING" },
            quiet,
            severity: a.severity.clone(),
            slo: a.slo.clone(),
            subject: if credential { "Credential" } else { "SLO" },
            subject_link: match credential {
                true => "/credentials".into(),
                false => format!("/slos#slo-{}", a.slo),
            },
            started: domain::uk_time::format_ns(a.started_ns.max(0) as u64),
            resolved: a.resolved_ns.map(|r| domain::uk_time::format_ns(r.max(0) as u64)).unwrap_or_else(|| "—".into()),
            summary: a.summary.clone(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    title: &'static str,
    user: Option<crate::auth::extract::UserView>,
    updated: String,
    /// When alert state was last brought up to date, and any reason to doubt it.
    evaluated: String,
    warning: Option<String>,
    alerts: Vec<AlertView>,
}

/// What the page says about the newest evaluation round: when, and a warning when it is missing,
/// incomplete or older than three rounds.
fn freshness(last: Option<&Evaluation>, now_ns: i64) -> (String, Option<String>) {
    let Some(e) = last else {
        return (
            "never".into(),
            Some(
                "Alerts have never been evaluated with this dashboard's database. Pathwatch evaluates them \
                 while it runs with alerts.enabled = true (the default); until then this page cannot show a \
                 firing alert."
                    .into(),
            ),
        );
    };
    let when = domain::uk_time::format_ns(e.at_ns.max(0) as u64);
    let late_after_ns = 3 * e.every_secs.max(1) * 1_000_000_000;
    let warning = if now_ns - e.at_ns > late_after_ns {
        Some(format!("Alerts were last evaluated at {when}, more than three rounds ago: alert state may be out of date. Check that Pathwatch is running."))
    } else if e.failed > 0 {
        Some(format!(
            "{} of {} SLOs could not be evaluated at the last round ({}); their alerts may be out of date.",
            e.failed, e.evaluated, e.detail
        ))
    } else {
        None
    };
    (when, warning)
}

pub async fn alerts_page(
    axum::extract::State(state): axum::extract::State<crate::state::DashboardState>,
    crate::auth::extract::User(user): crate::auth::extract::User,
) -> Result<axum::response::Response, crate::error::WebError> {
    let alerts = state.visible_alerts(&user.account, 100).await?;
    let views = alerts.iter().map(AlertView::of).collect();
    let now = state.now_ns_i64();
    let last = last_evaluation(state.accounts().pool()).await?;
    let (evaluated, warning) = freshness(last.as_ref(), now);
    let page = AlertsPage {
        evaluated,
        warning,
        title: "Alerts",
        user: Some(user.view()),
        updated: domain::uk_time::format_ns(now.max(0) as u64),
        alerts: views,
    };
    Ok(crate::error::render(axum::http::StatusCode::OK, &page))
}

/// One entry of an alert's history, as the page shows it.
pub struct HistoryView {
    pub at: String,
    pub event: String,
    pub actor: String,
    pub detail: String,
}

#[derive(askama::Template)]
#[template(path = "alert.html")]
struct AlertPage {
    title: String,
    user: Option<crate::auth::extract::UserView>,
    csrf: String,
    alert: AlertView,
    acknowledged_at: String,
    history: Vec<HistoryView>,
    /// Why this user cannot acknowledge it, or None when they can (open, unacknowledged, theirs).
    cannot_acknowledge: Option<String>,
    can_silence: bool,
}

/// Words for a history event.
fn event_words(event: &str) -> String {
    match event {
        "fired" => "Fired",
        "escalated" => "Escalated to a page",
        "lowered" => "Lowered to a ticket",
        "notified" => "Notified",
        "not_notified" => "Not notified",
        "silenced" => "Silenced",
        "window_ended" => "Silence ended",
        "acknowledged" => "Acknowledged",
        "acknowledgement_cleared" => "Acknowledgement cleared",
        "resolved" => "Resolved",
        "resolved_quietly" => "Resolved without notifying",
        other => other,
    }
    .to_string()
}

/// Why `user` may not acknowledge `alert`, or None.
fn ack_refusal(
    state: &crate::state::DashboardState,
    user: &crate::auth::accounts::Account,
    alert: &engine::alerts::Alert,
) -> Option<String> {
    use crate::auth::accounts::Role;
    if !matches!(user.role, Role::Oncall | Role::Admin) {
        return Some("Only on-call staff and admins acknowledge alerts.".into());
    }
    if alert.resolved_ns.is_some() {
        return Some("It has resolved.".into());
    }
    if !alert.acknowledged_by.is_empty() {
        return Some(format!("{} has acknowledged it.", alert.acknowledged_by));
    }
    if !crate::auth::scope::Scope::new(state.sources(), user).owns_slo(&alert.slo) {
        return Some(
            "Its SLO measures pathways of other organisations too: acknowledging it would stop their reminders.".into(),
        );
    }
    None
}

pub async fn alert_page(
    axum::extract::State(state): axum::extract::State<crate::state::DashboardState>,
    crate::auth::extract::User(user): crate::auth::extract::User,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::response::Response, crate::error::WebError> {
    let alert = state.visible_alert(&user.account, &id).await?;
    let history = engine::alerts::history(state.accounts().pool(), alert.id)
        .await?
        .into_iter()
        .map(|h| HistoryView {
            at: domain::uk_time::format_ns(h.at_ns.max(0) as u64),
            event: event_words(&h.event),
            actor: h.actor,
            detail: h.detail,
        })
        .collect();
    let scope = crate::auth::scope::Scope::new(state.sources(), &user.account);
    let page = AlertPage {
        title: format!("Alert {}: {}", alert.id, alert.slo),
        csrf: user.csrf.clone(),
        acknowledged_at: alert.acknowledged_ns.map(|t| domain::uk_time::format_ns(t.max(0) as u64)).unwrap_or_default(),
        cannot_acknowledge: ack_refusal(&state, &user.account, &alert),
        can_silence: matches!(
            user.account.role,
            crate::auth::accounts::Role::Oncall | crate::auth::accounts::Role::Admin
        ) && scope.owns_slo(&alert.slo)
            && !alert.slo.starts_with(engine::credentials::ALERT_PREFIX),
        alert: AlertView::of(&alert),
        history,
        user: Some(user.view()),
    };
    Ok(crate::error::render(axum::http::StatusCode::OK, &page))
}

/// Acknowledges alert `id` for `user` if they may: the checks the page and the API share.
pub(crate) async fn acknowledge_for(
    state: &crate::state::DashboardState,
    user: &crate::auth::accounts::Account,
    id: &str,
) -> Result<engine::alerts::Alert, crate::error::WebError> {
    use crate::error::WebError;
    use axum::http::StatusCode;
    let alert = state.visible_alert(user, id).await?;
    if let Some(why) = ack_refusal(state, user, &alert) {
        let status = if alert.resolved_ns.is_some() || !alert.acknowledged_by.is_empty() {
            StatusCode::CONFLICT
        } else {
            StatusCode::FORBIDDEN
        };
        return Err(WebError::Refused(status, format!("This alert cannot be acknowledged: {why}")));
    }
    match engine::alerts::acknowledge(state.accounts().pool(), alert.id, &user.name, state.now_ns_i64()).await? {
        Ok(alert) => Ok(alert),
        Err(engine::alerts::AckRefused::NotFound) => Err(WebError::NotFound("There is no alert by that number.")),
        Err(engine::alerts::AckRefused::Resolved) => {
            Err(WebError::Refused(StatusCode::CONFLICT, "This alert cannot be acknowledged: it has resolved.".into()))
        }
        Err(engine::alerts::AckRefused::Already(by)) => Err(WebError::Refused(
            StatusCode::CONFLICT,
            format!("This alert cannot be acknowledged: {by} has acknowledged it."),
        )),
    }
}

#[derive(serde::Deserialize)]
pub struct AckForm {
    csrf: String,
}

pub async fn acknowledge(
    axum::extract::State(state): axum::extract::State<crate::state::DashboardState>,
    headers: axum::http::HeaderMap,
    crate::auth::extract::User(user): crate::auth::extract::User,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::auth::extract::WebForm(form): crate::auth::extract::WebForm<AckForm>,
) -> Result<axum::response::Response, crate::error::WebError> {
    use axum::response::IntoResponse;
    if !crate::auth::extract::same_origin(&headers) {
        return Err(crate::error::WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    let alert = acknowledge_for(&state, &user.account, &id).await?;
    Ok(axum::response::Redirect::to(&format!("/alerts/{}", alert.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn the_page_doubts_alert_state_that_is_missing_late_or_incomplete() {
        let now = 1_800_000_000 * SEC;
        assert!(freshness(None, now).1.unwrap().contains("never been evaluated"));
        let round =
            Evaluation { at_ns: now - 90 * SEC, every_secs: 60, evaluated: 4, failed: 0, detail: String::new() };
        assert_eq!(freshness(Some(&round), now).1, None, "a round and a half ago is on time");
        let late = Evaluation { at_ns: now - 181 * SEC, ..round.clone() };
        assert!(freshness(Some(&late), now).1.unwrap().contains("more than three rounds ago"));
        let partial = Evaluation { failed: 1, detail: "pds-availability: the store did not answer".into(), ..round };
        let warning = freshness(Some(&partial), now).1.unwrap();
        assert!(
            warning.contains("1 of 4 SLOs could not be evaluated") && warning.contains("did not answer"),
            "{warning}"
        );
    }
}
