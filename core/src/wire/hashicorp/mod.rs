//! HashiCorp memberlist's packet format, so that a node can gossip with
//! HashiCorp Serf agents: message kinds and their msgpack bodies, compound
//! packets, the CRC header, labels and LZW-compressed payloads.
//!
//! Decoding borrows from the packet (or, under a `compress` message, from the
//! caller's scratch buffer), never allocates and never panics. Encoding
//! writes what go-msgpack writes, byte for byte (`tests.rs` checks this
//! against packets captured from HashiCorp's agents); packets go out
//! uncompressed, which HashiCorp agents accept.

pub mod base64;
pub mod bridge;
pub mod conflict;
pub mod feed;
pub mod lzw;
pub mod msgpack;
pub mod relay;
pub mod security;
pub mod serf;
pub mod stream;

use msgpack::{Reader, Writer};

/// memberlist's message type bytes.
pub mod kind {
    /// `ping`.
    pub const PING: u8 = 0;
    /// `indirectPingReq`.
    pub const INDIRECT_PING: u8 = 1;
    /// `ackResp`.
    pub const ACK: u8 = 2;
    /// `suspect`.
    pub const SUSPECT: u8 = 3;
    /// `alive`.
    pub const ALIVE: u8 = 4;
    /// `dead`.
    pub const DEAD: u8 = 5;
    /// `pushPull` (streams only).
    pub const PUSH_PULL: u8 = 6;
    /// `compound`: a count, u16 lengths, then the parts.
    pub const COMPOUND: u8 = 7;
    /// `user`: the delegate's bytes (Serf's messages).
    pub const USER: u8 = 8;
    /// `compress`: `{Algo, Buf}`, LZW.
    pub const COMPRESS: u8 = 9;
    /// `encrypt` (streams).
    pub const ENCRYPT: u8 = 10;
    /// `nackResp`.
    pub const NACK: u8 = 11;
    /// `hasCrc`: a CRC-32 of the rest follows.
    pub const HAS_CRC: u8 = 12;
    /// `err`.
    pub const ERR: u8 = 13;
    /// `hasLabel`: a length byte and the label follow.
    pub const HAS_LABEL: u8 = 244;
}

/// Why a HashiCorp packet or message could not be read (or written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HcError {
    /// It ends early.
    Truncated,
    /// Bad msgpack, or a field of the wrong type or range.
    Msgpack,
    /// A message type this side does not handle in a packet.
    Kind(u8),
    /// The CRC does not match.
    Crc,
    /// No installed key opens it (or not an encrypted packet).
    Decrypt,
    /// A bad LZW code or compression algorithm.
    Compress,
    /// A compress or compound message nested where memberlist never puts one.
    Nesting,
    /// Does not fit the buffer.
    TooLarge,
}

/// Who sent a probe (memberlist 0.5+; every field `omitempty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Source<'a> {
    /// IP bytes (empty if not given).
    pub addr: &'a [u8],
    /// Port (0 if not given).
    pub port: u16,
    /// Name (empty if not given).
    pub node: &'a [u8],
}

impl<'a> Source<'a> {
    /// Reads the field `key` if it is one of ours.
    fn read(&mut self, key: &[u8], r: &mut Reader<'a>) -> Result<bool, HcError> {
        match key {
            b"SourceAddr" => self.addr = r.bytes()?,
            b"SourcePort" => self.port = r.u16()?,
            b"SourceNode" => self.node = r.bytes()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    /// Fields written (the empty ones are left out).
    fn count(&self) -> usize {
        usize::from(!self.addr.is_empty())
            + usize::from(!self.node.is_empty())
            + usize::from(self.port != 0)
    }
    /// Writes the fields that are set, in name order.
    fn write(&self, w: &mut Writer<'_>) -> Result<(), HcError> {
        if !self.addr.is_empty() {
            w.field_str("SourceAddr", self.addr)?;
        }
        if !self.node.is_empty() {
            w.field_str("SourceNode", self.node)?;
        }
        if self.port != 0 {
            w.field_uint("SourcePort", u64::from(self.port))?;
        }
        Ok(())
    }
}

/// `ping`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ping<'a> {
    /// Sequence number echoed by the ack.
    pub seq: u32,
    /// The node the sender means to probe.
    pub node: &'a [u8],
    /// The sender.
    pub source: Source<'a>,
}

/// `indirectPingReq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IndirectPing<'a> {
    /// Sequence number for the ack.
    pub seq: u32,
    /// Target IP bytes.
    pub target: &'a [u8],
    /// Target port.
    pub port: u16,
    /// Target name.
    pub node: &'a [u8],
    /// Send a nack if the target does not answer.
    pub nack: bool,
    /// The requester.
    pub source: Source<'a>,
}

/// `suspect` and `dead`: who is accused, by whom, at which incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Accusation<'a> {
    /// Incarnation accused.
    pub incarnation: u32,
    /// The accused.
    pub node: &'a [u8],
    /// The accuser (for `dead`, the node itself when it left).
    pub from: &'a [u8],
}

/// `alive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Alive<'a> {
    /// Incarnation.
    pub incarnation: u32,
    /// Name.
    pub node: &'a [u8],
    /// IP bytes.
    pub addr: &'a [u8],
    /// Port.
    pub port: u16,
    /// Node meta (Serf's encoded tags).
    pub meta: &'a [u8],
    /// Versions: protocol min, max, current, delegate min, max, current.
    pub vsn: &'a [u8],
}

/// One memberlist message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HcMessage<'a> {
    /// Direct probe.
    Ping(Ping<'a>),
    /// Probe on someone's behalf.
    IndirectPing(IndirectPing<'a>),
    /// Probe answer, with the ping delegate's payload (Serf's coordinate).
    Ack {
        /// Sequence number.
        seq: u32,
        /// Payload (empty if none).
        payload: &'a [u8],
    },
    /// An indirect probe got no answer.
    Nack {
        /// Sequence number.
        seq: u32,
    },
    /// Suspicion.
    Suspect(Accusation<'a>),
    /// Alive announcement.
    Alive(Alive<'a>),
    /// Death (or, from the node itself, leave).
    Dead(Accusation<'a>),
    /// The delegate's message (a Serf message: type byte + msgpack).
    User(&'a [u8]),
    /// An error string (answers on streams).
    Err(&'a [u8]),
}

/// How a packet was framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Frame<'a> {
    /// The label it carried (empty if none).
    pub label: &'a [u8],
    /// It carried a CRC (checked).
    pub crc: bool,
    /// Its payload was compressed.
    pub compressed: bool,
}

/// Reads a packet: strips the label, checks the CRC, decompresses into
/// `scratch` and splits compounds, calling `each` with every message's bytes
/// and its decoding (or the error that message had: the others are still
/// read, as memberlist does). Framing errors end the packet.
pub fn read_packet<'a, F>(
    packet: &'a [u8],
    scratch: &mut [u8],
    mut each: F,
) -> Result<Frame<'a>, HcError>
where
    F: FnMut(&[u8], Result<HcMessage<'_>, HcError>),
{
    let mut frame = Frame::default();
    let mut rest = packet;
    if let [kind::HAS_LABEL, rest_after @ ..] = rest {
        let (&len, after) = rest_after.split_first().ok_or(HcError::Truncated)?;
        if len == 0 || after.len() < usize::from(len) {
            return Err(HcError::Truncated);
        }
        let (label, after) = after.split_at(usize::from(len));
        frame.label = label;
        rest = after;
    }
    if let [kind::HAS_CRC, after @ ..] = rest {
        if after.len() < 4 {
            return Err(HcError::Truncated);
        }
        let (sum, body) = after.split_at(4);
        if u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]) != crc32(body) {
            return Err(HcError::Crc);
        }
        frame.crc = true;
        rest = body;
    }
    if let [kind::COMPRESS, body @ ..] = rest {
        let n = decompress_message(body, scratch)?;
        frame.compressed = true;
        read_parts(&scratch[..n], &mut each, 1)?;
    } else {
        read_parts(rest, &mut each, 0)?;
    }
    Ok(frame)
}

/// A `compress` message's body, decompressed into `out`.
pub(crate) fn decompress_message(body: &[u8], out: &mut [u8]) -> Result<usize, HcError> {
    let mut r = Reader::new(body);
    let (mut algo, mut buf) = (None, None);
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Algo" => algo = Some(r.uint(u64::MAX)?),
            b"Buf" => buf = Some(r.bytes()?),
            _ => r.skip()?,
        }
    }
    match (algo, buf) {
        (Some(0), Some(buf)) => lzw::decompress(buf, out),
        _ => Err(HcError::Compress),
    }
}

/// A message or a compound of them.
fn read_parts<F>(bytes: &[u8], each: &mut F, depth: u32) -> Result<(), HcError>
where
    F: FnMut(&[u8], Result<HcMessage<'_>, HcError>),
{
    match bytes {
        [kind::COMPOUND, rest @ ..] => {
            if depth > 1 {
                return Err(HcError::Nesting);
            }
            let (&count, rest) = rest.split_first().ok_or(HcError::Truncated)?;
            let table = usize::from(count) * 2;
            if rest.len() < table {
                return Err(HcError::Truncated);
            }
            let (lengths, mut parts) = rest.split_at(table);
            for l in lengths.chunks_exact(2) {
                let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
                if parts.len() < len {
                    // memberlist drops the truncated tail and keeps the rest.
                    each(parts, Err(HcError::Truncated));
                    return Ok(());
                }
                let (part, after) = parts.split_at(len);
                parts = after;
                if matches!(part.first(), Some(&(kind::COMPOUND | kind::COMPRESS))) {
                    each(part, Err(HcError::Nesting));
                } else {
                    each(part, decode_message(part));
                }
            }
            Ok(())
        }
        [kind::COMPRESS, ..] => Err(HcError::Nesting),
        _ => {
            each(bytes, decode_message(bytes));
            Ok(())
        }
    }
}

/// Decodes one message (its type byte, then its body).
pub fn decode_message(bytes: &[u8]) -> Result<HcMessage<'_>, HcError> {
    let (&k, body) = bytes.split_first().ok_or(HcError::Truncated)?;
    let mut r = Reader::new(body);
    let m = match k {
        kind::PING => {
            let mut p = Ping::default();
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"SeqNo" => p.seq = r.u32()?,
                    b"Node" => p.node = r.bytes()?,
                    k if p.source.read(k, &mut r)? => {}
                    _ => r.skip()?,
                }
            }
            HcMessage::Ping(p)
        }
        kind::INDIRECT_PING => {
            let mut p = IndirectPing::default();
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"SeqNo" => p.seq = r.u32()?,
                    b"Target" => p.target = r.bytes()?,
                    b"Port" => p.port = r.u16()?,
                    b"Node" => p.node = r.bytes()?,
                    b"Nack" => p.nack = r.bool()?,
                    k if p.source.read(k, &mut r)? => {}
                    _ => r.skip()?,
                }
            }
            HcMessage::IndirectPing(p)
        }
        kind::ACK => {
            let (mut seq, mut payload) = (0, &[][..]);
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"SeqNo" => seq = r.u32()?,
                    b"Payload" => payload = r.bytes()?,
                    _ => r.skip()?,
                }
            }
            HcMessage::Ack { seq, payload }
        }
        kind::NACK => {
            let mut seq = 0;
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"SeqNo" => seq = r.u32()?,
                    _ => r.skip()?,
                }
            }
            HcMessage::Nack { seq }
        }
        kind::SUSPECT | kind::DEAD => {
            let mut a = Accusation::default();
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"Incarnation" => a.incarnation = r.u32()?,
                    b"Node" => a.node = r.bytes()?,
                    b"From" => a.from = r.bytes()?,
                    _ => r.skip()?,
                }
            }
            if k == kind::SUSPECT {
                HcMessage::Suspect(a)
            } else {
                HcMessage::Dead(a)
            }
        }
        kind::ALIVE => {
            let mut a = Alive::default();
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"Incarnation" => a.incarnation = r.u32()?,
                    b"Node" => a.node = r.bytes()?,
                    b"Addr" => a.addr = r.bytes()?,
                    b"Port" => a.port = r.u16()?,
                    b"Meta" => a.meta = r.bytes()?,
                    b"Vsn" => a.vsn = r.bytes()?,
                    _ => r.skip()?,
                }
            }
            HcMessage::Alive(a)
        }
        kind::USER => return Ok(HcMessage::User(body)),
        kind::ERR => {
            let mut e = &[][..];
            for _ in 0..r.map_len()? {
                match r.bytes()? {
                    b"Error" => e = r.bytes()?,
                    _ => r.skip()?,
                }
            }
            HcMessage::Err(e)
        }
        k => return Err(HcError::Kind(k)),
    };
    Ok(m)
}

/// Writes one message (type byte, then its body with fields in name order,
/// as go-msgpack writes them) into `buf`; returns the length.
pub fn encode_message(m: &HcMessage<'_>, buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    match m {
        HcMessage::Ping(p) => {
            w.raw(&[kind::PING])?;
            w.map(2 + p.source.count())?;
            w.field_str("Node", p.node)?;
            w.field_uint("SeqNo", u64::from(p.seq))?;
            p.source.write(&mut w)?;
        }
        HcMessage::IndirectPing(p) => {
            w.raw(&[kind::INDIRECT_PING])?;
            w.map(5 + p.source.count())?;
            w.str(b"Nack")?;
            w.bool(p.nack)?;
            w.field_str("Node", p.node)?;
            w.field_uint("Port", u64::from(p.port))?;
            w.field_uint("SeqNo", u64::from(p.seq))?;
            p.source.write(&mut w)?;
            w.field_str("Target", p.target)?;
        }
        HcMessage::Ack { seq, payload } => {
            w.raw(&[kind::ACK])?;
            w.map(2)?;
            w.field_str("Payload", payload)?;
            w.field_uint("SeqNo", u64::from(*seq))?;
        }
        HcMessage::Nack { seq } => {
            w.raw(&[kind::NACK])?;
            w.map(1)?;
            w.field_uint("SeqNo", u64::from(*seq))?;
        }
        HcMessage::Suspect(a) | HcMessage::Dead(a) => {
            let k = if matches!(m, HcMessage::Suspect(_)) {
                kind::SUSPECT
            } else {
                kind::DEAD
            };
            w.raw(&[k])?;
            w.map(3)?;
            w.field_str("From", a.from)?;
            w.field_uint("Incarnation", u64::from(a.incarnation))?;
            w.field_str("Node", a.node)?;
        }
        HcMessage::Alive(a) => {
            w.raw(&[kind::ALIVE])?;
            w.map(6)?;
            w.field_str("Addr", a.addr)?;
            w.field_uint("Incarnation", u64::from(a.incarnation))?;
            w.field_str("Meta", a.meta)?;
            w.field_str("Node", a.node)?;
            w.field_uint("Port", u64::from(a.port))?;
            w.field_str("Vsn", a.vsn)?;
        }
        HcMessage::User(bytes) => {
            w.raw(&[kind::USER])?;
            w.raw(bytes)?;
        }
        HcMessage::Err(e) => {
            w.raw(&[kind::ERR])?;
            w.map(1)?;
            w.field_str("Error", e)?;
        }
    }
    Ok(w.len())
}

/// Writes a compound of `parts` (each an encoded message) into `buf`;
/// returns the length. At most 255 parts of at most 65,535 bytes each.
pub fn encode_compound(parts: &[&[u8]], buf: &mut [u8]) -> Result<usize, HcError> {
    let count = u8::try_from(parts.len()).map_err(|_| HcError::TooLarge)?;
    let mut w = Writer::new(buf);
    w.raw(&[kind::COMPOUND, count])?;
    for p in parts {
        let len = u16::try_from(p.len()).map_err(|_| HcError::TooLarge)?;
        w.raw(&len.to_be_bytes())?;
    }
    for p in parts {
        w.raw(p)?;
    }
    Ok(w.len())
}

/// Prefixes `buf[..len]` in place with the CRC header (for peers speaking
/// memberlist protocol 5); returns the new length.
pub fn add_crc(buf: &mut [u8], len: usize) -> Result<usize, HcError> {
    let total = len.checked_add(5).ok_or(HcError::TooLarge)?;
    if buf.len() < total {
        return Err(HcError::TooLarge);
    }
    buf.copy_within(..len, 5);
    let sum = crc32(&buf[5..total]);
    buf[0] = kind::HAS_CRC;
    buf[1..5].copy_from_slice(&sum.to_be_bytes());
    Ok(total)
}

/// CRC-32 (IEEE), as Go's `crc32.ChecksumIEEE`.
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests;
