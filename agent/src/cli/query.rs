//! `serf query`: sends a query and prints acks and responses as they arrive.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::cli::flags::parse_duration;
use crate::cli::output::pretty_json;
use crate::cli::{name_and_payload, parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get_bytes, get_str, Client};

pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(
        argv,
        &["no-ack"],
        &with_rpc(&["node", "tag", "timeout", "relay-factor", "format"]),
    )?;
    let (name, payload) = name_and_payload(&f.args, "A query name must be specified.")?;
    let mut tags = BTreeMap::new();
    for t in f.all("tag") {
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| format!("invalid tag filter {t:?}, use key=regexp"))?;
        tags.insert(k.to_string(), v.to_string());
    }
    let timeout = f
        .get("timeout")
        .map(parse_duration)
        .transpose()?
        .unwrap_or(Duration::ZERO);
    let relay: u8 = f
        .get("relay-factor")
        .map(|r| {
            r.parse()
                .map_err(|_| format!("-relay-factor must be 0..255, got {r:?}"))
        })
        .transpose()?
        .unwrap_or(0);
    let json = match f.get("format").unwrap_or("text") {
        "json" => true,
        "text" => false,
        other => return Err(format!("Invalid output format: {other}").into()),
    };
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    let QueryAnswers { acks, responses } = run_query(
        &mut c,
        &name,
        &payload,
        f.all("node"),
        &tags,
        !f.bool("no-ack", false),
        relay,
        timeout,
        || {
            if !json {
                println!("Query '{name}' dispatched");
            }
        },
        |v| {
            if json {
                return;
            }
            match get_str(v, "Type").as_str() {
                "ack" => println!("Ack from '{}'", get_str(v, "From")),
                "response" => {
                    let p = get_bytes(v, "Payload");
                    let mut s = String::from_utf8_lossy(&p).to_string();
                    if s.ends_with('\n') {
                        s.pop();
                    }
                    println!("Response from '{}': {s}", get_str(v, "From"));
                }
                _ => {}
            }
        },
    )
    .map_err(|e| format!("Error sending query: {e}"))?;
    if json {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct QueryJson {
            /// `null` when acks were not asked for, as Serf prints it.
            acks: Option<Vec<String>>,
            responses: BTreeMap<String, String>,
        }
        let out = QueryJson {
            acks: (!f.bool("no-ack", false)).then_some(acks),
            responses: responses
                .iter()
                .map(|(n, p)| (n.clone(), String::from_utf8_lossy(p).into_owned()))
                .collect(),
        };
        println!("{}", pretty_json(&out));
    } else {
        if !f.bool("no-ack", false) {
            println!("Total Acks: {}", acks.len());
        }
        println!("Total Responses: {}", responses.len());
    }
    Ok(0)
}

/// What a query brought back: who acked, and who answered what.
pub(crate) struct QueryAnswers {
    /// Names of the members that acked.
    pub(crate) acks: Vec<String>,
    /// Responses: the responder's name and its payload.
    pub(crate) responses: Vec<(String, Vec<u8>)>,
}

/// Sends a query over `c` and collects its acks and responses, calling
/// `dispatched` once it is out and `on` for every record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_query(
    c: &mut Client,
    name: &str,
    payload: &[u8],
    nodes: &[String],
    tags: &BTreeMap<String, String>,
    ack: bool,
    relay_factor: u8,
    timeout: Duration,
    dispatched: impl FnOnce(),
    mut on: impl FnMut(&rmpv::Value),
) -> Result<QueryAnswers, String> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Q<'a> {
        filter_nodes: &'a [String],
        filter_tags: &'a BTreeMap<String, String>,
        request_ack: bool,
        relay_factor: u8,
        timeout: i64,
        name: &'a str,
        #[serde(with = "serde_bytes")]
        payload: &'a [u8],
    }
    c.call(
        "query",
        Some(&Q {
            filter_nodes: nodes,
            filter_tags: tags,
            request_ack: ack,
            relay_factor,
            timeout: timeout.as_nanos() as i64,
            name,
            payload,
        }),
    )?;
    // Only an accepted query counts as dispatched.
    dispatched();
    let (mut acks, mut responses) = (Vec::new(), Vec::new());
    loop {
        c.header()?;
        let v = c.value()?;
        on(&v);
        match get_str(&v, "Type").as_str() {
            "ack" => acks.push(get_str(&v, "From")),
            "response" => responses.push((get_str(&v, "From"), get_bytes(&v, "Payload"))),
            _ => return Ok(QueryAnswers { acks, responses }),
        }
    }
}
