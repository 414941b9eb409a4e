//! Stored output in segment files: merged index rows, gaps, resends, rows from before segments,
//! and segments deleted once nothing refers to them.

use bytes::Bytes;
use sessionforge_shared::ids::SessionId;

use super::*;

const SESSION: &str = "00000000-0000-4000-8000-0000000000c1";

async fn store_with_session(dir: &std::path::Path) -> (Store, SessionId) {
    let store = Store::open(&dir.join("sf.db"), 2, std::time::Duration::from_secs(5)).expect("open");
    store
        .db
        .write(|tx| {
            tx.execute_batch(&format!(
                "INSERT INTO orgs (id, name, created_at) VALUES ('o', 'o', 0);
                 INSERT INTO machines (id, org_id, credential_hash, hostname, os, arch, enrolled_at)
                 VALUES ('m', 'o', X'00', 'h', 'linux', 'x86_64', 0);
                 INSERT INTO sessions (id, org_id, machine_id, source, kind, command, state, started_at, updated_at)
                 VALUES ('{SESSION}', 'o', 'm', 'relayed', 'shell', 'sh', 'running', 0, 0);"
            ))?;
            Ok(())
        })
        .await
        .expect("session");
    (store, SESSION.parse().expect("id"))
}

fn w(session_id: SessionId, start: u64, data: Option<&'static [u8]>, len: u64) -> OutputWrite {
    OutputWrite { session_id, start, end: start + len, data: data.map(Bytes::from_static) }
}

async fn rows(store: &Store) -> Vec<(i64, i64, Option<i64>)> {
    store
        .db
        .read(|c| {
            let mut stmt =
                c.prepare("SELECT start_offset, end_offset, segment FROM session_output ORDER BY end_offset")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .expect("rows")
}

fn bytes_of(chunks: &[StoredChunk]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.data.clone().unwrap_or_else(|| b"<gap>".to_vec())).collect()
}

#[tokio::test]
async fn contiguous_frames_share_a_row_and_gaps_and_resends_are_kept_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, s) = store_with_session(dir.path()).await;
    let batch = vec![w(s, 0, Some(b"ab"), 2), w(s, 2, Some(b"cd"), 2), w(s, 4, None, 3), w(s, 7, Some(b"ef"), 2)];
    let stored = store.append_output(batch, u64::MAX / 4).await.expect("append");
    assert_eq!(stored, vec![Stored { session_id: s, end: 9, retained_from: 0 }]);
    assert_eq!(rows(&store).await, vec![(0, 4, Some(1)), (4, 7, None), (7, 9, Some(1))]);

    // A resend overlapping what is stored keeps only its new part; a hole becomes a gap.
    store.append_output(vec![w(s, 7, Some(b"efgh"), 4), w(s, 13, Some(b"ij"), 2)], u64::MAX / 4).await.expect("again");
    let chunks = store.read_output(s, 0, 100, usize::MAX).await.expect("read");
    assert_eq!(bytes_of(&chunks), b"abcd<gap>efgh<gap>ij");
    let from_middle = store.read_output(s, 8, 12, usize::MAX).await.expect("read");
    assert_eq!(from_middle.first().map(|c| c.start), Some(7), "whole chunks overlapping the range");
}

#[tokio::test]
async fn rows_from_before_segments_read_alongside_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, s) = store_with_session(dir.path()).await;
    store
        .db
        .write(|tx| {
            tx.execute(
                "INSERT INTO session_output (session_id, start_offset, end_offset, at_ms, data) VALUES (?1, 0, 4, 0, X'6F6C6421')",
                [SESSION],
            )?;
            Ok(())
        })
        .await
        .expect("inline row");
    store.append_output(vec![w(s, 4, Some(b" new"), 4)], u64::MAX / 4).await.expect("append");
    let chunks = store.read_output(s, 0, 100, usize::MAX).await.expect("read");
    assert_eq!(bytes_of(&chunks), b"old! new");
}

#[tokio::test]
async fn a_segment_goes_once_nothing_refers_to_it_and_counts_until_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, s) = store_with_session(dir.path()).await;
    store.segments.set_grace(std::time::Duration::ZERO);
    store.append_output(vec![w(s, 0, Some(b"first segment"), 13)], u64::MAX / 4).await.expect("append");
    let seg1 = dir.path().join(super::super::OUTPUT_DIR).join(super::super::segments::file_name(1));
    assert!(seg1.exists());
    let before = store.stored_bytes().await.expect("bytes");
    // The writer moves on (as after a restart or a failed sync), then retention drops the rows.
    *crate::lock(store.segments.active_for_tests()) = None;
    store.append_output(vec![w(s, 13, Some(b"second"), 6)], u64::MAX / 4).await.expect("append");
    let dropped = store.drop_oldest_output(1).await.expect("drop");
    assert_eq!(dropped, 13, "the first chunk's length");
    assert_eq!(store.collect_segments().await.expect("collect"), 0, "first look only marks it");
    assert!(seg1.exists());
    assert_eq!(store.collect_segments().await.expect("collect"), 13);
    assert!(!seg1.exists());
    assert!(store.stored_bytes().await.expect("bytes") < before + 6, "the file no longer counts");
    let chunks = store.read_output(s, 0, 100, usize::MAX).await.expect("read");
    assert_eq!(bytes_of(&chunks), b"second");
}

#[tokio::test]
async fn the_budget_counts_what_is_kept_so_a_full_segment_does_not_drop_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, s) = store_with_session(dir.path()).await;
    // 8 MiB in the segment being written, which cannot be deleted whatever is dropped.
    let piece = Bytes::from(vec![b'x'; 256 * 1024]);
    let batch: Vec<OutputWrite> = (0..32u64)
        .map(|i| OutputWrite {
            session_id: s,
            start: i * 256 * 1024,
            end: (i + 1) * 256 * 1024,
            data: Some(piece.clone()),
        })
        .collect();
    store.append_output(batch, u64::MAX / 4).await.expect("append");
    let budget = 4 * 1024 * 1024;
    let (_, dropped) = store.keep_output_within(budget).await.expect("first round");
    assert!(dropped >= 4 * 1024 * 1024, "the excess went: {dropped}");
    // Again and again, as the sweeper does: the files are still over the budget (nothing can be
    // freed from the segment being written), but what is kept is not, so nothing more goes.
    for _ in 0..3 {
        store.collect_segments().await.expect("collect");
        let (kept, dropped) = store.keep_output_within(budget).await.expect("next round");
        assert_eq!(dropped, 0, "kept {kept} of a {budget} budget; nothing more may go");
    }
    let chunks = store.read_output(s, 0, u64::MAX / 4, usize::MAX).await.expect("read");
    let kept: usize = chunks.iter().map(|c| c.data.as_ref().map_or(0, Vec::len)).sum();
    assert!(kept >= 2 * 1024 * 1024, "the newest output stays: {kept} bytes");
    assert!(store.stored_bytes().await.expect("bytes") > budget, "the files hold more (documented)");
}
