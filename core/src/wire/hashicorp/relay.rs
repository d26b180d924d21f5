//! Serf's relayed query responses (`messageRelay`): a header naming the
//! final destination — `{DestAddr: {IP, Port, Zone}, DestName}` as
//! go-msgpack writes a `net.UDPAddr` and a string — followed by the Serf
//! message to forward there, type byte and all.

use super::msgpack::{Reader, Writer};
use super::serf::serf_kind;
use super::HcError;

/// A relay request: forward `inner` to `name` at `addr:port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Relay<'a> {
    /// Destination IP bytes (4, or Go's 16-byte form).
    pub addr: &'a [u8],
    /// Destination port.
    pub port: u16,
    /// Destination node name (empty from Serf before 0.9, which sent none).
    pub name: &'a [u8],
    /// The Serf message to forward (a query response or ack).
    pub inner: &'a [u8],
}

/// Reads a relay header's `n` fields from `r`; the rest of the bytes are
/// the message to forward.
pub(super) fn decode_relay<'a>(r: &mut Reader<'a>, n: usize) -> Result<Relay<'a>, HcError> {
    let mut relay = Relay::default();
    for _ in 0..n {
        match r.bytes()? {
            b"DestAddr" => {
                for _ in 0..r.map_len()? {
                    match r.bytes()? {
                        b"IP" => relay.addr = r.bytes()?,
                        b"Port" => relay.port = r.u16()?,
                        _ => r.skip()?,
                    }
                }
            }
            b"DestName" => relay.name = r.bytes()?,
            _ => r.skip()?,
        }
    }
    relay.inner = r.rest();
    if relay.inner.is_empty() {
        return Err(HcError::Truncated);
    }
    Ok(relay)
}

/// Writes a relay message (type byte, header, then `inner` as it is).
pub(super) fn encode_relay(relay: &Relay<'_>, w: &mut Writer<'_>) -> Result<(), HcError> {
    w.raw(&[serf_kind::RELAY])?;
    w.map(2)?;
    w.str(b"DestAddr")?;
    w.map(3)?;
    w.field_str("IP", relay.addr)?;
    w.field_uint("Port", u64::from(relay.port))?;
    w.field_str("Zone", b"")?;
    w.field_str("DestName", relay.name)?;
    w.raw(relay.inner)
}
