//! `serf keys`: installs, uses, removes and lists encryption keys across the cluster.

use serde::Serialize;

use crate::cli::output::columnize;
use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get, get_u64, Client};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &["list"], &with_rpc(&["install", "use", "remove"]))?;
    let given = |n: &str| f.get(n).is_some_and(|v| !v.is_empty());
    let ops = [
        given("install"),
        given("use"),
        given("remove"),
        f.bool("list", false),
    ];
    match ops.iter().filter(|x| **x).count() {
        0 => {
            return Err(CliError::Usage(
                "One of -install, -use, -remove or -list must be given.".into(),
            ))
        }
        1 => {}
        _ => return Err("Only one of -install, -use, -remove, or -list allowed".into()),
    }
    let (addr, auth) = rpc_flags(&f);
    let mut c = Client::connect(&addr, &auth)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct K<'a> {
        key: &'a str,
    }
    // (command, what it says first, its error prefix, its success line)
    let (cmd, key, start, fail, done) = if let Some(k) = f.get("install").filter(|k| !k.is_empty())
    {
        (
            "install-key",
            Some(k),
            "Installing key on all members...",
            "Error installing key",
            "Successfully installed key!",
        )
    } else if let Some(k) = f.get("use").filter(|k| !k.is_empty()) {
        (
            "use-key",
            Some(k),
            "Changing primary key on all members...",
            "Error changing primary key",
            "Successfully changed primary key!",
        )
    } else if let Some(k) = f.get("remove").filter(|k| !k.is_empty()) {
        (
            "remove-key",
            Some(k),
            "Removing key on all members...",
            "Error removing key",
            "Successfully removed key!",
        )
    } else {
        (
            "list-keys",
            None,
            "Asking all members for installed keys...",
            "Failed to gather member keys",
            "Keys gathered, listing cluster keys...",
        )
    };
    println!("==> {start}");
    c.send(cmd, key.map(|k| K { key: k }).as_ref())?;
    let header = c.header();
    let body = c.value()?;
    if let Err(e) = header {
        let failures: Vec<Vec<String>> = get(&body, "Messages")
            .and_then(|m| m.as_map())
            .map(|msgs| {
                msgs.iter()
                    .map(|(node, msg)| {
                        vec![
                            "failed:".to_string(),
                            node.as_str().unwrap_or("").to_string(),
                            msg.as_str().unwrap_or("").to_string(),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !failures.is_empty() {
            eprint!("{}", columnize(&failures));
        }
        eprintln!();
        eprintln!("{fail}: {e}");
        return Ok(1);
    }
    println!("==> {done}");
    if cmd == "list-keys" {
        let total = get_u64(&body, "NumNodes");
        let rows: Vec<Vec<String>> = get(&body, "Keys")
            .and_then(|k| k.as_map())
            .map(|keys| {
                keys.iter()
                    .map(|(k, n)| {
                        vec![
                            k.as_str().unwrap_or("").to_string(),
                            format!("[{}/{total}]", n.as_u64().unwrap_or(0)),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!();
        print!("{}", columnize(&rows));
    }
    Ok(0)
}
