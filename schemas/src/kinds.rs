//! The named marketing event kinds, the vocabulary of Segment's semantic events that maps to them,
//! and the properties each kind **expects**.
//!
//! A `track` call is classified by its `event` name (case and `_`/`-`/` ` insensitive, so
//! `"Email Opened"`, `"email_opened"` and `"EMAIL OPENED"` are one kind); other call types map to
//! a kind of their own. Unknown names are [`EventKind::Custom`]: free-form events are welcome and
//! can be scored by name.
//!
//! Expected properties never refuse an event: [`EventKind::expectations`] lists what is missing
//! or of the wrong shape, the collector records the list on the event
//! ([`crate::Enrichment::expectation_misses`]), and rules and reports treat a missed property as
//! absent. Money follows Segment's e-commerce spec ([`order_value`]): `revenue`, else `total`,
//! else `value`, else the sum of `products[].price × quantity`; `currency` is optional.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Event, EventType, ExpectationMiss};

/// The largest amount of money one event may carry (in its currency's units). Larger, negative,
/// or not finite: a miss, and the amount counts as absent.
pub const MAX_MONEY: f64 = 1e12;

/// The largest total a person's or a report's money may reach; sums saturate there.
pub const MAX_MONEY_TOTAL: f64 = 1e15;

/// `total + amount`, saturating within 0 ..= [`MAX_MONEY_TOTAL`] (a refund cannot take a total
/// below 0; a total that is not finite is kept as it was).
pub fn add_money(total: f64, amount: f64) -> f64 {
    let sum = total + amount;
    if sum.is_finite() {
        sum.clamp(0.0, MAX_MONEY_TOTAL)
    } else if total.is_finite() {
        total.clamp(0.0, MAX_MONEY_TOTAL)
    } else {
        0.0
    }
}

/// What a kind expects of one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A string that is not blank.
    Text,
    /// A string (may be empty).
    AnyText,
    /// The order's value by Segment's fallbacks ([`order_value`]).
    OrderValue,
    /// Optional; when present, an ISO 4217 code (three letters).
    Currency,
}

impl Expect {
    /// What the JSON Schema documentation says of this property.
    pub fn describe(self) -> &'static str {
        match self {
            Expect::Text => "a non-empty string",
            Expect::AnyText => "a string",
            Expect::OrderValue => {
                "the order's value: `revenue`, else `total`, else `value`, else the sum of `products[].price × quantity`"
            }
            Expect::Currency => "optional: an ISO 4217 code such as `EUR`",
        }
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => $key:literal, $name:literal, [$($prop:literal : $expect:ident),*], [$($alias:literal),*] ;)*) => {
        /// A marketing event kind. `key()` is the stable snake_case name used in counts and storage.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum EventKind {
            $($(#[$doc])* $variant,)*
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

            /// The other names (Segment's spec among them) that mean this kind.
            pub fn aliases(self) -> &'static [&'static str] {
                match self {
                    $(EventKind::$variant => &[$($alias),*],)*
                    _ => &[],
                }
            }

            /// The properties this kind expects, and of what shape.
            pub fn expected(self) -> &'static [(&'static str, Expect)] {
                match self {
                    $(EventKind::$variant => &[$(($prop, Expect::$expect)),*],)*
                    _ => &[],
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
        }
    };
}

kinds! {
    PageViewed => "page_viewed", "Page Viewed", [], [];
    FileDownloaded => "file_downloaded", "File Downloaded", ["file_name": Text], [];
    FormSubmitted => "form_submitted", "Form Submitted", ["form_id": Text], [];
    WebinarRegistered => "webinar_registered", "Webinar Registered", ["webinar_id": Text], [];
    WebinarAttended => "webinar_attended", "Webinar Attended", ["webinar_id": Text], [];
    EmailSent => "email_sent", "Email Sent", ["email_id": Text], [];
    EmailDelivered => "email_delivered", "Email Delivered", ["email_id": Text], [];
    EmailOpened => "email_opened", "Email Opened", ["email_id": Text], [];
    EmailClicked => "email_clicked", "Email Clicked", ["email_id": Text, "link_url": Text], ["Email Link Clicked"];
    EmailBounced => "email_bounced", "Email Bounced", ["email_id": Text], [];
    EmailUnsubscribed => "email_unsubscribed", "Email Unsubscribed", ["email_id": Text], ["Unsubscribed"];
    EmailComplained => "email_complained", "Email Complained", ["email_id": Text], ["Email Marked as Spam"];
    SmsSent => "sms_sent", "SMS Sent", ["sms_id": Text], [];
    SmsDelivered => "sms_delivered", "SMS Delivered", ["sms_id": Text], [];
    SmsFailed => "sms_failed", "SMS Failed", ["sms_id": Text], [];
    SmsReceived => "sms_received", "SMS Received", ["sms_id": Text, "body": AnyText], [];
    SmsOptedOut => "sms_opted_out", "SMS Opted Out", ["sms_id": Text], [];
    /// Segment's `Order Completed`: counts as a purchase, its value by [`order_value`].
    PurchaseCompleted => "purchase_completed", "Purchase Completed", ["order_id": Text, "revenue": OrderValue, "currency": Currency], ["Order Completed"];
    /// Segment's `Order Refunded`: lowers the person's monetary value by the refunded amount.
    OrderRefunded => "order_refunded", "Order Refunded", ["order_id": Text, "revenue": OrderValue, "currency": Currency], [];
    ProductsSearched => "products_searched", "Products Searched", [], [];
    ProductListViewed => "product_list_viewed", "Product List Viewed", [], [];
    ProductClicked => "product_clicked", "Product Clicked", [], [];
    ProductViewed => "product_viewed", "Product Viewed", [], [];
    ProductAdded => "product_added", "Product Added", [], [];
    ProductRemoved => "product_removed", "Product Removed", [], [];
    CartViewed => "cart_viewed", "Cart Viewed", [], [];
    CheckoutStarted => "checkout_started", "Checkout Started", [], [];
    PaymentInfoEntered => "payment_info_entered", "Payment Info Entered", [], [];
    CouponApplied => "coupon_applied", "Coupon Applied", [], [];
    OrderUpdated => "order_updated", "Order Updated", [], [];
    OrderCancelled => "order_cancelled", "Order Cancelled", [], [];
    SignedUp => "signed_up", "Signed Up", [], [];
    SignedIn => "signed_in", "Signed In", [], [];
    SignedOut => "signed_out", "Signed Out", [], [];
    AccountCreated => "account_created", "Account Created", [], [];
    AccountDeleted => "account_deleted", "Account Deleted", [], [];
    TrialStarted => "trial_started", "Trial Started", [], [];
    TrialEnded => "trial_ended", "Trial Ended", [], [];
    InviteSent => "invite_sent", "Invite Sent", [], [];
    DemoRequested => "demo_requested", "Demo Requested", [], [];
    LeadRecycled => "lead_recycled", "Lead Recycled", ["reason": Text], ["Lead Returned"];
    DealWon => "deal_won", "Deal Won", [], ["Opportunity Won", "Closed Won"];
    LeadCreated => "lead_created", "Lead Created", [], ["Lead Converted"];
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
                .map(EventKind::from_name)
                .unwrap_or(EventKind::Custom),
        }
    }

    /// The kind of a `track` call's event name (any spelling of a name or alias).
    pub fn from_name(name: &str) -> EventKind {
        let names = EventKind::by_normalized_name();
        // Canonical spellings ("Page Viewed", "email_opened") are found without allocating;
        // other spellings are normalized first.
        names
            .get(name)
            .or_else(|| names.get(normalize(name).as_str()))
            .copied()
            .unwrap_or(EventKind::Custom)
    }

    /// Every kind: the named ones, then the calls that are not marketing events and `custom`.
    pub fn all() -> impl Iterator<Item = EventKind> {
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
    }

    /// Parses a stable key (`"email_opened"`) back into a kind.
    pub fn from_key(key: &str) -> Option<EventKind> {
        EventKind::all().find(|k| k.key() == key)
    }

    /// What the event's properties lack or carry in the wrong shape, against what this kind
    /// expects; fields are paths inside the event (`properties.form_id`). Empty when all is there.
    pub fn expectations(self, properties: &Map<String, Value>) -> Vec<ExpectationMiss> {
        let mut misses = Vec::new();
        for (name, expect) in self.expected() {
            if let Some(miss) = check_expectation(properties, name, *expect) {
                misses.push(miss);
            }
        }
        misses
    }

    /// The monetary effect of an event of this kind: a purchase's value, a refund's value as a
    /// negative amount, 0 for everything else and for a value that is absent or unusable.
    pub fn money(self, properties: &Map<String, Value>) -> f64 {
        let value = || order_value(properties).ok().flatten().unwrap_or(0.0);
        match self {
            EventKind::PurchaseCompleted => value(),
            EventKind::OrderRefunded => -value(),
            _ => 0.0,
        }
    }
}

/// One property against one expectation.
fn check_expectation(
    properties: &Map<String, Value>,
    name: &str,
    expect: Expect,
) -> Option<ExpectationMiss> {
    let field = format!("properties.{name}");
    let value = properties.get(name).filter(|v| !v.is_null());
    match expect {
        Expect::Text => match value {
            None => Some(ExpectationMiss::new(field, "is expected")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Some(ExpectationMiss::new(field, "must not be empty"))
            }
            Some(Value::String(_)) => None,
            // Numbers and booleans are usable as text ("order_id": 1042).
            Some(Value::Number(_) | Value::Bool(_)) => None,
            Some(_) => Some(ExpectationMiss::new(field, "must be a string")),
        },
        Expect::AnyText => match value {
            None => Some(ExpectationMiss::new(field, "is expected")),
            Some(Value::String(_)) => None,
            Some(_) => Some(ExpectationMiss::new(field, "must be a string")),
        },
        Expect::OrderValue => match order_value(properties) {
            Ok(Some(_)) => None,
            Ok(None) => Some(ExpectationMiss::new(
                field,
                "is expected (or `total`, `value`, or `products` with prices)",
            )),
            Err(miss) => Some(miss),
        },
        Expect::Currency => match value {
            None => None,
            Some(Value::String(s)) if currency_code(s).is_some() => None,
            Some(_) => Some(ExpectationMiss::new(
                field,
                "must be an ISO 4217 code of three letters",
            )),
        },
    }
}

/// `s` as an ISO 4217 code (three ASCII letters, upper-cased), if it is one.
pub fn currency_code(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic())).then(|| s.to_ascii_uppercase())
}

/// An amount of money: a number or numeric text, finite, from 0 to [`MAX_MONEY`].
fn money_value(value: &Value, field: &str) -> Result<f64, ExpectationMiss> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && (0.0..=MAX_MONEY).contains(&n) => Ok(n),
        _ => Err(ExpectationMiss::new(
            field,
            format!("must be a number from 0 to {MAX_MONEY:e}"),
        )),
    }
}

/// The value of an order by Segment's e-commerce spec: `revenue`, else `total`, else `value`,
/// else the sum of `products[].price × quantity` (quantity 1 when absent). `Ok(None)` when none
/// of them is present; `Err` names the first one present that is not a usable amount (then the
/// value counts as absent).
pub fn order_value(properties: &Map<String, Value>) -> Result<Option<f64>, ExpectationMiss> {
    for key in ["revenue", "total", "value"] {
        if let Some(v) = properties.get(key).filter(|v| !v.is_null()) {
            return money_value(v, &format!("properties.{key}")).map(Some);
        }
    }
    let Some(products) = properties.get("products").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(products) = products.as_array() else {
        return Err(ExpectationMiss::new(
            "properties.products",
            "must be an array of products",
        ));
    };
    let mut sum = 0.0;
    let mut priced = false;
    for (i, product) in products.iter().enumerate() {
        let Some(price) = product.get("price").filter(|v| !v.is_null()) else {
            continue;
        };
        let price = money_value(price, &format!("properties.products[{i}].price"))?;
        let quantity = match product.get("quantity").filter(|v| !v.is_null()) {
            None => 1.0,
            Some(q) => money_value(q, &format!("properties.products[{i}].quantity"))?,
        };
        priced = true;
        sum += price * quantity;
    }
    if !priced {
        return Ok(None);
    }
    if !sum.is_finite() || sum > MAX_MONEY {
        return Err(ExpectationMiss::new(
            "properties.products",
            format!("add up to more than {MAX_MONEY:e}"),
        ));
    }
    Ok(Some(sum))
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
        assert_eq!(
            EventKind::classify(&track("Signed Up")),
            EventKind::SignedUp
        );
        assert_eq!(
            EventKind::classify(&track("Plan Chosen")),
            EventKind::Custom
        );
    }

    #[test]
    fn keys_round_trip() {
        for k in EventKind::NAMED {
            assert_eq!(EventKind::from_key(k.key()), Some(*k));
        }
        assert_eq!(EventKind::from_key("custom"), Some(EventKind::Custom));
    }

    #[test]
    fn segment_spec_names_have_their_kinds() {
        for (name, kind) in [
            ("Signed Up", EventKind::SignedUp),
            ("Trial Started", EventKind::TrialStarted),
            ("Demo Requested", EventKind::DemoRequested),
            ("Checkout Started", EventKind::CheckoutStarted),
            ("Product Viewed", EventKind::ProductViewed),
            ("product_added", EventKind::ProductAdded),
            ("Order Refunded", EventKind::OrderRefunded),
            ("Unsubscribed", EventKind::EmailUnsubscribed),
            ("Something Else Entirely", EventKind::Custom),
        ] {
            assert_eq!(EventKind::classify(&track(name)), kind, "{name}");
        }
    }

    fn props(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn expectations_list_every_miss_and_never_refuse() {
        let misses = EventKind::PurchaseCompleted.expectations(&props(json!({"currency": "euro"})));
        let fields: Vec<&str> = misses.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "properties.order_id",
                "properties.revenue",
                "properties.currency"
            ]
        );
        // Segment's spec: every property of Order Completed is optional, currency among them.
        let ok = props(json!({"order_id": "o-1", "revenue": 49.0}));
        assert!(EventKind::PurchaseCompleted.expectations(&ok).is_empty());
        let lower = props(json!({"order_id": 1042, "total": "49.90", "currency": "usd"}));
        assert!(EventKind::PurchaseCompleted.expectations(&lower).is_empty());
        let form = EventKind::FormSubmitted.expectations(&props(json!({"form": "demo"})));
        assert_eq!(
            form,
            [ExpectationMiss::new("properties.form_id", "is expected")]
        );
        let blank = EventKind::FileDownloaded.expectations(&props(json!({"file_name": " "})));
        assert_eq!(blank[0].problem, "must not be empty");
        assert!(EventKind::SignedUp.expectations(&Map::new()).is_empty());
    }

    #[test]
    fn order_value_follows_the_spec_fallbacks() {
        let value = |v: serde_json::Value| order_value(&props(v));
        assert_eq!(value(json!({"revenue": 10, "total": 12})), Ok(Some(10.0)));
        assert_eq!(value(json!({"total": 12.5, "value": 3})), Ok(Some(12.5)));
        assert_eq!(value(json!({"value": "7"})), Ok(Some(7.0)));
        assert_eq!(
            value(
                json!({"products": [{"price": 10, "quantity": 2}, {"price": 2.5}, {"sku": "x"}]})
            ),
            Ok(Some(22.5))
        );
        assert_eq!(value(json!({"products": [{"sku": "x"}]})), Ok(None));
        assert_eq!(value(json!({})), Ok(None));
        // Bounded where it enters: not finite, negative or absurd amounts are misses.
        for bad in [
            json!({"revenue": 1e307}),
            json!({"revenue": -1}),
            json!({"total": "ten"}),
        ] {
            assert!(value(bad.clone()).is_err(), "{bad}");
            assert_eq!(EventKind::PurchaseCompleted.money(&props(bad)), 0.0);
        }
        let huge = json!({"products": [{"price": 9e11, "quantity": 9e11}]});
        assert_eq!(
            value(huge).expect_err("too much").field,
            "properties.products"
        );
        assert_eq!(
            EventKind::OrderRefunded.money(&props(json!({"total": 20}))),
            -20.0
        );
        assert_eq!(
            EventKind::PurchaseCompleted.money(&props(json!({"total": 20}))),
            20.0
        );
    }
}
