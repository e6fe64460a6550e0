//! # ledger-server
//!
//! tiered-ledger over HTTP/1.1 and JSON: a thin shell around one [`ledger_store::Ledger`]
//! handle. Commands and batches (group commit), dry runs, queries, change data capture,
//! metrics, bearer tokens with roles. docs/SERVER.md describes every endpoint.

pub mod api;
pub mod auth;
pub mod config;
pub mod console;
mod error;
pub mod history;
pub mod lease;
pub mod metrics;
pub mod openapi;
pub mod serve;
mod standby;
pub mod transport;
pub mod views;

pub use error::{Error, Result};
