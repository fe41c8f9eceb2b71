//! Annal: an Apple MDM server whose source of truth is an append-only event log.
//!
//! The map is docs/ARCHITECTURE.md: `mdm` and `domain` are pure protocol and decisions,
//! `service` holds the use cases, `server` wires them (`server::run`), `http` only adapts,
//! `store` is the log, `readmodel` and `stream` follow it, `integrity` verifies its hash chain,
//! `transfer` exports, imports and migrates it, and `testkit` (simulator, bench harness, APNs
//! mock) lives apart from the server code. The event types live in the `annal-schemas` crate.

pub mod backoff;
pub mod config;
pub mod domain;
pub mod http;
pub mod integrity;
pub mod mdm;
pub mod observe;
pub mod pki;
pub mod push;
pub mod readmodel;
pub mod secrets;
pub mod server;
pub mod service;
pub mod store;
pub mod stream;
pub mod testkit;
pub mod transfer;
pub mod urls;
