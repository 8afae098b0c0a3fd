//! Test backends and a small helper to write audit events into them, chained.

pub use audit_store::testing::sqlite;
use audit_store::{chain, Action, Actor, AuditEvent, ChainLink, Outcome, TelemetryStore};

/// Monday 2 November 2026, 00:00 GMT.
pub const T0: u64 = 1_793_577_600 * SEC;
pub const SEC: u64 = 1_000_000_000;
pub const HOUR: u64 = 3_600 * SEC;
pub const DAY: u64 = 24 * HOUR;

/// An access by `user` (role and organisation fixed per user by the caller).
pub fn access(
    user: &str,
    role: &str,
    org: &str,
    nhs: &str,
    action: Action,
    outcome: Outcome,
    at_ns: u64,
) -> AuditEvent {
    AuditEvent {
        event_id: format!("{user}-{nhs}-{at_ns}-{}", action.as_str()),
        occurred_ns: at_ns,
        actor: Actor { user_id: user.into(), name: String::new(), role: role.into(), organisation: org.into() },
        purpose_of_use: "direct care".into(),
        action,
        nhs_number: nhs.into(),
        resource_type: "Patient".into(),
        resource_id: nhs.into(),
        outcome,
        correlation_id: String::new(),
        request_id: String::new(),
        source_system: "test".into(),
        client_address: String::new(),
        device: String::new(),
    }
}

pub fn read(user: &str, org: &str, nhs: &str, at_ns: u64) -> AuditEvent {
    access(user, "clinician", org, nhs, Action::Read, Outcome::Success, at_ns)
}

/// Writes events into a store, chained in the order given.
pub struct Log<'a, S> {
    pub store: &'a S,
    head: Option<ChainLink>,
}

impl<'a, S: TelemetryStore> Log<'a, S> {
    pub fn new(store: &'a S) -> Self {
        Log { store, head: None }
    }

    pub async fn add(&mut self, events: Vec<AuditEvent>) {
        let mut stored = Vec::new();
        for e in events {
            let received = e.occurred_ns;
            let r = chain::link(self.head.as_ref(), received, e);
            self.head = Some(ChainLink { seq: r.seq, hash: r.hash.clone() });
            stored.push(r);
        }
        self.store.insert_audit_events(&stored).await.unwrap();
    }
}

/// A valid test NHS number (999 range) for a small integer.
pub fn nhs(n: u32) -> String {
    let mut digits: Vec<u32> = format!("999{n:06}").chars().map(|c| c.to_digit(10).unwrap()).collect();
    let mut bump = 0;
    loop {
        if let Some(check) = domain::nhs_number::check_digit(&digits) {
            digits.push(check);
            return digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
        }
        bump += 1;
        digits = format!("999{:06}", n * 10 + bump).chars().map(|c| c.to_digit(10).unwrap()).collect();
    }
}
