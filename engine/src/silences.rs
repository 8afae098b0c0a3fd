//! Silences and maintenance windows: while one covers an SLO (named, or through a pathway it
//! measures), its alerts are still evaluated and recorded but nobody is notified; when the window
//! ends with the alert still firing, the notification goes then. One-off windows run from a start
//! to an end; recurring ones open at each tick of a cron expression read in UK time (planned NHS
//! downtime is announced in UK time) and stay open for a stated duration.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::EngineError;

/// The longest one-off window, and the longest each recurring window may stay open: a silence
/// meant for a night must not quietly last a year.
pub const MAX_WINDOW_DAYS: i64 = 31;
pub const MAX_RECURRING_WINDOW_HOURS: i64 = 7 * 24;
pub const MAX_REASON_CHARS: usize = 500;

const NS_PER_SEC: i64 = 1_000_000_000;

/// What a silence covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One SLO, by name.
    Slo(String),
    /// Every SLO that measures this pathway (by id).
    Pathway(String),
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Slo(_) => "slo",
            Target::Pathway(_) => "pathway",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Slo(n) | Target::Pathway(n) => n,
        }
    }

    /// `slo:NAME` or `pathway:ID`, as forms carry it.
    pub fn parse(text: &str) -> Option<Target> {
        let (kind, name) = text.split_once(':')?;
        (!name.trim().is_empty()).then_some(())?;
        match kind {
            "slo" => Some(Target::Slo(name.trim().into())),
            "pathway" => Some(Target::Pathway(name.trim().into())),
            _ => None,
        }
    }

    pub fn key(&self) -> String {
        format!("{}:{}", self.kind(), self.name())
    }

    /// Whether it covers the SLO `slo`, which measures the pathways `measured`.
    pub fn covers(&self, slo: &str, measured: &[String]) -> bool {
        match self {
            Target::Slo(name) => name == slo,
            Target::Pathway(id) => measured.iter().any(|m| m == id),
        }
    }
}

/// A silence to create, as a person asked for it (times already read).
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub target: Target,
    pub reason: String,
    pub starts_ns: i64,
    /// One-off: the window's end. Recurring: when the recurrence stops (None: never).
    pub ends_ns: Option<i64>,
    /// A cron expression in UK time, five fields (minute hour day-of-month month day-of-week) or
    /// six with seconds first; empty for a one-off window.
    pub recurrence: String,
    /// How long each recurring window stays open.
    pub duration_secs: i64,
}

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Silence {
    pub id: i64,
    pub target: Target,
    pub reason: String,
    pub author: String,
    pub created_ns: i64,
    pub starts_ns: i64,
    /// One-off: the end. Recurring: when the recurrence stops (`i64::MAX`: never).
    pub ends_ns: i64,
    pub recurrence: String,
    pub duration_secs: i64,
    /// Ended by hand before its time, and by whom.
    pub ended_ns: Option<i64>,
    pub ended_by: String,
}

/// Where a silence stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    /// A window is open now.
    Active,
    /// A window will open later.
    Upcoming,
    /// No window will open again.
    Ended,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Upcoming => "upcoming",
            SilenceState::Ended => "ended",
        }
    }
}

/// Reads a recurrence: five fields get seconds 0 put in front. Days of the week must be names
/// (Mon-Fri, Sun): in numbers, standard cron counts Sunday as 0 and the cron crate as 1, so a
/// number would land the window on the wrong day.
pub fn schedule(recurrence: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = recurrence.split_whitespace().collect();
    let weekday = match fields.len() {
        5 => fields[4],
        6 | 7 => fields[5],
        n => return Err(format!("{recurrence:?} has {n} fields: write minute hour day-of-month month day-of-week")),
    };
    if weekday.chars().any(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{recurrence:?}: write the days of the week as names (Sun, Mon-Fri, Sat,Sun), not numbers, \
             which cron dialects count differently"
        ));
    }
    let text = if fields.len() == 5 { format!("0 {recurrence}") } else { recurrence.to_string() };
    cron::Schedule::from_str(&text).map_err(|e| format!("{recurrence:?} is not a cron expression ({e})"))
}

/// How far back a silence may start (a window already under way) and how far ahead.
pub const MAX_START_BEHIND_NS: i64 = 86_400 * NS_PER_SEC;
pub const MAX_START_AHEAD_NS: i64 = 366 * 86_400 * NS_PER_SEC;
/// How long a recurrence may be set to run, when it is given an end.
pub const MAX_RECURRENCE_YEARS: i64 = 5;

/// At most this many silences not yet ended per author: one person cannot flood the engine.
pub const MAX_CURRENT_PER_AUTHOR: i64 = 100;

impl NewSilence {
    /// Checks what a person asked for; the error names the field and says what is wrong.
    pub fn check(&self, now_ns: i64) -> Result<(), String> {
        let reason = self.reason.trim();
        if reason.is_empty() {
            return Err("reason: say why notifications are held back (the planned work, its reference)".into());
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(format!("reason: at most {MAX_REASON_CHARS} characters"));
        }
        let day = 86_400 * NS_PER_SEC;
        if self.starts_ns < now_ns.saturating_sub(MAX_START_BEHIND_NS) {
            return Err("starts: a silence can start at most a day ago".into());
        }
        if self.starts_ns > now_ns.saturating_add(MAX_START_AHEAD_NS) {
            return Err("starts: a silence can start at most a year ahead".into());
        }
        if self.recurrence.trim().is_empty() {
            let Some(ends) = self.ends_ns else { return Err("ends: a one-off window needs an end".into()) };
            if ends <= self.starts_ns {
                return Err("ends: the window must end after it starts".into());
            }
            if ends <= now_ns {
                return Err("ends: the window has already ended".into());
            }
            // Both times are bounded above, so the difference cannot overflow.
            if i128::from(ends) - i128::from(self.starts_ns) > i128::from(MAX_WINDOW_DAYS * day) {
                return Err(format!("ends: a window can last at most {MAX_WINDOW_DAYS} days"));
            }
        } else {
            schedule(&self.recurrence).map_err(|e| format!("recurrence: {e}"))?;
            if self.duration_secs <= 0 || self.duration_secs > MAX_RECURRING_WINDOW_HOURS * 3600 {
                return Err(format!(
                    "duration: each recurring window lasts between 1 minute and {MAX_RECURRING_WINDOW_HOURS} hours"
                ));
            }
            if self.duration_secs < 60 {
                return Err("duration: each recurring window lasts at least a minute".into());
            }
            if self.ends_ns.is_some_and(|e| e <= self.starts_ns.max(now_ns)) {
                return Err("ends: the recurrence must stop after it starts, and in the future".into());
            }
            if self.ends_ns.is_some_and(|e| e > now_ns.saturating_add(MAX_RECURRENCE_YEARS * 366 * day)) {
                return Err(format!("ends: a recurrence can be set for at most {MAX_RECURRENCE_YEARS} years"));
            }
        }
        Ok(())
    }
}

impl Silence {
    fn stops_ns(&self) -> i64 {
        self.ended_ns.map_or(self.ends_ns, |e| e.min(self.ends_ns))
    }

    /// The window open at `now_ns`, as (opened, closes), if any.
    pub fn window_at(&self, now_ns: i64) -> Option<(i64, i64)> {
        let stops = self.stops_ns();
        if now_ns < self.starts_ns || now_ns >= stops {
            return None;
        }
        if self.recurrence.is_empty() {
            return Some((self.starts_ns, stops));
        }
        // The first tick after `now - duration`: open now if it is not after `now` and its window
        // has not closed (a tick read in the hour October repeats can fall before what was asked).
        let length = self.duration_secs.saturating_mul(NS_PER_SEC);
        let opened = self.next_tick(now_ns.saturating_sub(length).saturating_add(1))?;
        let closes = opened.saturating_add(length).min(stops);
        (opened <= now_ns && now_ns < closes).then_some((opened, closes))
    }

    /// The next window to open after `now_ns` (strictly), if any.
    pub fn next_window(&self, now_ns: i64) -> Option<(i64, i64)> {
        let stops = self.stops_ns();
        if self.recurrence.is_empty() {
            return (self.starts_ns > now_ns && self.starts_ns < stops).then_some((self.starts_ns, stops));
        }
        let opened = self.next_tick(now_ns.max(self.starts_ns.saturating_sub(1)).saturating_add(1))?;
        let closes = opened.saturating_add(self.duration_secs.saturating_mul(NS_PER_SEC)).min(stops);
        (opened > now_ns && opened < stops).then_some((opened, closes))
    }

    /// The first recurrence tick at or after `from_ns` and not before the silence starts, with UK
    /// wall-clock times read as UK time.
    fn next_tick(&self, from_ns: i64) -> Option<i64> {
        let schedule = schedule(&self.recurrence).ok()?;
        let from = from_ns.max(self.starts_ns).max(0) as u64;
        // The cron crate counts in one zone: UK wall-clock time, written as if it were UTC. Within
        // an hour of a clock change the wall clock and the instant part: a tick in the hour March
        // skips lies behind the wall clock, one in the hour October repeats can map back before
        // `from`. There the search starts an hour earlier and takes the first tick at or after
        // `from`; elsewhere the first tick is it.
        let hour = 3_600 * NS_PER_SEC as u64;
        let near_change = domain::uk_time::offset_at(from) != domain::uk_time::offset_at(from.saturating_sub(hour));
        let back = chrono::Duration::seconds(if near_change { 3_600 } else { 0 });
        let wall = domain::uk_time::local(from).and_utc() - back - chrono::Duration::nanoseconds(1);
        schedule
            .after(&wall)
            .take(if near_change { 4_000 } else { 3 })
            .filter_map(|tick| domain::uk_time::from_local(tick.naive_utc()))
            .find(|ns| *ns >= from)
            .and_then(|ns| i64::try_from(ns).ok())
    }

    pub fn state(&self, now_ns: i64) -> SilenceState {
        if self.window_at(now_ns).is_some() {
            SilenceState::Active
        } else if self.next_window(now_ns).is_some() {
            SilenceState::Upcoming
        } else {
            SilenceState::Ended
        }
    }

    /// "Sundays 02:00 for 4 h" style words for the page: the window or the recurrence.
    pub fn describe(&self) -> String {
        let at = |ns: i64| domain::uk_time::format_ns(ns.max(0) as u64);
        if self.recurrence.is_empty() {
            format!("{} to {}", at(self.starts_ns), at(self.ends_ns))
        } else {
            let hours = self.duration_secs as f64 / 3600.0;
            let stops = if self.ends_ns == i64::MAX { String::new() } else { format!(", until {}", at(self.ends_ns)) };
            format!("each \"{}\" (UK time) for {hours:.1} h, from {}{stops}", self.recurrence, at(self.starts_ns))
        }
    }
}

type Row = (i64, String, String, String, String, i64, i64, i64, String, i64, Option<i64>, String);

const COLUMNS: &str = "id, target_kind, target, reason, author, created_ns, starts_ns, ends_ns, recurrence, \
                       duration_secs, ended_ns, ended_by";

fn from_row(r: Row) -> Result<Silence, EngineError> {
    let target = match r.1.as_str() {
        "slo" => Target::Slo(r.2),
        "pathway" => Target::Pathway(r.2),
        other => return Err(EngineError::Corrupt(format!("silence {}: target kind {other:?}", r.0))),
    };
    Ok(Silence {
        id: r.0,
        target,
        reason: r.3,
        author: r.4,
        created_ns: r.5,
        starts_ns: r.6,
        ends_ns: r.7,
        recurrence: r.8,
        duration_secs: r.9,
        ended_ns: r.10,
        ended_by: r.11,
    })
}

/// Stores a checked silence; returns it.
pub async fn create(pool: &state::Pool, new: &NewSilence, author: &str, now_ns: i64) -> Result<Silence, EngineError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO silences (target_kind, target, reason, author, created_ns, starts_ns, ends_ns, recurrence, \
         duration_secs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(new.target.kind())
    .bind(new.target.name())
    .bind(new.reason.trim())
    .bind(author)
    .bind(now_ns)
    .bind(new.starts_ns)
    .bind(new.ends_ns.unwrap_or(i64::MAX))
    .bind(new.recurrence.trim())
    .bind(if new.recurrence.trim().is_empty() { 0 } else { new.duration_secs })
    .fetch_one(pool)
    .await?;
    get(pool, id).await?.ok_or_else(|| EngineError::Corrupt(format!("silence {id} vanished")))
}

pub async fn get(pool: &state::Pool, id: i64) -> Result<Option<Silence>, EngineError> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM silences WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(from_row).transpose()
}

/// Every silence that may cover something at `now_ns`: started, and not ended (what the alert
/// engine reads each round; no limit, so no silence is ever passed over).
pub async fn in_force(pool: &state::Pool, now_ns: i64) -> Result<Vec<Silence>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM silences WHERE starts_ns <= $1 AND ends_ns > $1 AND (ended_ns IS NULL OR ended_ns > $1)"
    )))
    .bind(now_ns)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// How many silences by `author` have not ended at `now_ns`.
pub async fn current_by(pool: &state::Pool, author: &str, now_ns: i64) -> Result<i64, EngineError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM silences WHERE author = $1 AND ends_ns > $2 AND (ended_ns IS NULL OR ended_ns > $2)",
    )
    .bind(author)
    .bind(now_ns)
    .fetch_one(pool)
    .await?)
}

/// Silences that have not ended before `since_ns` (open, upcoming, or ended since), newest first.
pub async fn current(pool: &state::Pool, since_ns: i64) -> Result<Vec<Silence>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM silences WHERE ends_ns >= $1 AND (ended_ns IS NULL OR ended_ns >= $1) \
         ORDER BY id DESC LIMIT 500"
    )))
    .bind(since_ns)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Ends a silence now; false when it had already ended.
pub async fn end(pool: &state::Pool, id: i64, by: &str, now_ns: i64) -> Result<bool, EngineError> {
    let done = sqlx::query(
        "UPDATE silences SET ended_ns = $1, ended_by = $2 WHERE id = $3 AND ended_ns IS NULL AND ends_ns > $1",
    )
    .bind(now_ns)
    .bind(by)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The silence with a window open now over the SLO `slo` (which measures `measured`), if any:
/// the one whose window closes last.
pub fn covering<'a>(silences: &'a [Silence], slo: &str, measured: &[String], now_ns: i64) -> Option<&'a Silence> {
    silences
        .iter()
        .filter(|s| s.target.covers(slo, measured))
        .filter_map(|s| s.window_at(now_ns).map(|w| (s, w.1)))
        .max_by_key(|(_, closes)| *closes)
        .map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_nanos_opt().unwrap()
    }

    fn silence(starts: &str, ends: Option<&str>, recurrence: &str, hours: i64) -> Silence {
        Silence {
            id: 1,
            target: Target::Pathway("book-appointment".into()),
            reason: "NHS planned downtime".into(),
            author: "sam".into(),
            created_ns: ns(starts),
            starts_ns: ns(starts),
            ends_ns: ends.map_or(i64::MAX, ns),
            recurrence: recurrence.into(),
            duration_secs: hours * 3600,
            ended_ns: None,
            ended_by: String::new(),
        }
    }

    #[test]
    fn a_one_off_window_is_open_from_its_start_until_its_end_or_until_it_is_ended() {
        let mut s = silence("2026-12-06T22:00:00Z", Some("2026-12-07T02:00:00Z"), "", 0);
        assert_eq!(s.state(ns("2026-12-06T21:59:59Z")), SilenceState::Upcoming);
        assert_eq!(s.window_at(ns("2026-12-06T22:00:00Z")), Some((s.starts_ns, s.ends_ns)));
        assert_eq!(s.state(ns("2026-12-07T01:59:59Z")), SilenceState::Active);
        assert_eq!(s.state(ns("2026-12-07T02:00:00Z")), SilenceState::Ended);
        s.ended_ns = Some(ns("2026-12-06T23:00:00Z"));
        assert_eq!(s.state(ns("2026-12-06T23:00:01Z")), SilenceState::Ended, "ended by hand");
    }

    #[test]
    fn a_recurring_window_opens_at_each_tick_in_uk_time_and_stays_open_for_its_duration() {
        // Sundays 02:00 to 06:00 UK time, from a Wednesday in November.
        let s = silence("2026-11-25T12:00:00Z", None, "0 2 * * Sun", 4);
        // 6 Dec 2026 is a Sunday in GMT: 02:00 UK is 02:00 UTC.
        assert_eq!(s.state(ns("2026-12-06T01:59:00Z")), SilenceState::Upcoming);
        assert_eq!(
            s.window_at(ns("2026-12-06T03:00:00Z")),
            Some((ns("2026-12-06T02:00:00Z"), ns("2026-12-06T06:00:00Z")))
        );
        assert_eq!(s.state(ns("2026-12-06T06:00:00Z")), SilenceState::Upcoming, "until next Sunday");
        assert_eq!(s.next_window(ns("2026-12-06T06:00:00Z")).unwrap().0, ns("2026-12-13T02:00:00Z"));
        assert_eq!(s.state(ns("2026-12-09T03:00:00Z")), SilenceState::Upcoming, "not on a Wednesday");
        // In summer, 02:00 UK is 01:00 UTC.
        assert_eq!(s.window_at(ns("2027-07-04T01:30:00Z")).map(|w| w.0), Some(ns("2027-07-04T01:00:00Z")));
        assert_eq!(s.state(ns("2027-07-04T05:30:00Z")), SilenceState::Upcoming, "05:00 UTC is 06:00 BST");
        // Not before it starts, nor after it stops.
        let bounded = silence("2026-12-07T00:00:00Z", Some("2026-12-20T00:00:00Z"), "0 2 * * Sun", 4);
        assert_eq!(bounded.window_at(ns("2026-12-06T03:00:00Z")), None);
        assert!(bounded.window_at(ns("2026-12-13T03:00:00Z")).is_some());
        assert_eq!(bounded.state(ns("2026-12-20T00:00:00Z")), SilenceState::Ended);
        // Six fields (seconds first) read as the report schedules' are; days of the week by name.
        assert!(schedule("0 30 1 * * Mon-Fri").is_ok());
        assert!(
            schedule("0 2 * * 1-5").unwrap_err().contains("names"),
            "1-5 is Mon-Fri in one dialect, Sun-Thu in another"
        );
        assert!(schedule("0 2 * *").unwrap_err().contains("4 fields"));
    }

    #[test]
    fn windows_around_the_clock_changes_open_and_close_once() {
        // Every day at 01:30 UK time for 20 minutes, over the October change (25 Oct 2026: 01:00
        // to 02:00 happens twice) and the March one (28 Mar 2027: 01:00 to 02:00 never happens).
        let s = silence("2026-10-20T00:00:00Z", None, "30 1 * * *", 0);
        let s = Silence { duration_secs: 20 * 60, ..s };
        // The first 01:30 BST is 00:30 UTC: open then, closed 20 minutes later, not held open by
        // the second 01:30 (GMT) reading back before the question.
        assert!(s.window_at(ns("2026-10-25T00:35:00Z")).is_some());
        assert_eq!(s.window_at(ns("2026-10-25T00:55:00Z")), None);
        // In March, 01:30 does not exist: read as GMT, the window opens at 01:30 UTC (02:30 BST).
        assert!(s.window_at(ns("2027-03-28T01:35:00Z")).is_some());
        // Extreme starts and durations neither panic nor open anything strange.
        let far = Silence { starts_ns: i64::MIN, ends_ns: i64::MAX, duration_secs: i64::MAX, ..s.clone() };
        let _ = (far.window_at(0), far.next_window(0), far.state(i64::MAX));
        let late = Silence { starts_ns: i64::MAX - 1, ..s };
        assert_eq!(late.state(0), SilenceState::Ended, "no tick that late exists");
    }

    #[test]
    fn a_silence_covers_its_slo_or_every_slo_measuring_its_pathway() {
        let now = ns("2026-12-06T23:00:00Z");
        let one_off = silence("2026-12-06T22:00:00Z", Some("2026-12-07T02:00:00Z"), "", 0);
        let slo = Silence { id: 2, target: Target::Slo("pds-availability".into()), ..one_off.clone() };
        let all = [one_off, slo];
        let measured = vec!["book-appointment".to_string()];
        assert_eq!(covering(&all, "gp-availability", &measured, now).map(|s| s.id), Some(1));
        assert_eq!(covering(&all, "pds-availability", &[], now).map(|s| s.id), Some(2));
        assert_eq!(covering(&all, "nrl-availability", &["nrl".into()], now), None);
        assert_eq!(covering(&all, "pds-availability", &[], ns("2026-12-07T02:00:00Z")), None);
    }

    #[test]
    fn what_a_person_asks_for_is_checked_field_by_field() {
        let now = ns("2026-12-06T12:00:00Z");
        let ok = NewSilence {
            target: Target::Slo("pds-availability".into()),
            reason: "PDS release R42".into(),
            starts_ns: now,
            ends_ns: Some(now + 3600 * NS_PER_SEC),
            recurrence: String::new(),
            duration_secs: 0,
        };
        assert_eq!(ok.check(now), Ok(()));
        let refused = |change: fn(&mut NewSilence)| {
            let mut s = ok.clone();
            change(&mut s);
            s.check(now).unwrap_err()
        };
        assert!(refused(|s| s.reason = "  ".into()).starts_with("reason:"));
        assert!(refused(|s| s.ends_ns = None).starts_with("ends:"));
        assert!(refused(|s| s.ends_ns = Some(s.starts_ns)).contains("after it starts"));
        assert!(refused(|s| s.ends_ns = Some(s.starts_ns + 40 * 86_400 * NS_PER_SEC)).contains("31 days"));
        // Hostile times: far past and far future are refused without overflowing.
        assert!(refused(|s| s.starts_ns = i64::MIN).starts_with("starts:"));
        assert!(refused(|s| s.starts_ns += 400 * 86_400 * NS_PER_SEC).starts_with("starts:"));
        assert!(refused(|s| s.ends_ns = Some(i64::MAX)).contains("31 days"));
        assert!(refused(|s| {
            s.recurrence = "0 2 * * Sun".into();
            s.duration_secs = 3600;
            s.ends_ns = Some(i64::MAX)
        })
        .contains("5 years"));
        assert!(refused(|s| s.recurrence = "every sunday".into()).starts_with("recurrence:"));
        assert!(refused(|s| {
            s.recurrence = "0 2 * * Sun".into();
            s.duration_secs = 0
        })
        .starts_with("duration:"));
        assert_eq!(Target::parse("pathway:book-appointment"), Some(Target::Pathway("book-appointment".into())));
        assert_eq!(Target::parse("team:x"), None);
        assert_eq!(Target::parse("slo:"), None);
    }
}
