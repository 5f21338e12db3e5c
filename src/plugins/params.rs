//! Typed reads of a plugin request body, with Janus's "missing element" /
//! "invalid element" distinction (Janus's `JANUS_VALIDATE_JSON_OBJECT`).

use serde_json::{Map, Value};
use thiserror::Error;

pub use crate::ids::Id;

/// A request field that is missing or of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParamError {
    /// A required field is absent.
    #[error("Missing element ({0})")]
    Missing(String),
    /// A field has the wrong type or an out-of-range value.
    #[error("Invalid element type ({0} should be {1})")]
    Invalid(String, &'static str),
}

/// Read access to a request body.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    map: &'a Map<String, Value>,
    string_ids: bool,
}

impl<'a> Params<'a> {
    /// Wraps `map`; `string_ids` decides how ids are typed.
    pub fn new(map: &'a Map<String, Value>, string_ids: bool) -> Self {
        Params { map, string_ids }
    }

    /// Whether ids are strings.
    pub fn string_ids(&self) -> bool {
        self.string_ids
    }

    /// The raw value.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An optional string.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ParamError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ParamError::Invalid(key.into(), "a string")),
        }
    }

    /// An optional boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ParamError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ParamError::Invalid(key.into(), "a boolean")),
        }
    }

    /// A required boolean.
    pub fn req_bool(&self, key: &str) -> Result<bool, ParamError> {
        self.bool(key)?
            .ok_or_else(|| ParamError::Missing(key.into()))
    }

    /// An optional non-negative integer.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ParamError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or(ParamError::Invalid(key.into(), "a positive integer")),
        }
    }

    /// An optional array.
    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ParamError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ParamError::Invalid(key.into(), "an array")),
        }
    }

    /// An optional id: a positive integer, or a non-empty string with `string_ids`.
    pub fn id(&self, key: &str) -> Result<Option<Id>, ParamError> {
        match (self.raw(key), self.string_ids) {
            (None, _) => Ok(None),
            (Some(Value::String(s)), true) if !s.is_empty() => Ok(Some(Id::Str(s.clone()))),
            (Some(_), true) => Err(ParamError::Invalid(key.into(), "a non-empty string")),
            (Some(v), false) => match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(Id::Num(n))),
                _ => Err(ParamError::Invalid(key.into(), "a positive integer")),
            },
        }
    }

    /// A required feed id: like [`Params::req_id`] but also `0` (the MCU mix).
    pub fn req_feed(&self, key: &str) -> Result<Id, ParamError> {
        match self.raw(key) {
            Some(v) if !self.string_ids && v.as_u64() == Some(0) => Ok(Id::Num(0)),
            _ => self.req_id(key),
        }
    }

    /// A required id.
    pub fn req_id(&self, key: &str) -> Result<Id, ParamError> {
        self.id(key)?.ok_or_else(|| ParamError::Missing(key.into()))
    }

    /// A required string.
    pub fn req_str(&self, key: &str) -> Result<&'a str, ParamError> {
        self.str(key)?
            .ok_or_else(|| ParamError::Missing(key.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_reads() {
        let v = json!({"room": 5, "pin": "x", "n": -1, "b": true, "sroom": "abc"});
        let m = v.as_object().unwrap();
        let p = Params::new(m, false);
        assert_eq!(p.req_id("room").unwrap(), Id::Num(5));
        assert_eq!(p.req_id("nope"), Err(ParamError::Missing("nope".into())));
        assert!(matches!(p.id("pin"), Err(ParamError::Invalid(..))));
        assert!(matches!(p.u64("n"), Err(ParamError::Invalid(..))));
        assert_eq!(p.bool("b").unwrap(), Some(true));
        assert!(p.str("room").is_err());
        let s = Params::new(m, true);
        assert_eq!(s.req_id("sroom").unwrap(), Id::Str("abc".into()));
        assert!(s.id("room").is_err());
    }
}
