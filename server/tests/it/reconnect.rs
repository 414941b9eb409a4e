//! An agent whose server keeps restarting comes back promptly each time: the reconnect backoff
//! starts over after every successful hello, instead of growing across short-lived connections
//! until the agent waits longer than the server is up.

use std::time::{Duration, Instant};

use crate::agents::{TestAgent, admin_org};
use crate::common::{TestServer, wait_for};

#[tokio::test]
async fn the_agent_reconnects_promptly_after_every_server_restart() {
    let mut server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;
    let path = format!("/api/v1/orgs/{}/machines/{}", org.id, agent.machine_id);
    for round in 0..6 {
        server = server.crash_and_restart().await;
        let back = Instant::now();
        // Without the reset, the wait doubles every round: 1, 2, 4, 8, 16, 32 s.
        wait_for("the agent to reconnect", Duration::from_secs(10), || async {
            let m: serde_json::Value = server.get(&path, &org.key).await.json().await.ok()?;
            (m["online"] == true).then_some(())
        })
        .await;
        eprintln!("round {round}: reconnected {:?} after the restart", back.elapsed());
    }
}
