//! The SessionForge agent as a library: enrollment, the connection to the server, PTY sessions,
//! discovery of AI CLIs, credentials, status and self-update. The headless `sessionforge-agent`
//! binary and the tray app are thin layers over [`agent::Agent`].
#![forbid(unsafe_code)]

pub mod agent;
pub mod config;
pub mod credentials;
pub mod discovery;
pub mod enroll;
pub mod link;
pub mod machine;
pub mod outbuf;
pub mod pty;
pub mod sessions;
pub mod spool;
pub mod status;
pub mod tls;
pub mod update;
pub mod version;
pub mod wrap;
