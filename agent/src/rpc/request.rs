//! Reading requests as HashiCorp's agent reads them.
//!
//! Serf decodes requests with go-msgpack into Go structs, and client
//! libraries lean on how that decoder behaves:
//! - the request header is decoded into one struct kept for the whole
//!   connection, so a header map that leaves a field out keeps the previous
//!   request's value (an empty map after a body-less command repeats that
//!   command with its sequence number);
//! - map keys match field names exactly (case-sensitive); unknown keys are
//!   skipped; of repeated keys the last wins;
//! - `[]byte` fields take msgpack str or bin alike; nil reads as the zero
//!   value (a nil header resets every field);
//! - string fields take str and, beyond HashiCorp's agent (0.8.2 closes the
//!   connection on it), bin too: no client can depend on that failure;
//! - a value of the wrong type (a string for `Seq`, a negative number for an
//!   unsigned field, a number too large for the field) fails the decode, and
//!   Serf then closes the connection without an answer. So do we.

use rmpv::Value;

/// The request header as the connection last decoded it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) command: String,
    pub(crate) seq: u64,
}

impl Header {
    /// Decodes `v` over the previous header: fields `v` leaves out keep their
    /// values.
    ///
    /// ```ignore
    /// let mut h = Header::default();
    /// h.update(&map(&[("Command", "members"), ("Seq", 1)]))?;
    /// h.update(&Value::Map(vec![]))?; // still "members", seq 1
    /// ```
    pub(crate) fn update(&mut self, v: &Value) -> Result<(), String> {
        if v.is_nil() {
            // Go sets a struct decoded from nil to its zero value.
            *self = Header::default();
            return Ok(());
        }
        let body = Body::new(v.clone())?;
        for (key, value) in body.entries() {
            match key.as_str() {
                "Command" => self.command = string(value, "Command")?,
                "Seq" => self.seq = unsigned(value, "Seq", u64::MAX)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A request body (a msgpack map, or nil for all fields zero), read field
/// by field with go-msgpack's rules.
#[derive(Debug)]
pub(crate) struct Body(Vec<(String, Value)>);

impl Body {
    /// Wraps a decoded object; anything but a map or nil cannot decode into
    /// a struct.
    pub(crate) fn new(v: Value) -> Result<Body, String> {
        match v {
            Value::Nil => Ok(Body(Vec::new())),
            Value::Map(entries) => {
                let mut fields = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    fields.push((key_name(k)?, v));
                }
                Ok(Body(fields))
            }
            other => Err(format!(
                "decode failed: expected a map, got {}",
                kind(&other)
            )),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The value of field `name` (exact match; the last of repeated keys).
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A string field (str or bin; "" when absent or nil).
    pub(crate) fn string(&self, name: &str) -> Result<String, String> {
        self.get(name)
            .map_or(Ok(String::new()), |v| string(v, name))
    }

    /// A `[]byte` field (bin or str; empty when absent or nil).
    pub(crate) fn bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(Vec::new()),
            Some(Value::Binary(b)) => Ok(b.clone()),
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(other) => Err(mistyped(name, "bytes", other)),
        }
    }

    /// A bool field (false when absent or nil).
    pub(crate) fn boolean(&self, name: &str) -> Result<bool, String> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(false),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(other) => Err(mistyped(name, "bool", other)),
        }
    }

    /// An unsigned integer field of at most `max` (0 when absent or nil).
    pub(crate) fn unsigned(&self, name: &str, max: u64) -> Result<u64, String> {
        self.get(name).map_or(Ok(0), |v| unsigned(v, name, max))
    }

    /// A signed integer field (0 when absent or nil).
    pub(crate) fn signed(&self, name: &str) -> Result<i64, String> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(0),
            Some(Value::Integer(i)) => i
                .as_i64()
                .ok_or_else(|| format!("decode failed: {name}: integer overflow")),
            Some(other) => Err(mistyped(name, "integer", other)),
        }
    }

    /// A `[]string` field (empty when absent or nil).
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|s| string(s, name)).collect(),
            Some(other) => Err(mistyped(name, "array", other)),
        }
    }

    /// A `map[string]string` field (empty when absent or nil; of repeated
    /// keys the last wins, as in a Go map).
    pub(crate) fn string_map(&self, name: &str) -> Result<Vec<(String, String)>, String> {
        match self.get(name) {
            None | Some(Value::Nil) => Ok(Vec::new()),
            Some(Value::Map(entries)) => {
                let mut out: Vec<(String, String)> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let (k, v) = (string(k, name)?, string(v, name)?);
                    match out.iter_mut().find(|(have, _)| *have == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Ok(out)
            }
            Some(other) => Err(mistyped(name, "map", other)),
        }
    }
}

/// A struct key: str or bin, as go-msgpack reads field names.
fn key_name(k: Value) -> Result<String, String> {
    match k {
        Value::String(s) => Ok(lossy(s.as_bytes())),
        Value::Binary(b) => Ok(lossy(&b)),
        other => Err(format!(
            "decode failed: field name must be a string, got {}",
            kind(&other)
        )),
    }
}

fn string(v: &Value, name: &str) -> Result<String, String> {
    match v {
        Value::Nil => Ok(String::new()),
        Value::String(s) => Ok(lossy(s.as_bytes())),
        Value::Binary(b) => Ok(lossy(b)),
        other => Err(mistyped(name, "string", other)),
    }
}

fn unsigned(v: &Value, name: &str, max: u64) -> Result<u64, String> {
    match v {
        Value::Nil => Ok(0),
        Value::Integer(i) => match i.as_u64() {
            Some(n) if n <= max => Ok(n),
            Some(_) => Err(format!("decode failed: {name}: overflow")),
            None => Err(format!(
                "decode failed: {name}: negative value for an unsigned field"
            )),
        },
        other => Err(mistyped(name, "unsigned integer", other)),
    }
}

/// Go strings hold any bytes; ours are UTF-8, invalid sequences replaced.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mistyped(name: &str, want: &str, got: &Value) -> String {
    format!("decode failed: {name}: expected {want}, got {}", kind(got))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "bool",
        Value::Integer(_) => "integer",
        Value::F32(_) | Value::F64(_) => "float",
        Value::String(_) => "str",
        Value::Binary(_) => "bin",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Ext(..) => "ext",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(*k), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn header_fields_left_out_keep_the_previous_requests_values() {
        let mut h = Header::default();
        h.update(&map(&[("Command", "members".into()), ("Seq", 7.into())]))
            .unwrap();
        h.update(&Value::Map(vec![])).unwrap();
        assert_eq!((h.command.as_str(), h.seq), ("members", 7));
        h.update(&map(&[("Seq", 8.into())])).unwrap();
        assert_eq!((h.command.as_str(), h.seq), ("members", 8));
        h.update(&map(&[("Command", "stats".into())])).unwrap();
        assert_eq!((h.command.as_str(), h.seq), ("stats", 8));
        h.update(&Value::Nil).unwrap();
        assert_eq!(h, Header::default());
    }

    #[test]
    fn field_names_match_case_sensitively_and_unknown_ones_are_skipped() {
        let mut h = Header::default();
        h.update(&map(&[
            ("command", "leave".into()),
            ("SEQ", 3.into()),
            ("Extra", Value::Array(vec![1.into()])),
            ("Command", "members".into()),
        ]))
        .unwrap();
        assert_eq!((h.command.as_str(), h.seq), ("members", 0));
        let b = Body::new(map(&[("name", "x".into()), ("Name", "y".into())])).unwrap();
        assert_eq!(b.string("Name").unwrap(), "y");
    }

    #[test]
    fn strings_and_bytes_accept_str_and_bin_and_nil_reads_as_zero() {
        let b = Body::new(map(&[
            ("Name", Value::Binary(b"deploy".to_vec())),
            ("Payload", "v2".into()),
            ("Coalesce", Value::Nil),
            (
                "Existing",
                Value::Array(vec![Value::Binary(b"a:1".to_vec()), "b:2".into()]),
            ),
            (
                "Tags",
                Value::Map(vec![(
                    Value::Binary(b"k".to_vec()),
                    Value::Binary(b"v".to_vec()),
                )]),
            ),
        ]))
        .unwrap();
        assert_eq!(b.string("Name").unwrap(), "deploy");
        assert_eq!(b.bytes("Payload").unwrap(), b"v2");
        assert!(!b.boolean("Coalesce").unwrap());
        assert_eq!(b.strings("Existing").unwrap(), ["a:1", "b:2"]);
        assert_eq!(b.string_map("Tags").unwrap(), [("k".into(), "v".into())]);
        let mut h = Header::default();
        h.update(&map(&[("Command", Value::Binary(b"stats".to_vec()))]))
            .unwrap();
        assert_eq!(h.command, "stats");
    }

    #[test]
    fn repeated_keys_take_the_last_value() {
        let b = Body::new(map(&[("Node", "a".into()), ("Node", "b".into())])).unwrap();
        assert_eq!(b.string("Node").unwrap(), "b");
    }

    #[test]
    fn mistyped_values_fail_the_decode_as_go_msgpacks_do() {
        let mut h = Header::default();
        assert!(h.update(&map(&[("Seq", "one".into())])).is_err());
        assert!(h.update(&map(&[("Seq", (-1).into())])).is_err());
        assert!(h.update(&Value::from(5)).is_err());
        let b = Body::new(map(&[("RelayFactor", 300.into()), ("Prune", 1.into())])).unwrap();
        assert!(b.unsigned("RelayFactor", u8::MAX as u64).is_err());
        assert!(b.boolean("Prune").is_err());
        assert!(Body::new(Value::Array(vec![])).is_err());
        assert!(Body::new(Value::Nil)
            .unwrap()
            .string("Name")
            .unwrap()
            .is_empty());
    }
}
