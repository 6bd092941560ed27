//! Contract tests: the real client against the real simulator, over HTTP, for
//! every call and every error path of SPEC §4 — plus small stub servers for the
//! answers a well-behaved simulator never gives (redirects, proxy pages,
//! malformed listings).

mod answers;
mod failures;
mod listing;
mod support;
mod tasks;
