//! The binary's `update` command (what it says, when it asks, when it refuses) and the restart of
//! `run` into a newly installed binary. The work itself is in [`sessionforge_agent::update`].

use std::cmp::Ordering;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use sessionforge_agent::config::{AgentConfig, Paths};
use sessionforge_agent::status;
use sessionforge_agent::update;
use sessionforge_agent::version::{TARGET, VERSION};

// `update`'s flags (a plain comment: a doc comment here would replace the subcommand's help).
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Release channel (default: `update.channel` in agent.toml, else stable).
    #[arg(long, value_enum)]
    channel: Option<Channel>,
    /// Only say whether a newer build is available.
    #[arg(long)]
    check: bool,
    /// Install even when the build is not newer, or relayed sessions are running.
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Channel {
    Stable,
    Beta,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Stable => "stable",
            Channel::Beta => "beta",
        }
    }
}

pub async fn update(mut cfg: AgentConfig, paths: &Paths, args: UpdateArgs) -> Result<i32> {
    let channel = args.channel.map(|c| c.name().to_string()).unwrap_or_else(|| cfg.update.channel.clone());
    let offer = update::check(&mut cfg, paths, &channel).await?;
    let offered = &offer.entry.version;
    match offer.ordering {
        Some(Ordering::Greater) => println!("Update available: {VERSION} → {offered} ({channel} channel, {TARGET})."),
        Some(Ordering::Equal) => println!("Up to date: {VERSION} is the newest {channel} build for {TARGET}."),
        Some(Ordering::Less) => println!(
            "The newest {channel} build for {TARGET} ({offered}) is older than this agent ({VERSION}); not downgrading."
        ),
        None => println!("Cannot compare this agent's version {VERSION:?} with the {channel} build's {offered:?}."),
    }
    if !offer.entry.notes.trim().is_empty() && offer.is_newer() {
        println!("Release notes: {}", offer.entry.notes.trim());
    }
    if args.check {
        return Ok(0);
    }
    if !offer.is_newer() && !args.force {
        if offer.ordering.is_none() {
            bail!("refusing to install a build whose version cannot be compared (use --force to install it anyway)");
        }
        if offer.ordering == Some(Ordering::Less) {
            println!("Use --force to install it anyway.");
        }
        return Ok(0);
    }
    if !args.force {
        let busy = status::running_sessions(&paths.state_dir, std::process::id());
        if !busy.is_empty() {
            let list: Vec<String> = busy.iter().map(|b| format!("  {b}")).collect();
            bail!(
                "relayed sessions are running on this machine:\n{}\nnot updating while they run; try again once they \
                 have ended, or use --force (running sessions keep the old binary until they end)",
                list.join("\n")
            );
        }
    }
    if !args.yes && !confirm(&format!("Install sessionforge-agent {offered} over this one ({VERSION})?"))? {
        println!("Not updated.");
        return Ok(1);
    }
    println!("Downloading {offered} ({} bytes) and checking it…", offer.entry.size);
    let path = update::install(&cfg, &offer.entry).await?;
    println!("Updated {} from {VERSION} to {offered}.", path.display());
    for s in status::read_all(&paths.state_dir).iter().filter(|s| s.mode != "wrap") {
        println!("The running agent (pid {}, {}) uses the new version once it restarts.", s.pid, s.mode);
    }
    Ok(0)
}

/// Asks a yes/no question on the terminal; without one, the answer must come from `--yes`.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal: pass --yes to update without being asked");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush().context("writing to the terminal")?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("reading the answer")?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Replaces this `run` process with the binary now installed at `exe`, with the same arguments.
#[cfg(unix)]
pub fn restart(exe: &Path, version: &str) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    tracing::info!(%version, "restarting into the new agent");
    let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec();
    Err(err).with_context(|| format!("cannot restart into {}", exe.display()))
}

/// Starts the binary now installed at `exe` with the same arguments; this process then exits.
#[cfg(windows)]
pub fn restart(exe: &Path, version: &str) -> Result<i32> {
    tracing::info!(%version, "restarting into the new agent");
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    Ok(0)
}
