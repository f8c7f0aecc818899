//! The collector's endpoints.

pub mod health;
pub mod track;
