//! `/alerts`: every alert the signed-in user may see, firing first, and whether alert state is
//! up to date (the engine's last evaluation round).

use engine::alerts::{last_evaluation, Evaluation};

/// One alert as the page shows it.
pub struct AlertView {
    pub state: &'static str,
    pub severity: String,
    pub slo: String,
    pub started: String,
    pub resolved: String,
    pub summary: String,
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
    let views = alerts
        .into_iter()
        .map(|a| AlertView {
            state: if a.resolved_ns.is_some() { "resolved" } else { "FIRING" },
            severity: a.severity,
            slo: a.slo,
            started: domain::uk_time::format_ns(a.started_ns.max(0) as u64),
            resolved: a.resolved_ns.map(|r| domain::uk_time::format_ns(r.max(0) as u64)).unwrap_or_else(|| "—".into()),
            summary: a.summary,
        })
        .collect();
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
