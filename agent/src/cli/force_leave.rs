//! `serf force-leave`: marks a failed member left (with `-prune`, erased).

use serde::Serialize;

use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::Client;

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &["prune"], &with_rpc(&[]))?;
    if f.args.len() != 1 {
        return Err(CliError::Usage(
            "A node name must be specified to force leave.".into(),
        ));
    }
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Fl<'a> {
        node: &'a str,
        prune: bool,
    }
    c.call(
        "force-leave",
        Some(&Fl {
            node: &f.args[0],
            prune: f.bool("prune", false),
        }),
    )
    .map_err(|e| format!("Error force leaving: {e}"))?;
    Ok(0)
}
