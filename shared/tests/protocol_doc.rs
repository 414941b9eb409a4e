//! Every example in docs/protocol.md parses as the message it claims to be, and every message
//! kind has an example, so the document cannot drift from the code.

use std::collections::BTreeSet;

use serde_json::Value;
use sessionforge_shared::protocol::{AgentMessage, ServerMessage, ViewerEvent, ViewerMessage};

fn examples() -> Vec<(String, Value)> {
    let doc = include_str!("../../docs/protocol.md");
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line.strip_prefix("```json ") else { continue };
        let body: String = lines.by_ref().take_while(|l| !l.starts_with("```")).collect::<Vec<_>>().join("\n");
        let value: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON in a {tag} example ({e}):\n{body}"));
        out.push((tag.trim().to_string(), value));
    }
    out
}

#[test]
fn every_example_parses_and_every_kind_is_documented() {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for (tag, value) in examples() {
        let kind = value["type"].as_str().expect("type").to_string();
        let known = match tag.as_str() {
            "agent" => serde_json::from_value::<AgentMessage>(value.clone()).map(|m| m != AgentMessage::Unknown),
            "server" => serde_json::from_value::<ServerMessage>(value.clone()).map(|m| m != ServerMessage::Unknown),
            "viewer" => serde_json::from_value::<ViewerMessage>(value.clone()).map(|m| m != ViewerMessage::Unknown),
            "event" => serde_json::from_value::<ViewerEvent>(value.clone()).map(|m| m != ViewerEvent::Unknown),
            other => panic!("unknown example tag {other}"),
        };
        assert!(known.unwrap_or_else(|e| panic!("{tag} {kind}: {e}")), "{tag} example {kind} is not a known kind");
        seen.insert((tag, kind));
    }
    let expected: &[(&str, &[&str])] = &[
        (
            "agent",
            &[
                "hello",
                "heartbeat",
                "session_discovered",
                "session_started",
                "session_exited",
                "session_crashed",
                "session_resized",
                "session_attention",
                "gap",
                "error",
            ],
        ),
        ("server", &["welcome", "ack", "input", "resize", "start_session", "policy", "stop_session", "error"]),
        ("viewer", &["input", "resize", "pause", "resume"]),
        ("event", &["attached", "size", "gap", "state", "resync", "live", "error"]),
    ];
    for (tag, kinds) in expected {
        for kind in *kinds {
            assert!(
                seen.contains(&(tag.to_string(), kind.to_string())),
                "docs/protocol.md has no {tag} example of {kind}"
            );
        }
    }
}
