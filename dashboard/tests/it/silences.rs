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
