//! The query API's endpoints.

pub mod accounts;
pub mod campaigns;
pub mod crm_calls;
pub mod failed;
pub mod handoffs;
pub mod health;
pub mod list_import;
pub mod lists;
pub mod models;
pub mod overview;
pub mod profiles;
pub mod rfm;
pub mod scores;
pub mod segments;
pub mod tokens;
pub mod webhooks;
pub mod workspace;
