//! `docs/asyncapi.json`: the two WebSocket endpoints (agent and viewer) as an AsyncAPI 3.0
//! document, with a JSON Schema for every message generated from the protocol types above, so
//! that a third-party viewer or agent can be written from it. It is committed and this test
//! fails when it drifts; `SESSIONFORGE_UPDATE_DOCS=1 cargo test -p sessionforge-shared asyncapi`
//! rewrites it.

use schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::{Value, json};

use super::{AgentMessage, PROTOCOL_VERSION, ServerMessage, ViewerEvent, ViewerMessage};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/asyncapi.json");

const BINARY_FRAME: &str = "Terminal output. Bytes 0: kind (1 = output); 1..17: session id, the UUID's 16 bytes in \
     RFC 9562 (big-endian) order; 17..25: the offset of the first data byte in the session's output stream \
     (u64, big-endian); 25..: the data. See docs/protocol.md.";

/// The schema of `T`, with its definitions moved into `defs`.
fn schema<T: JsonSchema>(defs: &mut serde_json::Map<String, Value>) -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| s.definitions_path = "#/components/schemas/".into());
    let mut generator = settings.into_generator();
    let mut root = generator.root_schema_for::<T>().to_value();
    if let Some(Value::Object(found)) = root.as_object_mut().and_then(|o| o.remove("$defs")) {
        defs.extend(found);
    }
    if let Some(o) = root.as_object_mut() {
        o.remove("$schema");
    }
    root
}

fn document() -> Value {
    let mut defs = serde_json::Map::new();
    let agent = schema::<AgentMessage>(&mut defs);
    let server = schema::<ServerMessage>(&mut defs);
    let viewer = schema::<ViewerMessage>(&mut defs);
    let event = schema::<ViewerEvent>(&mut defs);
    let frame = json!({"contentType": "application/octet-stream", "summary": "output frame",
        "description": BINARY_FRAME, "payload": {"type": "string", "format": "binary"}});
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "SessionForge live sessions",
            "version": PROTOCOL_VERSION.to_string(),
            "description": "The WebSocket protocol between agents, the server and viewers. JSON text frames carry \
                control messages (a `type` field in snake_case; unknown types and fields are ignored); binary frames \
                carry terminal output by byte offset. docs/protocol.md explains each message with examples."
        },
        "channels": {
            "agent": {
                "address": "/api/v1/agent/connect",
                "description": "Agents. Authenticate with `Authorization: Bearer sfm_…` (the machine credential); the \
                    first message must be `hello`.",
                "messages": {
                    "agentMessage": {"$ref": "#/components/messages/AgentMessage"},
                    "serverMessage": {"$ref": "#/components/messages/ServerMessage"},
                    "output": {"$ref": "#/components/messages/OutputFrame"}
                },
                "bindings": {"ws": {"method": "GET"}}
            },
            "viewer": {
                "address": "/api/v1/orgs/{org}/sessions/{session}/attach",
                "description": "Viewers. Authenticate with the `sf_session` cookie (same origin) or `Authorization: \
                    Bearer sfk_…`; `?from=OFFSET` picks where the replay starts.",
                "parameters": {"org": {"description": "The org's id."}, "session": {"description": "The session's id."}},
                "messages": {
                    "viewerMessage": {"$ref": "#/components/messages/ViewerMessage"},
                    "viewerEvent": {"$ref": "#/components/messages/ViewerEvent"},
                    "output": {"$ref": "#/components/messages/OutputFrame"}
                },
                "bindings": {"ws": {"method": "GET", "query": {"type": "object",
                    "properties": {"from": {"type": "integer", "minimum": 0}}}}}
            }
        },
        "operations": {
            "agentSends": {"action": "send", "channel": {"$ref": "#/channels/agent"},
                "messages": [{"$ref": "#/channels/agent/messages/agentMessage"}, {"$ref": "#/channels/agent/messages/output"}]},
            "agentReceives": {"action": "receive", "channel": {"$ref": "#/channels/agent"},
                "messages": [{"$ref": "#/channels/agent/messages/serverMessage"}]},
            "viewerSends": {"action": "send", "channel": {"$ref": "#/channels/viewer"},
                "messages": [{"$ref": "#/channels/viewer/messages/viewerMessage"}]},
            "viewerReceives": {"action": "receive", "channel": {"$ref": "#/channels/viewer"},
                "messages": [{"$ref": "#/channels/viewer/messages/viewerEvent"}, {"$ref": "#/channels/viewer/messages/output"}]}
        },
        "components": {
            "messages": {
                "AgentMessage": {"contentType": "application/json", "summary": "agent → server", "payload": agent},
                "ServerMessage": {"contentType": "application/json", "summary": "server → agent", "payload": server},
                "ViewerMessage": {"contentType": "application/json", "summary": "viewer → server", "payload": viewer},
                "ViewerEvent": {"contentType": "application/json", "summary": "server → viewer", "payload": event},
                "OutputFrame": frame
            },
            "schemas": Value::Object(defs)
        }
    })
}

#[test]
fn the_committed_asyncapi_document_is_current() {
    let want = serde_json::to_string_pretty(&document()).expect("json") + "\n";
    if std::env::var_os("SESSIONFORGE_UPDATE_DOCS").is_some() {
        std::fs::write(PATH, &want).expect("write docs/asyncapi.json");
    }
    // Compiled in rather than read at run time: the test needs no file system.
    let have = include_str!("../../../docs/asyncapi.json");
    assert!(
        have == want,
        "docs/asyncapi.json is stale: run `SESSIONFORGE_UPDATE_DOCS=1 cargo test -p sessionforge-shared asyncapi`"
    );
}

#[test]
fn every_message_kind_is_in_the_document() {
    let doc = serde_json::to_string(&document()).expect("json");
    for kind in [
        "hello",
        "heartbeat",
        "session_started",
        "session_resized",
        "session_attention",
        "gap",
        "welcome",
        "ack",
        "start_session",
        "policy",
        "stop_session",
        "attached",
        "size",
        "resync",
        "live",
        "pause",
        "resume",
    ] {
        assert!(doc.contains(&format!("\"{kind}\"")), "{kind} is missing");
    }
}
