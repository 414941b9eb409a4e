//! Tests of [`Sessions`]: lifecycle reporting with real PTYs, forgetting finished sessions,
//! fair draining and dropped input.

use std::time::Duration;

use sessionforge_shared::frame;

use super::*;

async fn drain_until(s: &Sessions, pred: impl Fn(&[Outgoing]) -> bool) -> Vec<Outgoing> {
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !pred(&all) {
        assert!(std::time::Instant::now() < deadline, "timed out; got {all:?}");
        all.extend(s.drain(64));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    all
}

fn is_exit(o: &Outgoing) -> bool {
    matches!(o, Outgoing::Message(AgentMessage::SessionExited { .. }))
}

/// Session ids of the output frames in `out`, in order.
fn frame_owners(out: &[Outgoing]) -> Vec<SessionId> {
    out.iter()
        .filter_map(|o| match o {
            Outgoing::Frame(f) => Some(frame::decode(f).expect("frame").session_id),
            Outgoing::Message(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn reports_start_output_and_exit_in_order() {
    let s = Sessions::new(1 << 20);
    let id = SessionId::new();
    let spec = Spawn {
        command: "sh".into(),
        args: vec!["-c".into(), "printf abc; exit 3".into()],
        cwd: String::new(),
        cols: 80,
        rows: 24,
    };
    s.start(id, spec, Some("req".into()), None).expect("start");
    let out = drain_until(&s, |o| o.iter().any(is_exit)).await;
    assert!(
        matches!(&out[0], Outgoing::Message(AgentMessage::SessionStarted { request_id: Some(r), .. }) if r == "req")
    );
    let mut data = Vec::new();
    for o in &out {
        if let Outgoing::Frame(f) = o {
            data.extend_from_slice(frame::decode(f).expect("frame").data);
        }
    }
    assert_eq!(data, b"abc");
    assert!(matches!(out.last(), Some(Outgoing::Message(AgentMessage::SessionExited { exit_code: Some(3), .. }))));
    assert!(!s.settled(id), "not settled until the server acks");
    s.ack(id, 3);
    assert!(s.settled(id));
    assert!(s.summaries().is_empty(), "forgotten once delivered");
    assert_eq!(s.exit_of(id), Some(Some(3)));
}

#[tokio::test]
async fn a_failed_start_is_reported_as_a_crash() {
    let s = Sessions::new(1 << 20);
    let id = SessionId::new();
    let spec = Spawn { command: "/no/such/binary".into(), args: vec![], cwd: String::new(), cols: 80, rows: 24 };
    assert!(s.start(id, spec, Some("r1".into()), None).is_err());
    let out = s.drain(10);
    assert!(
        matches!(&out[..], [Outgoing::Message(AgentMessage::SessionCrashed { request_id: Some(r), .. })] if r == "r1")
    );
    assert!(s.settled(id));
}

/// The usual order: the server acks the last output before the agent reports the exit.
#[test]
fn a_session_acked_before_its_exit_is_forgotten_after_the_exit_is_sent() {
    let s = Sessions::new(1 << 20);
    let id = SessionId::new();
    s.insert_detached(id);
    s.output(id, b"abc");
    assert_eq!(frame_owners(&s.drain(64)), vec![id]);
    s.ack(id, 3);
    s.exited(id, Some(0));
    let out = s.drain(64);
    assert!(matches!(&out[..], [o] if is_exit(o)), "{out:?}");
    assert_eq!(s.summaries().len(), 1, "kept until the batch with the exit went out");
    assert!(s.drain(64).is_empty());
    assert!(s.summaries().is_empty(), "forgotten");
    assert!(s.for_hello().is_empty(), "not listed in hello again");
    assert_eq!(s.exit_of(id), Some(Some(0)));
    assert!(!s.has_pending());
}

#[test]
fn a_session_is_forgotten_when_the_last_ack_follows_its_exit() {
    let s = Sessions::new(1 << 20);
    let id = SessionId::new();
    s.insert_detached(id);
    s.output(id, b"abc");
    s.exited(id, None);
    let out = s.drain(64);
    assert!(out.last().is_some_and(is_exit), "{out:?}");
    s.ack(id, 2);
    assert_eq!(s.summaries().len(), 1, "output not all stored yet");
    s.ack(id, 3);
    assert!(s.summaries().is_empty());
    assert_eq!(s.exit_of(id), Some(None));
}

/// A session that ended with all output stored is not resumed (the server would mark it
/// running again), but its exit is reported again, since the old connection may have lost it.
#[test]
fn hello_leaves_out_finished_sessions_and_their_exit_is_sent_again() {
    let s = Sessions::new(1 << 20);
    let (done, live) = (SessionId::new(), SessionId::new());
    s.insert_detached(done);
    s.insert_detached(live);
    s.output(done, b"xy");
    s.drain(64);
    s.ack(done, 2);
    s.exited(done, Some(1));
    // The connection drops before the exit goes out.
    let hello = s.for_hello();
    assert_eq!(hello.iter().map(|i| i.session_id).collect::<Vec<_>>(), vec![live]);
    let out = s.drain(64);
    assert!(
        matches!(&out[..], [Outgoing::Message(AgentMessage::SessionExited { session_id, exit_code: Some(1), .. })] if *session_id == done),
        "{out:?}"
    );
    s.drain(64);
    assert_eq!(s.summaries().iter().map(|x| x.session_id).collect::<Vec<_>>(), vec![live]);
}

#[test]
fn drain_takes_turns_between_busy_sessions() {
    let s = Sessions::new(1 << 20);
    let ids = [SessionId::new(), SessionId::new(), SessionId::new()];
    for id in ids {
        s.insert_detached(id);
    }
    let chunk = vec![b'.'; MAX_FRAME];
    // The first session has far more pending than a batch holds.
    for _ in 0..32 {
        s.output(ids[0], &chunk);
    }
    s.output(ids[1], &chunk);
    s.output(ids[2], &chunk);
    let first = s.drain(4);
    let owners = frame_owners(&first);
    assert_eq!(owners.len(), 4, "bounded batch: {owners:?}");
    for id in ids {
        assert!(owners.contains(&id), "every busy session gets a frame: {owners:?}");
    }
    // When there is less room than busy sessions, the session served first rotates.
    let mut firsts = HashSet::new();
    for _ in 0..3 {
        for id in ids {
            s.output(id, &chunk);
        }
        firsts.insert(frame_owners(&s.drain(1))[0]);
    }
    assert!(firsts.len() > 1, "always the same session first: {firsts:?}");
}

#[tokio::test]
async fn input_a_process_does_not_read_is_dropped_and_reported() {
    let s = Sessions::new(1 << 20);
    let id = SessionId::new();
    let spec = Spawn { command: "sleep".into(), args: vec!["60".into()], cwd: String::new(), cols: 80, rows: 24 };
    s.start(id, spec, None, None).expect("start");
    let paste = vec![b'x'; 64 * 1024];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let reported = |out: &[Outgoing]| {
        out.iter().any(|o| matches!(o, Outgoing::Message(AgentMessage::Error { code, .. }) if code == INPUT_DROPPED))
    };
    let mut out = Vec::new();
    // Each call returns at once; once the writer queue is full the rest is dropped and reported.
    while !reported(&out) {
        assert!(std::time::Instant::now() < deadline, "no report; got {out:?}");
        s.input(id, &paste);
        out.extend(s.drain(64));
    }
    s.stop(id);
    drain_until(&s, |o| o.iter().any(is_exit)).await;
}
