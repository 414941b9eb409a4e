//! Types shared by the SessionForge agent, server and viewers: identifiers and roles now; the wire
//! protocol and REST DTOs join as the components that speak them land.
#![forbid(unsafe_code)]

pub mod ids;
pub mod roles;
