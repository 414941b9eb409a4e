//! `RawAgent`: the agent protocol spoken by the test itself over a real WebSocket, with an
//! enrolled machine's credential. For cases a well-behaved agent never produces: exact offsets,
//! hostile values, a daemon that never starts what it is asked to.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sessionforge_shared::frame;
use sessionforge_shared::ids::SessionId;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::agents::{TestAgent, server_tls};
use crate::common::TestServer;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct RawAgent {
    ws: Ws,
    pub welcome: Value,
}

/// A relayed session as `hello` and `session_started` describe it.
pub fn session_info(id: SessionId, command: &str) -> Value {
    json!({"session_id": id, "source": "relayed", "kind": "other", "command": command, "args": [],
           "cwd": "/", "pid": null, "started_at": 1_700_000_000, "cols": 80, "rows": 24})
}

/// A well-formed `hello`.
pub fn hello(mode: &str, sessions: Vec<Value>) -> Value {
    json!({"type": "hello", "protocol_version": 1, "agent_version": "test", "mode": mode,
        "machine": {"hostname": "raw", "os": "linux", "os_version": "", "arch": "x86_64", "cpus": 1,
                    "memory_bytes": 1, "agent_version": "test"},
        "sessions": sessions})
}

impl RawAgent {
    /// Connects with `agent`'s credential and says hello (`mode` is `wrap` or `daemon`).
    pub async fn connect(server: &TestServer, agent: &TestAgent, mode: &str, sessions: Vec<Value>) -> RawAgent {
        let raw = Self::connect_with(server, agent, hello(mode, sessions)).await;
        assert_eq!(raw.welcome["accepted"], true, "{}", raw.welcome);
        raw
    }

    /// Connects and sends `hello` as given; `welcome` is whatever the server answered.
    pub async fn connect_with(server: &TestServer, agent: &TestAgent, hello: Value) -> RawAgent {
        let credential = std::fs::read_to_string(agent.dir.path().join("credential")).expect("credential file");
        let url = format!("{}/api/v1/agent/connect", server.base.replacen("https://", "wss://", 1));
        let mut req = url.into_client_request().expect("req");
        req.headers_mut().insert("authorization", format!("Bearer {}", credential.trim()).parse().expect("header"));
        let connector = tokio_tungstenite::Connector::Rustls(server_tls(server));
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await.expect("connect");
        let mut agent = RawAgent { ws, welcome: Value::Null };
        agent.send(hello).await;
        agent.welcome = agent.next_text().await.unwrap_or(Value::Null);
        agent
    }

    /// Sends a binary message as it is (not necessarily a valid frame).
    pub async fn binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.expect("send binary");
    }

    pub async fn send(&mut self, msg: Value) {
        self.ws.send(Message::Text(msg.to_string().into())).await.expect("send");
    }

    pub async fn output(&mut self, id: SessionId, offset: u64, data: &[u8]) {
        self.ws.send(Message::Binary(frame::encode_output(id, offset, data).into())).await.expect("send frame");
    }

    /// The next JSON message from the server, or `None` when the socket closes.
    pub async fn next_text(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("json")),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next JSON message of `kind` (others are skipped), within 10 s.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.next_text())
                .await
                .unwrap_or_else(|_| panic!("no {kind} message in time"))
                .expect("socket open");
            if msg["type"] == kind {
                return msg;
            }
        }
    }

    /// Reads until an ack for `id` at `offset` or beyond arrives.
    pub async fn wait_ack(&mut self, id: SessionId, offset: u64) {
        let want = id.to_string();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.next_text())
                .await
                .unwrap_or_else(|_| panic!("no ack for {offset}"))
                .expect("socket open");
            if msg["type"] == "ack" && msg["session_id"] == want.as_str() && msg["offset"].as_u64() >= Some(offset) {
                return;
            }
        }
    }

    /// The resume offset `welcome` gave for `id`.
    pub fn resume_offset(&self, id: SessionId) -> Option<u64> {
        let want = id.to_string();
        self.welcome["resume"]
            .as_array()?
            .iter()
            .find(|r| r["session_id"] == want.as_str())
            .and_then(|r| r["offset"].as_u64())
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
