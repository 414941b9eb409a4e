//! The headless binary as a real process, enrolled with a server that refuses connections:
//! `run` exits cleanly (code 0) on SIGTERM and on SIGINT, and `status` reports a running
//! agent's connection state (and that none runs once it stopped) without panicking. Also the
//! offline parts of updating: `--version`, `self-check`, `enroll --skip-if-enrolled`, and that
//! `update.*` settings come from the environment.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const AGENT: &str = env!("CARGO_BIN_EXE_sessionforge-agent");
/// Generous: the machine running the tests may be busy.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Nothing listens on port 1, so every connection attempt is refused at once.
const SERVER: &str = "http://127.0.0.1:1";

/// A config dir of an enrolled machine whose credential is kept in a file.
fn enrolled_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "server_url = \"{SERVER}\"\nmachine_id = \"{}\"\ncredential_store = \"file\"\ncredential_location = \"file\"\n",
        uuid::Uuid::new_v4()
    );
    std::fs::write(dir.path().join("agent.toml"), config).expect("config");
    std::fs::write(dir.path().join("credential"), "sfm_test_credential").expect("credential");
    dir
}

/// The agent binary with `dir` as its config dir and no other `SESSIONFORGE_*` settings.
fn agent(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(AGENT);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SESSIONFORGE_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).env("SESSIONFORGE_CONFIG_DIR", dir).env("SESSIONFORGE_CREDENTIAL_STORE", "file");
    cmd
}

/// A running `sessionforge-agent run`, killed if a test ends without stopping it.
struct Running {
    pid: Pid,
    /// Lines of its stdout and stderr.
    lines: Receiver<String>,
    exited: Receiver<ExitStatus>,
    over: bool,
}

impl Running {
    /// Starts it and waits until it says it is relaying (its signal handlers are set by then).
    fn start(dir: &Path) -> Self {
        let mut child =
            agent(dir, &["run"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the agent");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let (tx, lines) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] =
            [Box::new(child.stdout.take().expect("stdout")), Box::new(child.stderr.take().expect("stderr"))];
        for pipe in pipes {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        let running = Self { pid, lines, exited, over: false };
        running.wait_for_line("relaying to");
        running
    }

    fn wait_for_line(&self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(line) => seen.push(line),
                Err(e) => panic!("no line with {needle:?} ({e}); got {seen:#?}"),
            }
        }
    }

    /// Sends `signal` and returns how the agent exited.
    fn stop_with(mut self, signal: Signal) -> ExitStatus {
        kill(self.pid, signal).expect("signal the agent");
        let status = self.exited.recv_timeout(TIMEOUT).expect("the agent exits in time");
        self.over = true;
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.over {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }
}

fn run_exits_cleanly_on(signal: Signal) {
    let dir = enrolled_dir();
    let agent = Running::start(dir.path());
    let status = agent.stop_with(signal);
    assert_eq!(status.code(), Some(0), "{signal:?}: {status}");
}

#[test]
fn run_exits_cleanly_on_sigterm() {
    run_exits_cleanly_on(Signal::SIGTERM);
}

#[test]
fn run_exits_cleanly_on_sigint() {
    run_exits_cleanly_on(Signal::SIGINT);
}

fn status(dir: &Path, args: &[&str]) -> (Output, String) {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    let out = agent(dir, &all).output().expect("run status");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{out:?}");
    (out, text)
}

#[test]
fn status_shows_a_running_agent_that_cannot_connect() {
    let dir = enrolled_dir();
    let agent = Running::start(dir.path());
    // The agent rewrites its status file as its connection state changes; wait for the
    // refused connection to show.
    let prefix = format!("daemon (pid {}) → {SERVER}: ", agent.pid);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (out, text) = status(dir.path(), &[]);
        if text.lines().any(|l| l.starts_with(&format!("{prefix}offline ("))) {
            assert_eq!(out.status.code(), Some(0), "{text}");
            break;
        }
        // Before its first status file, `status` says that no agent runs.
        assert!(Instant::now() < deadline, "the agent's state never showed: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (out, text) = status(dir.path(), &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&text).expect("status --json is JSON");
    assert_eq!(json[0]["link"]["state"], "offline", "{json}");
    assert_eq!(json[0]["server_url"], SERVER);

    assert_eq!(agent.stop_with(Signal::SIGTERM).code(), Some(0));
    let (out, text) = status(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "no agent runs: {text}");
    assert!(text.contains("No SessionForge agent is running."), "{text}");
    assert!(text.contains(&format!("Enrolled with {SERVER}")), "{text}");
    assert!(text.contains("(credential in the credential file)"), "status names the store: {text}");
}

fn run_agent(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let out = agent(dir, args).envs(env.iter().copied()).stdin(Stdio::null()).output().expect("run the agent");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn version_and_self_check_report_this_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, version, _) = run_agent(dir.path(), &["--version"], &[]);
    assert!(out.status.success());
    let reported = version.split_whitespace().nth(1).expect("sessionforge-agent VERSION").to_string();
    assert_eq!(reported, sessionforge_agent::version::VERSION);
    // self-check ignores the config entirely, even one that would not load.
    std::fs::write(dir.path().join("agent.toml"), "buffer_bytes = 1\n").expect("config");
    let (out, line, err) = run_agent(dir.path(), &["self-check"], &[]);
    assert!(out.status.success(), "{err}");
    assert_eq!(line.trim(), format!("sessionforge-agent {reported} {}", sessionforge_agent::version::TARGET));
}

#[test]
fn enroll_skip_if_enrolled_leaves_an_enrollment_with_the_same_server_alone() {
    let dir = enrolled_dir();
    let before = std::fs::read(dir.path().join("agent.toml")).expect("config");
    for server in [SERVER.to_string(), format!("{SERVER}/")] {
        let (out, text, err) = run_agent(dir.path(), &["enroll", "--server", &server, "--skip-if-enrolled"], &[]);
        assert!(out.status.success(), "{err}");
        assert!(text.contains("Already enrolled with"), "{text}");
    }
    assert_eq!(std::fs::read(dir.path().join("agent.toml")).expect("config"), before, "nothing changed");

    // Another server: a real enrollment, which needs the token (and here cannot reach it).
    let other = "http://127.0.0.1:2";
    let (out, _, err) = run_agent(dir.path(), &["enroll", "--server", other, "--skip-if-enrolled"], &[]);
    assert!(!out.status.success() && err.contains("enrollment token"), "{err}");
    let (out, _, err) =
        run_agent(dir.path(), &["enroll", "--server", other, "--skip-if-enrolled"], &[("SESSIONFORGE_TOKEN", "sfe_x")]);
    assert!(!out.status.success() && err.contains("cannot reach"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("agent.toml")).expect("config"), before);
}

#[test]
fn update_settings_are_read_from_the_environment() {
    let dir = enrolled_dir();
    let (out, _, err) = run_agent(dir.path(), &["status"], &[("SESSIONFORGE_UPDATE__CHANNEL", "nightly")]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("update.channel \"nightly\""), "{err}");
    // The server refuses connections: the check fails cleanly, non-zero, with the reason.
    let (out, _, err) = run_agent(dir.path(), &["update", "--check"], &[("SESSIONFORGE_UPDATE__CHANNEL", "beta")]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the server for the release signing key"), "{err}");
}
