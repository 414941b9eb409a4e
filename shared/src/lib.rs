//! Types shared by the SessionForge agent, server and viewers: identifiers, roles, the
//! versioned WebSocket protocol and its binary output frames, and the DTOs agents send over REST.
#![forbid(unsafe_code)]

pub mod api;
pub mod files;
pub mod frame;
pub mod ids;
pub mod protocol;
pub mod releases;
pub mod roles;
pub mod signing;
pub mod text;
