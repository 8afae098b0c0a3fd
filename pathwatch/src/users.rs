//! `pathwatch user …`: dashboard accounts from the command line. Passwords are never taken from
//! the command line: new and reset accounts get a generated one-time password, printed once, that
//! must be changed at first sign-in. API tokens (`user token …`) are printed once, on standard
//! output, when made; afterwards only their hash exists.

use std::process::ExitCode;

use anyhow::Context;
use dashboard::auth::accounts::{generate_password, Accounts, Role};
use dashboard::auth::api_tokens::{ApiTokens, DEFAULT_EXPIRY_DAYS, MAX_EXPIRY_DAYS};

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create an account and print its one-time password.
    Add {
        name: String,
        /// oncall, ig_lead, safety_officer or admin.
        #[arg(long)]
        role: String,
        /// Limit the user's data to this organisation (ODS code); repeat for several. None: all.
        #[arg(long = "org", value_name = "ODS")]
        organisations: Vec<String>,
    },
    /// List accounts as JSON lines.
    List,
    /// Give an account a new one-time password (printed once).
    ResetPassword { name: String },
    /// Stop an account from signing in.
    Disable { name: String },
    /// Let a disabled account sign in again (its old sessions and API tokens stay ended).
    Enable { name: String },
    /// Personal API tokens for scripts (`Authorization: Bearer …` on /api/v1 only).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token for an account and print it once on standard output.
    Create {
        name: String,
        /// What the token is for, shown by `list`.
        #[arg(long, default_value = "")]
        label: String,
        /// Days until it stops working (1 to 366) [default: 90].
        #[arg(long, value_name = "N")]
        expires_days: Option<u32>,
    },
    /// List an account's tokens as JSON lines (never the tokens themselves).
    List { name: String },
    /// Stop a token working at once.
    Revoke { name: String, id: i64 },
}

pub async fn run(config: &crate::config::Config, command: UserCommand) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let accounts = Accounts::from_pool(config.open_state().await?);
    match command {
        UserCommand::Add { name, role, organisations } => {
            let role = Role::parse(&role).context("--role")?;
            let password = generate_password()?;
            let account = accounts.create(&name, role, &organisations, &password, true).await?;
            println!("{}", serde_json::to_string(&account)?);
            eprintln!("one-time password for {name} (shown once; must be changed at first sign-in): {password}");
        }
        UserCommand::List => {
            for account in accounts.list().await? {
                println!("{}", serde_json::to_string(&account)?);
            }
        }
        UserCommand::ResetPassword { name } => {
            let password = generate_password()?;
            accounts.set_password(&name, &password, true).await?;
            eprintln!("one-time password for {name} (shown once; must be changed at first sign-in): {password}");
        }
        UserCommand::Disable { name } => accounts.set_disabled(&name, true).await?,
        UserCommand::Enable { name } => accounts.set_disabled(&name, false).await?,
        UserCommand::Token { command } => token(&accounts, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(accounts: &Accounts, command: TokenCommand) -> anyhow::Result<()> {
    let tokens = ApiTokens::new(accounts);
    match command {
        TokenCommand::Create { name, label, expires_days } => {
            let (kept, token) =
                tokens.create(accounts, &name, &label, expires_days, domain::Clock::System.now_ns_i64()).await?;
            println!("{token}");
            eprintln!(
                "API token {} for {name} (shown once; expires in {} days): send it as `Authorization: Bearer <token>` \
                 to /api/v1",
                kept.id,
                expires_days.unwrap_or(DEFAULT_EXPIRY_DAYS).min(MAX_EXPIRY_DAYS)
            );
        }
        TokenCommand::List { name } => {
            let now = domain::Clock::System.now_ns_i64();
            for t in tokens.list(accounts, &name).await? {
                let mut line = serde_json::to_value(&t)?;
                line["state"] = serde_json::json!(t.state(now));
                println!("{line}");
            }
        }
        TokenCommand::Revoke { name, id } => tokens.revoke(&name, id, domain::Clock::System.now_ns_i64()).await?,
    }
    Ok(())
}
