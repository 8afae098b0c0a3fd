//! MESH mailboxes and messages in memory, with mesh-sandbox's lifecycle: a sent message is `accepted` in
//! the recipient's inbox until acknowledged. A message that cannot be delivered (sent while
//! `drop_messages` is in force, or not collected within [`INBOX_EXPIRY_DAYS`]) becomes `undeliverable`
//! and, as live MESH does, puts a non-delivery REPORT (status code 14, linked to it) in its sender's inbox.
//! No HTTP here.
//!
//! Memory stays bounded in a long-running sandbox: messages are indexed by id, acknowledged ones are
//! dropped [`ACKNOWLEDGED_RETENTION_HOURS`] after acknowledgement, every message
//! [`MESSAGE_RETENTION_DAYS`] after it was sent (mesh-sandbox's message expiry), and beyond
//! [`MAX_MESSAGES`] the oldest go first.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::config::MeshMailbox;

/// Days a message waits in an inbox to be collected (mesh-sandbox's inbox expiry, live MESH's 5 days).
pub const INBOX_EXPIRY_DAYS: i64 = 5;
/// Days any message is kept at all (mesh-sandbox's `default_message_expiry_time`).
pub const MESSAGE_RETENTION_DAYS: i64 = 30;
/// Hours an acknowledged message stays downloadable and trackable.
pub const ACKNOWLEDGED_RETENTION_HOURS: i64 = 24;
/// Most messages held at once; the oldest are dropped beyond it.
pub const MAX_MESSAGES: usize = 20_000;
/// Time-based expiry runs at most this often (every operation would be a full scan).
const SWEEP_INTERVAL: Duration = Duration::minutes(1);
/// MESH's non-delivery status code and description (mesh-sandbox `ERROR_UNDELIVERED_MESSAGE`).
pub const UNDELIVERED_CODE: &str = "14";

pub fn undelivered_description() -> String {
    format!("Message not collected by recipient after {INBOX_EXPIRY_DAYS} days")
}

/// A mailbox as mesh-sandbox describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub id: String,
    pub password: String,
    pub name: String,
    pub ods_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Accepted,
    Acknowledged,
    /// Could not be delivered: never in an inbox, 410 Gone to its recipient.
    Undeliverable,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Acknowledged => "acknowledged",
            MessageStatus::Undeliverable => "undeliverable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Data,
    Report,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Data => "DATA",
            MessageType::Report => "REPORT",
        }
    }
}

/// The error a REPORT carries (mesh-sandbox's error event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEvent {
    pub code: String,
    pub event: String,
    pub description: String,
    pub linked_message_id: String,
    pub at: DateTime<Utc>,
}

/// One message: the sender's mex-* metadata, the body and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    /// Empty for a REPORT (sent by MESH itself).
    pub sender: String,
    pub recipient: String,
    pub workflow_id: String,
    pub subject: String,
    pub local_id: String,
    pub partner_id: String,
    pub file_name: String,
    pub content_type: String,
    pub content_encoding: String,
    pub checksum: String,
    pub encrypted: bool,
    pub compressed: bool,
    pub body: Vec<u8>,
    pub status: MessageStatus,
    pub message_type: MessageType,
    /// Set on a REPORT.
    pub error: Option<ErrorEvent>,
    pub created: DateTime<Utc>,
    pub acknowledged: Option<DateTime<Utc>>,
    pub undeliverable: Option<DateTime<Utc>>,
}

impl Message {
    pub fn inbox_expiry(&self) -> DateTime<Utc> {
        self.created + Duration::days(INBOX_EXPIRY_DAYS)
    }

    pub fn last_modified(&self) -> DateTime<Utc> {
        self.acknowledged.or(self.undeliverable).unwrap_or(self.created)
    }

    /// A plain DATA message from `sender` to `recipient`, accepted `at`.
    pub fn data(sender: &str, recipient: &str, workflow_id: &str, body: &[u8], at: DateTime<Utc>) -> Message {
        Message {
            id: new_message_id(),
            sender: sender.into(),
            recipient: recipient.into(),
            workflow_id: workflow_id.into(),
            subject: String::new(),
            local_id: String::new(),
            partner_id: String::new(),
            file_name: String::new(),
            content_type: String::new(),
            content_encoding: String::new(),
            checksum: String::new(),
            encrypted: false,
            compressed: false,
            body: body.to_vec(),
            status: MessageStatus::Accepted,
            message_type: MessageType::Data,
            error: None,
            created: at,
            acknowledged: None,
            undeliverable: None,
        }
    }

    /// The non-delivery report this message's sender gets when it cannot be delivered.
    fn non_delivery_report(&self, at: DateTime<Utc>) -> Message {
        Message {
            subject: self.subject.clone(),
            local_id: self.local_id.clone(),
            message_type: MessageType::Report,
            // mesh-sandbox's reports carry event TRANSFER (`handlers/admin.py` `create_report`).
            error: Some(ErrorEvent {
                code: UNDELIVERED_CODE.to_owned(),
                event: "TRANSFER".to_owned(),
                description: undelivered_description(),
                linked_message_id: self.id.clone(),
                at,
            }),
            // Sent by MESH itself: no sender.
            ..Message::data("", &self.sender, &self.workflow_id, b"", at)
        }
    }
}

/// A message id as mesh-sandbox makes them: 32 upper-case hex digits.
pub fn new_message_id() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

#[derive(Debug)]
pub struct MeshStore {
    mailboxes: BTreeMap<String, Mailbox>,
    messages: HashMap<String, Message>,
    /// Every message id by arrival order, for oldest-first eviction.
    order: BTreeMap<u64, String>,
    /// Each mailbox's accepted messages by arrival order.
    inboxes: HashMap<String, BTreeMap<u64, String>>,
    seq_of: HashMap<String, u64>,
    next_seq: u64,
    last_sweep: Option<DateTime<Utc>>,
}

impl MeshStore {
    pub fn new(mailboxes: &[MeshMailbox]) -> Self {
        let mailboxes = mailboxes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let id = m.id.to_uppercase();
                let mailbox = Mailbox {
                    name: format!("TESTMB{}", i + 1),
                    ods_code: id.chars().take(3).collect(),
                    password: m.password.clone(),
                    id: id.clone(),
                };
                (id, mailbox)
            })
            .collect();
        MeshStore {
            mailboxes,
            messages: HashMap::new(),
            order: BTreeMap::new(),
            inboxes: HashMap::new(),
            seq_of: HashMap::new(),
            next_seq: 0,
            last_sweep: None,
        }
    }

    /// Every mailbox's id, in order.
    pub fn mailbox_ids(&self) -> impl Iterator<Item = &str> {
        self.mailboxes.keys().map(String::as_str)
    }

    pub fn mailbox(&self, id: &str) -> Option<&Mailbox> {
        self.mailboxes.get(id)
    }

    /// Stores a sent message: into its recipient's inbox, or, when `deliver` is false, straight to
    /// undeliverable with a non-delivery report for its sender.
    pub fn send(&mut self, mut message: Message, deliver: bool, now: DateTime<Utc>) {
        self.maybe_sweep(now);
        if deliver {
            self.insert(message);
        } else {
            message.status = MessageStatus::Undeliverable;
            message.undeliverable = Some(now);
            let report = message.non_delivery_report(now);
            self.insert(message);
            self.insert(report);
        }
        self.evict_oldest_beyond_cap();
    }

    fn insert(&mut self, message: Message) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if message.status == MessageStatus::Accepted {
            self.inboxes.entry(message.recipient.clone()).or_default().insert(seq, message.id.clone());
        }
        self.order.insert(seq, message.id.clone());
        self.seq_of.insert(message.id.clone(), seq);
        self.messages.insert(message.id.clone(), message);
    }

    fn remove(&mut self, id: &str) {
        if let Some(seq) = self.seq_of.remove(id) {
            self.order.remove(&seq);
            if let Some(message) = self.messages.remove(id) {
                if let Some(inbox) = self.inboxes.get_mut(&message.recipient) {
                    inbox.remove(&seq);
                }
            }
        }
    }

    pub fn message(&self, id: &str) -> Option<&Message> {
        self.messages.get(id)
    }

    /// Accepted messages (DATA and REPORT) in `mailbox`'s inbox, oldest first.
    pub fn inbox(&mut self, mailbox: &str, now: DateTime<Utc>) -> Vec<&Message> {
        self.maybe_sweep(now);
        let Some(inbox) = self.inboxes.get(mailbox) else { return Vec::new() };
        inbox.values().filter_map(|id| self.messages.get(id)).collect()
    }

    /// Marks a message acknowledged and takes it out of the inbox; only an accepted message changes.
    pub fn acknowledge(&mut self, id: &str, now: DateTime<Utc>) {
        let Some(message) = self.messages.get_mut(id) else { return };
        if message.status != MessageStatus::Accepted {
            return;
        }
        message.status = MessageStatus::Acknowledged;
        message.acknowledged = Some(now);
        let recipient = message.recipient.clone();
        if let (Some(seq), Some(inbox)) = (self.seq_of.get(id), self.inboxes.get_mut(&recipient)) {
            inbox.remove(seq);
        }
    }

    fn maybe_sweep(&mut self, now: DateTime<Utc>) {
        if self.last_sweep.is_none_or(|last| now - last >= SWEEP_INTERVAL || now < last) {
            self.sweep(now);
        }
    }

    /// Applies every time-based rule as of `now`: uncollected messages past their inbox expiry become
    /// undeliverable (with a report to the sender); acknowledged and old messages are dropped.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        self.last_sweep = Some(now);
        let expired: Vec<String> = self
            .inboxes
            .values()
            .flat_map(|inbox| inbox.values())
            .filter_map(|id| self.messages.get(id))
            .filter(|m| m.message_type == MessageType::Data && m.inbox_expiry() <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            let Some(message) = self.messages.get_mut(&id) else { continue };
            message.status = MessageStatus::Undeliverable;
            message.undeliverable = Some(now);
            let (recipient, has_sender) = (message.recipient.clone(), !message.sender.is_empty());
            let report = message.non_delivery_report(now);
            if let (Some(seq), Some(inbox)) = (self.seq_of.get(&id), self.inboxes.get_mut(&recipient)) {
                inbox.remove(seq);
            }
            if has_sender {
                self.insert(report);
            }
        }
        let gone: Vec<String> = self
            .messages
            .values()
            .filter(|m| {
                let too_old = m.created + Duration::days(MESSAGE_RETENTION_DAYS) <= now;
                let acknowledged_long_ago =
                    m.acknowledged.is_some_and(|at| at + Duration::hours(ACKNOWLEDGED_RETENTION_HOURS) <= now);
                too_old || acknowledged_long_ago
            })
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove(&id);
        }
        self.evict_oldest_beyond_cap();
    }

    fn evict_oldest_beyond_cap(&mut self) {
        while self.messages.len() > MAX_MESSAGES {
            let Some((_, id)) = self.order.pop_first() else { break };
            self.remove(&id);
        }
    }

    /// Clears every message, or only those addressed to `mailbox`.
    pub fn reset(&mut self, mailbox: Option<&str>) {
        let doomed: Vec<String> = match mailbox {
            Some(id) => self.messages.values().filter(|m| m.recipient == id).map(|m| m.id.clone()).collect(),
            None => self.messages.keys().cloned().collect(),
        };
        for id in doomed {
            self.remove(&id);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MeshStore {
        let mailbox = |id: &str| MeshMailbox { id: id.into(), password: "password".into() };
        MeshStore::new(&[mailbox("X26ABC1"), mailbox("X26ABC2")])
    }

    fn data(at: DateTime<Utc>) -> Message {
        Message {
            local_id: "local".into(),
            file_name: "f.dat".into(),
            ..Message::data("X26ABC1", "X26ABC2", "TEST_WORKFLOW", b"x", at)
        }
    }

    #[test]
    fn uncollected_messages_expire_into_a_report_and_everything_is_eventually_dropped() {
        let start = Utc::now();
        let mut store = store();
        let message = data(start);
        let id = message.id.clone();
        store.send(message, true, start);
        assert_eq!(store.inbox("X26ABC2", start).len(), 1);

        let later = start + Duration::days(INBOX_EXPIRY_DAYS) + Duration::minutes(1);
        assert!(store.inbox("X26ABC2", later).is_empty(), "expired out of the inbox");
        assert_eq!(store.message(&id).map(|m| m.status), Some(MessageStatus::Undeliverable));
        let reports = store.inbox("X26ABC1", later);
        assert_eq!(reports.len(), 1);
        let report = reports[0].error.clone().unwrap();
        assert_eq!((report.code.as_str(), report.linked_message_id.as_str()), (UNDELIVERED_CODE, id.as_str()));

        store.sweep(later + Duration::days(MESSAGE_RETENTION_DAYS));
        assert_eq!(store.len(), 0, "all messages expire");
    }

    #[test]
    fn acknowledged_messages_are_dropped_after_a_day_and_the_store_is_capped() {
        let start = Utc::now();
        let mut store = store();
        let message = data(start);
        let id = message.id.clone();
        store.send(message, true, start);
        store.acknowledge(&id, start);
        store.sweep(start + Duration::hours(1));
        assert!(store.message(&id).is_some(), "still trackable for a while");
        store.sweep(start + Duration::hours(ACKNOWLEDGED_RETENTION_HOURS + 1));
        assert!(store.message(&id).is_none());

        let first = data(start);
        let first_id = first.id.clone();
        store.send(first, true, start);
        for _ in 0..MAX_MESSAGES {
            store.send(data(start), true, start);
        }
        assert_eq!(store.len(), MAX_MESSAGES);
        assert!(store.message(&first_id).is_none(), "the oldest goes first");
        assert_eq!(store.inbox("X26ABC2", start).len(), MAX_MESSAGES, "indexes stay consistent");
    }
}
