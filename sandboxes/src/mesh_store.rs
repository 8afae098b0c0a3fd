//! MESH mailboxes and messages in memory, with mesh-sandbox's lifecycle: a sent message is `accepted` in
//! the recipient's inbox until acknowledged. A message sent while `drop_messages` is in force is kept for
//! the sender's tracking but never delivered. No HTTP here.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::config::MeshMailbox;

/// Days a message stays in an inbox (mesh-sandbox's `INBOX_EXPIRY_DAYS` default).
const INBOX_EXPIRY_DAYS: i64 = 5;

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
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Acknowledged => "acknowledged",
        }
    }
}

/// One sent message: the sender's mex-* metadata, the body and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
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
    pub created: OffsetDateTime,
    pub acknowledged: Option<OffsetDateTime>,
    /// False when the message was dropped by fault injection.
    pub delivered: bool,
}

impl Message {
    pub fn inbox_expiry(&self) -> OffsetDateTime {
        self.created + Duration::days(INBOX_EXPIRY_DAYS)
    }

    pub fn last_modified(&self) -> OffsetDateTime {
        self.acknowledged.unwrap_or(self.created)
    }
}

#[derive(Debug)]
pub struct MeshStore {
    mailboxes: BTreeMap<String, Mailbox>,
    messages: Vec<Message>,
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
        MeshStore { mailboxes, messages: Vec::new() }
    }

    pub fn mailbox(&self, id: &str) -> Option<&Mailbox> {
        self.mailboxes.get(id)
    }

    pub fn add(&mut self, message: Message) {
        self.messages.push(message);
    }

    pub fn message(&self, id: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }

    /// Accepted, delivered messages in `mailbox`'s inbox, oldest first.
    pub fn inbox(&self, mailbox: &str) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.recipient == mailbox && m.delivered && m.status == MessageStatus::Accepted)
            .collect()
    }

    /// Marks a message acknowledged (idempotent).
    pub fn acknowledge(&mut self, id: &str) {
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            if message.status == MessageStatus::Accepted {
                message.status = MessageStatus::Acknowledged;
                message.acknowledged = Some(OffsetDateTime::now_utc());
            }
        }
    }

    /// Clears every message, or only those addressed to `mailbox`.
    pub fn reset(&mut self, mailbox: Option<&str>) {
        match mailbox {
            Some(id) => self.messages.retain(|m| m.recipient != id),
            None => self.messages.clear(),
        }
    }
}
