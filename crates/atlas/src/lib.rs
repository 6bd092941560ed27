//! Atlas: a construction task service kept in two-way sync with Altimeter.
//! `main.rs` only parses the command line and calls [`cli::run`].

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod feed;
pub mod http;
pub mod import;
pub mod json;
pub mod model;
pub mod store;
pub mod sync;
pub mod tasks;
pub mod telemetry;
