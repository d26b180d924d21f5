//! `serf join`: asks the agent to join the given addresses.

use serde::Serialize;

use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get_u64, Client};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &["replay"], &with_rpc(&[]))?;
    if f.args.is_empty() {
        return Err(CliError::Usage(
            "At least one address to join must be specified.".into(),
        ));
    }
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Join<'a> {
        existing: &'a [String],
        replay: bool,
    }
    c.send(
        "join",
        Some(&Join {
            existing: &f.args,
            replay: f.bool("replay", false),
        }),
    )?;
    let header = c.header();
    let body = c.value()?;
    header.map_err(|e| format!("Error joining the cluster: {e}"))?;
    println!(
        "Successfully joined cluster by contacting {} nodes.",
        get_u64(&body, "Num")
    );
    Ok(0)
}
