//! SQL for each table, next to the function that runs it. Functions take any
//! executor (a pool or a transaction), so callers compose them into one
//! transaction; the write rules live in `crate::tasks` and `crate::sync`.

pub mod alerts;
pub mod conflicts;
pub mod feed;
pub mod history;
pub mod outcomes;
pub mod queue;
pub mod remote_deletes;
pub mod sessions;
pub mod sync_state;
pub mod tasks;
pub mod tokens;
pub mod webhook_events;

/// Numbers `$n` parameters for SQL assembled at run time (sqlx's query builder
/// writes `?` for the `Any` driver, which PostgreSQL does not accept).
#[derive(Debug, Default)]
pub struct ParamNumbers(usize);

impl ParamNumbers {
    pub fn next_param(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }
}
