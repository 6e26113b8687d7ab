//! Reading JSON bodies, forms and query strings into typed values, with
//! every problem reported as a field of a `VALIDATION_ERROR`.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::{HttpError, Request};
use crate::error::{Error, FieldError};

fn media_type(req: &Request) -> Option<String> {
    let value = req.header(CONTENT_TYPE)?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// A JSON object body deserialised into `T`; `fields` are the keys the shape
/// allows (unknown keys are refused, so a typo is never silently ignored).
/// An empty body counts as `{}` when `optional`.
pub(crate) fn json<T: DeserializeOwned>(req: &Request, fields: &[&str], optional: bool) -> Result<T, HttpError> {
    let map = if optional && req.body.is_empty() {
        serde_json::Map::new()
    } else {
        match media_type(req) {
            Some(m) if is_json(&m) => {}
            _ => {
                return Err(HttpError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
        }
        match serde_json::from_slice::<serde_json::Value>(&req.body) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => return Err(Error::invalid("body", "must be a JSON object").into()),
            Err(e) => return Err(Error::invalid("body", format!("is not valid JSON: {e}")).into()),
        }
    };
    let unknown: Vec<FieldError> = map
        .keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .map(|k| FieldError {
            field: k.clone(),
            message: "is not a known field".to_owned(),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Validation(unknown).into());
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Error::invalid(field, e.into_inner().to_string()).into()
    })
}

/// Whether the body is declared JSON (`application/json`, `…+json`).
pub(crate) fn is_json_body(req: &Request) -> bool {
    media_type(req).is_some_and(|m| is_json(&m))
}

/// Whether the body is a form (`application/x-www-form-urlencoded`).
pub(crate) fn is_form(req: &Request) -> bool {
    media_type(req).is_some_and(|m| m == "application/x-www-form-urlencoded")
}

/// Query parameters, each at most once, from an allowed set.
pub(crate) struct Query(HashMap<String, String>);

pub(crate) const DEFAULT_LIMIT: usize = 20;
pub(crate) const MAX_LIMIT: usize = 100;

impl Query {
    pub(crate) fn parse(req: &Request, allowed: &[&str]) -> Result<Self, Error> {
        let mut map = HashMap::new();
        let mut errors = Vec::new();
        for (k, v) in form_urlencoded::parse(req.query.as_deref().unwrap_or_default().as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                errors.push(FieldError {
                    field: k.into_owned(),
                    message: "is not a known query parameter".to_owned(),
                });
            } else if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                errors.push(FieldError {
                    field: k.into_owned(),
                    message: "is repeated".to_owned(),
                });
            }
        }
        if errors.is_empty() {
            Ok(Self(map))
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// A free-text parameter's value; empty counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A typed parameter parsed with `parse`, or a validation error naming
    /// it (an empty value is not a value of any type, so it is refused too).
    pub(crate) fn parse_with<T>(
        &self,
        key: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        match self.0.get(key).map(String::as_str) {
            None => Ok(None),
            Some(v) => parse(v)
                .map(Some)
                .ok_or_else(|| Error::invalid(key, format!("must be {expected}"))),
        }
    }

    /// `limit`, 1 to 100, default 20.
    pub(crate) fn limit(&self) -> Result<usize, Error> {
        Ok(self
            .parse_with("limit", "an integer from 1 to 100", |v| {
                v.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n))
            })?
            .unwrap_or(DEFAULT_LIMIT))
    }

    /// `cursor`, decoded to its bytes.
    pub(crate) fn cursor<const N: usize>(&self) -> Result<Option<[u8; N]>, Error> {
        self.parse_with("cursor", "a cursor returned by an earlier page", |v| {
            URL_SAFE_NO_PAD.decode(v).ok().and_then(|b| b.try_into().ok())
        })
    }
}

/// An opaque cursor for the page after the item with these key bytes.
pub(crate) fn cursor(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A path parameter parsed as an id, or a validation error naming it.
pub(crate) fn path_id<T: std::str::FromStr>(req: &Request, name: &str) -> Result<T, Error> {
    req.param(name)
        .parse()
        .map_err(|_| Error::invalid(name, "must be a UUID"))
}
