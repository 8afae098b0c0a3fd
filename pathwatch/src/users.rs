//! `pathwatch user …`: dashboard accounts from the command line. Passwords are never taken from
//! the command line: new and reset accounts get a generated one-time password, printed once, that
//! must be changed at first sign-in.

use std::process::ExitCode;

use anyhow::Context;
use dashboard::accounts::{generate_password, Accounts, Role};

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
    /// Let a disabled account sign in again.
    Enable { name: String },
}

pub async fn run(config: &crate::config::Config, command: UserCommand) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let path = config.data_dir.join("dashboard.db");
    let accounts = Accounts::open(&path).await.with_context(|| format!("opening {}", path.display()))?;
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
    }
    Ok(ExitCode::SUCCESS)
}
