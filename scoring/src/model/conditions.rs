//! Conditions on an event's fields (rules) or a person's traits (fit). String comparisons ignore
//! case, as marketers expect; numeric comparisons accept numbers and numeric strings.

use leadstream_schemas::Event;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Property(Vec<String>),
    Trait(Vec<String>),
    ContextExtra(Vec<String>),
    PageUrl,
    PagePath,
    PageReferrer,
    PageTitle,
    CampaignSource,
    CampaignMedium,
    CampaignName,
    CampaignTerm,
    CampaignContent,
    Channel,
    Locale,
    EventName,
    Name,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(String),
    Ne(String),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    In(Vec<String>),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Exists,
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
}

fn parse_field(path: &str) -> Result<Field, String> {
    let parts: Vec<String> = path.split('.').map(str::to_string).collect();
    if parts.iter().any(String::is_empty) {
        return Err(format!("field \"{path}\" has an empty segment"));
    }
    let rest = || parts[1..].to_vec();
    Ok(match parts.as_slice() {
        [p, ..] if p == "properties" && parts.len() > 1 => Field::Property(rest()),
        [t, ..] if t == "traits" && parts.len() > 1 => Field::Trait(rest()),
        [e] if e == "event" => Field::EventName,
        [n] if n == "name" => Field::Name,
        [c, x] if c == "context" => match x.as_str() {
            "channel" => Field::Channel,
            "locale" => Field::Locale,
            _ => Field::ContextExtra(rest()),
        },
        [c, p, f] if c == "context" && p == "page" => match f.as_str() {
            "url" => Field::PageUrl,
            "path" => Field::PagePath,
            "referrer" => Field::PageReferrer,
            "title" => Field::PageTitle,
            _ => {
                return Err(format!(
                    "field \"{path}\": context.page has url, path, referrer, title"
                ));
            }
        },
        [c, p, f] if c == "context" && p == "campaign" => match f.as_str() {
            "source" => Field::CampaignSource,
            "medium" => Field::CampaignMedium,
            "name" => Field::CampaignName,
            "term" => Field::CampaignTerm,
            "content" => Field::CampaignContent,
            _ => {
                return Err(format!(
                    "field \"{path}\": context.campaign has source, medium, name, term, content"
                ));
            }
        },
        [c, ..] if c == "context" && parts.len() > 1 => Field::ContextExtra(rest()),
        _ => {
            return Err(format!(
                "field \"{path}\" is not one of properties.*, traits.*, context.*, event, name"
            ));
        }
    })
}

fn text_of(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.to_lowercase()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number_of(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        toml::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Condition {
    pub fn new(field: &str, op: &str, value: Option<&toml::Value>) -> Result<Condition, String> {
        let field = parse_field(field)?;
        let need_text = || {
            value
                .and_then(text_of)
                .ok_or_else(|| format!("op \"{op}\" needs a text or number `value`"))
        };
        let need_number = || {
            value
                .and_then(number_of)
                .ok_or_else(|| format!("op \"{op}\" needs a numeric `value`"))
        };
        let op = match op {
            "eq" => Op::Eq(need_text()?),
            "ne" => Op::Ne(need_text()?),
            "contains" => Op::Contains(need_text()?),
            "starts_with" => Op::StartsWith(need_text()?),
            "ends_with" => Op::EndsWith(need_text()?),
            "in" => match value {
                Some(toml::Value::Array(items)) if !items.is_empty() => Op::In(
                    items
                        .iter()
                        .map(|i| {
                            text_of(i)
                                .ok_or_else(|| "`in` takes a list of texts or numbers".to_string())
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err("op \"in\" needs a non-empty list `value`".into()),
            },
            "gt" => Op::Gt(need_number()?),
            "gte" => Op::Gte(need_number()?),
            "lt" => Op::Lt(need_number()?),
            "lte" => Op::Lte(need_number()?),
            "exists" => Op::Exists,
            "missing" => Op::Missing,
            other => {
                return Err(format!(
                    "unknown op \"{other}\" (eq, ne, contains, starts_with, ends_with, in, gt, gte, lt, lte, exists, missing)"
                ));
            }
        };
        Ok(Condition { field, op })
    }

    pub fn holds(&self, event: &Event) -> bool {
        fn s(v: &Option<String>) -> Option<Found<'_>> {
            v.as_deref().map(Found::Text)
        }
        let page = event.context.page.as_ref();
        let campaign = event.context.campaign.as_ref();
        let found = match &self.field {
            Field::Property(path) => walk(&event.properties, path).map(Found::Json),
            Field::Trait(path) => walk(&event.traits, path).map(Found::Json),
            Field::ContextExtra(path) => walk(&event.context.extra, path).map(Found::Json),
            Field::PageUrl => page.and_then(|p| s(&p.url)),
            Field::PagePath => page.and_then(|p| {
                s(&p.path).or_else(|| p.url.as_deref().map(|u| Found::Text(path_of_url(u))))
            }),
            Field::PageReferrer => page.and_then(|p| s(&p.referrer)),
            Field::PageTitle => page.and_then(|p| s(&p.title)),
            Field::CampaignSource => campaign.and_then(|c| s(&c.source)),
            Field::CampaignMedium => campaign.and_then(|c| s(&c.medium)),
            Field::CampaignName => campaign.and_then(|c| s(&c.name)),
            Field::CampaignTerm => campaign.and_then(|c| s(&c.term)),
            Field::CampaignContent => campaign.and_then(|c| s(&c.content)),
            Field::Channel => s(&event.context.channel),
            Field::Locale => s(&event.context.locale),
            Field::EventName => s(&event.event),
            Field::Name => s(&event.name),
        };
        self.op.test(found)
    }

    /// For fit rules: the condition's field is `traits.*`, looked up in a person's traits.
    pub fn holds_on_traits(&self, traits: &Map<String, Value>) -> bool {
        let found = match &self.field {
            Field::Trait(path) => walk(traits, path).map(Found::Json),
            _ => None,
        };
        self.op.test(found)
    }
}

/// The path part of a URL (without scheme, host, query and fragment).
pub fn path_of_url(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

fn walk<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = map.get(first)?;
    for p in rest {
        v = v.as_object()?.get(p)?;
    }
    Some(v).filter(|v| !v.is_null())
}

enum Found<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl Found<'_> {
    fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Found::Text(s) => Some(std::borrow::Cow::Borrowed(s)),
            Found::Json(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s)),
            Found::Json(Value::Number(n)) => Some(std::borrow::Cow::Owned(n.to_string())),
            Found::Json(Value::Bool(b)) => Some(std::borrow::Cow::Owned(b.to_string())),
            Found::Json(_) => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Found::Text(s) => s.trim().parse().ok(),
            Found::Json(Value::Number(n)) => n.as_f64(),
            Found::Json(Value::String(s)) => s.trim().parse().ok(),
            Found::Json(_) => None,
        }
    }
}

impl Op {
    fn test(&self, found: Option<Found<'_>>) -> bool {
        match (self, found) {
            (Op::Exists, f) => f.is_some(),
            (Op::Missing, f) => f.is_none(),
            (Op::Ne(want), None) => !want.is_empty(),
            (_, None) => false,
            (op, Some(f)) => match op {
                Op::Gt(n) => f.number().is_some_and(|v| v > *n),
                Op::Gte(n) => f.number().is_some_and(|v| v >= *n),
                Op::Lt(n) => f.number().is_some_and(|v| v < *n),
                Op::Lte(n) => f.number().is_some_and(|v| v <= *n),
                _ => {
                    let Some(text) = f.text() else { return false };
                    let text = text.to_lowercase();
                    match op {
                        Op::Eq(w) => text == *w,
                        Op::Ne(w) => text != *w,
                        Op::Contains(w) => text.contains(w.as_str()),
                        Op::StartsWith(w) => text.starts_with(w.as_str()),
                        Op::EndsWith(w) => text.ends_with(w.as_str()),
                        Op::In(ws) => ws.contains(&text),
                        _ => false,
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_from_urls() {
        assert_eq!(path_of_url("https://acme.io/pricing?x=1#top"), "/pricing");
        assert_eq!(path_of_url("https://acme.io"), "/");
        assert_eq!(path_of_url("/docs/a"), "/docs/a");
    }

    #[test]
    fn conditions_compare_text_without_case_and_numbers_as_numbers() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "type": "track", "userId": "u", "event": "Purchase Completed",
            "properties": {"revenue": "120.5", "plan": "Enterprise", "tags": {"tier": 2}},
            "context": {"page": {"url": "https://acme.io/Pricing/Teams?utm_source=x"}}
        }))
        .expect("event");
        let holds = |field: &str, op: &str, value: Option<toml::Value>| {
            Condition::new(field, op, value.as_ref())
                .expect("valid")
                .holds(&e)
        };
        assert!(holds(
            "properties.revenue",
            "gt",
            Some(toml::Value::Integer(100))
        ));
        assert!(!holds(
            "properties.revenue",
            "lt",
            Some(toml::Value::Integer(100))
        ));
        assert!(holds(
            "properties.plan",
            "eq",
            Some(toml::Value::String("enterprise".into()))
        ));
        assert!(holds(
            "properties.tags.tier",
            "gte",
            Some(toml::Value::Integer(2))
        ));
        assert!(holds(
            "context.page.path",
            "starts_with",
            Some(toml::Value::String("/pricing".into()))
        ));
        assert!(holds("properties.missing", "missing", None));
        assert!(!holds("properties.plan", "missing", None));
        assert!(holds(
            "properties.plan",
            "in",
            Some(toml::Value::Array(vec!["pro".into(), "ENTERPRISE".into()]))
        ));
        assert!(Condition::new("nowhere", "eq", Some(&"x".into())).is_err());
        assert!(Condition::new("properties.x", "like", Some(&"x".into())).is_err());
        assert!(Condition::new("properties.x", "gt", Some(&"many".into())).is_err());
    }
}
