//! Nodes with the agent's identity ([`NodeId`]: name and address) on
//! HashiCorp's wire, in virtual time on a lossless network: for scenarios
//! that pin the translation between the wires without real agents.

use std::net::SocketAddr;
use std::time::Duration;

use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_core::wire::hashicorp::{encode_message, Alive, HcMessage};
use serf_core::{Config, Delivery, EventKind, Identity, Instant, Node, Wire};
use serf_runtime_std::id::NodeId;

use crate::MTU;

/// A node on HashiCorp's wire.
pub type HcTestNode = Node<NodeId, Heap, SimRng>;

/// What one node was handed through `poll_delivery`.
#[derive(Default, Debug)]
pub struct Delivered {
    /// User events: (name, payload).
    pub events: Vec<(String, Vec<u8>)>,
    /// Queries received: (name, payload).
    pub queries: Vec<(String, Vec<u8>)>,
    /// Responses to our queries: (responder, payload).
    pub responses: Vec<(String, Vec<u8>)>,
    /// Our answers the node refused to send.
    pub refused: Vec<serf_core::query::QueryError>,
    /// Membership events: (kind, member's name).
    pub members: Vec<(EventKind, String)>,
}

/// Member `i`: named `n{i}`, listening on 127.0.0.1:(7000 + i).
pub fn hc_id(i: usize) -> NodeId {
    NodeId::new(
        &format!("n{i}"),
        SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)),
    )
    .expect("a short name")
}

/// A node on HashiCorp's wire with `config`.
pub fn hc_node(id: NodeId, config: &Config, seed: u64) -> HcTestNode {
    let mut config = config.clone();
    config.wire = Wire::HashiCorp;
    Node::new(
        id,
        config.clone(),
        buffers(&config),
        SimRng::new(seed),
        Instant::ZERO,
    )
    .expect("a test config builds a node")
}

/// An `alive` packet as a HashiCorp agent announces `id` (no tags).
pub fn hc_alive(id: &NodeId, incarnation: u32) -> Vec<u8> {
    let h = id
        .hashicorp()
        .expect("a NodeId travels on HashiCorp's wire");
    let m = HcMessage::Alive(Alive {
        incarnation,
        node: h.name,
        addr: h.ip,
        port: h.port,
        meta: &[],
        vsn: &[1, 5, 2, 2, 5, 5],
    });
    let mut buf = [0u8; MTU];
    let n = encode_message(&m, &mut buf).expect("an alive message fits");
    buf[..n].to_vec()
}

/// Nodes on HashiCorp's wire; `None` is a crashed one.
pub struct HcNet {
    /// The nodes, by index.
    pub nodes: Vec<Option<HcTestNode>>,
    /// Who each is ([`hc_id`] for the first ones).
    pub ids: Vec<NodeId>,
    /// What each was handed.
    pub delivered: Vec<Delivered>,
    /// Virtual time.
    pub now: Instant,
    /// Datagrams every node wrote.
    pub datagrams: u64,
}

impl HcNet {
    /// `n` nodes, each told of every other by an `alive` packet.
    pub fn new(n: usize, config: &Config) -> HcNet {
        let mut nodes: Vec<_> = (0..n)
            .map(|i| Some(hc_node(hc_id(i), config, i as u64 + 1)))
            .collect();
        for (i, node) in nodes.iter_mut().enumerate() {
            let node = node.as_mut().expect("every node starts live");
            for j in (0..n).filter(|&j| j != i) {
                let from = hc_id(j).addr();
                node.handle_datagram(Instant::ZERO, from, &hc_alive(&hc_id(j), 0))
                    .expect("an alive packet reads");
            }
        }
        HcNet {
            nodes,
            ids: (0..n).map(hc_id).collect(),
            delivered: (0..n).map(|_| Delivered::default()).collect(),
            now: Instant::ZERO,
            datagrams: 0,
        }
    }

    /// Starts one more node as `id`, told of the members `knows` (by
    /// index); returns its index.
    pub fn add(&mut self, id: NodeId, config: &Config, knows: &[usize]) -> usize {
        let mut node = hc_node(id.clone(), config, self.ids.len() as u64 + 1);
        for &j in knows {
            let from = self.ids[j].addr();
            node.handle_datagram(self.now, from, &hc_alive(&self.ids[j], 1))
                .expect("an alive packet reads");
        }
        self.nodes.push(Some(node));
        self.ids.push(id);
        self.delivered.push(Delivered::default());
        self.ids.len() - 1
    }

    /// Node `i` (panics if crashed).
    pub fn node(&mut self, i: usize) -> &mut HcTestNode {
        self.nodes[i].as_mut().expect("a live node")
    }

    /// Runs for `d` in 5 ms steps: timers, then every datagram delivered at
    /// once (and what that provokes, until quiet). Queries are answered with
    /// `"<name>:<query>"`, except a query named `big`, answered with 4,000
    /// bytes (over one packet).
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = self.now + Duration::from_millis(5);
            let now = self.now;
            for n in self.nodes.iter_mut().flatten() {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
            self.exchange();
        }
    }

    fn exchange(&mut self) {
        let mut buf = [0u8; MTU];
        loop {
            let mut queue = Vec::new();
            for (i, n) in self.nodes.iter_mut().enumerate() {
                let Some(n) = n else { continue };
                let from = self.ids[i].addr();
                while let Some(t) = n.poll_transmit(&mut buf) {
                    queue.push((from, t.to, buf[..t.len].to_vec()));
                }
            }
            self.deliver();
            if queue.is_empty() {
                return;
            }
            self.datagrams += queue.len() as u64;
            for (from, to, bytes) in queue {
                let target = self.ids.iter().position(|id| id.addr() == to);
                if let Some(Some(n)) = target.map(|i| &mut self.nodes[i]) {
                    let _ = n.handle_datagram(self.now, from, &bytes);
                }
            }
        }
    }

    fn deliver(&mut self) {
        let now = self.now;
        let mut buf = vec![0u8; 64 * 1024];
        for (i, (n, seen)) in self.nodes.iter_mut().zip(&mut self.delivered).enumerate() {
            let Some(n) = n else { continue };
            let mut answers = Vec::new();
            while let Some(d) = n.poll_delivery(&mut buf) {
                match d {
                    Delivery::Event { name, payload, .. } => {
                        seen.events.push((name.to_string(), payload.to_vec()))
                    }
                    Delivery::Query {
                        id, name, payload, ..
                    } => {
                        seen.queries.push((name.to_string(), payload.to_vec()));
                        answers.push((id, name.to_string()));
                    }
                    Delivery::QueryResponse { from, payload, .. } => seen
                        .responses
                        .push((from.name().to_string(), payload.to_vec())),
                    _ => {}
                }
            }
            let me = self.ids[i].name().to_string();
            for (id, name) in answers {
                let answer = match name.as_str() {
                    "big" => vec![b'a'; 4000],
                    _ => format!("{me}:{name}").into_bytes(),
                };
                if let Err(e) = n.respond(now, id, &answer) {
                    seen.refused.push(e);
                }
            }
            while let Some(e) = n.poll_event() {
                seen.members.push((e.kind, e.member.name().to_string()));
            }
        }
    }
}
