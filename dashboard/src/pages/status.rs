//! `/status`, `/status.json` and `/status.atom`: the status page for users (`engine::status`).
//! Who may read it is `status_page.access`: off (404), public (anyone), or signed in (anyone with
//! a session, who sees the shown pathways of their organisations). Its figures are worked out at
//! most every 30 seconds whoever asks, so a crowd reading it during an outage costs the store
//! nothing more. Nothing internal is shown: pathway names and states, the messages on-call staff
//! wrote for users, advice written for users, upstream notices.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::incidents::{Incident, Status};
use engine::status::{Access, PathwayStatus, UserState};
use engine::upstream::FeedState;
use serde::Serialize;

use crate::auth::accounts::Account;
use crate::auth::extract::AnyUser;
use crate::error::{render, WebError};
use crate::state::DashboardState;

/// How long the figures are reused.
const FRESH_NS: i64 = 30 * 1_000_000_000;
/// Resolved incidents stay in the feeds this long.
const RECENT_NS: i64 = 30 * 86_400 * 1_000_000_000;

/// An incident as users see it: which pathways, where it stands, what on-call told them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentNotice {
    /// Opaque: says nothing of how many incidents (exercises, other organisations') there were.
    pub id: String,
    #[serde(skip)]
    pub pathway_ids: Vec<String>,
    pub pathways: Vec<String>,
    pub status: Status,
    pub status_words: String,
    /// The newest message written for users (empty: none yet).
    pub message: String,
    pub updated_ns: i64,
    pub declared_ns: i64,
    pub resolved_ns: Option<i64>,
}

/// Everything the page shows, for every shown pathway (each reader then sees their part).
pub struct Figures {
    pub computed_ns: i64,
    pub pathways: Vec<PathwayStatus>,
    /// Open incidents, then those resolved in the last 30 days (for the feeds).
    pub incidents: Vec<IncidentNotice>,
    /// Why the pathways' states could not be read, when they could not.
    pub unavailable: Option<String>,
}

async fn notice(pool: &state::Pool, i: &Incident, names: &[(String, String)]) -> Result<IncidentNotice, WebError> {
    let (message, updated) = engine::incidents::public_updates(pool, i.id).await?;
    Ok(IncidentNotice {
        id: format!("{:x}", i.declared_ns),
        pathway_ids: i.pathways.clone(),
        pathways: i
            .pathways
            .iter()
            .map(|id| names.iter().find(|(p, _)| p == id).map_or(id.clone(), |(_, n)| n.clone()))
            .collect(),
        status: i.status,
        status_words: i.status.words().into(),
        message: message.unwrap_or_default(),
        updated_ns: updated.unwrap_or(i.declared_ns).max(i.resolved_ns.unwrap_or(0)),
        declared_ns: i.declared_ns,
        resolved_ns: i.resolved_ns,
    })
}

async fn compute(state: &DashboardState, now: i64, before: Option<&Figures>) -> Result<Figures, WebError> {
    let config = &state.inner.status_page;
    let sources = state.sources_with_known_errors().await;
    let shown = config.shown(&sources.pathways);
    let names: Vec<(String, String)> = shown.iter().map(|p| (p.id.clone(), p.name.clone())).collect();
    let read = tokio::time::timeout(STORE_TIME, engine::status::pathways(&sources, &shown, now.max(0) as u64));
    let (pathways, unavailable) = match read.await {
        Ok(Ok(p)) => (p, None),
        // The last known states stay up, marked as such: a blank page in an outage helps nobody.
        failed => {
            match failed {
                Ok(Err(e)) => tracing::warn!(error = %e, "the status page could not read the pathways' states"),
                _ => tracing::warn!("the status page's read of the pathways' states took too long"),
            }
            let last = before.map(|b| b.pathways.clone()).unwrap_or_default();
            let when = before.map(|b| at(b.computed_ns)).unwrap_or_default();
            let note = if last.is_empty() {
                "The services' states cannot be read just now; try again in a minute.".to_string()
            } else {
                format!("The services' states cannot be read just now: these are as they were at {when}.")
            };
            (last, Some(note))
        }
    };
    let pool = state.accounts().pool();
    let mut incidents = Vec::new();
    // Real incidents wholly over shown pathways: never an exercise, never one of a pathway not shown.
    for i in engine::incidents::list(pool, 200).await? {
        let shown_all = !i.pathways.is_empty() && i.pathways.iter().all(|id| names.iter().any(|(p, _)| p == id));
        let recent = i.resolved_ns.is_none_or(|r| now - r < RECENT_NS);
        if shown_all && recent && i.exercise.is_empty() {
            incidents.push(notice(pool, &i, &names).await?);
        }
        if incidents.len() >= 50 {
            break;
        }
    }
    Ok(Figures { computed_ns: now, pathways, incidents, unavailable })
}

/// The figures, shared by every reader: worked out by one task at a time, detached from any
/// request (a reader who gives up does not cancel it), while readers get the last figures.
#[derive(Default)]
pub struct Cache {
    figures: std::sync::Mutex<Option<Arc<Figures>>>,
    refreshing: std::sync::atomic::AtomicBool,
    done: tokio::sync::Notify,
}

/// How long the store may take to answer the status page's reads.
const STORE_TIME: std::time::Duration = std::time::Duration::from_secs(10);

fn cached(state: &DashboardState) -> Option<Arc<Figures>> {
    state.inner.status_cache.figures.lock().ok().and_then(|f| f.clone())
}

/// Lets the next reader start a refresh however this one ends (done, failed, timed out, panicked).
struct Refreshing(DashboardState);

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.0.inner.status_cache.refreshing.store(false, std::sync::atomic::Ordering::SeqCst);
        self.0.inner.status_cache.done.notify_waiters();
    }
}

async fn refresh(state: DashboardState) {
    let _refreshing = Refreshing(state.clone());
    let now = state.now_ns_i64();
    let before = cached(&state);
    match tokio::time::timeout(2 * STORE_TIME, compute(&state, now, before.as_deref())).await {
        Ok(Ok(fresh)) => {
            if let Ok(mut slot) = state.inner.status_cache.figures.lock() {
                *slot = Some(Arc::new(fresh));
            }
        }
        Ok(Err(e)) => tracing::warn!(error = ?e, "the status page's figures were not worked out"),
        Err(_) => tracing::warn!("the status page's figures took too long to work out"),
    }
}

async fn figures(state: &DashboardState) -> Result<Arc<Figures>, WebError> {
    use std::sync::atomic::Ordering;
    let cache = &state.inner.status_cache;
    loop {
        // Registered before looking, so a refresh ending in between still wakes this reader.
        let done = cache.done.notified();
        let now = state.now_ns_i64();
        let last = cached(state);
        let fresh = last.as_ref().is_some_and(|f| now >= f.computed_ns && now - f.computed_ns < FRESH_NS);
        if fresh {
            return last.ok_or_else(|| WebError::Internal("status figures vanished".into()));
        }
        if !cache.refreshing.swap(true, Ordering::SeqCst) {
            tokio::spawn(refresh(state.clone()));
        }
        if let Some(stale) = last {
            return Ok(stale);
        }
        // Nothing yet (the first reader): wait for the first figures, not for ever.
        if tokio::time::timeout(2 * STORE_TIME + std::time::Duration::from_secs(5), done).await.is_err() {
            return Err(WebError::Unavailable {
                what: crate::error::TELEMETRY_STORE,
                detail: "the status page's first figures are not ready".into(),
            });
        }
        if cached(state).is_none() && !cache.refreshing.load(Ordering::SeqCst) {
            return Err(WebError::Unavailable {
                what: crate::error::DASHBOARD_DB,
                detail: "the status page's figures could not be worked out".into(),
            });
        }
    }
}

/// Who is reading: nobody in particular (public), or a signed-in account. Off: 404.
async fn reader(state: &DashboardState, parts: &mut Parts) -> Result<Option<Account>, WebError> {
    match state.inner.status_page.access {
        Access::Off => Err(WebError::NotFound("There is no status page here.")),
        Access::Public => Ok(None),
        Access::SignedIn => Ok(Some(AnyUser::signed_in(parts, state).await?.account)),
    }
}

/// The figures one reader sees: a signed-in account limited to organisations, only theirs.
struct View {
    pathways: Vec<PathwayStatus>,
    incidents: Vec<IncidentNotice>,
    upstream: Vec<FeedState>,
    unavailable: Option<String>,
    computed_ns: i64,
}

fn view(state: &DashboardState, figures: &Figures, reader: Option<&Account>) -> View {
    let sees = |id: &String| match reader {
        None => true,
        Some(user) => state.pathways().iter().find(|p| p.id == *id).is_some_and(|p| user.sees(p)),
    };
    View {
        pathways: figures.pathways.iter().filter(|p| sees(&p.id)).cloned().collect(),
        incidents: figures.incidents.iter().filter(|i| i.pathway_ids.iter().all(sees)).cloned().collect(),
        upstream: state.inner.upstream.states(),
        unavailable: figures.unavailable.clone(),
        computed_ns: figures.computed_ns,
    }
}

fn at(ns: i64) -> String {
    domain::uk_time::format_ns(ns.max(0) as u64)
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One pathway as the page lays it out.
pub struct PathwayRow {
    pub name: String,
    pub state: &'static str,
    pub words: &'static str,
    pub advice: String,
    pub uptime: String,
    /// (date, state, words) per day, oldest first.
    pub days: Vec<(String, &'static str, &'static str)>,
    /// Days that were not fully working, in words, newest first.
    pub bad_days: Vec<String>,
}

pub struct IncidentRow {
    pub pathways: String,
    pub status_words: String,
    pub message: String,
    pub updated: String,
}

pub struct NoticeRow {
    pub feed: String,
    pub title: String,
    pub status: String,
    pub link: Option<String>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    title: String,
    user: Option<crate::auth::extract::UserView>,
    summary: String,
    overall: &'static str,
    pathways: Vec<PathwayRow>,
    incidents: Vec<IncidentRow>,
    notices: Vec<NoticeRow>,
    feed_problems: Vec<String>,
    unavailable: Option<String>,
    updated: String,
}

fn pathway_row(p: &PathwayStatus) -> PathwayRow {
    PathwayRow {
        name: p.name.clone(),
        state: p.state.as_str(),
        words: p.state.words(),
        advice: p.advice.clone(),
        uptime: p.uptime.map(|u| format!("{:.2} %", u * 100.0)).unwrap_or_else(|| "no runs".into()),
        days: p.days.iter().map(|d| (d.date.clone(), d.state.as_str(), d.state.words())).collect(),
        bad_days: p
            .days
            .iter()
            .rev()
            .filter(|d| matches!(d.state, UserState::Degraded | UserState::PartialOutage | UserState::MajorOutage))
            .map(|d| format!("{}: {}", d.date, d.state.words().to_lowercase()))
            .collect(),
    }
}

/// The notices, and the feeds not read: for on-call, why (cut short); for users, only that.
fn notices(upstream: &[FeedState], for_on_call: bool) -> (Vec<NoticeRow>, Vec<String>) {
    let rows = upstream
        .iter()
        .flat_map(|f| {
            f.notices.iter().map(|n| NoticeRow {
                feed: f.name.clone(),
                title: n.title.clone(),
                status: n.status.clone(),
                link: n.link.clone(),
            })
        })
        .collect();
    let problems = upstream
        .iter()
        .filter_map(|f| {
            f.error.as_ref().map(|e| match for_on_call {
                true => format!("{}: not read ({})", f.name, e.chars().take(200).collect::<String>()),
                false => format!("{}: its notices are not available just now.", f.name),
            })
        })
        .collect();
    (rows, problems)
}

pub async fn status_page(State(state): State<DashboardState>, mut parts: Parts) -> Result<Response, WebError> {
    let reader = reader(&state, &mut parts).await?;
    let figures = figures(&state).await?;
    let v = view(&state, &figures, reader.as_ref());
    let (notices, feed_problems) = notices(&v.upstream, false);
    let page = StatusPage {
        title: state.inner.status_page.title.clone(),
        user: None,
        summary: engine::status::summary(&v.pathways),
        overall: engine::status::overall(&v.pathways).as_str(),
        pathways: v.pathways.iter().map(pathway_row).collect(),
        incidents: v
            .incidents
            .iter()
            .filter(|i| i.resolved_ns.is_none())
            .map(|i| IncidentRow {
                pathways: i.pathways.join(", "),
                status_words: i.status_words.clone(),
                message: i.message.clone(),
                updated: at(i.updated_ns),
            })
            .collect(),
        notices,
        feed_problems,
        unavailable: v.unavailable.clone(),
        updated: at(v.computed_ns),
    };
    let mut response = render(StatusCode::OK, &page);
    response.headers_mut().insert(header::CACHE_CONTROL, cache_control(&state));
    Ok(response)
}

/// A public page may be kept by proxies for as long as the figures are; one for signed-in readers
/// is each reader's own (filtered to their organisations) and never kept.
fn cache_control(state: &DashboardState) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_static(match state.inner.status_page.access {
        Access::Public => "public, max-age=30",
        _ => "private, no-store",
    })
}

/// An upstream feed as users see it: its name and current notices; never its address or why a
/// read failed (the address may hold a key; the failure is for on-call).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicFeed {
    pub name: String,
    pub notices: Vec<engine::upstream::Notice>,
    /// False when the last read failed: its notices are not known just now.
    pub available: bool,
}

fn public_feeds(upstream: &[FeedState]) -> Vec<PublicFeed> {
    upstream
        .iter()
        .map(|f| PublicFeed { name: f.name.clone(), notices: f.notices.clone(), available: f.error.is_none() })
        .collect()
}

/// The status page as JSON (shaped like Statuspage's summary).
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusReply {
    pub title: String,
    /// RFC 3339.
    pub updated: String,
    /// none, minor, major or unknown, and the one-line summary.
    pub indicator: &'static str,
    pub description: String,
    pub pathways: Vec<PathwayStatus>,
    /// Open incidents only.
    pub incidents: Vec<IncidentNotice>,
    pub upstream: Vec<PublicFeed>,
}

fn indicator(state: UserState) -> &'static str {
    match state {
        UserState::Operational => "none",
        UserState::Degraded | UserState::PartialOutage => "minor",
        UserState::MajorOutage => "major",
        UserState::Unknown => "unknown",
    }
}

pub async fn status_json(State(state): State<DashboardState>, mut parts: Parts) -> Response {
    let reader = match reader(&state, &mut parts).await {
        Ok(r) => r,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let figures = match figures(&state).await {
        Ok(f) => f,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let v = view(&state, &figures, reader.as_ref());
    let reply = StatusReply {
        title: state.inner.status_page.title.clone(),
        updated: rfc3339(v.computed_ns),
        indicator: indicator(engine::status::overall(&v.pathways)),
        description: engine::status::summary(&v.pathways),
        incidents: v.incidents.iter().filter(|i| i.resolved_ns.is_none()).cloned().collect(),
        pathways: v.pathways,
        upstream: public_feeds(&v.upstream),
    };
    ([(header::CACHE_CONTROL, cache_control(&state))], axum::Json(reply)).into_response()
}

/// The incidents (open, and resolved in the last 30 days) as an Atom feed, newest first, one entry
/// per incident, updated with each message for users.
pub async fn status_atom(State(state): State<DashboardState>, mut parts: Parts) -> Response {
    let reader = match reader(&state, &mut parts).await {
        Ok(r) => r,
        Err(WebError::NotFound(m)) => return (StatusCode::NOT_FOUND, m).into_response(),
        Err(WebError::SignIn) => return (StatusCode::UNAUTHORIZED, "Sign in to read this feed.").into_response(),
        Err(e) => return e.into_response(),
    };
    let figures = match figures(&state).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let v = view(&state, &figures, reader.as_ref());
    match atom(&state.inner.status_page.title, &v) {
        Ok(xml) => (
            [
                (header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/atom+xml; charset=utf-8")),
                (header::CACHE_CONTROL, cache_control(&state)),
            ],
            xml,
        )
            .into_response(),
        Err(e) => WebError::Internal(format!("writing the Atom feed: {e}")).into_response(),
    }
}

/// Text as XML 1.0 may carry it: characters it forbids (most control characters) dropped.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect()
}

fn atom(title: &str, v: &View) -> std::io::Result<Vec<u8>> {
    use quick_xml::events::{BytesDecl, BytesText, Event};
    let mut w = quick_xml::Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    let mut incidents: Vec<&IncidentNotice> = v.incidents.iter().collect();
    incidents.sort_by_key(|i| std::cmp::Reverse(i.updated_ns));
    let updated = incidents.first().map_or(v.computed_ns, |i| i.updated_ns);
    w.create_element("feed").with_attribute(("xmlns", "http://www.w3.org/2005/Atom")).write_inner_content(|w| {
        let title = xml_text(title);
        w.create_element("title").write_text_content(BytesText::new(&title))?;
        w.create_element("id").write_text_content(BytesText::new("urn:pathwatch:status"))?;
        w.create_element("updated").write_text_content(BytesText::new(&rfc3339(updated)))?;
        w.create_element("link").with_attributes([("rel", "alternate"), ("href", "/status")]).write_empty()?;
        w.create_element("author").write_inner_content(|w| {
            w.create_element("name").write_text_content(BytesText::new(&title))?;
            Ok(())
        })?;
        for i in &incidents {
            let heading = xml_text(&format!("{}: {}", i.pathways.join(", "), i.status_words));
            let body = xml_text(if i.message.is_empty() { &i.status_words } else { &i.message });
            w.create_element("entry").write_inner_content(|w| {
                w.create_element("title").write_text_content(BytesText::new(&heading))?;
                let id = format!("urn:pathwatch:incident:{}", i.id);
                w.create_element("id").write_text_content(BytesText::new(&id))?;
                w.create_element("updated").write_text_content(BytesText::new(&rfc3339(i.updated_ns)))?;
                w.create_element("published").write_text_content(BytesText::new(&rfc3339(i.declared_ns)))?;
                w.create_element("summary").write_text_content(BytesText::new(&body))?;
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(w.into_inner())
}

/// What the overview shows on-call of the upstream feeds: current notices and feeds not read.
pub fn upstream_rows(state: &DashboardState) -> (Vec<NoticeRow>, Vec<String>) {
    notices(&state.inner.upstream.states(), true)
}
