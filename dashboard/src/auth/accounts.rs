//! Local dashboard accounts: names, roles, organisation scope and Argon2id password hashes, kept in
//! `<data_dir>/dashboard.db`.
//!
//! Nothing here ever stores or logs a password; nothing defaults to a known password. The first
//! start creates one `admin` whose password is either `PATHWATCH_ADMIN_PASSWORD` or a generated one
//! shown once, and that must be changed at first sign-in. Accounts made by OpenID Connect sign-in
//! (`sign_in_oidc`) have no password at all and are refused by `verify` and `set_password`.

use std::fmt;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// What a user may see and do. Each route states which roles may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// On-call staff: pathway health, SLOs, alerts, traces.
    Oncall,
    /// Information-governance leads: audit trails, anomalies, sampling.
    IgLead,
    /// Clinical safety officers: the hazard log, evidence, assurance reports.
    SafetyOfficer,
    /// Everything, and accounts.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Oncall, Role::IgLead, Role::SafetyOfficer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Oncall => "oncall",
            Role::IgLead => "ig_lead",
            Role::SafetyOfficer => "safety_officer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, AccountError> {
        Role::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| AccountError::UnknownRole(text.to_string()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("unknown role {0:?}: one of oncall, ig_lead, safety_officer, admin")]
    UnknownRole(String),
    #[error("account name {0:?} is not allowed: 1-64 characters of a-z, 0-9, '.', '_', '-'")]
    BadName(String),
    #[error("{0:?} is not an ODS code (3-10 letters and digits)")]
    BadOrganisation(String),
    #[error("an account named {0:?} already exists")]
    Exists(String),
    #[error("no account named {0:?}")]
    NotFound(String),
    #[error(
        "the password is too short: at least {MIN_PASSWORD_CHARS} characters (a passphrase of several words is best)"
    )]
    WeakPassword,
    #[error("wrong name or password")]
    BadCredentials,
    #[error(
        "the one-time password of {0:?} has expired (it lasts {ONE_TIME_PASSWORD_HOURS} hours): \
         an administrator sets a new one with `pathwatch user reset-password`"
    )]
    OneTimePasswordExpired(String),
    #[error("too many passwords being checked at once; try again shortly")]
    Busy,
    #[error("account names starting with {OIDC_PREFIX:?} are kept for OpenID Connect sign-in")]
    ReservedName(String),
    #[error("account {0:?} signs in through OpenID Connect and has no password here")]
    SignsInWithOidc(String),
    #[error("account {0:?} exists and belongs to someone else (a local account or another identity)")]
    NameTaken(String),
    #[error("account {0:?} is disabled")]
    Disabled(String),
    #[error("the stored organisations of {0:?} are unreadable")]
    Corrupt(String),
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error("no randomness for a password: {0}")]
    Random(String),
    #[error("account store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Open(#[from] state::StateError),
}

/// NCSC guidance favours length over composition rules.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// ODS codes whose data this user may see; empty means all.
    pub organisations: Vec<String>,
    pub must_change_password: bool,
    pub disabled: bool,
    /// Whether the account signs in through OpenID Connect (and so has no password).
    pub oidc: bool,
    /// The person's name from the identity provider; None for local accounts.
    pub display_name: Option<String>,
}

impl Account {
    /// Organisation scope: an account with organisations sees pathways of those organisations and
    /// pathways that belong to none (national ones); an account without sees every pathway.
    pub fn sees(&self, pathway: &engine::pathways::PathwayConfig) -> bool {
        self.organisations.is_empty()
            || pathway.organisations.is_empty()
            || pathway.organisations.iter().any(|o| self.organisations.contains(o))
    }
}

impl Account {
    /// Organisation scope for data that belongs to one organisation (an audit finding): an
    /// account with organisations sees only theirs.
    pub fn sees_organisation(&self, organisation: &str) -> bool {
        self.organisations.is_empty() || self.organisations.iter().any(|o| o == organisation)
    }
}

mod oidc;

pub use oidc::{OidcIdentity, OIDC_PREFIX};

/// What the first start did about the admin account.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Accounts already existed; nothing was done.
    AlreadySetUp,
    /// Created with the password from `PATHWATCH_ADMIN_PASSWORD`.
    FromEnvironment,
    /// Created with this generated one-time password, to be shown once.
    Generated(String),
}

#[derive(Clone)]
pub struct Accounts {
    pool: state::Pool,
}

/// How long a generated or administrator-set password may be used before it must be changed.
pub const ONE_TIME_PASSWORD_HOURS: i64 = 24;

/// Whether `name` could be an account name (1-64 of a-z, 0-9, '.', '_', '-').
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn check_name(name: &str) -> Result<(), AccountError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_string()))
    }
}

fn check_organisation(code: &str) -> Result<(), AccountError> {
    if (3..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(AccountError::BadOrganisation(code.to_string()))
    }
}

fn hash(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// A hash of a password nobody has, so an unknown name costs as much time as a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Tdy0xGgoQF3Ry3WtnOHz9Q9+9eeY2m3yQYx3dkvKs8";

/// Argon2 is deliberately slow (tens of milliseconds, about 19 MiB each): it runs on the blocking
/// pool, never on the async workers that serve every other request, and at most `HASHING_SLOTS`
/// at once, so a flood of sign-ins cannot take all memory and CPU. A full house is an error the
/// web layer turns into 503.
const HASHING_SLOTS: usize = 4;
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASHING_SLOTS);

async fn hashing_slot() -> Result<tokio::sync::SemaphorePermit<'static>, AccountError> {
    match tokio::time::timeout(std::time::Duration::from_secs(5), HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(AccountError::Busy),
    }
}

async fn hash_off_runtime(password: &str) -> Result<String, AccountError> {
    let _slot = hashing_slot().await?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| AccountError::Hash(format!("hashing task failed: {e}")))?
}

async fn verify_off_runtime(password: &str, stored: String) -> Result<bool, AccountError> {
    let _slot = hashing_slot().await?;
    let password = password.to_string();
    Ok(tokio::task::spawn_blocking(move || verify_hash(&password, &stored)).await.unwrap_or(false))
}

fn verify_hash(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A random password of 20 characters from an alphabet without look-alikes (about 110 bits).
pub fn generate_password() -> Result<String, AccountError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

impl Accounts {
    /// Opens (creating) the account store at `path`.
    pub async fn open(path: &Path) -> Result<Accounts, AccountError> {
        Ok(Accounts { pool: state::open(path).await? })
    }

    /// The accounts in an already opened state database (see `state::open`).
    pub fn from_pool(pool: state::Pool) -> Accounts {
        Accounts { pool }
    }

    /// The database, shared with the sessions table.
    pub fn pool(&self) -> &state::Pool {
        &self.pool
    }

    /// Creates an account. `must_change_password` forces a new password at first sign-in.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        organisations: &[String],
        password: &str,
        must_change_password: bool,
    ) -> Result<Account, AccountError> {
        check_name(name)?;
        if name.starts_with(OIDC_PREFIX) {
            return Err(AccountError::ReservedName(name.into()));
        }
        organisations.iter().try_for_each(|o| check_organisation(o))?;
        let hashed = hash_off_runtime(password).await?;
        let now = domain::Clock::System.now_ns_i64();
        let result = sqlx::query(
            "INSERT INTO accounts (name, role, organisations, password_hash, must_change_password, disabled, \
             created_ns, password_changed_ns) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(serde_json::to_string(organisations).unwrap_or_else(|_| "[]".into()))
        .bind(hashed)
        .bind(i64::from(must_change_password))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(Account {
                name: name.into(),
                role,
                organisations: organisations.to_vec(),
                must_change_password,
                disabled: false,
                oidc: false,
                display_name: None,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AccountError::Exists(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, name: &str) -> Result<Account, AccountError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&self.pool).await?;
        row.map(|r| account(&r)).transpose()?.ok_or_else(|| AccountError::NotFound(name.into()))
    }

    pub async fn list(&self) -> Result<Vec<Account>, AccountError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(account).collect()
    }

    /// Checks a name and password. Unknown names, disabled accounts and wrong passwords all give
    /// the same error after the same work, so the answer does not tell which names exist.
    pub async fn verify(&self, name: &str, password: &str) -> Result<Account, AccountError> {
        let row = sqlx::query(
            "SELECT password_hash, disabled, must_change_password, password_changed_ns FROM accounts WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        // OpenID Connect accounts have an empty hash: they are checked against the decoy too, so
        // they take as long to refuse as anyone else.
        let (stored, disabled) = match &row {
            Some(r) => match r.try_get::<String, _>("password_hash")? {
                hash if hash.is_empty() => (DECOY_HASH.to_string(), true),
                hash => (hash, state::flag(r, "disabled")?),
            },
            None => (DECOY_HASH.to_string(), true),
        };
        if verify_off_runtime(password, stored).await? && !disabled && row.is_some() {
            // Checked only once the password is right: it tells the person, and nobody else,
            // that the password they were given is no longer good.
            if let Some(r) = &row {
                let one_time = state::flag(r, "must_change_password")?;
                let set_ns: i64 = r.try_get("password_changed_ns")?;
                if one_time
                    && domain::Clock::System.now_ns_i64().saturating_sub(set_ns)
                        > ONE_TIME_PASSWORD_HOURS * 3_600_000_000_000
                {
                    return Err(AccountError::OneTimePasswordExpired(name.into()));
                }
            }
            self.get(name).await
        } else {
            Err(AccountError::BadCredentials)
        }
    }

    /// Sets a new password; `must_change` for one an administrator chose (reset), false for the
    /// user's own.
    pub async fn set_password(&self, name: &str, password: &str, must_change: bool) -> Result<(), AccountError> {
        let hashed = hash_off_runtime(password).await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = $2, password_changed_ns = $3 \
             WHERE name = $4 AND oidc_subject IS NULL",
        )
        .bind(hashed)
        .bind(i64::from(must_change))
        .bind(domain::Clock::System.now_ns_i64())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return Err(match self.get(name).await? {
                account if account.oidc => AccountError::SignsInWithOidc(name.into()),
                _ => AccountError::NotFound(name.into()),
            });
        }
        // A new password ends every session signed in with the old one, and forgives the sign-in
        // attempts against the old one (an administrator's reset lifts a lock-out at once).
        sqlx::query("DELETE FROM sessions WHERE account = $1").bind(name).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_disabled(&self, name: &str, disabled: bool) -> Result<(), AccountError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE accounts SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AccountError::NotFound(name.into()));
        }
        // Disabling ends the account's sessions and API tokens for good: enabling it again does
        // not revive them.
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE account = $1").bind(name).execute(&mut *tx).await?;
            sqlx::query("UPDATE api_tokens SET revoked_ns = $1 WHERE account = $2 AND revoked_ns IS NULL")
                .bind(domain::Clock::System.now_ns_i64())
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// On a store with no accounts, creates `admin`: with `env_password` if given (it must meet
    /// the password rule; it need not be changed), else with a generated password that must be
    /// changed at first sign-in. Does nothing when any account exists.
    pub async fn ensure_first_admin(&self, env_password: Option<&str>) -> Result<FirstAdmin, AccountError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&self.pool).await?;
        if count > 0 {
            return Ok(FirstAdmin::AlreadySetUp);
        }
        match env_password {
            Some(password) => {
                self.create("admin", Role::Admin, &[], password, false).await?;
                Ok(FirstAdmin::FromEnvironment)
            }
            None => {
                let password = generate_password()?;
                self.create("admin", Role::Admin, &[], &password, true).await?;
                Ok(FirstAdmin::Generated(password))
            }
        }
    }
}

const ACCOUNT_COLUMNS: &str = "name, role, organisations, must_change_password, disabled, \
     CASE WHEN oidc_subject IS NULL THEN 0 ELSE 1 END AS oidc, display_name";

fn account(row: &state::Row) -> Result<Account, AccountError> {
    let organisations: String = row.try_get("organisations")?;
    let name: String = row.try_get("name")?;
    // Unreadable scope must not widen to "every organisation" (the meaning of an empty list).
    let organisations = serde_json::from_str(&organisations).map_err(|_| AccountError::Corrupt(name.clone()))?;
    Ok(Account {
        name,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        organisations,
        must_change_password: state::flag(row, "must_change_password")?,
        disabled: state::flag(row, "disabled")?,
        oidc: state::flag(row, "oidc")?,
        display_name: row.try_get("display_name")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
        (dir, accounts)
    }

    #[tokio::test]
    async fn create_verify_and_refuse() {
        let (_dir, accounts) = store().await;
        let orgs = vec!["A81001".to_string()];
        let made = accounts.create("jo.bloggs", Role::IgLead, &orgs, "correct horse battery", false).await.unwrap();
        assert_eq!(accounts.verify("jo.bloggs", "correct horse battery").await.unwrap(), made);
        assert!(matches!(
            accounts.verify("jo.bloggs", "correct horse batterY").await,
            Err(AccountError::BadCredentials)
        ));
        assert!(matches!(accounts.verify("nobody", "correct horse battery").await, Err(AccountError::BadCredentials)));
        assert!(matches!(
            accounts.create("jo.bloggs", Role::Oncall, &[], "another long password", false).await,
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            accounts.create("Jo Bloggs", Role::Oncall, &[], "long enough pass", false).await,
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            accounts.create("sam", Role::Oncall, &[], "short", false).await,
            Err(AccountError::WeakPassword)
        ));
        let bad_org = vec!["A8".to_string()];
        assert!(matches!(
            accounts.create("sam", Role::Oncall, &bad_org, "long enough pass", false).await,
            Err(AccountError::BadOrganisation(_))
        ));
        accounts.set_disabled("jo.bloggs", true).await.unwrap();
        assert!(matches!(
            accounts.verify("jo.bloggs", "correct horse battery").await,
            Err(AccountError::BadCredentials)
        ));
    }

    #[tokio::test]
    async fn passwords_are_stored_only_as_argon2id_hashes() {
        let (dir, accounts) = store().await;
        accounts.create("sam", Role::Oncall, &[], "a very secret phrase", false).await.unwrap();
        let stored: String =
            sqlx::query_scalar("SELECT password_hash FROM accounts").fetch_one(&accounts.pool).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        accounts.pool.close().await;
        // WAL mode: recent writes may still be in the -wal file, so read both.
        let mut bytes = std::fs::read(dir.path().join("dashboard.db")).unwrap();
        bytes.extend(std::fs::read(dir.path().join("dashboard.db-wal")).unwrap_or_default());
        assert!(bytes.len() > 4096, "the store has content to search");
        assert!(String::from_utf8_lossy(&bytes).contains("$argon2id$"), "the hash is found where the password is not");
        assert!(!String::from_utf8_lossy(&bytes).contains("a very secret phrase"));
    }

    #[tokio::test]
    async fn first_start_creates_one_admin_with_a_one_time_or_given_password() {
        let (_dir, accounts) = store().await;
        let FirstAdmin::Generated(password) = accounts.ensure_first_admin(None).await.unwrap() else {
            panic!("expected a generated password")
        };
        assert!(password.len() >= 20);
        let admin = accounts.verify("admin", &password).await.unwrap();
        assert_eq!((admin.role, admin.must_change_password), (Role::Admin, true));
        assert_eq!(accounts.ensure_first_admin(None).await.unwrap(), FirstAdmin::AlreadySetUp);
        accounts.set_password("admin", "my own new passphrase", false).await.unwrap();
        assert!(!accounts.verify("admin", "my own new passphrase").await.unwrap().must_change_password);

        let (_dir, fresh) = store().await;
        assert_eq!(fresh.ensure_first_admin(Some("from the environment")).await.unwrap(), FirstAdmin::FromEnvironment);
        assert!(!fresh.verify("admin", "from the environment").await.unwrap().must_change_password);
        let (_dir, weak) = store().await;
        assert!(matches!(weak.ensure_first_admin(Some("admin")).await, Err(AccountError::WeakPassword)));
    }

    #[tokio::test]
    async fn a_one_time_password_expires_after_a_day_and_ones_own_password_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("d.db")).await.unwrap();
        accounts.create("temp", Role::Oncall, &[], "one-time password here", true).await.unwrap();
        accounts.create("own", Role::Oncall, &[], "a password of my own", false).await.unwrap();
        assert!(accounts.verify("temp", "one-time password here").await.is_ok(), "fresh: usable");
        let day_ago = domain::Clock::System.now_ns_i64() - (ONE_TIME_PASSWORD_HOURS + 1) * 3_600_000_000_000;
        sqlx::query("UPDATE accounts SET password_changed_ns = $1")
            .bind(day_ago)
            .execute(accounts.pool())
            .await
            .unwrap();
        let expired = accounts.verify("temp", "one-time password here").await.unwrap_err();
        assert!(matches!(expired, AccountError::OneTimePasswordExpired(_)), "{expired}");
        assert!(expired.to_string().contains("pathwatch user reset-password"), "{expired}");
        // Only the right password learns it has expired.
        assert!(matches!(accounts.verify("temp", "a wrong guess at it").await, Err(AccountError::BadCredentials)));
        assert!(accounts.verify("own", "a password of my own").await.is_ok(), "one's own password has no such limit");
    }

    #[test]
    fn roles_parse_by_name_and_list_the_choices() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        let error = Role::parse("superuser").unwrap_err().to_string();
        assert!(error.contains("superuser") && error.contains("ig_lead"), "{error}");
    }

    #[test]
    fn the_decoy_hash_is_a_valid_argon2id_hash() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!verify_hash("anything", DECOY_HASH));
    }
}
