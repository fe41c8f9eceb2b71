//! Annal: an Apple MDM server whose source of truth is an append-only event log.
//!
//! Layout (ARCHITECTURE.md §1): `store` is the log, `audit` verifies its hash chain, `bench`
//! measures it, `http` serves it, `transfer` exports, imports and migrates it. The event types live in the `annal-schemas` crate.

pub mod audit;
pub mod bench;
pub mod config;
pub mod domain;
pub mod http;
pub mod mdm;
pub mod observe;
pub mod pki;
pub mod push;
pub mod readmodel;
pub mod secrets;
pub mod server;
pub mod service;
pub mod sim;
pub mod store;
pub mod stream;
pub mod transfer;
