//! The scoring model: named scores with decay, behaviour rules, fit rules and grades, the
//! qualification threshold and what recycling does. Written as TOML (`models/default.toml` ships
//! with the project and documents every key), checked once into a [`Model`] whose rules are
//! indexed by event kind, so that applying an event looks only at the rules that can match it.
//!
//! Errors name the line: `line 42: rule "pricing page": unknown kind "pricing_viewed"`.

mod conditions;
mod spec;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use leadstream_schemas::{Event, EventKind};
use serde_json::{Map, Value};

pub use conditions::{Condition, Op, path_of_url};

/// The model that ships with leadstream (`scoring/models/default.toml`).
pub const DEFAULT_MODEL: &str = include_str!("../../models/default.toml");

/// A model file that cannot be used, with the line at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ModelError {
    pub line: Option<usize>,
    pub message: String,
}

/// How a score loses value while a person does nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    None,
    /// Halves every `days` days without activity.
    HalfLife {
        days: f64,
    },
    /// Moves `points` toward zero per whole `every_days` days without activity.
    Linear {
        points: f64,
        every_days: f64,
    },
}

const DAY_MS: f64 = 86_400_000.0;

impl Decay {
    /// `value` as of `from_ms` (the last activity), seen at `to_ms`.
    pub fn apply(self, value: f64, from_ms: i64, to_ms: i64) -> f64 {
        if to_ms <= from_ms || value == 0.0 {
            return value;
        }
        let days = (to_ms - from_ms) as f64 / DAY_MS;
        match self {
            Decay::None => value,
            Decay::HalfLife { days: half } => value * 0.5f64.powf(days / half),
            Decay::Linear { points, every_days } => {
                let loss = points * (days / every_days).floor();
                if value > 0.0 {
                    (value - loss).max(0.0)
                } else {
                    (value + loss).min(0.0)
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScoreDef {
    pub name: String,
    pub description: Option<String>,
    pub decay: Decay,
}

/// Which events a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Kind(EventKind),
    /// A custom event name, lower-cased.
    EventName(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub score: usize,
    pub matcher: Matcher,
    pub conditions: Vec<Condition>,
    pub points: f64,
    /// (points, per days)
    pub cap: Option<(f64, u32)>,
    pub once: bool,
    pub include_bots: bool,
}

#[derive(Debug, Clone)]
pub struct FitRule {
    pub name: String,
    pub condition: Condition,
    pub points: f64,
}

/// A fit grade, A (best) to F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    A,
    B,
    C,
    D,
    E,
    F,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        ["A", "B", "C", "D", "E", "F"][self as usize]
    }

    pub fn parse(s: &str) -> Option<Grade> {
        match s.trim().to_ascii_uppercase().as_str() {
            "A" => Some(Grade::A),
            "B" => Some(Grade::B),
            "C" => Some(Grade::C),
            "D" => Some(Grade::D),
            "E" => Some(Grade::E),
            "F" => Some(Grade::F),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecycleScores {
    Keep,
    Zero,
    Halve,
    Subtract(f64),
}

#[derive(Debug, Clone)]
pub struct Qualification {
    pub score: usize,
    pub threshold: f64,
    pub min_grade: Option<Grade>,
}

/// A checked model.
#[derive(Debug, Clone)]
pub struct Model {
    pub scores: Vec<ScoreDef>,
    pub rules: Vec<Rule>,
    pub fit: Vec<FitRule>,
    /// Least fit points for A, B, C, D, E.
    pub grades: [f64; 5],
    pub qualification: Qualification,
    pub recycling: RecycleScores,
    /// Rules by kind, and for custom events by lower-cased name.
    by_kind: HashMap<EventKind, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
    /// SHA-256 of the file, for explanations and what-if reports.
    pub digest: String,
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

impl Model {
    /// Reads and checks a model file.
    pub fn load_file(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError {
            line: None,
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Model::parse(&text)
    }

    /// The model that ships with leadstream.
    pub fn default_model() -> Model {
        Model::parse(DEFAULT_MODEL).expect("the shipped model is valid (tested)")
    }

    /// Checks a model written as TOML.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let spec: spec::ModelSpec = toml::from_str(text).map_err(|e| ModelError {
            line: e.span().map(|s| line_of(text, s)),
            message: e.message().to_string(),
        })?;
        let err = |span: Range<usize>, message: String| ModelError {
            line: Some(line_of(text, span)),
            message,
        };

        let mut scores: Vec<ScoreDef> = Vec::new();
        for s in &spec.scores {
            let span = s.span();
            let s = s.get_ref();
            if s.name.trim().is_empty() {
                return Err(err(span, "a score needs a name".into()));
            }
            if scores.iter().any(|have| have.name == s.name) {
                return Err(err(span, format!("score \"{}\" is defined twice", s.name)));
            }
            let decay = match &s.decay {
                None => Decay::None,
                Some(d) => match (d.half_life_days, d.points, d.every_days) {
                    (Some(h), None, None) if h > 0.0 => Decay::HalfLife { days: h },
                    (None, Some(p), Some(e)) if p > 0.0 && e > 0.0 => Decay::Linear {
                        points: p,
                        every_days: e,
                    },
                    _ => {
                        return Err(err(
                            span,
                            format!(
                                "score \"{}\": decay is either half_life_days (> 0) or points and every_days (both > 0)",
                                s.name
                            ),
                        ));
                    }
                },
            };
            scores.push(ScoreDef {
                name: s.name.clone(),
                description: s.description.clone(),
                decay,
            });
        }
        if scores.is_empty() {
            return Err(ModelError {
                line: None,
                message: "the model needs at least one [[scores]] entry".into(),
            });
        }
        let score_index = |name: &Option<String>, span: Range<usize>, what: &str| match name {
            None => Ok(0),
            Some(n) => scores
                .iter()
                .position(|s| &s.name == n)
                .ok_or_else(|| err(span, format!("{what}: unknown score \"{n}\""))),
        };

        let mut rules = Vec::new();
        let mut by_kind: HashMap<EventKind, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for r in &spec.rules {
            let span = r.span();
            let r = r.get_ref();
            let what = format!("rule \"{}\"", r.name);
            if rules.iter().any(|have: &Rule| have.name == r.name) {
                return Err(err(span, format!("{what} is defined twice")));
            }
            let score = score_index(&r.score, span.clone(), &what)?;
            let matcher = match (&r.kind, &r.event) {
                (Some(k), None) => Matcher::Kind(EventKind::from_key(k).ok_or_else(|| {
                    err(
                        span.clone(),
                        format!(
                            "{what}: unknown kind \"{k}\" (one of {})",
                            known_kinds().join(", ")
                        ),
                    )
                })?),
                (None, Some(name)) => {
                    // A named kind's event name means that kind.
                    let probe = Event {
                        event: Some(name.clone()),
                        ..probe_event()
                    };
                    match EventKind::classify(&probe) {
                        EventKind::Custom => Matcher::EventName(name.trim().to_lowercase()),
                        kind => Matcher::Kind(kind),
                    }
                }
                _ => {
                    return Err(err(
                        span,
                        format!("{what}: give exactly one of `kind` and `event`"),
                    ));
                }
            };
            let conditions = r
                .when
                .iter()
                .map(|c| Condition::new(&c.field, &c.op, c.value.as_ref()))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|m| err(span.clone(), format!("{what}: {m}")))?;
            if !r.points.is_finite() {
                return Err(err(span, format!("{what}: points must be a number")));
            }
            let cap = match &r.cap {
                None => None,
                Some(c) if c.points > 0.0 && c.per_days > 0 => Some((c.points, c.per_days)),
                Some(_) => {
                    return Err(err(
                        span,
                        format!("{what}: cap needs points > 0 and per_days > 0"),
                    ));
                }
            };
            let index = rules.len();
            match &matcher {
                Matcher::Kind(k) => by_kind.entry(*k).or_default().push(index),
                Matcher::EventName(n) => by_name.entry(n.clone()).or_default().push(index),
            }
            rules.push(Rule {
                name: r.name.clone(),
                score,
                matcher,
                conditions,
                points: r.points,
                cap,
                once: r.once,
                include_bots: r.include_bots,
            });
        }

        let mut fit = Vec::new();
        for f in &spec.fit {
            let span = f.span();
            let f = f.get_ref();
            let condition =
                Condition::new(&format!("traits.{}", f.trait_name), &f.op, f.value.as_ref())
                    .map_err(|m| err(span.clone(), format!("fit \"{}\": {m}", f.name)))?;
            fit.push(FitRule {
                name: f.name.clone(),
                condition,
                points: f.points,
            });
        }
        let grades = match &spec.grades {
            None => [80.0, 60.0, 40.0, 20.0, 0.0],
            Some(g) => {
                let span = g.span();
                let g = g.get_ref();
                let t = [g.a, g.b, g.c, g.d, g.e];
                if t.windows(2).any(|w| w[0] < w[1]) {
                    return Err(err(
                        span,
                        "grades: a >= b >= c >= d >= e is required".into(),
                    ));
                }
                t
            }
        };
        let q_span = spec.qualification.span();
        let q = spec.qualification.get_ref();
        let qualification = Qualification {
            score: score_index(&q.score, q_span.clone(), "qualification")?,
            threshold: q.threshold,
            min_grade: match &q.min_grade {
                None => None,
                Some(g) => Some(Grade::parse(g).ok_or_else(|| {
                    err(
                        q_span.clone(),
                        format!("qualification: min_grade \"{g}\" is not one of A–F"),
                    )
                })?),
            },
        };
        let recycling = match &spec.recycling {
            None => RecycleScores::Halve,
            Some(r) => {
                let span = r.span();
                let r = r.get_ref();
                match (r.scores.as_str(), r.points) {
                    ("keep", None) => RecycleScores::Keep,
                    ("zero", None) => RecycleScores::Zero,
                    ("halve", None) => RecycleScores::Halve,
                    ("subtract", Some(p)) if p >= 0.0 => RecycleScores::Subtract(p),
                    _ => {
                        return Err(err(
                            span,
                            "recycling: scores is keep, zero, halve, or subtract with points >= 0"
                                .into(),
                        ));
                    }
                }
            }
        };
        use sha2::Digest;
        let digest = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8]);
        Ok(Model {
            scores,
            rules,
            fit,
            grades,
            qualification,
            recycling,
            by_kind,
            by_name,
            digest,
        })
    }

    /// The rules that may match an event of `kind` (and, for custom events, `name`).
    pub fn candidates<'a>(
        &'a self,
        kind: EventKind,
        name: Option<&str>,
    ) -> impl Iterator<Item = (usize, &'a Rule)> + 'a {
        let by_kind = self.by_kind.get(&kind).map(Vec::as_slice).unwrap_or(&[]);
        let by_name = match (kind, name) {
            (EventKind::Custom, Some(n)) if !self.by_name.is_empty() => self
                .by_name
                .get(n.trim().to_lowercase().as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            _ => &[],
        };
        by_kind
            .iter()
            .chain(by_name)
            .map(move |&i| (i, &self.rules[i]))
    }

    /// Fit points and grade of a person's traits.
    pub fn grade(&self, traits: &Map<String, Value>) -> (f64, Grade) {
        let points: f64 = self
            .fit
            .iter()
            .filter(|f| f.condition.holds_on_traits(traits))
            .map(|f| f.points)
            .sum();
        let grade = [Grade::A, Grade::B, Grade::C, Grade::D, Grade::E]
            .into_iter()
            .zip(self.grades)
            .find(|(_, least)| points >= *least)
            .map(|(g, _)| g)
            .unwrap_or(Grade::F);
        (points, grade)
    }

    pub fn score_index(&self, name: &str) -> Option<usize> {
        self.scores.iter().position(|s| s.name == name)
    }
}

fn known_kinds() -> Vec<&'static str> {
    EventKind::NAMED
        .iter()
        .chain(&[
            EventKind::Identify,
            EventKind::Group,
            EventKind::ScreenViewed,
            EventKind::Custom,
        ])
        .map(|k| k.key())
        .collect()
}

fn probe_event() -> Event {
    serde_json::from_value(serde_json::json!({"type": "track", "userId": "probe"}))
        .expect("a minimal event")
}

#[cfg(test)]
mod tests;
