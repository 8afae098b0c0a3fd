//! The state stores (accounts, single-sign-on accounts, sessions, sign-in throttling, API tokens,
//! alerts and their evaluations) run the same test bodies on SQLite and on PostgreSQL
//! (`PATHWATCH_TEST_POSTGRES_URL`; skipped loudly without it, failed under
//! `PATHWATCH_REQUIRE_SERVICES=1`).

use std::time::Duration;

use dashboard::auth::accounts::{AccountError, Accounts, OidcIdentity, Role};
use dashboard::auth::api_tokens::ApiTokens;
use dashboard::auth::sessions::{SessionPolicy, Sessions};
use dashboard::auth::throttle::{Limits, Throttle};
use engine::alerts::AlertEngine;
use engine::notify::Notifier;
use engine::notify::Transition;
use state::testing::Place;

const PASSWORD: &str = "correct horse battery";
const SEC: i64 = 1_000_000_000;

async fn accounts_and_their_passwords(place: &Place) {
    let pool = place.state().await;
    let accounts = Accounts::from_pool(pool);
    let made = accounts.create("jo.bloggs", Role::IgLead, &["RX1".into()], PASSWORD, false).await.unwrap();
    assert_eq!((made.role, made.organisations.clone()), (Role::IgLead, vec!["RX1".to_string()]));
    assert!(matches!(
        accounts.create("jo.bloggs", Role::Oncall, &[], PASSWORD, false).await,
        Err(AccountError::Exists(_))
    ));
    accounts.create("amy", Role::Admin, &[], "one time password 1", true).await.unwrap();
    let names: Vec<String> = accounts.list().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["amy", "jo.bloggs"]);
    assert!(accounts.get("amy").await.unwrap().must_change_password);

    assert_eq!(accounts.verify("jo.bloggs", PASSWORD).await.unwrap().name, "jo.bloggs");
    assert!(accounts.verify("jo.bloggs", "wrong password here").await.is_err());
    accounts.set_password("jo.bloggs", "another long password", false).await.unwrap();
    assert!(accounts.verify("jo.bloggs", PASSWORD).await.is_err());
    assert!(accounts.verify("jo.bloggs", "another long password").await.is_ok());
    accounts.set_disabled("jo.bloggs", true).await.unwrap();
    assert!(accounts.get("jo.bloggs").await.unwrap().disabled);
    assert!(accounts.verify("jo.bloggs", "another long password").await.is_err(), "disabled");
    assert!(matches!(accounts.get("nobody").await, Err(AccountError::NotFound(_))));
}

async fn single_sign_on_accounts(place: &Place) {
    let pool = place.state().await;
    let accounts = Accounts::from_pool(pool);
    let identity = OidcIdentity {
        issuer: "https://idp.example".into(),
        subject: "u-123".into(),
        display_name: Some("Dr Ada Lovelace".into()),
        role: Role::Oncall,
        organisations: vec!["RX1".into()],
        alternatives: vec![],
    };
    let account = accounts.sign_in_oidc(&identity).await.unwrap();
    assert!(account.oidc && account.name.starts_with("oidc-"), "{account:?}");
    assert!(accounts.signed_in_ns(&account.name).await.unwrap() > 0);
    // The provider's word wins at each sign-in; another issuer cannot take the name.
    let promoted = accounts.sign_in_oidc(&OidcIdentity { role: Role::Admin, ..identity.clone() }).await.unwrap();
    assert_eq!(promoted.role, Role::Admin);
    let other = OidcIdentity { issuer: "https://elsewhere.example".into(), ..identity.clone() };
    assert!(accounts.sign_in_oidc(&other).await.is_err());
    accounts.set_disabled(&account.name, true).await.unwrap();
    assert!(matches!(accounts.sign_in_oidc(&identity).await, Err(AccountError::Disabled(_))));
}

async fn sessions_expire_and_end(place: &Place) {
    let pool = place.state().await;
    let accounts = Accounts::from_pool(pool.clone());
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    let policy = SessionPolicy { idle_timeout_ns: 60 * SEC, max_lifetime_ns: 600 * SEC };
    let sessions = Sessions::new(pool, policy);
    let t0 = 1_000_000 * SEC;
    let token = sessions.start("sam", t0).await.unwrap();
    assert_eq!(sessions.find(&token, t0 + 30 * SEC).await.unwrap().map(|s| s.account).as_deref(), Some("sam"));
    assert!(sessions.find(&token, t0 + 200 * SEC).await.unwrap().is_none(), "idle too long");
    let token = sessions.start("sam", t0).await.unwrap();
    sessions.end(&token).await.unwrap();
    assert!(sessions.find(&token, t0).await.unwrap().is_none(), "ended");
    assert!(sessions.find("not-a-token", t0).await.unwrap().is_none());
    // Disabling an account ends its sessions (the foreign key cascades on both backends).
    let token = sessions.start("sam", t0).await.unwrap();
    accounts.set_disabled("sam", true).await.unwrap();
    assert!(sessions.find(&token, t0).await.unwrap().is_none(), "disabled");
}

async fn sign_in_attempts_are_throttled(place: &Place) {
    let pool = place.state().await;
    let throttle = Throttle::new(pool, Limits::from_max_failures(3, Duration::from_secs(900)));
    let t0 = 2_000_000 * SEC;
    for i in 0..3 {
        assert!(throttle.attempt("sam", Some("10.0.0.1"), t0 + i).await.unwrap().is_ok(), "attempt {i}");
    }
    let wait = throttle.attempt("sam", Some("10.0.0.1"), t0 + 10).await.unwrap().unwrap_err();
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(900), "{wait:?}");
    // Another address is still let in; a success forgives the failures.
    let other = throttle.attempt("sam", Some("10.0.0.2"), t0 + 11).await.unwrap().unwrap();
    throttle.succeeded(&other).await.unwrap();
    assert!(throttle.attempt("sam", Some("10.0.0.1"), t0 + 901 * SEC).await.unwrap().is_ok(), "window passed");
}

async fn api_tokens_live_and_die(place: &Place) {
    let pool = place.state().await;
    let accounts = Accounts::from_pool(pool);
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    let tokens = ApiTokens::new(&accounts);
    let now = 3_000_000 * SEC;
    let (kept, token) = tokens.create(&accounts, "sam", "nightly", Some(1), now).await.unwrap();
    let (_, second) = tokens.create(&accounts, "sam", "", None, now).await.unwrap();
    assert!(kept.id > 0);
    assert_eq!(tokens.authenticate(&token, now + SEC).await.unwrap().as_deref(), Some("sam"));
    assert_eq!(tokens.authenticate(&token, now + 2 * 86_400 * SEC).await.unwrap(), None, "expired");
    let listed = tokens.list(&accounts, "sam").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].id > listed[1].id, "newest first");
    assert!(listed.iter().any(|t| t.last_used_ns.is_some()), "use is recorded");
    tokens.revoke("sam", kept.id, now + SEC).await.unwrap();
    assert_eq!(tokens.authenticate(&token, now + SEC).await.unwrap(), None, "revoked");
    assert_eq!(tokens.authenticate(&second, now + SEC).await.unwrap().as_deref(), Some("sam"));
}

async fn alerts_fire_once_and_resolve(place: &Place) {
    let pool = place.state().await;
    let engine =
        AlertEngine::new(pool.clone(), Notifier::new(None, vec![]).unwrap(), Duration::from_secs(3600), "", "");
    let now = 100 * 86_400 * SEC as u64;
    let burning = crate::alerts::status(100, now);
    let fired = engine.apply(&burning, now as i64).await.unwrap().map(|n| n.transition);
    assert_eq!(fired, Some(Transition::Firing));
    assert!(engine.apply(&burning, now as i64 + SEC).await.unwrap().is_none(), "not again while firing");
    let open = engine::alerts::recent(&pool, 10).await.unwrap();
    assert_eq!((open.len(), open[0].resolved_ns), (1, None));
    // Clear for longer than the hold: resolved, once.
    let clear = crate::alerts::status(0, now);
    let mut resolved = 0;
    for minute in 1..=12 {
        let at = now as i64 + minute * 60 * SEC;
        if let Some(n) = engine.apply(&clear, at).await.unwrap() {
            assert_eq!(n.transition, Transition::Resolved);
            resolved += 1;
        }
    }
    assert_eq!(resolved, 1);
    assert!(engine::alerts::recent(&pool, 10).await.unwrap()[0].resolved_ns.is_some());
}

async fn the_hazard_log_keeps_versions_sign_offs_and_evidence(place: &Place) {
    use hazard_log::{ChainVerification, EvidenceCheck, EvidenceStatus, HazardError, HazardLog};
    // On PostgreSQL the log's tables sit beside the state's in one database: both migrate there.
    let _state = place.state().await;
    let log = HazardLog::connect(&place.location("hazards")).await.unwrap();
    let first = hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap().remove(0);
    let t = 4_000_000 * SEC;
    assert_eq!(log.create(&first, "cso", "new", t).await.unwrap(), 1);
    let edited = hazard_log::Hazard { title: "Retitled".into(), ..first.clone() };
    assert_eq!(log.update(&edited, 1, "cso", "clearer title", t + SEC).await.unwrap(), 2);
    assert!(matches!(
        log.update(&edited, 1, "amy", "stale edit", t + 2 * SEC).await,
        Err(HazardError::Conflict { current: 2, .. })
    ));
    let history = log.history(&first.id).await.unwrap();
    assert_eq!(history.iter().map(|h| h.version).collect::<Vec<_>>(), [1, 2]);
    assert!(history[1].changes.iter().any(|c| c.field == "title"), "{:?}", history[1].changes);
    assert_eq!(log.at_version(&first.id, 1).await.unwrap().title, first.title);
    // Two sign-offs in the same instant keep the order they were made in.
    log.sign_off(&first.id, 2, "cso", "first", t + 3 * SEC).await.unwrap();
    log.sign_off(&first.id, 2, "cso", "second", t + 3 * SEC).await.unwrap();
    let statements: Vec<String> = log.sign_offs(&first.id).await.unwrap().into_iter().map(|s| s.statement).collect();
    assert_eq!(statements, ["first", "second"]);

    // Evidence: the same state again extends its interval; a change starts a new one.
    let check = |status, at| EvidenceCheck {
        hazard_id: first.id.clone(),
        control_id: "C1".into(),
        source: "canary pds".into(),
        status,
        checked_ns: at,
        verified_ns: Some(at),
        detail: String::new(),
        link: None,
    };
    let gap = 600 * SEC;
    assert_eq!(log.record_evidence(&[check(EvidenceStatus::Passing, t)], gap).await.unwrap().len(), 1);
    assert!(log.record_evidence(&[check(EvidenceStatus::Passing, t + 60 * SEC)], gap).await.unwrap().is_empty());
    assert_eq!(log.record_evidence(&[check(EvidenceStatus::Failing, t + 120 * SEC)], gap).await.unwrap().len(), 1);
    let intervals = log.evidence_history(t, t + 3600 * SEC).await.unwrap();
    assert_eq!(intervals.len(), 2);
    assert_eq!((intervals[0].last_checked_ns, intervals[0].ended_ns), (t + 60 * SEC, Some(t + 120 * SEC)));
    // A verification recorded twice at one instant is one row, the newer.
    let verification = |intact| ChainVerification {
        at_ns: t,
        full_walk: true,
        records_checked: 10,
        head_seq: Some(10),
        head_hash: Some("ab".into()),
        intact,
        detail: String::new(),
    };
    log.record_chain_verification(&verification(true)).await.unwrap();
    log.record_chain_verification(&verification(false)).await.unwrap();
    let recorded = log.chain_verifications(t, t + SEC).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert!(!recorded[0].intact);
    let (newest, full) = log.latest_chain_verifications().await.unwrap();
    assert_eq!((newest.map(|v| v.at_ns), full.map(|v| v.full_walk)), (Some(t), Some(true)));
}

state::on_every_state!(
    leases_have_one_holder_and_fence_the_old_one,
    the_hazard_log_keeps_versions_sign_offs_and_evidence,
    accounts_and_their_passwords,
    single_sign_on_accounts,
    sessions_expire_and_end,
    sign_in_attempts_are_throttled,
    api_tokens_live_and_die,
    alerts_fire_once_and_resolve,
);

/// One holder at a time; a new holder only once the lease has expired (or was released), with a
/// higher epoch; the old holder's fence stops holding, so its writes can be refused.
async fn leases_have_one_holder_and_fence_the_old_one(place: &Place) {
    use state::lease;
    let pool = place.state().await;
    let (t, ttl) = (5_000_000 * SEC, 10 * SEC);
    let a = lease::acquire(&pool, "monitor", "host-a", t, ttl).await.unwrap().expect("a takes the free lease");
    assert_eq!(a.epoch, 1);
    assert_eq!(lease::acquire(&pool, "monitor", "host-b", t + SEC, ttl).await.unwrap(), None, "a holds it");
    let renewed = lease::acquire(&pool, "monitor", "host-a", t + 5 * SEC, ttl).await.unwrap().unwrap();
    assert_eq!(renewed.epoch, 1, "renewing keeps the epoch");
    assert_eq!(lease::acquire(&pool, "monitor", "host-b", t + 14 * SEC, ttl).await.unwrap(), None, "renewed to t+15");
    let mut conn = pool.acquire().await.unwrap();
    assert!(a.check(&mut conn, t + 14 * SEC).await.unwrap());
    // a stops renewing (killed): b takes over after expiry, with a new epoch.
    let b = lease::acquire(&pool, "monitor", "host-b", t + 16 * SEC, ttl).await.unwrap().expect("expired: b takes it");
    assert_eq!(b.epoch, 2);
    assert!(!a.check(&mut conn, t + 16 * SEC).await.unwrap(), "a's fence no longer holds");
    assert!(b.check(&mut conn, t + 16 * SEC).await.unwrap());
    assert_eq!(
        lease::acquire(&pool, "monitor", "host-a", t + 17 * SEC, ttl).await.unwrap(),
        None,
        "a comes back too late"
    );
    drop(conn);
    // An alert engine fenced by a's lease changes nothing and tells nobody; b's fires.
    let engine = |fence| {
        AlertEngine::new(pool.clone(), Notifier::new(None, vec![]).unwrap(), Duration::from_secs(3600), "", "")
            .fenced(fence)
    };
    let burning = crate::alerts::status(100, (t + 17 * SEC) as u64);
    let stale = engine(a.clone()).apply(&burning, t + 17 * SEC).await;
    assert!(matches!(stale, Err(engine::EngineError::NotLeader(_))), "{stale:?}");
    assert!(engine::alerts::recent(&pool, 10).await.unwrap().is_empty());
    let fired = engine(b.clone()).apply(&burning, t + 17 * SEC).await.unwrap().map(|n| n.transition);
    assert_eq!(fired, Some(Transition::Firing));
    // Released at shutdown: another takes it at once. Other leases are separate.
    lease::release(&pool, &b).await.unwrap();
    let a2 = lease::acquire(&pool, "monitor", "host-a", t + 18 * SEC, ttl).await.unwrap().unwrap();
    assert_eq!(a2.epoch, 3);
    assert_eq!(lease::acquire(&pool, "canaries", "host-b", t + 18 * SEC, ttl).await.unwrap().unwrap().epoch, 1);
    assert_eq!(lease::holder(&pool, "monitor").await.unwrap().map(|h| h.0).as_deref(), Some("host-a"));
}

/// `state migrate`'s copy into PostgreSQL continues identities after every id SQLite ever gave,
/// deleted ones included, so no id is handed out twice.
#[tokio::test]
async fn a_copy_into_postgres_never_hands_out_an_id_twice() {
    let Some(place) = state::testing::postgres("copy_identities").await else { return };
    let source = state::testing::sqlite();
    let from = source.state().await;
    let accounts = Accounts::from_pool(from.clone());
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    let tokens = ApiTokens::new(&accounts);
    let now = 6_000_000 * SEC;
    for _ in 0..5 {
        tokens.create(&accounts, "sam", "", None, now).await.unwrap();
    }
    sqlx::query("DELETE FROM api_tokens WHERE id > 2").execute(&from).await.unwrap();
    let to = place.state().await;
    let report = state::copy::copy(&from, &to, state::copy::STATE_TABLES).await.unwrap();
    assert!(report.iter().all(|t| t.verified()), "{report:?}");
    let to_accounts = Accounts::from_pool(to);
    let (made, _) = ApiTokens::new(&to_accounts).create(&to_accounts, "sam", "", None, now).await.unwrap();
    assert_eq!(made.id, 6, "ids 3 to 5 were given once already");
}

/// A PostgreSQL connection the server ends (a restart, an administrator) is the database being
/// unavailable, which pages answer with 503 and Retry-After; a fault in the query is not.
#[tokio::test]
async fn a_connection_the_server_ends_is_the_database_unavailable_not_a_fault() {
    let Some(Place::Postgres(url)) = state::testing::postgres("ended").await else { return };
    let pool = state::connect(&state::Location::Postgres(url)).await.unwrap();
    let mut ended = pool.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *ended).await.unwrap();
    let mut admin = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&mut *admin).await.unwrap();
    let err = sqlx::query("SELECT 1").execute(&mut *ended).await.unwrap_err();
    assert!(audit_store::database_unavailable(&err), "{err:?}");
    let err = sqlx::query("SELECT * FROM no_such_table").execute(&mut *admin).await.unwrap_err();
    assert!(!audit_store::database_unavailable(&err), "{err:?}");
    // SQLSTATEs are mostly digits: judged as PostgreSQL's, never by SQLite's numbers.
    for (code, unavailable) in [("53300", true), ("08006", true), ("40001", true), ("42501", false), ("22021", false)] {
        let raise = format!("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$");
        let err = sqlx::query(sqlx::AssertSqlSafe(raise)).execute(&mut *admin).await.unwrap_err();
        assert_eq!(audit_store::database_unavailable(&err), unavailable, "{code}: {err:?}");
    }
}
