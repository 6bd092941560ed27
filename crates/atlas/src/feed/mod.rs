//! The live feed behind `GET /ws/sync-status` (SPEC §5): what people see change
//! — sync badges, task fields, conflicts, the queue, alerts — as it changes.
//!
//! Changes are recorded at their source, inside the transaction that makes them
//! (`crate::store::feed`). [`source`] turns the committed signals of every
//! process into [`Event`]s; the [`Hub`] numbers them and hands them to every
//! connected client without ever waiting for one (`crate::http::ws` owns the
//! sockets).

mod event;
mod hub;
pub mod source;

pub use event::{Event, QueueSummary};
pub use hub::{Admission, FeedConfig, Hub, Outgoing, Scope};
