//! Integration tests: one binary (linking once is cheaper than one per file),
//! each test against a fresh database, on SQLite and on PostgreSQL.

mod api;
mod browser;
mod chaos;
mod cli;
mod common;
mod demo;
mod feed;
mod queue;
mod store;
mod sync_conflicts;
mod sync_crash;
mod sync_e2e;
mod sync_harness;
mod sync_logs;
mod sync_lost_answers;
mod sync_onboarding;
mod sync_ops;
mod sync_webhooks;
mod ui_forms;
