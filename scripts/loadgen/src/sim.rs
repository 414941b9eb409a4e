//! Simulated agents and viewers. Agents speak the real protocol (hello, binary output frames,
//! heartbeats); each frame carries its send time so viewers in the same process can measure
//! agent-to-viewer latency on one clock.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use sessionforge_shared::frame;
use sessionforge_shared::ids::SessionId;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bytes of each frame's payload used for the send time and a sequence number.
pub const STAMP: usize = 16;

/// The clock all simulated peers share.
#[derive(Clone, Copy, Debug)]
pub struct Clock(pub Instant);

impl Clock {
    pub fn nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What viewers measured.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Latency samples in microseconds.
    pub latencies: std::sync::Mutex<Vec<u32>>,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

async fn connect(url: &str, auth: &str, source: Option<IpAddr>) -> Result<Ws> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("authorization", format!("Bearer {auth}").parse()?);
    let host = req.uri().host().context("host")?.to_string();
    let port = req.uri().port_u16().unwrap_or(80);
    let addr: std::net::SocketAddr = format!("{host}:{port}").parse()?;
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind((ip, 0).into())?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(req, MaybeTlsStream::Plain(stream), Some(ws_config())).await?;
    Ok(ws)
}

/// Connects an agent (as a `wrap` connection) that relays `session`, and waits for `welcome`.
pub async fn agent(base: &str, credential: &str, session: Option<SessionId>, source: Option<IpAddr>) -> Result<Ws> {
    let url = format!("{}/api/v1/agent/connect", base.replacen("http://", "ws://", 1));
    let mut ws = connect(&url, credential, source).await?;
    let sessions: Vec<serde_json::Value> = session
        .map(|id| {
            json!({"session_id": id, "source": "relayed", "kind": "other", "command": "loadgen", "args": [],
                   "cwd": "/", "pid": null, "started_at": 0, "cols": 80, "rows": 24})
        })
        .into_iter()
        .collect();
    let hello = json!({"type": "hello", "protocol_version": 1, "agent_version": "loadgen", "mode": "wrap",
        "machine": {"hostname": "loadgen", "os": "linux", "os_version": "", "arch": "x86_64", "cpus": 1,
                    "memory_bytes": 1, "agent_version": "loadgen"},
        "sessions": sessions});
    ws.send(Message::Text(hello.to_string().into())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"accepted\":true") => Ok(ws),
        other => bail!("no welcome: {other:?}"),
    }
}

/// Attaches a viewer to `session` from offset 0.
pub async fn viewer(base: &str, org: &str, session: SessionId, key: &str) -> Result<Ws> {
    let url = format!("{}/api/v1/orgs/{org}/sessions/{session}/attach?from=0", base.replacen("http://", "ws://", 1));
    connect(&url, key, None).await
}

/// How an agent paces its output.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// As fast as the server takes it.
    Flat,
    /// This many frames per second.
    Rate(f64),
}

/// Streams frames of `size` bytes until `stop`; returns frames sent. Acks are read and dropped.
pub async fn stream(
    ws: Ws,
    session: SessionId,
    size: usize,
    pace: Pace,
    clock: Clock,
    stop: Arc<AtomicBool>,
) -> Result<u64> {
    let (mut sink, mut source) = ws.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = source.next().await {} });
    let mut payload = vec![b'x'; size.max(STAMP)];
    let mut offset = 0u64;
    let mut seq = 0u64;
    let mut tick = match pace {
        Pace::Rate(r) => {
            // Independent agents are not synchronised: start each at a random phase.
            let period = Duration::from_secs_f64(1.0 / r.max(0.001));
            let phase = period
                .mul_f64(f64::from(u32::from_ne_bytes(session.0.as_bytes()[12..16].try_into()?)) / f64::from(u32::MAX));
            tokio::time::sleep(phase).await;
            let mut t = tokio::time::interval(period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            Some(t)
        }
        Pace::Flat => None,
    };
    let mut heartbeat = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let batch = if tick.is_some() { 1 } else { 32 };
        for _ in 0..batch {
            payload[..8].copy_from_slice(&clock.nanos().to_be_bytes());
            payload[8..16].copy_from_slice(&seq.to_be_bytes());
            sink.feed(Message::Binary(frame::encode_output(session, offset, &payload).into())).await?;
            offset += payload.len() as u64;
            seq += 1;
        }
        sink.flush().await?;
        if heartbeat.elapsed() > Duration::from_secs(10) {
            heartbeat = Instant::now();
            heartbeat_message(&mut sink).await?;
        }
    }
    reader.abort();
    Ok(seq)
}

async fn heartbeat_message(sink: &mut SplitSink<Ws, Message>) -> Result<()> {
    let hb = json!({"type": "heartbeat", "load": 0.0, "memory_used_bytes": 0, "memory_total_bytes": 0, "sessions": 1});
    sink.send(Message::Text(hb.to_string().into())).await?;
    Ok(())
}

/// Keeps an idle agent connection alive with heartbeats until `stop`.
pub async fn idle(ws: Ws, stop: Arc<AtomicBool>) {
    let (mut sink, mut source) = ws.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = source.next().await {} });
    let every = std::env::var("LOADGEN_HEARTBEAT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(every)).await;
        if heartbeat_message(&mut sink).await.is_err() {
            break;
        }
    }
    reader.abort();
}

/// Reads a viewer socket, counting live frames of `size` bytes and their latency, from when
/// `measure` is set until `stop`. With `pause_after`, sends `pause` after that long and never
/// resumes (it still drains its socket so the server sees a live but paused viewer).
pub async fn view(
    ws: Ws,
    size: usize,
    clock: Clock,
    stats: Arc<Stats>,
    measure: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pause_after: Option<Duration>,
) -> Result<()> {
    let (mut sink, mut source): (SplitSink<Ws, Message>, SplitStream<Ws>) = ws.split();
    let started = Instant::now();
    let mut paused = false;
    let mut live = false;
    let mut local = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Some(after) = pause_after
            && !paused
            && started.elapsed() >= after
        {
            sink.send(Message::Text(json!({"type": "pause"}).to_string().into())).await?;
            paused = true;
        }
        let msg = match tokio::time::timeout(Duration::from_millis(200), source.next()).await {
            Ok(Some(m)) => m?,
            Ok(None) => break,
            Err(_) => continue,
        };
        match msg {
            Message::Binary(b) => {
                let f = frame::decode(&b)?;
                if live && f.data.len() == size && measure.load(Ordering::Relaxed) {
                    let sent = u64::from_be_bytes(f.data[..8].try_into()?);
                    let us = clock.nanos().saturating_sub(sent) / 1000;
                    local.push(u32::try_from(us).unwrap_or(u32::MAX));
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    stats.bytes.fetch_add(f.data.len() as u64, Ordering::Relaxed);
                }
            }
            Message::Text(t) if t.contains("\"type\":\"live\"") => live = true,
            _ => {}
        }
    }
    stats.latencies.lock().map_err(|_| anyhow::anyhow!("lock"))?.extend(local);
    Ok(())
}
