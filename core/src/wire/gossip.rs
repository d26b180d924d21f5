//! The three gossip messages (alive, suspect, dead) read by hand.
//!
//! They are nearly all of what a busy node decodes. Postcard's derived
//! decoder spends about 190 instructions on an alive message, most of them in
//! serde's struct-variant plumbing; this reads the same bytes with the same
//! rules (LEB128 varints that may be overlong but not overflow, a length-
//! prefixed byte string, a raw byte), so it accepts and refuses exactly what
//! postcard does. Identities are still read by postcard: their layout is the
//! identity type's own. `wire::tests` checks both readers agree on every
//! message kind and on damaged bytes; the `decode` fuzz target checks it on
//! any input.

use serde::Deserialize;

use super::Message;

/// Variant numbers of [`Message`] (its declaration order; pinned by a test).
pub(super) const ALIVE: u8 = 4;
pub(super) const SUSPECT: u8 = 5;
pub(super) const DEAD: u8 = 6;

/// Bytes left after a value, or `Err` for bytes postcard refuses.
type Rest<'a, T> = Result<(T, &'a [u8]), ()>;

/// Decodes one alive, suspect or dead message from the front of `bytes`;
/// `None` when the message is of another kind (postcard reads those).
pub(super) fn take<'a, I: Deserialize<'a>>(bytes: &'a [u8]) -> Option<Rest<'a, Message<'a, I>>> {
    // Variant numbers below 128 are one varint byte.
    let (&tag, rest) = bytes.split_first()?;
    match tag {
        ALIVE => Some(alive(rest)),
        SUSPECT | DEAD => Some(accusation(tag, rest)),
        _ => None,
    }
}

fn alive<'a, I: Deserialize<'a>>(bytes: &'a [u8]) -> Rest<'a, Message<'a, I>> {
    let (incarnation, rest) = varint_u32(bytes)?;
    let (node, rest) = identity(rest)?;
    let (len, rest) = varint_usize(rest)?;
    if rest.len() < len {
        return Err(());
    }
    let (meta, rest) = rest.split_at(len);
    let (&protocol, rest) = rest.split_first().ok_or(())?;
    let m = Message::Alive {
        incarnation,
        node,
        meta,
        protocol,
    };
    Ok((m, rest))
}

fn accusation<'a, I: Deserialize<'a>>(tag: u8, bytes: &'a [u8]) -> Rest<'a, Message<'a, I>> {
    let (incarnation, rest) = varint_u32(bytes)?;
    let (node, rest) = identity(rest)?;
    let (from, rest) = identity(rest)?;
    let m = if tag == SUSPECT {
        Message::Suspect {
            incarnation,
            node,
            from,
        }
    } else {
        Message::Dead {
            incarnation,
            node,
            from,
        }
    };
    Ok((m, rest))
}

fn identity<'a, I: Deserialize<'a>>(bytes: &'a [u8]) -> Rest<'a, I> {
    postcard::take_from_bytes::<I>(bytes).map_err(|_| ())
}

/// A u32 varint: at most 5 bytes, the fifth holding at most 4 bits.
#[inline]
fn varint_u32(bytes: &[u8]) -> Rest<'_, u32> {
    // The common cases first: values below 2^7 and 2^14.
    match *bytes {
        [b, ref rest @ ..] if b < 0x80 => return Ok((u32::from(b), rest)),
        [b0, b1, ref rest @ ..] if b1 < 0x80 => {
            return Ok((u32::from(b0 & 0x7F) | u32::from(b1) << 7, rest));
        }
        _ => {}
    }
    let (v, rest) = varint(bytes, 5, 0x0F)?;
    Ok((v as u32, rest))
}

/// A usize varint as postcard writes it for this target: as many 7-bit
/// groups as usize's bits need, the last holding only the bits left.
#[inline]
fn varint_usize(bytes: &[u8]) -> Rest<'_, usize> {
    const BITS: usize = usize::BITS as usize;
    const LAST_MAX: u8 = (1u8 << (BITS % 7)) - 1;
    if let Some((&b, rest)) = bytes.split_first() {
        if b < 0x80 {
            return Ok((usize::from(b), rest));
        }
    }
    let (v, rest) = varint(bytes, BITS.div_ceil(7), LAST_MAX)?;
    Ok((v as usize, rest))
}

fn varint(bytes: &[u8], max_len: usize, last_max: u8) -> Rest<'_, u64> {
    let mut out = 0u64;
    for (i, &b) in bytes.iter().take(max_len).enumerate() {
        out |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            if i == max_len - 1 && b > last_max {
                return Err(());
            }
            return Ok((out, &bytes[i + 1..]));
        }
    }
    Err(())
}
