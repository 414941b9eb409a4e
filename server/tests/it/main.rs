//! Integration tests: the real server binary, over HTTPS, with a temp data dir per test.

#[cfg(unix)]
mod agent_limits;
#[cfg(unix)]
mod agents;
mod common;

mod accounts;
mod api_conformance;
mod api_keys;
#[cfg(unix)]
mod backup;
mod billing;
mod bootstrap;
#[cfg(unix)]
mod bundled;
mod cli;
#[cfg(unix)]
mod connections;
mod dashboard;
#[cfg(target_os = "linux")]
mod durability;
#[cfg(unix)]
mod enrollment;
mod event_streams;
mod http_surface;
#[cfg(unix)]
mod installed;
#[cfg(unix)]
mod installer;
mod licenses;
#[cfg(unix)]
mod notices;
mod openapi;
mod people;
mod plans;
#[cfg(target_os = "linux")]
mod power_loss;
mod rate_limits;
#[cfg(unix)]
mod raw_agent;
#[cfg(unix)]
mod reconnect;
#[cfg(unix)]
mod relay;
#[cfg(unix)]
mod relay_edges;
#[cfg(unix)]
mod release_signing;
mod releases;
#[cfg(unix)]
mod session_policy;
mod settings_api;
mod smtp;
#[cfg(unix)]
mod spool;
#[cfg(unix)]
mod storage;
mod stripe;
mod templates;
mod tenancy;
#[cfg(target_os = "linux")]
mod tray;
#[cfg(unix)]
mod update;
mod usage;
#[cfg(unix)]
mod viewer_edges;
