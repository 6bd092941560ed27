//! Integration tests of the simulator over real HTTP: webhooks (with faults),
//! the control API, the HTML page and `--data` persistence.

mod control;
mod persistence;
mod support;
mod ui;
mod webhooks;
