//! Every record of the RPC protocol, named as HashiCorp Serf names its
//! fields (msgpack maps, PascalCase keys), and the readers of response
//! fields (the CLI's side: a missing or mistyped field reads as
//! empty). Requests are read by `request.rs`, with go-msgpack's rules.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rmpv::Value;
use serde::Serialize;
use serf_runtime_std::member::MemberInfo;

/// Every response starts with this header (fields in the order HashiCorp's
/// agent writes them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResponseHeader<'a> {
    pub(crate) error: &'a str,
    pub(crate) seq: u64,
}

/// Every request starts with this header (written by the client).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RequestHeader<'a> {
    pub(crate) command: &'a str,
    pub(crate) seq: u64,
}

/// The `handshake` request body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Handshake {
    pub(crate) version: i32,
}

/// The `auth` request body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Auth<'a> {
    pub(crate) auth_key: &'a str,
}

/// One member, as `members` and member events carry it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireMember {
    name: String,
    #[serde(with = "serde_bytes")]
    addr: Vec<u8>,
    port: u16,
    tags: BTreeMap<String, String>,
    status: String,
    protocol_min: u8,
    protocol_max: u8,
    protocol_cur: u8,
    delegate_min: u8,
    delegate_max: u8,
    delegate_cur: u8,
}

impl From<&MemberInfo> for WireMember {
    fn from(m: &MemberInfo) -> Self {
        let addr = match m.addr.ip() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        WireMember {
            name: m.name.clone(),
            addr,
            port: m.addr.port(),
            tags: m.tags.iter().cloned().collect(),
            status: m.status.to_string(),
            // memberlist's versions (ours speaks one wire) and Serf's, with
            // the version the member announced as current.
            protocol_min: 1,
            protocol_max: 5,
            protocol_cur: 2,
            delegate_min: 2,
            delegate_max: 5,
            delegate_cur: m.protocol,
        }
    }
}

/// The `members` and `members-filtered` response body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MembersBody {
    pub(crate) members: Vec<WireMember>,
}

/// The `join` response body: how many addresses answered.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct JoinBody {
    pub(crate) num: i32,
}

/// One `monitor` record.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LogRecord<'a> {
    pub(crate) log: &'a str,
}

/// One `query` record: an ack, a response or the final done.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueryRecord<'a> {
    pub(crate) r#type: &'a str,
    pub(crate) from: &'a str,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: &'a [u8],
}

/// A member event on a `stream`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MemberEventRecord {
    pub(crate) event: &'static str,
    pub(crate) members: Vec<WireMember>,
}

/// A user event on a `stream`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserEventRecord<'a> {
    pub(crate) event: &'static str,
    pub(crate) l_time: u64,
    pub(crate) name: &'a str,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: &'a [u8],
    pub(crate) coalesce: bool,
}

/// A query on a `stream` (answered with `respond`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueryEventRecord<'a> {
    pub(crate) event: &'static str,
    #[serde(rename = "ID")]
    pub(crate) id: u64,
    pub(crate) l_time: u64,
    pub(crate) name: &'a str,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: &'a [u8],
}

/// A coordinate as `get-coordinate` carries it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireCoord {
    pub(crate) vec: Vec<f64>,
    pub(crate) error: f64,
    pub(crate) adjustment: f64,
    pub(crate) height: f64,
}

/// The `get-coordinate` response body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CoordBody {
    pub(crate) coord: WireCoord,
    pub(crate) ok: bool,
}

/// Response body of the key commands.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct KeysBody {
    pub(crate) messages: BTreeMap<String, String>,
    pub(crate) keys: Option<BTreeMap<String, i32>>,
    pub(crate) num_nodes: i32,
    pub(crate) num_err: i32,
    pub(crate) num_resp: i32,
}

/// A field of a map, by exact name.
pub(crate) fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A string field ("" when missing).
pub(crate) fn str_field(v: &Value, key: &str) -> String {
    field(v, key)
        .and_then(|x| x.as_str())
        .unwrap_or("")
        .to_string()
}

/// A byte field, from msgpack bin or str (empty when missing).
pub(crate) fn bytes_field(v: &Value, key: &str) -> Vec<u8> {
    match field(v, key) {
        Some(Value::Binary(b)) => b.clone(),
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

/// An integer field (0 when missing or negative).
pub(crate) fn u64_field(v: &Value, key: &str) -> u64 {
    field(v, key)
        .and_then(|x| x.as_u64().or_else(|| x.as_i64().map(|i| i.max(0) as u64)))
        .unwrap_or(0)
}

/// Standard base64, as Serf writes keys.
pub(crate) fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Decodes standard base64, with Go's error wording.
pub fn base64_decode_strict(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("illegal base64 data at input byte {at}")
            }
            _ => format!("illegal base64 data at input byte {}", s.trim().len()),
        })
}

/// Decodes standard base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}
