//! The agent's spool: output a killed agent had read from the PTY is resent after it restarts,
//! exactly once; output is never dropped when the server is slower than the program (the
//! program waits instead), even with a CPU hog on the machine.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessionforge_shared::protocol::ViewerEvent;

use crate::agents::{Org, TestAgent, Viewer, admin_org, find_session, wait_session};
use crate::common::{TestServer, wait_for};

/// A spool small enough that backpressure is reached within the test.
const SPOOL_BYTES: &str = "4194304";

/// `seq`'s numbered lines as a PTY shows them (`\n` becomes `\r\n`).
fn numbered(from: u64, to: u64) -> Vec<u8> {
    (from..=to).flat_map(|i| format!("line-{i:09}-abcdefghijklmnopqrstuvwxyz\r\n").into_bytes()).collect()
}

/// A command printing numbered lines 1..=`to` as fast as it can.
fn generator(to: u64) -> Vec<String> {
    ["seq", "-f", "line-%09g-abcdefghijklmnopqrstuvwxyz", "1", &to.to_string()].map(String::from).to_vec()
}

/// Stored output of session `id`, read from offset 0 once it has ended.
async fn stored(server: &TestServer, org: &Org, id: &str) -> (Vec<u8>, Vec<ViewerEvent>) {
    let done = wait_session(server, org, id, |s| s["state"] != "running" && s["state"] != "stale").await;
    let end = done["output_end"].as_u64().expect("output_end");
    let mut v = Viewer::attach(server, &org.id, id, 0, &org.key).await;
    v.read_until(Duration::from_secs(120), |v| v.pos >= end).await;
    (v.data, v.events)
}

fn spool_sessions(agent: &TestAgent) -> usize {
    std::fs::read_dir(agent.dir.path().join("spool"))
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).count())
        .unwrap_or(0)
}

/// Asserts that `data` is lines 1..=n of the generator for some n, each exactly once, and
/// returns n.
fn whole_lines(data: &[u8]) -> u64 {
    const LINE: usize = "line-000000001-abcdefghijklmnopqrstuvwxyz\r\n".len();
    let n = (data.len() / LINE) as u64;
    let complete = n as usize * LINE;
    assert_eq!(&data[..complete], &numbered(1, n)[..], "every line exactly once, in order");
    // A kill may cut the last line short: what is there is its start.
    assert!(numbered(n + 1, n + 1).starts_with(&data[complete..]), "a partial last line is the next line's start");
    n
}

#[tokio::test]
async fn a_wrap_killed_mid_stream_loses_nothing_its_terminal_showed() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.env.push(("SESSIONFORGE_SPOOL_BYTES".into(), SPOOL_BYTES.into()));
    agent.run(&server, &org).await;

    let args = generator(50_000_000);
    let mut wrap = agent.wrap(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let session = find_session(&server, &org, &agent.machine_id, |s| s["source"] == "relayed").await;
    let id = session["id"].as_str().expect("id").to_string();
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer.read_until(Duration::from_secs(60), |v| v.data.len() >= 2 << 20).await;

    wrap.kill(); // SIGKILL
    // The local terminal's copy (a tee of everything the wrapper read from the PTY) is final
    // once the killed process's pipe closes.
    let out = wrap.stdout.clone();
    wait_for("the wrapper's stdout to close", Duration::from_secs(30), || {
        let closed = out.closed();
        async move { closed.then_some(()) }
    })
    .await;
    let tee = wrap.stdout.bytes();
    assert!(tee.len() >= 2 << 20);

    // The running daemon adopts the dead wrapper's spool and sends the rest.
    let (data, events) = stored(&server, &org, &id).await;
    assert!(!events.iter().any(|e| matches!(e, ViewerEvent::Gap { .. })), "no gaps: {events:?}");
    let lines = whole_lines(&data);
    assert!(data.starts_with(&tee), "stored {} bytes ({lines} lines), the terminal showed {}", data.len(), tee.len());
    wait_for("the spool to be removed", Duration::from_secs(30), || async {
        (spool_sessions(&agent) == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_agent_killed_mid_stream_resends_its_spool_after_a_restart() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.env.push(("SESSIONFORGE_SPOOL_BYTES".into(), SPOOL_BYTES.into()));
    agent.run(&server, &org).await;
    let allow = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{}/allowed-commands", org.id),
            &org.key,
            Some(json!({"commands": ["seq"]})),
        )
        .await;
    assert_eq!(allow.status(), StatusCode::OK);

    let args = generator(50_000_000);
    let body = json!({"machine_id": agent.machine_id, "command": "seq", "args": &args[1..], "cwd": ""});
    let resp = server.post(&format!("/api/v1/orgs/{}/sessions", org.id), &org.key, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer.read_until(Duration::from_secs(60), |v| v.data.len() >= 2 << 20).await;

    agent.stop_daemon(); // SIGKILL: the session's process gets SIGHUP with its PTY
    assert_eq!(spool_sessions(&agent), 1, "the unacknowledged output is on disk");
    agent.run(&server, &org).await;

    let (data, events) = stored(&server, &org, &id).await;
    assert!(!events.iter().any(|e| matches!(e, ViewerEvent::Gap { .. })), "no gaps: {events:?}");
    whole_lines(&data);
    assert!(data.starts_with(&viewer.data), "the stored output continues what viewers saw before the kill");
    wait_for("the spool to be removed", Duration::from_secs(30), || async {
        (spool_sessions(&agent) == 0).then_some(())
    })
    .await;
}

/// A process keeping one core busy until dropped (or for at most five minutes). It runs in its
/// own process group, all of which is killed on drop (`timeout` cannot pass SIGKILL on).
struct CpuHog(Child);

impl CpuHog {
    fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let child = Command::new("timeout")
            .args(["300", "sh", "-c", "while :; do :; done"])
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn the CPU hog");
        CpuHog(child)
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

/// 200 MB through a real agent's PTY while another process keeps a core busy: every byte
/// arrives, in order, without a gap. (The report: 0 of 5 runs complete before.)
#[tokio::test]
async fn a_200_mb_stream_under_cpu_load_arrives_whole() {
    const LINES: u64 = 200_000_000 / 43;
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__RETENTION_BYTES_PER_SESSION", "268435456")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    let plain: Vec<u8> =
        (1..=LINES).flat_map(|i| format!("line-{i:09}-abcdefghijklmnopqrstuvwxyz\n").into_bytes()).collect();
    std::fs::write(file.path(), &plain).expect("write");
    // What the PTY shows (`\n` becomes `\r\n`), computed before the stream starts: the viewer
    // must be read all along (a viewer that reads nothing for a while is disconnected).
    let expected = numbered(1, LINES);
    drop(plain);
    let path = file.path().to_str().expect("utf-8 path").to_string();

    let _hog = CpuHog::start();
    let mut wrap = agent.wrap(&["cat", &path]);
    let session = find_session(&server, &org, &agent.machine_id, |s| s["source"] == "relayed").await;
    let id = session["id"].as_str().expect("id").to_string();
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    let whole =
        viewer.read_until(Duration::from_secs(900), |v| v.pos >= expected.len() as u64 && v.exited().is_some()).await;
    assert!(whole, "the viewer was disconnected after {} bytes", viewer.data.len());
    assert_eq!(wrap.wait().await.code(), Some(0));
    // Neither stored (agent or server lost bytes) nor on the viewer's way (a lag it was not
    // resynced from): the two places a gap could come from.
    let db = rusqlite::Connection::open(server.data_dir().join("sessionforge.db")).expect("db");
    let stored_gaps: i64 = db
        .query_row("SELECT count(*) FROM session_output WHERE data IS NULL AND segment IS NULL", [], |r| r.get(0))
        .expect("count stored gaps");
    assert_eq!(stored_gaps, 0, "gaps stored");
    let gaps: Vec<&ViewerEvent> = viewer.events.iter().filter(|e| matches!(e, ViewerEvent::Gap { .. })).collect();
    assert!(gaps.is_empty(), "gaps sent to the viewer: {gaps:?}");
    assert_eq!(viewer.data.len(), expected.len());
    assert!(viewer.data == expected, "every byte, in order");
    assert!(wrap.stdout.bytes() == expected, "the local terminal showed everything too");
}
