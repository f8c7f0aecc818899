//! The collector's endpoints.

pub mod email;
pub mod email_webhooks;
pub mod forms;
pub mod health;
pub mod pixel;
pub mod sms;
pub mod track;
pub mod tracker;
