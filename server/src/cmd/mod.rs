//! The binary's subcommands other than `serve`, one file each.

pub mod admin;
pub mod billing;
pub mod license;
pub mod release;
