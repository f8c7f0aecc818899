//! The collector's endpoints.

pub mod email;
pub mod forms;
pub mod health;
pub mod pixel;
pub mod sms;
pub mod track;
pub mod tracker;
