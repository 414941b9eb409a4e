//! `sessionforge-loadgen`: starts a real server on loopback and drives it with simulated agents
//! and viewers, then prints frames/s, MB/s, agent-to-viewer latency (end to end, and the
//! server's own share from its `/metrics` histogram) and server RSS. Scenarios
//! match the relay's performance targets; see BENCHMARKS.md and scripts/bench-relay.sh.

mod pty;
mod server;
mod sim;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use sessionforge_shared::ids::SessionId;

use crate::server::Server;
use crate::sim::{Clock, Pace, Stats};

#[derive(Parser)]
#[command(about = "Load generator for the SessionForge relay (loopback only)")]
struct Cli {
    /// The server binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N agents streaming as fast as they can, each watched by one viewer.
    Throughput {
        #[arg(long, default_value_t = 100)]
        agents: usize,
        #[arg(long, default_value_t = 1024)]
        frame_bytes: usize,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// Active sessions at a fixed frame rate among many idle ones: agent-to-viewer latency.
    Latency {
        #[arg(long, default_value_t = 1000)]
        idle: usize,
        #[arg(long, default_value_t = 100)]
        active: usize,
        /// Frames per second per active session.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 512)]
        frame_bytes: usize,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// Many idle agent connections: server memory per connection.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Client source addresses 127.0.0.2 … (spreads the ports).
        #[arg(long, default_value_t = 8)]
        source_ips: u8,
    },
    /// One session at a fixed MB/s with several viewers, one of them paused: server memory and
    /// the other viewers' latency.
    Paused {
        #[arg(long, default_value_t = 10.0)]
        mbps: f64,
        #[arg(long, default_value_t = 3)]
        viewers: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Pause one viewer (without this, a control run with every viewer reading).
        #[arg(long)]
        pause_one: bool,
    },
    /// One session through a real `sessionforge-agent wrap` and its PTY (the agent binary next
    /// to this one): the viewer's MB/s against the PTY's own (`script -qc cat`), lost bytes,
    /// and server RSS after the stream.
    Pty {
        /// Megabytes of numbered lines to `cat`.
        #[arg(long, default_value_t = 200)]
        mb: u64,
        /// Keep one core busy with another process meanwhile.
        #[arg(long)]
        cpu_hog: bool,
    },
}

/// Most connections opened at once while setting up.
const CONNECT_CONCURRENCY: usize = 256;
/// Time for everyone to settle before measuring.
const WARMUP: Duration = Duration::from_secs(2);

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

/// The server-added latency between two readings of its histogram: samples, and the bucket
/// bounds that hold the median and the 99th percentile (an upper bound on each, in ms).
fn server_latency_json(before: &[(f64, u64)], after: &[(f64, u64)]) -> serde_json::Value {
    let diff: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, n)| (*le, n.saturating_sub(before.iter().find(|(b, _)| b == le).map_or(0, |(_, m)| *m))))
        .collect();
    let total = diff.last().map_or(0, |(_, n)| *n);
    let bound = |p: f64| {
        let rank = (total as f64 * p).ceil() as u64;
        diff.iter().find(|(_, n)| *n >= rank.max(1)).map(|(le, _)| if le.is_finite() { le * 1000.0 } else { -1.0 })
    };
    json!({
        "samples": total,
        "p50_ms_at_most": bound(0.50),
        "p99_ms_at_most": bound(0.99),
    })
}

fn latency_json(stats: &Stats) -> serde_json::Value {
    let mut l = stats.latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    json!({
        "samples": l.len(),
        "p50_ms": percentile(&l, 0.50),
        "p99_ms": percentile(&l, 0.99),
        "max_ms": l.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // reqwest's TLS is shared with the agent in a workspace build, where it has no provider of
    // its own; the load runs over plain HTTP but the client still wants one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    server::raise_fd_limit();
    let bin = cli.server_bin.unwrap_or_else(server::default_bin);
    let srv = Server::start(&bin).await?;
    // Dropping `srv` stops the server, so an interrupted run must return rather than die.
    let result = tokio::select! {
        r = run(&srv, cli.scenario) => r?,
        () = interrupted() => anyhow::bail!("interrupted"),
    };
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(srv: &Server, scenario: Scenario) -> Result<serde_json::Value> {
    Ok(match scenario {
        Scenario::Throughput { agents, frame_bytes, seconds } => {
            streaming(srv, agents, 0, frame_bytes, Pace::Flat, seconds, None).await?
        }
        Scenario::Latency { idle, active, rate, frame_bytes, seconds } => {
            streaming(srv, active, idle, frame_bytes, Pace::Rate(rate), seconds, None).await?
        }
        Scenario::Idle { connections, source_ips } => idle_connections(srv, connections, source_ips).await?,
        Scenario::Pty { mb, cpu_hog } => pty::run(srv, mb, cpu_hog).await?,
        Scenario::Paused { mbps, viewers, seconds, pause_one } => {
            let frame = 16 * 1024;
            let rate = mbps * 1_000_000.0 / frame as f64;
            streaming(srv, 1, 0, frame, Pace::Rate(rate), seconds, Some((viewers, pause_one))).await?
        }
    })
}

/// `active` streaming sessions (each with one viewer, or `viewers` for the paused scenario),
/// plus `idle` connected sessions without output.
async fn streaming(
    srv: &Server,
    active: usize,
    idle: usize,
    size: usize,
    pace: Pace,
    seconds: u64,
    paused: Option<(usize, bool)>,
) -> Result<serde_json::Value> {
    let clock = Clock(Instant::now());
    let stats = Arc::new(Stats::default());
    let other_stats = Arc::new(Stats::default());
    let measure = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let machines = active.clamp(1, 100);
    let mut creds = Vec::new();
    for _ in 0..machines {
        creds.push(srv.enroll().await?);
    }
    let mut idle_tasks = Vec::new();
    for i in 0..idle {
        let ws = sim::agent(&srv.base, &creds[i % creds.len()], Some(SessionId::new()), None).await?;
        idle_tasks.push(tokio::spawn(sim::idle(ws, stop.clone())));
    }
    let mut streams = Vec::new();
    let mut views = Vec::new();
    for i in 0..active {
        let session = SessionId::new();
        let ws = sim::agent(&srv.base, &creds[i % creds.len()], Some(session), None).await?;
        let (count, pause_one) = paused.unwrap_or((1, false));
        for v in 0..count {
            let vws = sim::viewer(&srv.base, &srv.org, session, &srv.key).await?;
            // In the paused scenario viewer 0 pauses; the others are measured.
            let target = if paused.is_some() && v == 0 { stats.clone() } else { other_stats.clone() };
            let pause = (pause_one && v == 0).then_some(WARMUP);
            views.push(tokio::spawn(sim::view(vws, size, clock, target, measure.clone(), stop.clone(), pause)));
        }
        streams.push(tokio::spawn(sim::stream(ws, session, size, pace, clock, stop.clone())));
    }
    tokio::time::sleep(WARMUP).await;
    let rss_before = srv.rss();
    let cpu_before = (server::cpu_seconds(srv.child.id()), server::cpu_seconds(std::process::id()));
    let server_latency_before = srv.relay_latency().await?;
    measure.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut rss_max = rss_before;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_max = rss_max.max(srv.rss());
    }
    measure.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let server_latency_after = srv.relay_latency().await?;
    let server_cpu = (server::cpu_seconds(srv.child.id()) - cpu_before.0) / elapsed * 100.0;
    let loadgen_cpu = (server::cpu_seconds(std::process::id()) - cpu_before.1) / elapsed * 100.0;
    stop.store(true, Ordering::Relaxed);
    for t in streams {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    for t in views {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let measured = &other_stats;
    let frames = measured.frames.load(Ordering::Relaxed) as f64;
    let bytes = measured.bytes.load(Ordering::Relaxed) as f64;
    Ok(json!({
        "active_sessions": active,
        "idle_sessions": idle,
        "frame_bytes": size,
        "seconds": elapsed,
        "viewer_frames_per_sec": (frames / elapsed).round(),
        "viewer_mb_per_sec": (bytes / elapsed / 1_000_000.0 * 100.0).round() / 100.0,
        "latency": latency_json(measured),
        "server_added_latency": server_latency_json(&server_latency_before, &server_latency_after),
        "server_rss_mb_before": rss_before as f64 / 1_048_576.0,
        "server_rss_mb_max": rss_max as f64 / 1_048_576.0,
        "server_rss_growth_mb": (rss_max.saturating_sub(rss_before)) as f64 / 1_048_576.0,
        "server_cpu_percent": server_cpu.round(),
        "loadgen_cpu_percent": loadgen_cpu.round(),
    }))
}

async fn idle_connections(srv: &Server, n: usize, source_ips: u8) -> Result<serde_json::Value> {
    let cred = srv.enroll().await?;
    let stop = Arc::new(AtomicBool::new(false));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = srv.rss();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let mut handles = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.context("semaphore")?;
        let ip: IpAddr = format!("127.0.0.{}", 2 + (i % usize::from(source_ips.max(1)))).parse()?;
        let (base, cred, stop) = (srv.base.clone(), cred.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let ws = sim::agent(&base, &cred, None, Some(ip)).await;
            drop(permit);
            match ws {
                Ok(ws) => {
                    sim::idle(ws, stop).await;
                    true
                }
                Err(e) => {
                    eprintln!("connection failed: {e}");
                    false
                }
            }
        }));
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = srv.rss();
    stop.store(true, Ordering::Relaxed);
    let mut ok = 0usize;
    for h in handles {
        if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(15), h).await {
            ok += 1;
        }
    }
    let per = rss_after.saturating_sub(rss_before) as f64 / n.max(1) as f64;
    Ok(json!({
        "connections": n,
        "connected": ok,
        "source_ips": source_ips,
        "connect_secs": connect_secs,
        "server_rss_mb_before": rss_before as f64 / 1_048_576.0,
        "server_rss_mb_after": rss_after as f64 / 1_048_576.0,
        "rss_per_connection_kib": (per / 1024.0 * 10.0).round() / 10.0,
    }))
}
