//! SLO alerts: evaluated every minute from the stored canary runs, kept in `dashboard.db` (one
//! open alert per SLO, history kept), notified on firing, escalation, resolution, and again
//! every `repeat_interval` while still firing. Each notification is owed (`notify_pending`) from the
//! change that causes it until a channel takes it: at least once, across instances; twice only if
//! the sender stops between a channel taking it and the record of that.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::notify::{Acknowledgement, EmailConfig, Notification, Notifier, PathwayNote, SilenceNote, Transition};
use crate::pathways::PathwayHealth;
use crate::silences::{self, Silence};

mod condition;
mod history;
mod rounds;
use crate::slo::Severity;
use crate::slo_eval::SloStatus;
use crate::EngineError;
pub use condition::Condition;
use history::record;
pub use history::{acknowledge, history, AckRefused, AlertHistoryEntry};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Whether `pathwatch up` evaluates and notifies.
    pub enabled: bool,
    pub evaluate_every_secs: u64,
    /// A still-firing alert is notified again after this long.
    pub repeat_interval_minutes: u64,
    pub email: Option<EmailConfig>,
    /// URLs that receive each notification as JSON (POST).
    pub webhooks: Vec<String>,
    /// Teams, Slack, PagerDuty and Alertmanager, each in its own format.
    pub channels: Vec<crate::notify_channels::Channel>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            evaluate_every_secs: 60,
            repeat_interval_minutes: 240,
            email: None,
            webhooks: Vec::new(),
            channels: Vec::new(),
        }
    }
}

/// The columns `Alert` reads, in every query that reads one.
const ALERT: &str = "SELECT id, slo, flow, severity, started_ns, resolved_ns, last_notified_ns, summary, \
                     acknowledged_by, acknowledged_ns, silence_id, held, notified FROM alerts";

/// Firing alerts first, then the most recent resolved ones.
pub async fn recent(pool: &state::Pool, limit: u32) -> Result<Vec<Alert>, EngineError> {
    let alerts = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ALERT} ORDER BY resolved_ns IS NOT NULL, started_ns DESC LIMIT $1"
    )))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(alerts)
}

/// One alert by id.
pub async fn get(pool: &state::Pool, id: i64) -> Result<Option<Alert>, EngineError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{ALERT} WHERE id = $1"))).bind(id).fetch_optional(pool).await?)
}

/// One alert as stored (a row of `alerts`, read by column name).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub slo: String,
    pub flow: String,
    pub severity: String,
    pub started_ns: i64,
    pub resolved_ns: Option<i64>,
    pub last_notified_ns: i64,
    pub summary: String,
    /// Who acknowledged it (empty: nobody yet, or an escalation since), and when.
    pub acknowledged_by: String,
    pub acknowledged_ns: Option<i64>,
    /// The last silence that covered it (0: none), and whether it holds its notifications now.
    pub silence_id: i64,
    #[schema(value_type = bool)]
    #[serde(serialize_with = "crate::serialize_flag")]
    pub held: i64,
    /// Whether any notification of it reached a channel.
    #[schema(value_type = bool)]
    #[serde(serialize_with = "crate::serialize_flag")]
    pub notified: i64,
}

/// How long a condition must stay clear before its alert resolves.
pub const HOLD_CLEAR: Duration = Duration::from_secs(5 * 60);

pub struct AlertEngine {
    pool: state::Pool,
    notifier: Notifier,
    repeat: Duration,
    runbook_base: String,
    dashboard_url: String,
    /// How often `run` evaluates; recorded with each round so the page can tell a stale one.
    every: Duration,
    /// The lease alert changes are made under, where instances share the state.
    fence: Option<state::lease::Fence>,
}

/// The newest evaluation round, as the alerts page reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub at_ns: i64,
    pub every_secs: i64,
    /// SLOs evaluated, and of them how many could not be (the store did not answer).
    pub evaluated: i64,
    pub failed: i64,
    pub detail: String,
}

/// The newest evaluation round, if alerts were ever evaluated with this database.
pub async fn last_evaluation(pool: &state::Pool) -> Result<Option<Evaluation>, EngineError> {
    let row = sqlx::query("SELECT at_ns, every_secs, evaluated, failed, detail FROM alert_evaluations WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Evaluation {
        at_ns: r.try_get("at_ns")?,
        every_secs: r.try_get("every_secs")?,
        evaluated: r.try_get("evaluated")?,
        failed: r.try_get("failed")?,
        detail: r.try_get("detail")?,
    }))
}

impl AlertEngine {
    pub fn new(
        pool: state::Pool,
        notifier: Notifier,
        repeat: Duration,
        runbook_base: &str,
        dashboard_url: &str,
    ) -> AlertEngine {
        AlertEngine {
            pool,
            notifier,
            repeat,
            runbook_base: runbook_base.into(),
            dashboard_url: dashboard_url.into(),
            every: Duration::from_secs(60),
            fence: None,
        }
    }

    /// Changes alerts only while `fence` holds (the monitor's lease): see `state::lease`.
    pub fn fenced(mut self, fence: state::lease::Fence) -> AlertEngine {
        self.fence = Some(fence);
        self
    }

    async fn record_round(&self, now_ns: i64, evaluated: usize, failed: usize, detail: &str) {
        let result = sqlx::query(
            "INSERT INTO alert_evaluations (id, at_ns, every_secs, evaluated, failed, detail) VALUES (1, $1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET at_ns = excluded.at_ns, every_secs = excluded.every_secs, \
             evaluated = excluded.evaluated, failed = excluded.failed, detail = excluded.detail",
        )
        .bind(now_ns)
        .bind(self.every.as_secs() as i64)
        .bind(evaluated as i64)
        .bind(failed as i64)
        .bind(detail)
        .execute(&self.pool)
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "the alert evaluation round could not be recorded");
        }
    }

    /// Firing alerts first, then the most recent resolved ones.
    pub async fn recent(&self, limit: u32) -> Result<Vec<Alert>, EngineError> {
        recent(&self.pool, limit).await
    }

    /// Brings the stored alert for `status`'s SLO in line with it; returns the notification sent,
    /// if any. Rules: firing opens an alert; ticket → page escalates (page → ticket just lowers
    /// the severity, silently); an alert resolves only after its condition has stayed clear for
    /// `HOLD_CLEAR` (so a short blip is not two alerts); no runs in the last hour keeps an open
    /// alert open (no data is not recovery); a still-firing alert is reminded after the repeat
    /// interval unless someone acknowledged it, and a notification no channel delivered is retried
    /// at the next evaluation. Silences covering the SLO by name are honoured.
    pub async fn apply(&self, status: &SloStatus, now_ns: i64) -> Result<Option<Notification>, EngineError> {
        let silences = silences::in_force(&self.pool, now_ns).await?;
        let silence = silences::covering(&silences, &status.name, &[], now_ns);
        self.apply_with(status, None, silence, now_ns).await
    }

    /// `apply`, naming in any notification the pathway the SLO measures (with its state now, what
    /// to tell users, its run book for that state and its page), with `silence` the silence whose
    /// window covers the SLO now, if any: while it does, the alert is evaluated and recorded as
    /// usual but what it owes is held back, and a repeat is not owed at all; when the window ends
    /// with the alert still firing and nobody told, it is notified then. An alert nobody was told
    /// about resolves quietly.
    pub async fn apply_with(
        &self,
        status: &SloStatus,
        pathway: Option<&PathwayHealth>,
        silence: Option<&Silence>,
        now_ns: i64,
    ) -> Result<Option<Notification>, EngineError> {
        self.apply_condition(&Condition::of_slo(status), pathway, silence, now_ns).await
    }

    /// `apply_with` for any condition: an SLO's, or a credential's expiry.
    pub async fn apply_condition(
        &self,
        status: &Condition,
        pathway: Option<&PathwayHealth>,
        silence: Option<&Silence>,
        now_ns: i64,
    ) -> Result<Option<Notification>, EngineError> {
        // One transaction per SLO, under the lease when there is one: an instance that lost it
        // (paused past its expiry) changes nothing and tells nobody.
        // Written from the start (the fence takes the lease row; without one, the alerts table is
        // held): a deferred SQLite transaction that reads and then writes can fail with
        // SQLITE_BUSY_SNAPSHOT when another connection commits in between.
        // The alerts table is held in either case, so an acknowledgement made on a dashboard
        // meanwhile (which takes the same hold) is either seen here or made after.
        let mut tx = state::begin_exclusive(&self.pool, "alerts").await?;
        if let Some(fence) = &self.fence {
            if !fence.check(&mut tx, now_ns).await? {
                return Err(EngineError::NotLeader(fence.name.clone()));
            }
        }
        let open: Option<Alert> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{ALERT} WHERE slo = $1 AND resolved_ns IS NULL")))
                .bind(&status.key)
                .fetch_optional(&mut *tx)
                .await?;
        // The silence's hold on the open alert: taken when a window covers it, let go when none does.
        if let Some(a) = &open {
            match silence {
                Some(s) if a.held == 0 || a.silence_id != s.id => {
                    sqlx::query("UPDATE alerts SET silence_id = $1, held = 1 WHERE id = $2")
                        .bind(s.id)
                        .bind(a.id)
                        .execute(&mut *tx)
                        .await?;
                    let detail = format!("silence #{} ({}): {}", s.id, s.describe(), s.reason);
                    record(&mut *tx, a.id, now_ns, "silenced", &s.author, &detail).await?;
                }
                None if a.held != 0 => {
                    // Ended with the alert still open: owed now if nobody was told it fired.
                    sqlx::query(
                        "UPDATE alerts SET held = 0, notify_pending = CASE WHEN notified = 0 THEN 'FIRING' \
                         ELSE notify_pending END WHERE id = $1",
                    )
                    .bind(a.id)
                    .execute(&mut *tx)
                    .await?;
                    let detail = format!("silence #{} no longer covers it", a.silence_id);
                    record(&mut *tx, a.id, now_ns, "window_ended", "", &detail).await?;
                }
                _ => {}
            }
        }
        // A notification owed from before (undelivered, its leader stopped before sending, or held
        // by a silence).
        // Oldest first: a RESOLVED an older alert still owes (held by a silence while a newer alert
        // fired) goes out before what the newer one owes.
        let owing: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, notify_pending FROM alerts WHERE slo = $1 AND notify_pending <> '' ORDER BY id LIMIT 100",
        )
        .bind(&status.key)
        .fetch_all(&mut *tx)
        .await?;
        let owes_this = open.as_ref().is_some_and(|a| owing.iter().any(|(id, _)| *id == a.id));
        let pending = owing.into_iter().next();
        let no_data = status.no_data;
        let transition = match (&open, status.firing) {
            (None, None) => {
                return self.owed(tx, pending, status, pathway, silence, now_ns).await;
            }
            (None, Some(severity)) => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO alerts (slo, flow, severity, started_ns, resolved_ns, clear_since_ns, last_notified_ns, \
                     summary, silence_id, held, notified) VALUES ($1, $2, $3, $4, NULL, NULL, $5, $6, $7, $8, 0) \
                     RETURNING id",
                )
                .bind(&status.key)
                .bind(&status.label)
                .bind(severity.as_str())
                .bind(now_ns)
                .bind(now_ns)
                .bind(status.summary(severity))
                .bind(silence.map_or(0, |s| s.id))
                .bind(i64::from(silence.is_some()))
                .fetch_one(&mut *tx)
                .await?;
                record(&mut *tx, id, now_ns, "fired", "", &status.summary(severity)).await?;
                if let Some(s) = silence {
                    let detail = format!("silence #{} ({}): {}", s.id, s.describe(), s.reason);
                    record(&mut *tx, id, now_ns, "silenced", &s.author, &detail).await?;
                }
                Transition::Firing
            }
            (Some(_), None) if no_data => {
                return self.owed(tx, pending, status, pathway, silence, now_ns).await;
            }
            (Some(a), None) => {
                let clear_since: Option<i64> = sqlx::query_scalar("SELECT clear_since_ns FROM alerts WHERE id = $1")
                    .bind(a.id)
                    .fetch_one(&mut *tx)
                    .await?;
                match clear_since {
                    None => {
                        sqlx::query("UPDATE alerts SET clear_since_ns = $1 WHERE id = $2")
                            .bind(now_ns)
                            .bind(a.id)
                            .execute(&mut *tx)
                            .await?;
                        return self.owed(tx, pending, status, pathway, silence, now_ns).await;
                    }
                    Some(since) if now_ns - since < HOLD_CLEAR.as_nanos() as i64 => {
                        return self.owed(tx, pending, status, pathway, silence, now_ns).await;
                    }
                    Some(_) if a.notified == 0 => {
                        // Nobody was told it fired (a silence held it): nobody is told it resolved.
                        sqlx::query("UPDATE alerts SET resolved_ns = $1, held = 0, notify_pending = '' WHERE id = $2")
                            .bind(now_ns)
                            .bind(a.id)
                            .execute(&mut *tx)
                            .await?;
                        let detail = "nobody was notified that it fired, so nobody is notified that it resolved";
                        record(&mut *tx, a.id, now_ns, "resolved_quietly", "", detail).await?;
                        tx.commit().await?;
                        return Ok(None);
                    }
                    Some(_) => {
                        sqlx::query(
                            "UPDATE alerts SET resolved_ns = $1, last_notified_ns = $2, held = 0 WHERE id = $3",
                        )
                        .bind(now_ns)
                        .bind(now_ns)
                        .bind(a.id)
                        .execute(&mut *tx)
                        .await?;
                        record(&mut *tx, a.id, now_ns, "resolved", "", "clear for five minutes").await?;
                        Transition::Resolved
                    }
                }
            }
            (Some(a), Some(severity)) => {
                sqlx::query("UPDATE alerts SET clear_since_ns = NULL WHERE id = $1")
                    .bind(a.id)
                    .execute(&mut *tx)
                    .await?;
                if a.severity == "ticket" && severity == Severity::Page {
                    // An escalation needs someone to look again: the acknowledgement no longer holds.
                    sqlx::query(
                        "UPDATE alerts SET severity = 'page', summary = $1, last_notified_ns = $2, \
                         acknowledged_by = '', acknowledged_ns = NULL WHERE id = $3",
                    )
                    .bind(status.summary(severity))
                    .bind(now_ns)
                    .bind(a.id)
                    .execute(&mut *tx)
                    .await?;
                    record(&mut *tx, a.id, now_ns, "escalated", "", &status.summary(severity)).await?;
                    if !a.acknowledged_by.is_empty() {
                        let detail = format!(
                            "{} had acknowledged it; the escalation needs acknowledging again",
                            a.acknowledged_by
                        );
                        record(&mut *tx, a.id, now_ns, "acknowledgement_cleared", "", &detail).await?;
                    }
                    Transition::Escalated
                } else {
                    if a.severity == "page" && severity == Severity::Ticket {
                        // Lowered silently; an escalation still owed would now say the wrong thing.
                        sqlx::query(
                            "UPDATE alerts SET severity = 'ticket', summary = $1, \
                             notify_pending = CASE WHEN notify_pending = 'ESCALATED' THEN '' ELSE notify_pending END \
                             WHERE id = $2",
                        )
                        .bind(status.summary(severity))
                        .bind(a.id)
                        .execute(&mut *tx)
                        .await?;
                        record(&mut *tx, a.id, now_ns, "lowered", "", &status.summary(severity)).await?;
                    }
                    // A reminder is due only once what this alert owes has gone out, and never
                    // while someone has it (acknowledged) or a silence holds it.
                    let quiet = !a.acknowledged_by.is_empty() || silence.is_some();
                    if quiet || owes_this || now_ns - a.last_notified_ns < self.repeat.as_nanos() as i64 {
                        return self.owed(tx, pending, status, pathway, silence, now_ns).await;
                    }
                    sqlx::query("UPDATE alerts SET last_notified_ns = $1 WHERE id = $2")
                        .bind(now_ns)
                        .bind(a.id)
                        .execute(&mut *tx)
                        .await?;
                    Transition::Repeat
                }
            }
        };
        let stored: Alert =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{ALERT} WHERE slo = $1 ORDER BY id DESC LIMIT 1")))
                .bind(&status.key)
                .fetch_one(&mut *tx)
                .await?;
        // Owed from now until a channel has it, whatever happens to this instance meanwhile; what an
        // older alert of the SLO still owed is overtaken (it would arrive out of order), except a
        // RESOLVED: pagers close an alert on it, so it is never dropped.
        sqlx::query(
            "UPDATE alerts SET notify_pending = CASE WHEN id = $1 THEN $2 \
             WHEN notify_pending = 'RESOLVED' THEN 'RESOLVED' ELSE '' END \
             WHERE slo = $3 AND (id = $1 OR notify_pending <> '')",
        )
        .bind(stored.id)
        .bind(transition.as_str())
        .bind(&status.key)
        .execute(&mut *tx)
        .await?;
        if silence.is_some() {
            // Held: owed, and sent when the window ends if it is still owed then.
            record(
                &mut *tx,
                stored.id,
                now_ns,
                "not_notified",
                "",
                &format!("{}: held by the silence", transition.as_str()),
            )
            .await?;
            tx.commit().await?;
            return Ok(None);
        }
        tx.commit().await?;
        let notification = self.notification(transition, status, pathway, &stored).await;
        self.deliver(&notification, stored.id, now_ns).await?;
        Ok(Some(notification))
    }

    /// With no new transition: sends the notification an alert still owes, if any (its sender
    /// stopped before a channel had it, no channel took it, or a silence held it), else nothing.
    async fn owed(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        pending: Option<(i64, String)>,
        status: &Condition,
        pathway: Option<&PathwayHealth>,
        silence: Option<&Silence>,
        now_ns: i64,
    ) -> Result<Option<Notification>, EngineError> {
        let mut tx = tx;
        let Some((id, owed)) = pending else {
            tx.commit().await?;
            return Ok(None);
        };
        let stored: Alert =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{ALERT} WHERE id = $1"))).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        if silence.is_some() {
            return Ok(None);
        }
        let transition =
            Transition::parse(&owed).ok_or_else(|| EngineError::Corrupt(format!("notify_pending {owed:?}")))?;
        if stored.resolved_ns.is_some() && transition != Transition::Resolved {
            // Resolved since (an orphan closed quietly, say): telling people it fires would be false.
            sqlx::query("UPDATE alerts SET notify_pending = '' WHERE id = $1 AND notify_pending = $2")
                .bind(id)
                .bind(&owed)
                .execute(&self.pool)
                .await?;
            return Ok(None);
        }
        let notification = self.notification(transition, status, pathway, &stored).await;
        self.deliver(&notification, id, now_ns).await?;
        Ok(Some(notification))
    }

    /// Sends `notification` for alert `id`; once a channel has it (or there is no channel), it is
    /// owed no more. Cleared under the fence, and only if nothing newer is owed meanwhile.
    async fn deliver(&self, notification: &Notification, id: i64, now_ns: i64) -> Result<(), EngineError> {
        let failures = self.notifier.send(notification).await;
        let channels = self.notifier.channel_count();
        if channels > 0 && failures.len() == channels {
            // Nobody was told: still owed, so the next evaluation sends it again.
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        if let Some(fence) = &self.fence {
            if !fence.check(&mut tx, now_ns).await? {
                return Err(EngineError::NotLeader(fence.name.clone()));
            }
        }
        // Gone out now: the reminder interval counts from here.
        let cleared = sqlx::query(
            "UPDATE alerts SET notify_pending = '', last_notified_ns = $3, notified = 1 \
             WHERE id = $1 AND notify_pending = $2",
        )
        .bind(id)
        .bind(notification.transition.as_str())
        .bind(now_ns)
        .execute(&mut *tx)
        .await?;
        if cleared.rows_affected() == 1 {
            let detail = match (channels, failures.len()) {
                (0, _) => format!("{}: no channel is configured", notification.transition.as_str()),
                (n, 0) => format!("{} to {n} channel(s)", notification.transition.as_str()),
                (n, f) => format!("{} to {} of {n} channel(s)", notification.transition.as_str(), n - f),
            };
            record(&mut *tx, id, now_ns, "notified", "", &detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn notification(
        &self,
        transition: Transition,
        status: &Condition,
        pathway: Option<&PathwayHealth>,
        stored: &Alert,
    ) -> Notification {
        let silence = match stored.silence_id {
            0 => None,
            id => match silences::get(&self.pool, id).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, silence = id, "the silence behind an alert could not be read");
                    None
                }
            },
        };
        let at = |ns: i64| domain::uk_time::format_ns(ns.max(0) as u64);
        Notification {
            transition,
            slo: status.key.clone(),
            flow: status.label.clone(),
            severity: stored.severity.clone(),
            summary: match transition {
                Transition::Resolved => status.resolved_summary.clone(),
                Transition::Acknowledged => format!("{} acknowledged: {}", stored.acknowledged_by, stored.summary),
                _ => stored.summary.clone(),
            },
            budget_remaining: status.budget_remaining,
            burn_rate_1h: status.burn_rate_1h,
            runbook_url: pathway.and_then(|p| p.runbook_url.clone()).or_else(|| {
                (status.runbook && !self.runbook_base.is_empty())
                    .then(|| format!("{}{}", self.runbook_base, status.key))
            }),
            dashboard_url: format!("{}/alerts/{}", self.dashboard_url.trim_end_matches('/'), stored.id),
            started: at(stored.started_ns),
            alert_id: stored.id,
            started_ns: stored.started_ns.max(0) as u64,
            pathway: pathway.map(|p| PathwayNote {
                name: p.name.clone(),
                status: p.status.clone(),
                guidance: match &p.known_error {
                    Some(k) => format!("{} ({}): {}", k.title, k.id, p.guidance),
                    None => p.guidance.clone(),
                },
                url: format!("{}/pathways/{}", self.dashboard_url.trim_end_matches('/'), p.id),
            }),
            acknowledged: (!stored.acknowledged_by.is_empty()).then(|| Acknowledgement {
                by: stored.acknowledged_by.clone(),
                at: stored.acknowledged_ns.map(at).unwrap_or_default(),
            }),
            silence: silence.map(|s| SilenceNote {
                id: s.id,
                reason: s.reason.clone(),
                author: s.author.clone(),
                window: s.describe(),
                holding: stored.held != 0,
            }),
        }
    }
}
