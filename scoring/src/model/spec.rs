//! The scoring model file as written (TOML), before it is checked. Every table refuses unknown
//! keys, and each rule keeps its place in the file so that errors can name the line.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Named scores; the first is the default target of rules.
    pub scores: Vec<Spanned<ScoreSpec>>,
    #[serde(default)]
    pub rules: Vec<Spanned<RuleSpec>>,
    #[serde(default)]
    pub fit: Vec<Spanned<FitSpec>>,
    #[serde(default)]
    pub grades: Option<Spanned<GradesSpec>>,
    pub qualification: Spanned<QualificationSpec>,
    #[serde(default)]
    pub recycling: Option<Spanned<RecyclingSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub decay: Option<DecaySpec>,
}

/// Either `half_life_days`, or `points` lost per `every_days` of inactivity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecaySpec {
    #[serde(default)]
    pub half_life_days: Option<f64>,
    #[serde(default)]
    pub points: Option<f64>,
    #[serde(default)]
    pub every_days: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    /// The score this rule changes (default: the first score).
    #[serde(default)]
    pub score: Option<String>,
    /// An event kind key (`file_downloaded`), or …
    #[serde(default)]
    pub kind: Option<String>,
    /// … an event name (`"Pricing Calculator Used"`), compared like kinds (case-insensitive).
    #[serde(default)]
    pub event: Option<String>,
    /// All must hold.
    #[serde(default)]
    pub when: Vec<ConditionSpec>,
    pub points: f64,
    #[serde(default)]
    pub cap: Option<CapSpec>,
    /// Count this rule at most once per person, ever.
    #[serde(default)]
    pub once: bool,
    /// Also score events the collector flagged as machine-made (default: they score nothing).
    #[serde(default)]
    pub include_bots: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    /// At most this many points (in absolute value) from this rule …
    pub points: f64,
    /// … per this many days (windows aligned to the Unix epoch).
    pub per_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// `properties.plan`, `context.page.path`, `context.campaign.source`, `traits.title`,
    /// `event`, `name`, `context.channel`, …
    pub field: String,
    /// `eq`, `ne`, `contains`, `starts_with`, `ends_with`, `in`, `gt`, `gte`, `lt`, `lte`,
    /// `exists`, `missing`.
    pub op: String,
    #[serde(default)]
    pub value: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    pub name: String,
    /// The trait to look at (`title`, `company_size`, `industry`, `country`, …).
    #[serde(rename = "trait")]
    pub trait_name: String,
    pub op: String,
    #[serde(default)]
    pub value: Option<toml::Value>,
    pub points: f64,
}

/// The least fit points for each grade; below `e` is F.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradesSpec {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub e: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationSpec {
    /// The score that qualifies a lead (default: the first score).
    #[serde(default)]
    pub score: Option<String>,
    pub threshold: f64,
    /// Also require at least this grade (`"C"` means A, B or C).
    #[serde(default)]
    pub min_grade: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecyclingSpec {
    /// What happens to every score when sales hands a lead back: `keep`, `zero`, `halve`, or
    /// `subtract` (with `points`).
    pub scores: String,
    #[serde(default)]
    pub points: Option<f64>,
}
