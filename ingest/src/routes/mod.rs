//! The collector's endpoints.

pub mod health;
pub mod pixel;
pub mod track;
