//! Types shared by the SessionForge agent, server and viewers: identifiers, roles, the
//! versioned WebSocket protocol and its binary output frames, the DTOs agents send over REST, and
//! the pure parsers and verifiers of untrusted input (release manifests and their signatures,
//! download links, `Range` headers) that the fuzz targets in `fuzz/` exercise.
#![forbid(unsafe_code)]

pub mod api;
pub mod files;
pub mod finite;
pub mod frame;
pub mod http_range;
pub mod ids;
pub mod license;
pub mod links;
pub mod protocol;
pub mod releases;
pub mod roles;
pub mod seal;
pub mod signing;
pub mod text;
