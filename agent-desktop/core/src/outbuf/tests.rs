//! The output buffer in memory and spooled: chunked sending, acks, resends after reconnects,
//! backpressure instead of loss, and what survives an agent that died.

use super::*;
use crate::spool::{self, Spool, test_meta as meta};

fn drain(b: &mut OutputBuffer) -> Vec<Pending> {
    std::iter::from_fn(|| b.next_pending(4)).collect()
}

#[test]
fn sends_in_chunks_and_forgets_acked_bytes() {
    let mut b = OutputBuffer::new(100);
    b.push(b"hello world");
    assert_eq!(b.next_pending(5), Some(Pending::Data { offset: 0, data: b"hello".to_vec() }));
    assert_eq!(b.next_pending(100), Some(Pending::Data { offset: 5, data: b" world".to_vec() }));
    assert_eq!(b.next_pending(100), None);
    assert_eq!(b.held(), 11);
    b.ack(5);
    assert_eq!(b.held(), 6);
    b.ack(11);
    assert!(b.fully_acked());
    assert_eq!(b.end(), 11);
}

#[test]
fn resends_unacked_bytes_after_reconnect() {
    let mut b = OutputBuffer::new(100);
    b.push(b"abcdefgh");
    drain(&mut b);
    b.ack(2);
    // The connection dropped; the server stored up to 5 before it died.
    b.resume_from(5);
    assert_eq!(drain(&mut b), vec![Pending::Data { offset: 5, data: b"fgh".to_vec() }]);
    // Or it stored less than it acked (it restarted from an older state): resend from there.
    let mut b = OutputBuffer::new(100);
    b.push(b"abcdefgh");
    drain(&mut b);
    b.resume_from(3);
    assert_eq!(
        drain(&mut b),
        vec![Pending::Data { offset: 3, data: b"defg".to_vec() }, Pending::Data { offset: 7, data: b"h".to_vec() }]
    );
}

/// `welcome` carries where the server's *stored* output ends, which may lie behind what it
/// received: only the stored bytes are forgotten, everything after them is sent again.
#[test]
fn resume_from_the_stored_end_resends_received_but_unstored_bytes() {
    let mut b = OutputBuffer::new(100);
    b.push(b"0123456789");
    drain(&mut b);
    b.ack(4);
    b.resume_from(6);
    assert_eq!(b.held(), 4, "stored bytes are forgotten");
    assert_eq!(drain(&mut b), vec![Pending::Data { offset: 6, data: b"6789".to_vec() }]);
}

#[test]
fn a_full_buffer_asks_the_producer_to_wait_instead_of_dropping() {
    let mut b = OutputBuffer::new(4);
    b.push(b"ab");
    assert!(!b.is_full());
    b.push(b"cdef");
    assert!(b.is_full(), "past the bound the PTY reader waits");
    assert_eq!(
        drain(&mut b),
        vec![Pending::Data { offset: 0, data: b"abcd".to_vec() }, Pending::Data { offset: 4, data: b"ef".to_vec() }],
        "nothing was dropped"
    );
    b.ack(6);
    assert!(!b.is_full());
}

#[test]
fn a_producer_ignoring_backpressure_is_cut_off_with_an_explicit_gap() {
    let mut b = OutputBuffer::new(4);
    let flood = vec![b'z'; 4 + MEMORY_SLACK + 10];
    b.push(&flood);
    assert!(b.held() <= 4 + MEMORY_SLACK);
    assert_eq!(b.next_pending(4), Some(Pending::Gap { offset: 0, length: 10 }));
}

#[test]
fn spooled_output_is_read_back_from_disk_and_released_once_stored() {
    let root = tempfile::tempdir().expect("tempdir");
    let m = meta();
    let spool = Spool::create(root.path(), &m, 0).expect("spool");
    let mut b = OutputBuffer::spooled(spool, 1 << 20);
    assert!(b.is_spooled());
    b.push(b"spooled ");
    b.push(b"bytes");
    assert_eq!(b.next_pending(8), Some(Pending::Data { offset: 0, data: b"spooled ".to_vec() }));
    assert_eq!(b.next_pending(100), Some(Pending::Data { offset: 8, data: b"bytes".to_vec() }));
    b.resume_from(3);
    assert_eq!(
        b.next_pending(100),
        Some(Pending::Data { offset: 3, data: b"oled bytes".to_vec() }),
        "resent from disk"
    );
    b.ack(13);
    assert!(b.fully_acked());
    b.discard();
    assert_eq!(std::fs::read_dir(root.path()).expect("root").count(), 0, "a finished session leaves no spool");
}

#[test]
fn a_dead_agents_spool_is_resent_by_the_next_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let m = meta();
    {
        let spool = Spool::create(root.path(), &m, 0).expect("spool");
        let mut b = OutputBuffer::spooled(spool, 1 << 20);
        b.push(b"before the crash");
        b.next_pending(100);
        b.ack(7);
        // The agent dies here: nothing is discarded.
    }
    let orphan = spool::orphans(root.path()).into_iter().next().expect("adopted");
    let mut b = OutputBuffer::spooled(orphan.spool, 1 << 20);
    assert_eq!(b.acked(), 0, "the acked bytes were in the first (only) segment, which is kept");
    b.resume_from(7);
    assert_eq!(drain(&mut b).concat_data(), b"the crash".to_vec());
}

trait ConcatData {
    fn concat_data(&self) -> Vec<u8>;
}

impl ConcatData for Vec<Pending> {
    fn concat_data(&self) -> Vec<u8> {
        self.iter()
            .flat_map(|p| match p {
                Pending::Data { data, .. } => data.clone(),
                Pending::Gap { .. } => panic!("unexpected gap in {self:?}"),
            })
            .collect()
    }
}
