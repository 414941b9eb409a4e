//! The credential store against a real Secret Service: a private D-Bus session bus and
//! gnome-keyring-daemon (unlocked with a throwaway password, keeping its keyrings in a temp
//! dir), then the library's `credentials` API in child processes that get that bus in their
//! environment: `auto` stores there, nothing is written to disk, `secret-tool` finds the item,
//! another process loads it, and delete removes it. Without a session bus, `auto` picks keyutils.
//!
//! Needs the Debian/Ubuntu packages in [`PACKAGES`]; fails (does not skip) without them.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sessionforge_agent::config::CredentialStore;
use sessionforge_agent::credentials::{self, Secret};

/// What to `apt-get install` for this test.
const PACKAGES: &str = "dbus gnome-keyring libsecret-tools";
/// The programs those packages provide that the test runs.
const PROGRAMS: &[&str] = &["dbus-daemon", "dbus-send", "gnome-keyring-daemon", "secret-tool"];
/// Generous: the machine running the tests may be busy.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Set in a child process: the action `library_side` performs (`save`, `load`, `delete`).
const CHILD: &str = "SF_TEST_CREDENTIAL_CHILD";
/// The child test that performs it.
const CHILD_TEST: &str = "library_side";

/// A process started by this test, killed when the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn require_programs() {
    let missing: Vec<&str> = PROGRAMS.iter().copied().filter(|p| find_program(p).is_none()).collect();
    assert!(
        missing.is_empty(),
        "this test needs a real Secret Service: install the packages `{PACKAGES}` \
         (apt-get install -y {PACKAGES}); missing programs: {}",
        missing.join(", ")
    );
}

/// Waits for `child` to exit within [`TIMEOUT`], killing it if it does not.
fn output_within(mut cmd: Command, what: &str) -> Output {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect(what);
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect(what),
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            panic!("{what} did not finish within {TIMEOUT:?}");
        }
    }
}

/// A private session bus and an unlocked gnome-keyring on it, all under `dir`.
struct SecretService {
    address: String,
    env: Vec<(String, PathBuf)>,
    _keyring: Daemon,
    _bus: Daemon,
}

impl SecretService {
    fn start(dir: &Path) -> Self {
        require_programs();
        let home = dir.join("home");
        let runtime = dir.join("run");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        // No service directories: nothing is started on demand, least of all a keyring in the real home.
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>unix:path={}</listen>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                dir.join("bus").display()
            ),
        )
        .expect("bus config");
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--print-address=1", "--nofork"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let stdout = bus.stdout.take().expect("stdout");
        let bus = Daemon(bus);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let address = rx.recv_timeout(TIMEOUT).expect("dbus-daemon prints its address").trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon address: {address:?}");

        let env = vec![
            ("HOME".to_string(), home.clone()),
            ("XDG_DATA_HOME".to_string(), home.join(".local/share")),
            ("XDG_CONFIG_HOME".to_string(), home.join(".config")),
            ("XDG_RUNTIME_DIR".to_string(), runtime),
        ];
        let mut keyring = Command::new("gnome-keyring-daemon");
        keyring.args(["--unlock", "--components=secrets", "--foreground"]);
        clean_env(&mut keyring, &env).env("DBUS_SESSION_BUS_ADDRESS", &address);
        let mut keyring =
            keyring.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("gnome-keyring");
        let mut stdin = keyring.stdin.take().expect("stdin");
        let keyring = Daemon(keyring);
        stdin.write_all(b"throwaway-test-password").expect("password");
        drop(stdin);

        let service = Self { address, env, _keyring: keyring, _bus: bus };
        service.wait_for_owner();
        service
    }

    /// Waits until gnome-keyring owns `org.freedesktop.secrets` on the bus.
    fn wait_for_owner(&self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let mut ask = Command::new("dbus-send");
            ask.args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ]);
            let out = output_within(self.command(ask), "dbus-send");
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(Instant::now() < deadline, "gnome-keyring-daemon never appeared on the bus");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `cmd` with only this test's environment and the private bus.
    fn command(&self, mut cmd: Command) -> Command {
        clean_env(&mut cmd, &self.env).env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        cmd
    }

    /// `secret-tool lookup` of the agent's item for `machine`: its secret, if found.
    fn lookup(&self, machine: &str) -> Option<String> {
        let mut cmd = Command::new("secret-tool");
        cmd.args(["lookup", "service", "sessionforge-agent", "username", machine]);
        let out = output_within(self.command(cmd), "secret-tool lookup");
        Some(String::from_utf8_lossy(&out.stdout).into_owned()).filter(|s| out.status.success() && !s.is_empty())
    }
}

/// Clears `cmd`'s environment but for `PATH` and `env`.
fn clean_env<'a>(cmd: &'a mut Command, env: &[(String, PathBuf)]) -> &'a mut Command {
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
}

/// Runs [`library_side`] in a child process of this test binary with `action`.
fn child(cmd: Command, action: &str, state: &Path, machine: &str, secret: &str) -> String {
    let mut cmd = cmd;
    cmd.args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, action)
        .env("SF_TEST_STATE_DIR", state)
        .env("SF_TEST_MACHINE", machine)
        .env("SF_TEST_SECRET", secret);
    let out = output_within(cmd, action);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child {action} failed: {text}");
    assert!(text.contains(&format!("child {action} done")), "child {action} did not run: {text}");
    text
}

fn this_test_binary() -> Command {
    Command::new(std::env::current_exe().expect("test binary"))
}

#[test]
fn auto_stores_in_a_running_secret_service_and_another_process_loads_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = SecretService::start(dir.path());
    let state = dir.path().join("state");
    let machine = format!("test-{}", uuid::Uuid::new_v4());
    let secret = format!("sfm_{}", uuid::Uuid::new_v4().simple());

    let text = child(service.command(this_test_binary()), "save", &state, &machine, &secret);
    assert!(text.contains("stored in SecretService"), "{text}");
    assert!(!state.join("credential").exists(), "no credential file was written");
    assert_eq!(service.lookup(&machine).as_deref(), Some(secret.as_str()), "secret-tool finds the item");

    child(service.command(this_test_binary()), "load", &state, &machine, &secret);

    child(service.command(this_test_binary()), "delete", &state, &machine, &secret);
    assert_eq!(service.lookup(&machine), None, "deleted from the Secret Service");
}

#[test]
fn without_a_session_bus_auto_uses_kernel_keyutils() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, runtime) = (dir.path().join("state"), dir.path().join("run"));
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let machine = format!("test-{}", uuid::Uuid::new_v4());
    let secret = format!("sfm_{}", uuid::Uuid::new_v4().simple());
    let mut cmd = this_test_binary();
    clean_env(&mut cmd, &[("XDG_RUNTIME_DIR".into(), runtime)]);
    let text = child(cmd, "save-headless", &state, &machine, &secret);
    assert!(text.contains("stored in Keyutils"), "{text}");
    assert!(!state.join("credential").exists(), "no credential file was written");
}

/// The library side of the tests above; does nothing unless started by them.
#[test]
fn library_side() {
    let Ok(action) = std::env::var(CHILD) else { return };
    let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let (state, machine, secret) =
        (PathBuf::from(var("SF_TEST_STATE_DIR")), var("SF_TEST_MACHINE"), var("SF_TEST_SECRET"));
    match action.as_str() {
        "save" | "save-headless" => {
            let store = credentials::save(CredentialStore::Auto, &state, &machine, &Secret::new(secret))
                .expect("auto finds a store");
            println!("stored in {store:?}");
            if action == "save-headless" {
                credentials::delete(&state, &machine);
            }
        }
        "load" => {
            // As the agent does it: from a tokio runtime, through the async API.
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let loaded = runtime
                .block_on(credentials::load_async(CredentialStore::SecretService, state.clone(), machine.clone()))
                .expect("the credential loads in another process");
            assert_eq!(loaded.expose(), secret);
            // Even a careless blocking call on a runtime thread does not hit keyring's own runtime.
            let again = runtime
                .block_on(async move { credentials::load(CredentialStore::SecretService, &state, &machine) })
                .expect("loads from a runtime thread");
            assert_eq!(again.expose(), secret);
        }
        "delete" => {
            credentials::delete(&state, &machine);
            let err = credentials::load(CredentialStore::SecretService, &state, &machine).expect_err("deleted");
            assert!(err.to_string().contains("missing from the Secret Service"), "{err}");
        }
        other => panic!("unknown child action {other}"),
    }
    println!("child {action} done");
}
