//! Integration tests of the simulator over real HTTP: webhooks (with faults),
//! the control API, the HTML page and `--data` persistence.

mod cli;
mod control;
mod delivery;
mod persistence;
mod support;
mod ui;
mod webhooks;
