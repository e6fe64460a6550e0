//! # ledger-store
//!
//! The durable side of tiered-ledger: the RocksDB event log with its hash chain, read models, the
//! single-writer engine and the embedding API. Not built yet; this crate only reserves its place
//! in the workspace (and its RocksDB build in the target directory).
