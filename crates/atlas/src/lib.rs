//! Atlas
