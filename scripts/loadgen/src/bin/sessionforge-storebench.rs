//! `sessionforge-storebench`: how fast can relayed output be made durable before it is acked?
//!
//! Compares the two designs issue 12 asked to measure, each syncing before a batch counts as
//! stored (group commit: one sync per batch, however many sessions it spans):
//!
//! - `sqlite`: what the server does — output rows in SQLite (WAL, `synchronous = FULL`, 16 KiB
//!   pages, contiguous frames of a session merged into one row per batch), with a background
//!   PASSIVE checkpointer like the server's.
//! - `segments`: append-only segment files (one per shard of sessions) synced with
//!   `fdatasync`, plus an index row per chunk in SQLite (`synchronous = NORMAL`: the index can
//!   be rebuilt from the segments' own headers after a crash, so it need not be synced).
//!
//! Frames are produced by one thread in batches of `--batch` frames spread over `--sessions`
//! sessions; the figure is frames made durable per second. Prints one JSON line per design.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use rusqlite::{Connection, params};

#[derive(Parser, Debug)]
struct Args {
    /// Directory for the files (on the disk to measure; a fresh temp dir inside it is used).
    #[arg(long, default_value = ".")]
    dir: std::path::PathBuf,
    /// Sessions the frames are spread over.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Bytes per frame.
    #[arg(long, default_value_t = 1024)]
    frame: usize,
    /// Frames per batch (one sync each).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Frames in all.
    #[arg(long, default_value_t = 300_000)]
    frames: usize,
    /// Segment shards (files) for `segments`.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Which designs to run.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,segments")]
    designs: Vec<String>,
}

/// One batch: per session, its frames merged (session, start offset, bytes).
fn batches(args: &Args) -> impl Iterator<Item = Vec<(usize, u64, Vec<u8>)>> + '_ {
    let mut offsets = vec![0u64; args.sessions];
    let mut next = 0usize;
    (0..args.frames.div_ceil(args.batch)).map(move |_| {
        let mut merged: HashMap<usize, (u64, Vec<u8>)> = HashMap::new();
        for _ in 0..args.batch {
            let s = next % args.sessions;
            next += 1;
            let entry = merged.entry(s).or_insert_with(|| (offsets[s], Vec::new()));
            entry.1.extend(std::iter::repeat_n(b'x', args.frame));
            offsets[s] += args.frame as u64;
        }
        merged.into_iter().map(|(s, (start, data))| (s, start, data)).collect()
    })
}

fn output_table(conn: &Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE output (session INTEGER NOT NULL, start_offset INTEGER NOT NULL,
                              end_offset INTEGER NOT NULL, at_ms INTEGER NOT NULL, data BLOB,
                              PRIMARY KEY (session, start_offset)) WITHOUT ROWID;",
    )?;
    Ok(())
}

fn checkpointer(path: &Path) -> anyhow::Result<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)> {
    let conn = Connection::open(path)?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(std::time::Duration::from_secs(1)) {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    });
    Ok((tx, handle))
}

fn run_sqlite(args: &Args, dir: &Path) -> anyhow::Result<f64> {
    let path = dir.join("output.sqlite");
    let mut conn = Connection::open(&path)?;
    conn.execute_batch(
        "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -32768;",
    )?;
    output_table(&conn)?;
    let (stop, handle) = checkpointer(&path)?;
    let started = Instant::now();
    for batch in batches(args) {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO output VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (s, start, data) in &batch {
                insert.execute(params![*s as i64, *start as i64, (*start + data.len() as u64) as i64, 0i64, data])?;
            }
        }
        tx.commit()?;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(stop);
    let _ = handle.join();
    Ok(secs)
}

fn run_segments(args: &Args, dir: &Path) -> anyhow::Result<f64> {
    let mut index = Connection::open(dir.join("index.sqlite"))?;
    index.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    index.execute_batch(
        "CREATE TABLE chunks (session INTEGER NOT NULL, start_offset INTEGER NOT NULL,
                              end_offset INTEGER NOT NULL, shard INTEGER NOT NULL,
                              position INTEGER NOT NULL, PRIMARY KEY (session, start_offset)) WITHOUT ROWID;",
    )?;
    let mut shards: Vec<(File, u64)> = (0..args.shards.max(1))
        .map(|i| {
            let f = OpenOptions::new().create(true).append(true).open(dir.join(format!("segment-{i}")))?;
            Ok((f, 0))
        })
        .collect::<std::io::Result<_>>()?;
    let started = Instant::now();
    for batch in batches(args) {
        let mut dirty = vec![false; shards.len()];
        let mut rows = Vec::with_capacity(batch.len());
        for (s, start, data) in &batch {
            let shard = s % shards.len();
            let (file, pos) = &mut shards[shard];
            // A header per chunk (session, start, length) so that the index can be rebuilt.
            let mut header = [0u8; 24];
            header[..8].copy_from_slice(&(*s as u64).to_le_bytes());
            header[8..16].copy_from_slice(&start.to_le_bytes());
            header[16..].copy_from_slice(&(data.len() as u64).to_le_bytes());
            file.write_all(&header)?;
            file.write_all(data)?;
            rows.push((*s, *start, *start + data.len() as u64, shard, *pos));
            *pos += 24 + data.len() as u64;
            dirty[shard] = true;
        }
        for (i, d) in dirty.iter().enumerate() {
            if *d {
                shards[i].0.sync_data()?;
            }
        }
        let tx = index.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO chunks VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (s, start, end, shard, pos) in rows {
                insert.execute(params![s as i64, start as i64, end as i64, shard as i64, pos as i64])?;
            }
        }
        tx.commit()?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for design in &args.designs {
        let dir = tempfile::tempdir_in(&args.dir).context("temp dir")?;
        let secs = match design.as_str() {
            "sqlite" => run_sqlite(&args, dir.path())?,
            "segments" => run_segments(&args, dir.path())?,
            other => anyhow::bail!("unknown design {other:?} (sqlite or segments)"),
        };
        let syncs = args.frames.div_ceil(args.batch);
        println!(
            "{}",
            serde_json::json!({
                "design": design, "frames": args.frames, "frame_bytes": args.frame, "batch": args.batch,
                "sessions": args.sessions, "shards": args.shards, "secs": secs,
                "frames_per_sec": args.frames as f64 / secs,
                "mb_per_sec": (args.frames * args.frame) as f64 / secs / 1e6,
                "syncs_per_sec": syncs as f64 / secs,
            })
        );
    }
    Ok(())
}
