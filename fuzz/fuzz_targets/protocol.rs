//! Every JSON message of the WebSocket protocol (`AgentMessage`, `ServerMessage`,
//! `ViewerMessage`, `ViewerEvent`), read as the server and agents read text frames. Whatever
//! parses must serialize and parse back to the same value, so that relaying or storing a
//! message never changes it.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sessionforge_shared::protocol::{AgentMessage, ServerMessage, ViewerEvent, ViewerMessage};

/// Parses `text` as a `T`; when it parses, checks that it survives a round trip.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(text: &str) {
    let Ok(value) = serde_json::from_str::<T>(text) else { return };
    let json = serde_json::to_string(&value).expect("our messages always serialize");
    let again = serde_json::from_str::<T>(&json).unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
    assert_eq!(again, value, "{json} parses back to something else");
}

fuzz_target!(|bytes: &[u8]| {
    // Text frames are UTF-8 by the WebSocket protocol; the socket layer refuses anything else.
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    round_trip::<AgentMessage>(text);
    round_trip::<ServerMessage>(text);
    round_trip::<ViewerMessage>(text);
    round_trip::<ViewerEvent>(text);
});
