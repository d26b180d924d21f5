//! `serf rtt`: the estimated round-trip time between two members, from their network coordinates.

use serde::Serialize;
use serf_core::vivaldi::Coordinate;

use crate::cli::{parse_flags, rpc_flags, with_rpc, CliError};
use crate::rpc::{get, get_str, Client};

/// Runs the command.
pub(super) fn run(argv: &[String]) -> Result<i32, CliError> {
    let f = parse_flags(argv, &[], &with_rpc(&[]))?;
    let (addr, auth) = rpc_flags(&f);
    if f.args.is_empty() || f.args.len() > 2 {
        return Err(CliError::Usage(
            "One or two node names must be specified.".into(),
        ));
    }
    let mut c = Client::connect(&addr, &auth)?;
    let (a, b) = match f.args.as_slice() {
        [a] => {
            c.call::<()>("stats", None)?;
            let stats = c.value()?;
            let me = get(&stats, "agent")
                .map(|a| get_str(a, "name"))
                .unwrap_or_default();
            (a.clone(), me)
        }
        [a, b] => (a.clone(), b.clone()),
        _ => unreachable!("checked above"),
    };
    let (ca, cb) = (coordinate(&mut c, &a)?, coordinate(&mut c, &b)?);
    if !ca.is_compatible_with(&cb) {
        return Err("Coordinates have different dimensions".into());
    }
    let secs = ca.distance_to(&cb);
    println!("Estimated {a} <-> {b} rtt: {:.3} ms", secs * 1000.0);
    Ok(0)
}

/// A member's coordinate, through `get-coordinate`, as the core's type (so
/// estimates use the core's Vivaldi distance).
pub(crate) fn coordinate(c: &mut Client, node: &str) -> Result<Coordinate, String> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Q<'a> {
        node: &'a str,
    }
    c.call("get-coordinate", Some(&Q { node }))?;
    let v = c.value()?;
    if !get(&v, "Ok").and_then(|o| o.as_bool()).unwrap_or(false) {
        return Err(format!("Could not find a coordinate for node {node:?}"));
    }
    let co = get(&v, "Coord").ok_or("missing coordinate")?;
    let num = |k: &str| get(co, k).and_then(|x| x.as_f64()).unwrap_or(0.0);
    let parts: Vec<f64> = get(co, "Vec")
        .and_then(|x| x.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    if parts.len() > serf_core::vivaldi::MAX_DIMS {
        return Err(format!(
            "coordinate of {node:?} has {} dimensions",
            parts.len()
        ));
    }
    let mut out = Coordinate {
        dims: parts.len() as u8,
        vec: [0.0; serf_core::vivaldi::MAX_DIMS],
        error: num("Error"),
        adjustment: num("Adjustment"),
        height: num("Height"),
    };
    out.vec[..parts.len()].copy_from_slice(&parts);
    Ok(out)
}
