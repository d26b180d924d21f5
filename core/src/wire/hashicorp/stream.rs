//! memberlist's push-pull over TCP, as HashiCorp's agents send it on a join
//! and every push-pull interval: the stream's bytes, decompressed, are a
//! `pushPull` type byte, a header `{Join, Nodes, UserStateLen}`, that many
//! node states, then Serf's own state (its push-pull message). Here a whole
//! message is read and written; `feed.rs` reads one as it arrives.

use super::msgpack::{Reader, Writer};
use super::{decompress_message, kind, security, HcError};
use crate::wire::crypto::{Keyring, MAX_LABEL};

/// Bytes in front of an encrypted stream's ciphertext: the `encrypt` type
/// byte and a big-endian u32 length.
pub const ENCRYPTED_HEADER: usize = 5;

/// Opens an encrypted stream (`encrypt`, length, then a packet-style
/// ciphertext whose associated data is those five bytes and the label) into
/// `out`; returns the plaintext length. What follows the ciphertext is not
/// read.
pub fn open_encrypted(
    stream: &[u8],
    out: &mut [u8],
    label: &[u8],
    ring: &Keyring,
) -> Result<usize, HcError> {
    let Some((header, rest)) = stream.split_first_chunk::<ENCRYPTED_HEADER>() else {
        return Err(HcError::Truncated);
    };
    if header[0] != kind::ENCRYPT {
        return Err(HcError::Kind(header[0]));
    }
    if label.len() > MAX_LABEL {
        return Err(HcError::TooLarge);
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let body = rest.get(..len).ok_or(HcError::Truncated)?;
    let mut aad = [0u8; ENCRYPTED_HEADER + MAX_LABEL];
    aad[..ENCRYPTED_HEADER].copy_from_slice(header);
    aad[ENCRYPTED_HEADER..ENCRYPTED_HEADER + label.len()].copy_from_slice(label);
    security::open_packet(body, out, &aad[..ENCRYPTED_HEADER + label.len()], ring)
}

/// memberlist's node states on the wire.
pub mod node_state {
    /// Alive.
    pub const ALIVE: u8 = 0;
    /// Suspect.
    pub const SUSPECT: u8 = 1;
    /// Dead.
    pub const DEAD: u8 = 2;
    /// Left.
    pub const LEFT: u8 = 3;
}

/// memberlist's own cap on the node states of one push-pull.
pub const MAX_NODES: u32 = 1 << 20;

/// The push-pull header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Node states that follow.
    pub nodes: u32,
    /// Bytes of Serf's state after them.
    pub user_state_len: u32,
    /// Sent by a joining member.
    pub join: bool,
}

/// One member's state in a push-pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeState<'a> {
    /// Name.
    pub name: &'a [u8],
    /// IP bytes.
    pub addr: &'a [u8],
    /// Port.
    pub port: u16,
    /// Node meta (Serf's tags).
    pub meta: &'a [u8],
    /// Incarnation.
    pub incarnation: u32,
    /// [`node_state`].
    pub state: u8,
    /// Protocol versions (six bytes).
    pub vsn: &'a [u8],
}

/// The stream's message, decompressed into `scratch` if it came compressed;
/// encrypted streams are opened first ([`open_encrypted`]).
pub fn unwrap<'a>(stream: &'a [u8], scratch: &'a mut [u8]) -> Result<&'a [u8], HcError> {
    match stream.split_first() {
        Some((&kind::COMPRESS, body)) => {
            let n = decompress_message(body, scratch)?;
            Ok(&scratch[..n])
        }
        Some(_) => Ok(stream),
        None => Err(HcError::Truncated),
    }
}

/// A push-pull being read: its header, then its node states as an iterator,
/// then [`PushPull::user_state`].
pub struct PushPull<'a> {
    /// The header.
    pub header: Header,
    r: Reader<'a>,
    left: u32,
}

/// Starts reading a push-pull message (type byte included).
pub fn read_push_pull(message: &[u8]) -> Result<PushPull<'_>, HcError> {
    let Some((&kind::PUSH_PULL, body)) = message.split_first() else {
        return Err(HcError::Kind(message.first().copied().unwrap_or(0)));
    };
    let mut r = Reader::new(body);
    let h = header_of(&mut r)?;
    Ok(PushPull {
        header: h,
        left: h.nodes,
        r,
    })
}

/// A push-pull header (a msgpack map) read from `r`.
pub(super) fn header_of(r: &mut Reader<'_>) -> Result<Header, HcError> {
    let mut h = Header::default();
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Nodes" => h.nodes = r.uint(u64::from(MAX_NODES))? as u32,
            b"UserStateLen" => h.user_state_len = r.u32()?,
            b"Join" => h.join = r.bool()?,
            _ => r.skip()?,
        }
    }
    Ok(h)
}

impl<'a> PushPull<'a> {
    /// Serf's state, once every node state has been read (`None` before).
    pub fn user_state(&self) -> Option<Result<&'a [u8], HcError>> {
        if self.left > 0 {
            return None;
        }
        let rest = self.r.rest();
        let n = self.header.user_state_len as usize;
        Some(rest.get(..n).ok_or(HcError::Truncated))
    }

    fn node(&mut self) -> Result<NodeState<'a>, HcError> {
        node_state_of(&mut self.r)
    }
}

/// One node state (a msgpack map) read from `r`.
pub(super) fn node_state_of<'a>(r: &mut Reader<'a>) -> Result<NodeState<'a>, HcError> {
    let mut s = NodeState::default();
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Name" => s.name = r.bytes()?,
            b"Addr" => s.addr = r.bytes()?,
            b"Port" => s.port = r.u16()?,
            b"Meta" => s.meta = r.bytes()?,
            b"Incarnation" => s.incarnation = r.u32()?,
            b"State" => s.state = r.uint(u64::from(node_state::LEFT))? as u8,
            b"Vsn" => s.vsn = r.bytes()?,
            _ => r.skip()?,
        }
    }
    Ok(s)
}

impl<'a> Iterator for PushPull<'a> {
    type Item = Result<NodeState<'a>, HcError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let s = self.node();
        // A bad state ends the stream: what follows cannot be found.
        self.left = if s.is_ok() { self.left - 1 } else { 0 };
        Some(s)
    }
}

/// Writes the type byte and header of a push-pull; returns the length.
pub fn encode_header(h: &Header, buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    w.raw(&[kind::PUSH_PULL])?;
    w.map(3)?;
    w.str(b"Join")?;
    w.bool(h.join)?;
    w.field_uint("Nodes", u64::from(h.nodes))?;
    w.field_uint("UserStateLen", u64::from(h.user_state_len))?;
    Ok(w.len())
}

/// Writes one node state; returns the length.
pub fn encode_node(s: &NodeState<'_>, buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    w.map(7)?;
    w.field_str("Addr", s.addr)?;
    w.field_uint("Incarnation", u64::from(s.incarnation))?;
    w.field_str("Meta", s.meta)?;
    w.field_str("Name", s.name)?;
    w.field_uint("Port", u64::from(s.port))?;
    w.field_uint("State", u64::from(s.state))?;
    w.field_str("Vsn", s.vsn)?;
    Ok(w.len())
}

/// How long the stream message starting `prefix` is: `Ok(None)` while more
/// bytes are needed to tell, `Ok(Some(n))` once they are (the message is
/// `prefix[..n]` when that many have arrived). A runtime reads a stream
/// until this says the message is complete; it never parses one itself.
pub fn message_len(prefix: &[u8]) -> Result<Option<usize>, HcError> {
    let mut at = 0;
    if prefix.first() == Some(&kind::HAS_LABEL) {
        let Some(&len) = prefix.get(1) else {
            return Ok(None);
        };
        at = 2 + usize::from(len);
    }
    let Some(&k) = prefix.get(at) else {
        return Ok(None);
    };
    let body = &prefix[at + 1..];
    let mut r = Reader::new(body);
    let done = |r: &Reader<'_>| Ok(Some(at + 1 + body.len() - r.rest().len()));
    let more = |e: HcError| match e {
        HcError::Truncated => Ok(None),
        e => Err(e),
    };
    match k {
        kind::ENCRYPT => {
            let Some(len) = body.first_chunk::<4>() else {
                return Ok(None);
            };
            let len = u32::from_be_bytes(*len) as usize;
            Ok(Some(at + ENCRYPTED_HEADER + len))
        }
        kind::PUSH_PULL => {
            let pp = match read_push_pull(&prefix[at..]) {
                Ok(pp) => pp,
                Err(e) => return more(e),
            };
            let mut pp = pp;
            for s in pp.by_ref() {
                if let Err(e) = s {
                    return more(e);
                }
            }
            let rest = pp.r.rest();
            let user = pp.header.user_state_len as usize;
            if rest.len() < user {
                return Ok(None);
            }
            Ok(Some(prefix.len() - rest.len() + user))
        }
        kind::USER => Ok(user_message_len(&prefix[at..])?.map(|n| at + n)),
        kind::COMPRESS | kind::PING | kind::ACK | kind::ERR => match r.skip() {
            Ok(()) => done(&r),
            Err(e) => more(e),
        },
        k => Err(HcError::Kind(k)),
    }
}

/// The maximum a user message on a stream may carry (memberlist's
/// `maxUserMsgBytes` is larger; Serf sends none this large).
pub const MAX_USER_MSG: usize = 64 * 1024;

/// How long the stream user message starting `prefix` (type byte first) is:
/// memberlist writes `{UserMsgLen}`, then that many bytes.
pub(super) fn user_message_len(prefix: &[u8]) -> Result<Option<usize>, HcError> {
    let Some(body) = prefix.get(1..) else {
        return Ok(None);
    };
    let mut r = Reader::new(body);
    let header = (|| {
        let mut len = 0usize;
        for _ in 0..r.map_len()? {
            match r.bytes()? {
                b"UserMsgLen" => len = r.uint(MAX_USER_MSG as u64)? as usize,
                _ => r.skip()?,
            }
        }
        Ok(len)
    })();
    match header {
        Ok(len) => {
            let total = prefix.len() - r.rest().len() + len;
            Ok((prefix.len() >= total).then_some(total))
        }
        Err(HcError::Truncated) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user message (a Serf message) in a whole stream user message.
pub fn user_message(message: &[u8]) -> Result<&[u8], HcError> {
    let n = user_message_len(message)?.ok_or(HcError::Truncated)?;
    let mut r = Reader::new(message.get(1..).ok_or(HcError::Truncated)?);
    r.skip()?;
    let start = message.len() - r.rest().len();
    message.get(start..n).ok_or(HcError::Truncated)
}

/// Whether the stream message starting `prefix` is encrypted (read it
/// whole) or not (feed it piece by piece: `feed::StreamFeed`); `None` while
/// its label and type byte have not all arrived.
pub fn sealed(prefix: &[u8]) -> Option<bool> {
    let at = match prefix.first()? {
        &kind::HAS_LABEL => 2 + usize::from(*prefix.get(1)?),
        _ => 0,
    };
    prefix.get(at).map(|&k| k == kind::ENCRYPT)
}

/// Bytes in front of an encrypted stream's plaintext: the `encrypt` header
/// and the packet-style version and nonce.
pub const SEALED_HEADER: usize = ENCRYPTED_HEADER + security::HEADER;

/// Encrypts the `len` bytes at `buf[SEALED_HEADER..]` in place as memberlist
/// encrypts a stream (`encrypt`, length, version 1, nonce, ciphertext, tag;
/// the first five bytes and the label as associated data); returns the
/// stream message's length.
pub fn seal_stream(
    buf: &mut [u8],
    len: usize,
    label: &[u8],
    key: &crate::wire::crypto::Key,
    nonce: [u8; crate::wire::crypto::NONCE],
) -> Result<usize, HcError> {
    if label.len() > MAX_LABEL {
        return Err(HcError::TooLarge);
    }
    let sealed = security::HEADER + len + crate::wire::crypto::TAG;
    let sealed_u32 = u32::try_from(sealed).map_err(|_| HcError::TooLarge)?;
    if buf.len() < ENCRYPTED_HEADER + sealed {
        return Err(HcError::TooLarge);
    }
    buf[0] = kind::ENCRYPT;
    buf[1..ENCRYPTED_HEADER].copy_from_slice(&sealed_u32.to_be_bytes());
    let mut aad = [0u8; ENCRYPTED_HEADER + MAX_LABEL];
    aad[..ENCRYPTED_HEADER].copy_from_slice(&buf[..ENCRYPTED_HEADER]);
    aad[ENCRYPTED_HEADER..ENCRYPTED_HEADER + label.len()].copy_from_slice(label);
    let aad = &aad[..ENCRYPTED_HEADER + label.len()];
    let n = security::seal_packet(&mut buf[ENCRYPTED_HEADER..], len, aad, key, nonce)?;
    Ok(ENCRYPTED_HEADER + n)
}
