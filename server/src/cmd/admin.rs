//! `sessionforge-server admin …`: accounts, administered directly in the data dir's database.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sessionforge_server::auth::password;
use sessionforge_server::bootstrap::bootstrap;
use sessionforge_server::settings::Settings;
use sessionforge_server::store::users::NewUser;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an account (and its personal org).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Make the account a server administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password for an account and end its browser sign-ins.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(settings: Settings, cmd: AdminCommand) -> Result<()> {
    let boot = bootstrap(&settings).await?;
    let store = boot.store;
    match cmd {
        AdminCommand::CreateUser { email, display_name, admin, password_stdin } => {
            let pw = read_password(password_stdin)?;
            let hash = password::hash(pw).await?;
            let new = NewUser {
                email: email.trim().to_string(),
                display_name,
                password_hash: hash,
                is_admin: admin,
                email_verified: true,
            };
            let (user, org) = store.create_user(new).await?;
            println!("created user {} ({}) with personal org {}", user.email, user.id, org);
            if admin {
                // The first administrator now exists: the setup token is spent.
                bootstrap(&settings).await?;
            }
        }
        AdminCommand::ResetPassword { email, password_stdin } => {
            let user = store.user_by_email(&email).await.with_context(|| format!("no account with email {email}"))?;
            let pw = read_password(password_stdin)?;
            let hash = password::hash(pw).await?;
            store.set_password(user.id, hash).await?;
            println!("password reset for {}; their browser sign-ins have ended", user.email);
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(pw);
    }
    let first = rpassword::prompt_password("New password: ")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}
