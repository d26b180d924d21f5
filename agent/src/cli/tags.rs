//! `serf tags`: sets and deletes the agent's tags.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::Client;

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &[], &with_rpc(&["set", "delete"]))?;
    if f.all("set").is_empty() && f.all("delete").is_empty() {
        return Err(CliError::Usage(
            "At least one of -set or -delete must be given.".into(),
        ));
    }
    let mut set = BTreeMap::new();
    for t in f.all("set") {
        // Serf's rule: a tag needs a non-empty key.
        match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                set.insert(k.to_string(), v.to_string());
            }
            _ => return Err(format!("Error: Invalid tag: '{t}'").into()),
        }
    }
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct T<'a> {
        tags: &'a BTreeMap<String, String>,
        delete_tags: &'a [String],
    }
    c.call(
        "tags",
        Some(&T {
            tags: &set,
            delete_tags: f.all("delete"),
        }),
    )
    .map_err(|e| format!("Error setting tags: {e}"))?;
    println!("Successfully updated agent tags");
    Ok(0)
}
