//! The wire format every part of leadstream shares.
//!
//! - [`event`]: the inbound event, in the shape of Segment's HTTP tracking API, and the batch
//!   envelope that carries it.
//! - [`kinds`]: the named marketing event kinds, Segment's spec names for them, the properties
//!   each one expects (never a refusal) and the value of an order.
//! - [`validate`]: turns untrusted JSON into a checked [`event::Event`], naming the field at fault.
//! - [`failed`]: failed events (what the collector refused, kept for inspection and replay).
//! - [`plan`]: a workspace's tracking plan (opt in): required properties and what to do on a miss.
//! - [`record`]: the versioned message written to the log (Kafka or the embedded log).
//! - [`profile`]: the behavioural profile and score types the scorer keeps and the query API serves.
//! - [`identity`]: which ids may stand for a person; the scorer's merge control records.
//! - [`campaign`]: campaign records, response attribution and the report's figures.
//! - [`account`]: accounts (companies), rolled up from the people `group` calls tie to them.
//! - [`handoff`]: the `lead.qualified` record the scorer hands to sales.
//! - [`segment`]: the segment language (a JSON boolean tree over profiles and behaviour).
//! - [`rfm`]: RFM analysis: its definition, named segments and report types.
//! - [`time`]: event times as RFC 3339 text (chrono's format, written and read without `fmt`).
//! - [`json_schema`]: JSON Schema for the HTTP inputs, generated from these types.

pub mod account;
pub mod campaign;
pub mod event;
pub mod failed;
pub mod handoff;
pub mod identity;
pub mod json_schema;
pub mod kinds;
pub mod plan;
pub mod profile;
pub mod record;
pub mod rfm;
pub mod segment;
pub mod time;
pub mod validate;

pub use account::{Account, AccountMember, AccountSummary};
pub use event::{
    BatchRequest, Campaign, Context, Enrichment, Event, EventType, ExpectationMiss, Page,
    UserAgentInfo,
};
pub use failed::{FailedEvent, FailedFilter, ReplayOutcome};
pub use handoff::{Contribution, LeadQualified};
pub use identity::{Control, ControlRecord, IdentityRules};
pub use kinds::EventKind;
pub use profile::{
    EmailStats, LifecycleStage, Profile, Purchases, SmsStats, StageChange, Touch, WindowCounts,
};
pub use record::{Decoded, LogRecord, SCHEMA_VERSION};
pub use validate::{
    Rejection, check_depth, check_event, duplicate_key, expectation_misses, parse_event_text,
    rejection_from_serde, validate_event,
};
