//! The named marketing event kinds and the properties each one requires.
//!
//! A `track` call is classified by its `event` name (case and `_`/` ` insensitive, so
//! `"Email Opened"`, `"email_opened"` and `"EMAIL OPENED"` are one kind); other call types map to
//! a kind of their own. Unknown names are [`EventKind::Custom`]: free-form events are welcome.
//! Each kind with required properties has a struct here; [`EventKind::check_properties`] checks an
//! event's properties against it and names the first field at fault.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Event, EventType};

macro_rules! kinds {
    ($( $variant:ident => $key:literal, $name:literal, $props:ty, [$($alias:literal),*] ;)*) => {
        /// A marketing event kind. `key()` is the stable snake_case name used in counts and storage.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum EventKind {
            $($variant,)*
            /// `identify` calls.
            Identify,
            /// `group` calls.
            Group,
            /// `alias` calls.
            Alias,
            /// `screen` calls.
            ScreenViewed,
            /// Any other `track` event.
            Custom,
        }

        impl EventKind {
            /// Every named track kind, in declaration order.
            pub const NAMED: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub fn key(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $key,)*
                    EventKind::Identify => "identify",
                    EventKind::Group => "group",
                    EventKind::Alias => "alias",
                    EventKind::ScreenViewed => "screen_viewed",
                    EventKind::Custom => "custom",
                }
            }

            /// The canonical `event` name clients send for this kind.
            pub fn event_name(self) -> Option<&'static str> {
                match self {
                    $(EventKind::$variant => Some($name),)*
                    _ => None,
                }
            }

            /// Every normalized name and alias, to its kind (built once).
            fn by_normalized_name() -> &'static std::collections::HashMap<String, EventKind> {
                static NAMES: std::sync::LazyLock<std::collections::HashMap<String, EventKind>> =
                    std::sync::LazyLock::new(|| {
                        let mut names = std::collections::HashMap::new();
                        $(
                            names.insert(normalize($name), EventKind::$variant);
                            names.insert($name.to_string(), EventKind::$variant);
                            names.insert($key.to_string(), EventKind::$variant);
                            $( names.insert(normalize($alias), EventKind::$variant); )*
                        )*
                        names
                    });
                &NAMES
            }

            /// Checks the properties this kind requires; the error names the field.
            pub fn check_properties(self, properties: &Map<String, Value>) -> Result<(), (String, String)> {
                match self {
                    $(EventKind::$variant => check::<$props>(properties),)*
                    _ => Ok(()),
                }
            }

            /// JSON Schema of the properties of each named kind, keyed by canonical event name.
            pub fn property_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, Vec<&'static str>, schemars::Schema)> {
                vec![$( ($name, vec![$($alias),*], generator.subschema_for::<$props>()), )*]
            }
        }
    };
}

kinds! {
    PageViewed => "page_viewed", "Page Viewed", NoRequired, [];
    FileDownloaded => "file_downloaded", "File Downloaded", FileDownloaded, [];
    FormSubmitted => "form_submitted", "Form Submitted", FormSubmitted, [];
    WebinarRegistered => "webinar_registered", "Webinar Registered", Webinar, [];
    WebinarAttended => "webinar_attended", "Webinar Attended", Webinar, [];
    EmailSent => "email_sent", "Email Sent", Email, [];
    EmailDelivered => "email_delivered", "Email Delivered", Email, [];
    EmailOpened => "email_opened", "Email Opened", Email, [];
    EmailClicked => "email_clicked", "Email Clicked", EmailClicked, ["Email Link Clicked"];
    EmailBounced => "email_bounced", "Email Bounced", Email, [];
    EmailUnsubscribed => "email_unsubscribed", "Email Unsubscribed", Email, ["Unsubscribed"];
    EmailComplained => "email_complained", "Email Complained", Email, ["Email Marked as Spam"];
    SmsSent => "sms_sent", "SMS Sent", Sms, [];
    SmsDelivered => "sms_delivered", "SMS Delivered", Sms, [];
    SmsFailed => "sms_failed", "SMS Failed", Sms, [];
    SmsReceived => "sms_received", "SMS Received", SmsReceived, [];
    SmsOptedOut => "sms_opted_out", "SMS Opted Out", Sms, [];
    PurchaseCompleted => "purchase_completed", "Purchase Completed", Purchase, ["Order Completed"];
    LeadRecycled => "lead_recycled", "Lead Recycled", LeadRecycled, ["Lead Returned"];
    DealWon => "deal_won", "Deal Won", NoRequired, ["Opportunity Won", "Closed Won"];
    LeadCreated => "lead_created", "Lead Created", NoRequired, ["Lead Converted"];
}

fn normalize(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c == '_' || c == '-' {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl EventKind {
    /// Classifies an event. `page` calls are page views; `track` calls go by their name.
    pub fn classify(event: &Event) -> EventKind {
        match event.event_type {
            EventType::Page => EventKind::PageViewed,
            EventType::Screen => EventKind::ScreenViewed,
            EventType::Identify => EventKind::Identify,
            EventType::Group => EventKind::Group,
            EventType::Alias => EventKind::Alias,
            EventType::Track => event
                .event
                .as_deref()
                .and_then(|n| {
                    let names = EventKind::by_normalized_name();
                    // Canonical spellings ("Page Viewed", "email_opened") are found without
                    // allocating; other spellings are normalized first.
                    names
                        .get(n)
                        .or_else(|| names.get(normalize(n).as_str()))
                        .copied()
                })
                .unwrap_or(EventKind::Custom),
        }
    }

    /// Parses a stable key (`"email_opened"`) back into a kind.
    pub fn from_key(key: &str) -> Option<EventKind> {
        EventKind::NAMED
            .iter()
            .chain(&[
                EventKind::Identify,
                EventKind::Group,
                EventKind::Alias,
                EventKind::ScreenViewed,
                EventKind::Custom,
            ])
            .copied()
            .find(|k| k.key() == key)
    }
}

fn check<T: DeserializeOwned + Validate>(
    properties: &Map<String, Value>,
) -> Result<(), (String, String)> {
    // Deserializing from the borrowed map copies only what the struct reads.
    let parsed: T = serde_path_to_error::deserialize(properties).map_err(|e| {
        let r = crate::validate::rejection_from_serde(e);
        (r.field, r.problem)
    })?;
    parsed.validate()
}

trait Validate {
    fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

fn required_text(field: &str, value: &str) -> Result<(), (String, String)> {
    if value.trim().is_empty() {
        Err((field.to_string(), "must not be empty".to_string()))
    } else {
        Ok(())
    }
}

/// `Lead Recycled`: sales hands a lead back to marketing.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LeadRecycled {
    /// Why: `lost_deal`, `no_response`, `not_ready`, … (free text).
    #[schemars(regex(pattern = r"\S"))]
    pub reason: String,
}
impl Validate for LeadRecycled {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("reason", &self.reason)
    }
}

/// Kinds that require no properties.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoRequired {}
impl Validate for NoRequired {}

/// `File Downloaded`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FileDownloaded {
    /// The file's name or URL.
    #[schemars(regex(pattern = r"\S"))]
    pub file_name: String,
}
impl Validate for FileDownloaded {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("file_name", &self.file_name)
    }
}

/// `Form Submitted`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FormSubmitted {
    #[schemars(regex(pattern = r"\S"))]
    pub form_id: String,
}
impl Validate for FormSubmitted {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("form_id", &self.form_id)
    }
}

/// `Webinar Registered`, `Webinar Attended`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Webinar {
    #[schemars(regex(pattern = r"\S"))]
    pub webinar_id: String,
}
impl Validate for Webinar {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("webinar_id", &self.webinar_id)
    }
}

/// `Email Sent`, `Delivered`, `Opened`, `Bounced`, `Unsubscribed`, `Complained`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Email {
    /// The message (one send to one recipient).
    #[schemars(regex(pattern = r"\S"))]
    pub email_id: String,
    #[serde(default)]
    pub campaign_id: Option<String>,
}
impl Validate for Email {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("email_id", &self.email_id)
    }
}

/// `Email Clicked`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EmailClicked {
    #[schemars(regex(pattern = r"\S"))]
    pub email_id: String,
    #[schemars(regex(pattern = r"\S"))]
    pub link_url: String,
    #[serde(default)]
    pub campaign_id: Option<String>,
}
impl Validate for EmailClicked {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("email_id", &self.email_id)?;
        required_text("link_url", &self.link_url)
    }
}

/// `SMS Sent`, `Delivered`, `Failed`, `Opted Out`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Sms {
    /// The provider's message id.
    #[schemars(regex(pattern = r"\S"))]
    pub sms_id: String,
}
impl Validate for Sms {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("sms_id", &self.sms_id)
    }
}

/// `SMS Received`: an inbound message.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SmsReceived {
    #[schemars(regex(pattern = r"\S"))]
    pub sms_id: String,
    pub body: String,
}
impl Validate for SmsReceived {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("sms_id", &self.sms_id)
    }
}

/// `Purchase Completed` (also accepted as Segment's `Order Completed`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Purchase {
    #[schemars(regex(pattern = r"\S"))]
    pub order_id: String,
    /// Revenue in `currency`, not negative.
    #[schemars(range(min = 0))]
    pub revenue: f64,
    /// ISO 4217 code, three upper-case letters.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
}
impl Validate for Purchase {
    fn validate(&self) -> Result<(), (String, String)> {
        required_text("order_id", &self.order_id)?;
        if !self.revenue.is_finite() || self.revenue < 0.0 {
            return Err(("revenue".into(), "must be a number not below 0".into()));
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err((
                "currency".into(),
                "must be an ISO 4217 code of three upper-case letters".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn track(name: &str) -> Event {
        serde_json::from_value(json!({"type": "track", "event": name, "userId": "u"}))
            .expect("event")
    }

    #[test]
    fn names_classify_case_and_separator_insensitively() {
        assert_eq!(
            EventKind::classify(&track("Email Opened")),
            EventKind::EmailOpened
        );
        assert_eq!(
            EventKind::classify(&track("email_opened")),
            EventKind::EmailOpened
        );
        assert_eq!(
            EventKind::classify(&track("Order Completed")),
            EventKind::PurchaseCompleted
        );
        assert_eq!(
            EventKind::classify(&track("Email Link Clicked")),
            EventKind::EmailClicked
        );
        assert_eq!(EventKind::classify(&track("Signed Up")), EventKind::Custom);
    }

    #[test]
    fn keys_round_trip() {
        for k in EventKind::NAMED {
            assert_eq!(EventKind::from_key(k.key()), Some(*k));
        }
        assert_eq!(EventKind::from_key("custom"), Some(EventKind::Custom));
    }

    #[test]
    fn purchase_requires_revenue_currency_and_order() {
        let ok = json!({"order_id": "o1", "revenue": 10.5, "currency": "EUR"});
        assert!(
            EventKind::PurchaseCompleted
                .check_properties(ok.as_object().expect("obj"))
                .is_ok()
        );
        let missing = json!({"order_id": "o1", "currency": "EUR"});
        let err = EventKind::PurchaseCompleted
            .check_properties(missing.as_object().expect("obj"))
            .expect_err("missing revenue");
        assert_eq!(err.0, "revenue");
        let wrong = json!({"order_id": "o1", "revenue": "ten", "currency": "EUR"});
        let err = EventKind::PurchaseCompleted
            .check_properties(wrong.as_object().expect("obj"))
            .expect_err("wrong type");
        assert_eq!(err.0, "revenue");
        let bad_currency = json!({"order_id": "o1", "revenue": 1, "currency": "euro"});
        let err = EventKind::PurchaseCompleted
            .check_properties(bad_currency.as_object().expect("obj"))
            .expect_err("bad currency");
        assert_eq!(err.0, "currency");
    }
}
