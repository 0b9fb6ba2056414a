//! `sceneboard-loadgen`: drives Sceneboard's WeChat callback with many distinct, correctly
//! signed pushes (plaintext or AES safe mode), a realistic event mix over a few hundred scenes
//! and WeChat-like retries, then reports throughput, latency percentiles, answers by status
//! and — given the database — whether every distinct push was stored exactly once.
//!
//! [`plan`] decides what to send, [`push`] signs it, [`run`] sends it, [`report`] does the
//! arithmetic and [`db`] counts what was stored.

pub mod db;
pub mod plan;
pub mod push;
pub mod report;
pub mod run;
