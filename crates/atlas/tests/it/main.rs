//! Integration tests: one binary (linking once is cheaper than one per file),
//! each test against a fresh database, on SQLite and on PostgreSQL.

mod api;
mod cli;
mod common;
mod store;
