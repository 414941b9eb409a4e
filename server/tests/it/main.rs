//! Integration tests: the real server binary, over HTTPS, with a temp data dir per test.

mod agents;
mod common;

mod accounts;
mod api_keys;
mod bootstrap;
mod cli;
mod http_surface;
mod openapi;
mod relay;
mod tenancy;
