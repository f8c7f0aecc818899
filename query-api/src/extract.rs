//! Extractors whose rejections answer in the API's JSON error shape.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::QueryError;

/// The query string, deserialized into `T`; a bad one is a 400 naming the parameter (when the
/// deserializer names it) and the problem.
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(deserializer)
            .map(Params)
            .map_err(|e| {
                let path = e.path().to_string();
                let problem = e.into_inner().to_string();
                let field = if path.is_empty() || path == "." {
                    parameter_named(&problem).unwrap_or_else(|| "query".into())
                } else {
                    path
                };
                QueryError::InvalidField { field, problem }
            })
    }
}

/// A `limit` parameter: `default` when absent, else 1 to `max`.
pub fn limit(value: Option<usize>, default: usize, max: usize) -> Result<usize, QueryError> {
    let limit = value.unwrap_or(default);
    if limit == 0 || limit > max {
        return Err(QueryError::InvalidField {
            field: "limit".into(),
            problem: format!("must be 1 to {max}"),
        });
    }
    Ok(limit)
}

/// A JSON body, deserialized into `T`; a bad one is a 400 naming the field (`body` when serde
/// names none) and the problem.
pub fn parse<T: serde::de::DeserializeOwned>(body: &axum::body::Bytes) -> Result<T, QueryError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // Not JSON at all (a syntax error, or the body ends early): the body is at fault, with
        // serde's line and column; the path serde_path_to_error gives then is meaningless (`?`).
        if !matches!(e.inner().classify(), serde_json::error::Category::Data) {
            return QueryError::InvalidField {
                field: "body".into(),
                problem: format!("is not valid JSON: {}", e.into_inner()),
            };
        }
        let r = leadstream_schemas::rejection_from_serde(e);
        QueryError::InvalidField {
            field: if r.field.is_empty() {
                "body".into()
            } else {
                r.field
            },
            problem: r.problem,
        }
    })
}

/// Longest profile id accepted (ids are user or anonymous ids from the collector).
pub const MAX_ID_LEN: usize = 512;

/// Refuses an empty or overlong profile id.
pub fn check_id(id: &str) -> Result<(), QueryError> {
    if id.trim().is_empty() || id.len() > MAX_ID_LEN {
        return Err(QueryError::InvalidField {
            field: "id".into(),
            problem: format!("must be 1 to {MAX_ID_LEN} bytes"),
        });
    }
    Ok(())
}

/// serde names the parameter in backticks for unknown, missing and duplicate fields; type errors
/// name it before a colon (`limit: invalid digit found in string`).
fn parameter_named(problem: &str) -> Option<String> {
    if let Some(start) = problem.find('`') {
        let rest = &problem[start + 1..];
        return rest.find('`').map(|end| rest[..end].to_string());
    }
    let (name, _) = problem.split_once(':')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_parameter() {
        assert_eq!(
            parameter_named("unknown field `limt`, expected `limit`").as_deref(),
            Some("limt")
        );
        assert_eq!(
            parameter_named("limit: invalid digit found in string").as_deref(),
            Some("limit")
        );
        assert_eq!(parameter_named("something odd happened"), None);
    }
}
