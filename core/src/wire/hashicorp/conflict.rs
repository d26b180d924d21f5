//! Serf's answer to a `_serf_conflict` query: the conflict response type
//! byte, then the answering member's record of the contested name as a
//! `serf.Member` (msgpack nil if it holds nobody under that name).

use super::msgpack::{Reader, Writer};
use super::serf::serf_kind;
use super::HcError;

/// Serf's `MemberStatus` values.
pub mod status {
    /// `StatusAlive`.
    pub const ALIVE: u8 = 1;
    /// `StatusLeaving`.
    pub const LEAVING: u8 = 2;
    /// `StatusLeft`.
    pub const LEFT: u8 = 3;
    /// `StatusFailed`.
    pub const FAILED: u8 = 4;
}

/// A member as a conflict answer describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HeldMember<'a> {
    /// Node name.
    pub name: &'a [u8],
    /// IP bytes.
    pub addr: &'a [u8],
    /// Port.
    pub port: u16,
    /// Its tags, as one encoded msgpack map (or nil).
    pub tags: &'a [u8],
    /// A [`status`] value.
    pub status: u8,
    /// Protocol min, max, current; delegate (Serf) min, max, current.
    pub vsn: [u8; 6],
}

/// The version fields, in the order of [`HeldMember::vsn`].
const VSN_FIELDS: [&[u8]; 6] = [
    b"ProtocolMin",
    b"ProtocolMax",
    b"ProtocolCur",
    b"DelegateMin",
    b"DelegateMax",
    b"DelegateCur",
];

/// Reads a conflict answer (a query response's payload): `None` if the
/// answerer holds nobody under the name.
pub fn decode_conflict_answer(payload: &[u8]) -> Result<Option<HeldMember<'_>>, HcError> {
    let Some((&serf_kind::CONFLICT_RESPONSE, body)) = payload.split_first() else {
        return Err(HcError::Kind(payload.first().copied().unwrap_or(0)));
    };
    if body.first() == Some(&0xc0) {
        return Ok(None);
    }
    let mut r = Reader::new(body);
    let mut m = HeldMember {
        tags: &[0xc0],
        ..HeldMember::default()
    };
    for _ in 0..r.map_len()? {
        let key = r.bytes()?;
        if let Some(i) = VSN_FIELDS.iter().position(|f| *f == key) {
            m.vsn[i] = r.uint(u64::from(u8::MAX))? as u8;
            continue;
        }
        match key {
            b"Name" => m.name = r.bytes()?,
            b"Addr" => m.addr = r.bytes()?,
            b"Port" => m.port = r.u16()?,
            b"Tags" => m.tags = r.raw_value()?,
            b"Status" => m.status = r.uint(u64::from(u8::MAX))? as u8,
            _ => r.skip()?,
        }
    }
    Ok(Some(m))
}

/// Writes a conflict answer; returns its length. `tags` must be one msgpack
/// value (a map of strings, or nil).
pub fn encode_conflict_answer(
    m: Option<&HeldMember<'_>>,
    buf: &mut [u8],
) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    w.raw(&[serf_kind::CONFLICT_RESPONSE])?;
    let Some(m) = m else {
        w.raw(&[0xc0])?;
        return Ok(w.len());
    };
    if Reader::new(m.tags).raw_value()? != m.tags {
        return Err(HcError::Msgpack);
    }
    // go-msgpack writes a struct's fields in name order.
    w.map(11)?;
    w.field_str("Addr", m.addr)?;
    for i in [5, 4, 3] {
        w.field_uint(field(i), u64::from(m.vsn[i]))?;
    }
    w.field_str("Name", m.name)?;
    w.field_uint("Port", u64::from(m.port))?;
    for i in [2, 1, 0] {
        w.field_uint(field(i), u64::from(m.vsn[i]))?;
    }
    w.field_uint("Status", u64::from(m.status))?;
    w.str(b"Tags")?;
    w.raw(m.tags)?;
    Ok(w.len())
}

fn field(i: usize) -> &'static str {
    // The names are ASCII constants.
    core::str::from_utf8(VSN_FIELDS[i]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_member_reads_back_as_written_and_nobody_is_nil() {
        let tags = [0x81, 0xa4, b'r', b'o', b'l', b'e', 0xa3, b'w', b'e', b'b'];
        let m = HeldMember {
            name: b"hc1",
            addr: &[127, 0, 0, 2],
            port: 7946,
            tags: &tags,
            status: status::ALIVE,
            vsn: [1, 5, 2, 2, 5, 4],
        };
        let mut buf = [0u8; 256];
        let n = encode_conflict_answer(Some(&m), &mut buf).unwrap();
        assert_eq!(&buf[..6], &[6, 0x8b, 0xa4, b'A', b'd', b'd']);
        assert_eq!(decode_conflict_answer(&buf[..n]), Ok(Some(m)));

        let n = encode_conflict_answer(None, &mut buf).unwrap();
        assert_eq!(&buf[..n], &[6, 0xc0]);
        assert_eq!(decode_conflict_answer(&buf[..n]), Ok(None));
    }

    #[test]
    fn a_conflict_answer_of_another_kind_or_cut_short_is_refused() {
        assert_eq!(decode_conflict_answer(&[]), Err(HcError::Kind(0)));
        assert_eq!(decode_conflict_answer(&[5, 0xc0]), Err(HcError::Kind(5)));
        assert!(decode_conflict_answer(&[6, 0x81, 0xa4, b'N', b'a']).is_err());
        let mut buf = [0u8; 8];
        let m = HeldMember {
            tags: &[0x81],
            ..HeldMember::default()
        };
        assert_eq!(
            encode_conflict_answer(Some(&m), &mut [0u8; 256]),
            Err(HcError::Truncated)
        );
        assert_eq!(
            encode_conflict_answer(None, &mut buf[..1]),
            Err(HcError::TooLarge)
        );
    }
}
