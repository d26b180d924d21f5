//! Output shared by the client commands, in HashiCorp Serf's formats:
//! aligned columns, pretty JSON, member addresses and tags.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rpc::{get, get_bytes, get_str, get_u64};

/// Lays out rows of `|`-separated cells in aligned columns (Serf's columnize).
pub fn columnize(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{:<w$}  ", cell, w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn member_addr(m: &rmpv::Value) -> String {
    let ip = get_bytes(m, "Addr");
    let port = get_u64(m, "Port");
    match ip.len() {
        4 => format!("{}.{}.{}.{}:{port}", ip[0], ip[1], ip[2], ip[3]),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&ip);
            format!("[{}]:{port}", std::net::Ipv6Addr::from(a))
        }
        _ => format!(":{port}"),
    }
}

pub(crate) fn member_tags(m: &rmpv::Value) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = get(m, "Tags")
        .and_then(|t| t.as_map())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

/// JSON as Serf prints it (two-space indentation).
pub(crate) fn pretty_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `members -format=json`: Serf's layout, field for field.
#[derive(Serialize)]
pub(crate) struct JsonMembers {
    pub(crate) members: Vec<JsonMember>,
}

#[derive(Serialize)]
pub(crate) struct JsonMember {
    name: String,
    /// `ip:port`, as Serf prints it.
    addr: String,
    port: u64,
    tags: BTreeMap<String, String>,
    status: String,
    protocol: JsonProtocol,
}

#[derive(Serialize)]
pub(crate) struct JsonProtocol {
    max: u64,
    min: u64,
    version: u64,
}

impl JsonMember {
    pub(crate) fn from_rpc(m: &rmpv::Value) -> JsonMember {
        JsonMember {
            name: get_str(m, "Name"),
            addr: member_addr(m),
            port: get_u64(m, "Port"),
            tags: member_tags(m).into_iter().collect(),
            status: get_str(m, "Status"),
            protocol: JsonProtocol {
                max: get_u64(m, "DelegateMax"),
                min: get_u64(m, "DelegateMin"),
                version: get_u64(m, "DelegateCur"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_like_columnize() {
        let rows = vec![
            vec![
                "a".into(),
                "10.0.0.1:7946".into(),
                "alive".into(),
                "".into(),
            ],
            vec![
                "long-name".into(),
                "1.2.3.4:1".into(),
                "failed".into(),
                "k=v".into(),
            ],
        ];
        assert_eq!(
            columnize(&rows),
            "a          10.0.0.1:7946  alive\nlong-name  1.2.3.4:1      failed  k=v\n"
        );
    }
}
