//! `serf event`: fires a user event.

use serde::Serialize;

use crate::cli::{name_and_payload, parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::Client;

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &["coalesce"], &with_rpc(&[]))?;
    let (name, payload) = name_and_payload(&f.args, "An event name must be specified.")?;
    let coalesce = f.bool("coalesce", true);
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Ev<'a> {
        name: &'a str,
        #[serde(with = "serde_bytes")]
        payload: &'a [u8],
        coalesce: bool,
    }
    c.call(
        "event",
        Some(&Ev {
            name: &name,
            payload: &payload,
            coalesce,
        }),
    )
    .map_err(|e| format!("Error sending event: {e}"))?;
    println!("Event '{name}' dispatched! Coalescing enabled: {coalesce}");
    Ok(0)
}
