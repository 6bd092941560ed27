//! SQL for each table, next to the function that runs it. Functions take any
//! executor (a pool or a transaction), so callers compose them into one
//! transaction; the write rules (version bumps, history) live in `crate::tasks`.

pub mod history;
pub mod tasks;
pub mod tokens;

/// Numbers `$n` placeholders for SQL assembled at run time (sqlx's query builder
/// writes `?` for the `Any` driver, which PostgreSQL does not accept).
#[derive(Debug, Default)]
pub struct Placeholders(usize);

impl Placeholders {
    pub fn next_param(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }
}
