//! Queries: filters, acks, responses (also through relays), large responses in
//! chunks, and the done notification at the deadline.

use serf_bench::sim::{DeliveredKind, Sim};
use serf_core::query::QueryParams;
use serf_core::Config;
use serf_tests::{converged, secs, set_tags};

/// Sends a query from `origin` and runs the simulation for `wait_s` seconds.
fn send_query(
    sim: &mut Sim,
    origin: u32,
    name: &str,
    params: &QueryParams<'_, u32>,
    wait_s: u64,
) -> u32 {
    let now = sim.now();
    let id = sim
        .node_mut(origin)
        .unwrap()
        .query(now, name, b"", params)
        .unwrap();
    sim.flush(origin);
    sim.run_for(secs(wait_s));
    id
}

/// What the originator saw of one query.
type Answers = (Vec<u32>, Vec<(u32, Vec<u8>)>, bool);

/// (acks, responses with payloads, done seen) for query `id` at `origin`.
fn answers(sim: &Sim, origin: u32, id: u32) -> Answers {
    let (mut acks, mut resp, mut done) = (Vec::new(), Vec::new(), false);
    for d in sim.deliveries().iter().filter(|d| d.observer == origin) {
        match d.kind {
            DeliveredKind::QueryAck { id: q, from } if q == id => acks.push(from),
            DeliveredKind::QueryResponse { id: q, from } if q == id => {
                resp.push((from, d.payload.clone()))
            }
            DeliveredKind::QueryDone { id: q } if q == id => done = true,
            _ => {}
        }
    }
    acks.sort_unstable();
    resp.sort();
    (acks, resp, done)
}

#[test]
fn query_load_is_acked_and_answered_by_every_member_then_done() {
    let n = 32;
    let mut sim = converged(n, Config::lan().with_members(40), 3);
    sim.set_responder(Box::new(|node, name, _| {
        (name == "load").then(|| format!("load of {node}").into_bytes())
    }));
    let now = sim.now();
    let id = sim
        .node_mut(0)
        .unwrap()
        .query(now, "load", b"", &QueryParams::default())
        .unwrap();
    sim.flush(0);
    let timeout = sim.node(0).unwrap().default_query_timeout();
    sim.run_for(timeout + secs(1));
    let (acks, resp, done) = answers(&sim, 0, id);
    assert_eq!(
        acks,
        (0..n).collect::<Vec<_>>(),
        "every member acked once (the originator included)"
    );
    assert_eq!(resp.len(), n as usize);
    for (from, payload) in &resp {
        assert_eq!(payload, format!("load of {from}").as_bytes());
    }
    assert!(done, "the originator learns the query is done");
    println!("query timeout for {n} members: {timeout:?}");
}

#[test]
fn tag_filtered_query_is_answered_only_by_matching_members() {
    let n = 24;
    let mut sim = converged(n, Config::lan().with_members(32), 8);
    let _now = sim.now();
    for i in 0..n {
        let role = if i % 3 == 0 { "web" } else { "db" };
        set_tags(&mut sim, i, &[("role", role)]);
    }
    sim.run_for(secs(15));
    sim.set_responder(Box::new(|_, _, _| Some(b"ok".to_vec())));
    let params = QueryParams {
        tags: &[("role", "^web$")],
        ..QueryParams::default()
    };
    let id = send_query(&mut sim, 1, "deploy-check", &params, 10);
    let webs: Vec<u32> = (0..n).filter(|i| i % 3 == 0).collect();
    let (acks, resp, done) = answers(&sim, 1, id);
    assert_eq!(
        acks, webs,
        "acks come from every matching member (Serf evaluates filters first)"
    );
    assert_eq!(resp.iter().map(|r| r.0).collect::<Vec<_>>(), webs);
    assert!(done);
    // Every member still received (and re-broadcast) the query.
    let seen = sim
        .deliveries()
        .iter()
        .filter(|d| matches!(d.kind, DeliveredKind::Query { id: q, .. } if q == id))
        .count();
    assert_eq!(
        seen,
        webs.len(),
        "only matching members deliver it to their application"
    );
    // A node filter narrows to the named members.
    let params = QueryParams {
        nodes: &[4, 7],
        ..QueryParams::default()
    };
    let id = send_query(&mut sim, 1, "who", &params, 10);
    let (acks, resp, _) = answers(&sim, 1, id);
    assert_eq!(acks, vec![4, 7]);
    assert_eq!(resp.len(), 2);
}

#[test]
fn response_of_20_kib_arrives_whole_at_the_originator() {
    let n = 8;
    let mut config = Config::lan().with_members(16);
    config.query_response_size_limit = 64 * 1024;
    let mut sim = converged(n, config, 12);
    let big: Vec<u8> = (0..20 * 1024).map(|i| (i % 251) as u8).collect();
    let reply = big.clone();
    sim.set_responder(Box::new(move |node, _, _| {
        (node == 5).then(|| reply.clone())
    }));
    let params = QueryParams {
        nodes: &[5],
        ..QueryParams::default()
    };
    let id = send_query(&mut sim, 2, "dump", &params, 10);
    let (_, resp, done) = answers(&sim, 2, id);
    assert!(done);
    assert_eq!(resp.len(), 1);
    assert_eq!(resp[0].0, 5);
    assert_eq!(resp[0].1.len(), big.len());
    assert_eq!(resp[0].1, big, "byte for byte");
}

#[test]
fn responses_through_relays_count_once() {
    let n = 16;
    let mut sim = converged(n, Config::lan().with_members(24), 21);
    sim.set_responder(Box::new(|node, _, _| Some(vec![node as u8])));
    let params = QueryParams {
        relay_factor: 3,
        ..QueryParams::default()
    };
    let id = send_query(&mut sim, 0, "relayed", &params, 10);
    let (acks, resp, _) = answers(&sim, 0, id);
    assert_eq!(
        acks.len(),
        n as usize,
        "one ack per member despite relayed copies"
    );
    assert_eq!(
        resp.len(),
        n as usize,
        "one response per member despite relayed copies"
    );
}

#[test]
fn oversized_queries_and_responses_are_refused() {
    let n = 2;
    let mut sim = converged(n, Config::lan().with_members(8), 2);
    let now = sim.now();
    let node = sim.node_mut(0).unwrap();
    assert!(node
        .query(now, "big", &[0u8; 2000], &QueryParams::default())
        .is_err());
    assert!(node.respond(now, 12345, b"x").is_err(), "unknown query id");
}

/// A matcher plugged in by the application (here: exact equality only).
#[derive(Debug)]
struct Exact;
impl serf_core::query::TagMatcher for Exact {
    fn matches(&self, expr: &str, value: &str) -> bool {
        expr == value
    }
}
static EXACT: Exact = Exact;

#[test]
fn tag_filters_use_the_configured_matcher() {
    let n = 6;
    let mut config = Config::lan().with_members(8);
    config.tag_matcher = &EXACT;
    let mut sim = converged(n, config, 14);
    let _now = sim.now();
    for (i, role) in [(1u32, "web"), (2, "web-2"), (3, "db")] {
        set_tags(&mut sim, i, &[("role", role)]);
    }
    sim.run_for(secs(10));
    // With the built-in (unanchored) matcher "web" would also match "web-2".
    let params = QueryParams {
        tags: &[("role", "web")],
        ..QueryParams::default()
    };
    let id = send_query(&mut sim, 0, "q", &params, 8);
    let (acks, _, _) = answers(&sim, 0, id);
    assert_eq!(acks, vec![1]);
}
