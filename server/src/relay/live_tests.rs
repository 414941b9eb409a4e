//! Live sessions: frames forwarded without copies, duplicates and overlaps trimmed, holes as
//! gaps, a ring kept small, claims resumed from what is stored, subscribers with no holes.

use super::*;

fn session() -> LiveSession {
    let row = Session::for_tests(SessionId::new());
    LiveSession::new(&row)
}

/// Output as an agent sends it: `data` at `at` in one frame.
fn put(s: &LiveSession, at: u64, data: &[u8], max_ahead: u64) -> Result<Vec<Item>, u64> {
    s.output(1, at, Bytes::from(frame::encode_output(s.id, at, data)), max_ahead)
}

#[test]
fn a_frame_that_needs_no_trimming_is_forwarded_without_a_copy() {
    let s = session();
    let frame = Bytes::from(frame::encode_output(s.id, 0, b"as received"));
    let items = s.output(1, 0, frame.clone(), 0).expect("in range");
    match &items[..] {
        [Item::Output { frame: forwarded, received: Some(_), .. }] => {
            assert_eq!(forwarded.as_ptr(), frame.as_ptr(), "the same buffer");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn duplicates_are_dropped_overlaps_trimmed_and_holes_become_gaps() {
    let s = session();
    let out = |s: &LiveSession, at: u64, data: &[u8]| put(s, at, data, 100).expect("in range");
    assert_eq!(out(&s, 0, b"hello").len(), 1);
    assert!(out(&s, 0, b"hello").is_empty(), "a resend of stored bytes is dropped");
    let overlap = out(&s, 3, b"lo world");
    match &overlap[..] {
        [Item::Output { offset: 5, end: 11, frame, .. }] => {
            assert_eq!(&frame[frame::HEADER_LEN..], b" world");
        }
        other => panic!("unexpected {other:?}"),
    }
    let hole = out(&s, 20, b"!");
    assert!(matches!(hole[..], [Item::Gap { offset: 11, length: 9 }, Item::Output { offset: 20, end: 21, .. }]));
    assert!(matches!(put(&s, 122, b"?", 100), Err(122)), "no further ahead than the agent's buffer");
    assert!(matches!(s.gap(1 << 49, 100), Err(e) if e == 1 << 49), "nor a gap");
}

#[test]
fn large_frames_are_split_so_the_ring_stays_small() {
    let s = session();
    let items = put(&s, 0, &vec![b'x'; RING_ITEM_MAX * 3 + 5], 0).expect("in range");
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i.bytes() <= RING_ITEM_MAX + frame::HEADER_LEN));
    assert_eq!(items.last().map(Item::end), Some((RING_ITEM_MAX * 3 + 5) as u64));
}

#[test]
fn claims_resume_from_stored_not_received() {
    let s = session();
    put(&s, 0, b"0123456789", 0).expect("in range");
    assert_eq!(s.claim(2), 0, "nothing stored yet: the agent must resend everything");
    assert_eq!(s.stored_up_to(4, 0), Some(2));
    assert_eq!(s.claim(3), 4);
    assert_eq!(s.tail_bytes(), frame::HEADER_LEN + 10, "the chunk is only partly stored: it stays");
    s.stored_up_to(10, 0);
    assert_eq!(s.tail_bytes(), 0);
    assert!(!s.idle(), "still owned");
    assert!(s.release(3));
    assert!(s.idle());
}

#[test]
fn a_subscriber_gets_the_unstored_tail_then_live_items() {
    let s = session();
    put(&s, 0, b"stored", 0).expect("in range");
    s.stored_up_to(6, 0);
    put(&s, 6, b"tail", 0).expect("in range");
    let mut sub = s.subscribe(0);
    assert_eq!(sub.tail_start, 6);
    assert_eq!(sub.snapshot.len(), 1);
    put(&s, 10, b"live", 0).expect("in range");
    assert!(matches!(sub.rx.try_recv(), Ok(Item::Output { offset: 10, .. })));
}
