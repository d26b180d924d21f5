//! Conversions between HashiCorp's encodings and the native ones the node
//! keeps: tags (Serf's msgpack map ↔ postcard pairs), the ack coordinate
//! (Serf's ping payload ↔ postcard) and query filters (Serf's type-prefixed
//! filters ↔ a node list and tag pairs). Each writes into a caller's buffer.

use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use super::msgpack::{Reader, Writer};
use super::serf;
use super::HcError;
use crate::identity::{HcNode, Identity};
use crate::vivaldi::Coordinate;
use crate::wire::tags::Tags;
use crate::wire::NodeList;

/// Serf's filter type bytes (`filterNodeType`, `filterTagType`).
const FILTER_NODE: u8 = 0;
const FILTER_TAG: u8 = 1;

/// A string of HashiCorp's wire as the `&str` the native encodings carry.
fn text(bytes: &[u8]) -> Result<&str, HcError> {
    core::str::from_utf8(bytes).map_err(|_| HcError::Msgpack)
}

/// `n` string pairs, serialized as postcard's sequence of tuples.
struct Pairs<F>(usize, F);

impl<'a, F, It> Serialize for Pairs<F>
where
    F: Fn() -> It,
    It: Iterator<Item = (&'a str, &'a str)>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0))?;
        for pair in (self.1)() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

fn postcard_into<T: Serialize>(v: &T, buf: &mut [u8]) -> Result<usize, HcError> {
    postcard::to_slice(v, buf)
        .map(|b| b.len())
        .map_err(|_| HcError::TooLarge)
}

/// Serf's node meta → the native tag encoding ([`crate::wire::tags`]).
pub fn tags_to_native(meta: &[u8], buf: &mut [u8]) -> Result<usize, HcError> {
    if meta.is_empty() {
        return Ok(0);
    }
    let mut n = 0;
    for t in serf::tags(meta)? {
        let t = t?;
        text(t.key)?;
        text(t.value)?;
        n += 1;
    }
    if n == 0 {
        // Serf's empty map: no tags, as natively.
        return Ok(0);
    }
    let pairs = || {
        serf::tags(meta)
            .into_iter()
            .flatten()
            .flatten()
            .map(|t| (text(t.key).unwrap_or(""), text(t.value).unwrap_or("")))
    };
    postcard_into(&Pairs(n, pairs), buf)
}

/// Native tags → Serf's node meta: `0xff` and a msgpack map, an empty map
/// for no tags (as Serf writes it: a member compares the meta gossiped
/// about it byte for byte with its own and refutes any difference).
pub fn tags_to_hashicorp(meta: &[u8], buf: &mut [u8]) -> Result<usize, HcError> {
    let n = Tags::new(meta).count();
    let mut w = Writer::new(buf);
    w.raw(&[serf::TAG_MAGIC])?;
    w.map(n)?;
    for (k, v) in Tags::new(meta) {
        w.str(k.as_bytes())?;
        w.str(v.as_bytes())?;
    }
    Ok(w.len())
}

/// An ack's Serf payload → the native coordinate bytes (postcard).
pub fn coordinate_to_native(payload: &[u8], buf: &mut [u8]) -> Result<usize, HcError> {
    let c = serf::decode_coordinate(payload)?;
    postcard_into(&c, buf)
}

/// A native coordinate → Serf's ack payload.
pub fn coordinate_to_hashicorp(c: &Coordinate, buf: &mut [u8]) -> Result<usize, HcError> {
    serf::encode_coordinate(c, buf)
}

/// Where converted query filters were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Filters {
    /// Length of the native node list.
    pub nodes: usize,
    /// Length of the native tag filter.
    pub tags: usize,
}

/// Each filter of a query's `Filters` value: its type byte and msgpack body.
fn each_filter<'a>(
    filters: &'a [u8],
    mut f: impl FnMut(u8, Reader<'a>) -> Result<(), HcError>,
) -> Result<(), HcError> {
    let mut r = Reader::new(filters);
    let Some(n) = r.opt_array_len()? else {
        return Ok(());
    };
    for _ in 0..n {
        let (&kind, body) = r.bytes()?.split_first().ok_or(HcError::Truncated)?;
        f(kind, Reader::new(body))?;
    }
    Ok(())
}

/// Serf's query filters → a native node list (identities named by name only)
/// in `nodes` and native tag pairs (key, expression) in `tags`. Serf's
/// command line makes at most one node filter; more are refused.
pub fn filters_to_native<I: Identity>(
    filters: &[u8],
    nodes: &mut [u8],
    tags: &mut [u8],
) -> Result<Filters, HcError> {
    let (mut node_filter, mut tag_count) = (None, 0usize);
    each_filter(filters, |kind, mut r| {
        match kind {
            FILTER_NODE if node_filter.is_none() => {
                let n = r.array_len()?;
                for _ in 0..n {
                    text(r.bytes()?)?;
                }
                node_filter = Some(r);
            }
            FILTER_TAG => {
                tag_filter(&mut r)?;
                tag_count += 1;
            }
            _ => return Err(HcError::Msgpack),
        }
        Ok(())
    })?;
    let mut out = Filters::default();
    if node_filter.is_some() {
        let list = NameList::<I> {
            filters,
            marker: core::marker::PhantomData,
        };
        out.nodes = postcard_into(&list, nodes)?;
    }
    if tag_count > 0 {
        let pairs = || tag_pairs(filters);
        out.tags = postcard_into(&Pairs(tag_count, pairs), tags)?;
    }
    Ok(out)
}

/// The tag filters' (key, expression) pairs, in order.
fn tag_pairs(filters: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    let mut r = Reader::new(filters);
    let mut n = r.opt_array_len().ok().flatten().unwrap_or(0);
    core::iter::from_fn(move || {
        while n > 0 {
            n -= 1;
            let (&kind, body) = r.bytes().ok()?.split_first()?;
            if kind == FILTER_TAG {
                return tag_filter(&mut Reader::new(body)).ok();
            }
        }
        None
    })
}

/// A `filterTag{Tag, Expr}` body.
fn tag_filter<'a>(r: &mut Reader<'a>) -> Result<(&'a str, &'a str), HcError> {
    let (mut tag, mut expr) = ("", "");
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Tag" => tag = text(r.bytes()?)?,
            b"Expr" => expr = text(r.bytes()?)?,
            _ => r.skip()?,
        }
    }
    Ok((tag, expr))
}

/// The names of a query's node filter as native identities.
struct NameList<'a, I> {
    filters: &'a [u8],
    marker: core::marker::PhantomData<I>,
}

impl<I: Identity> Serialize for NameList<'_, I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bad = || S::Error::custom("node filter");
        let mut names = None;
        each_filter(self.filters, |kind, mut r| {
            if kind == FILTER_NODE && names.is_none() {
                let n = r.array_len()?;
                names = Some((r, n));
            }
            Ok(())
        })
        .map_err(|_| bad())?;
        let (mut r, n) = names.ok_or_else(bad)?;
        let mut seq = s.serialize_seq(Some(n))?;
        for _ in 0..n {
            let name = r.bytes().map_err(|_| bad())?;
            let id = I::from_hashicorp(HcNode {
                name,
                ..HcNode::default()
            })
            .ok_or_else(bad)?;
            seq.serialize_element(&id)?;
        }
        seq.end()
    }
}

/// Native query filters → Serf's `Filters` value (an array of byte strings,
/// each a type byte and a msgpack body; nil when there are none). `scratch`
/// holds one filter body while it is written.
pub fn filters_to_hashicorp<I: Identity>(
    nodes: &[u8],
    tags: &[u8],
    buf: &mut [u8],
    scratch: &mut [u8],
) -> Result<usize, HcError> {
    let count = usize::from(!nodes.is_empty()) + Tags::new(tags).count();
    let mut w = Writer::new(buf);
    if count == 0 {
        w.raw(&[0xc0])?;
        return Ok(w.len());
    }
    w.array(count)?;
    if !nodes.is_empty() {
        let mut f = Writer::new(scratch);
        f.raw(&[FILTER_NODE])?;
        f.array(NodeList::<I>::new(nodes).count())?;
        for id in NodeList::<I>::new(nodes) {
            let name = id.hashicorp().ok_or(HcError::Msgpack)?.name;
            f.str(name)?;
        }
        let n = f.len();
        w.str(&scratch[..n])?;
    }
    for (key, expr) in Tags::new(tags) {
        let mut f = Writer::new(scratch);
        f.raw(&[FILTER_TAG])?;
        f.map(2)?;
        f.field_str("Expr", expr.as_bytes())?;
        f.field_str("Tag", key.as_bytes())?;
        let n = f.len();
        w.str(&scratch[..n])?;
    }
    Ok(w.len())
}

/// Serf's key request (`messageKeyRequest` and `{Key}`) → the key's bytes.
pub fn key_request_to_native(payload: &[u8]) -> Result<&[u8], HcError> {
    let Some((&serf::serf_kind::KEY_REQUEST, body)) = payload.split_first() else {
        return Err(HcError::Msgpack);
    };
    let mut r = Reader::new(body);
    let mut key = &[][..];
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Key" => key = r.bytes()?,
            _ => r.skip()?,
        }
    }
    Ok(key)
}

/// A key's bytes → Serf's key request.
pub fn key_request_to_hashicorp(key: &[u8], buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    w.raw(&[serf::serf_kind::KEY_REQUEST])?;
    w.map(1)?;
    w.field_str("Key", key)?;
    Ok(w.len())
}

/// Longest base64 key (32 bytes).
const KEY_TEXT: usize = 44;

/// A native key-operation answer (`[1]` and `len, key` pairs, or `[0]` and
/// a message) → Serf's `messageKeyResponse` and `{Keys, Message,
/// PrimaryKey, Result}`, keys in base64, the first listed as primary.
pub fn key_response_to_hashicorp(native: &[u8], buf: &mut [u8]) -> Result<usize, HcError> {
    let (&ok, rest) = native.split_first().ok_or(HcError::Truncated)?;
    let keys = || {
        let mut rest = if ok == 1 { rest } else { &[][..] };
        core::iter::from_fn(move || {
            let (&n, tail) = rest.split_first()?;
            let key = tail.get(..usize::from(n))?;
            rest = &tail[usize::from(n)..];
            Some(key)
        })
    };
    let mut w = Writer::new(buf);
    w.raw(&[serf::serf_kind::KEY_RESPONSE])?;
    w.map(4)?;
    w.str(b"Keys")?;
    w.array(keys().count())?;
    let mut text = [0u8; KEY_TEXT];
    for k in keys() {
        let n = super::base64::encode(k, &mut text).ok_or(HcError::TooLarge)?;
        w.str(&text[..n])?;
    }
    w.field_str("Message", if ok == 1 { &[] } else { rest })?;
    let n = match keys().next() {
        Some(k) => super::base64::encode(k, &mut text).ok_or(HcError::TooLarge)?,
        None => 0,
    };
    w.field_str("PrimaryKey", &text[..n])?;
    w.str(b"Result")?;
    w.bool(ok == 1)?;
    Ok(w.len())
}

/// Serf's key-operation answer, read: (succeeded, message, the `Keys`
/// array as its encoded value).
pub fn key_response_from_hashicorp(payload: &[u8]) -> Result<(bool, &[u8], &[u8]), HcError> {
    let Some((&serf::serf_kind::KEY_RESPONSE, body)) = payload.split_first() else {
        return Err(HcError::Msgpack);
    };
    let mut r = Reader::new(body);
    let (mut ok, mut message, mut keys) = (false, &[][..], &[0x90u8][..]);
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Result" => ok = r.bool()?,
            b"Message" => message = r.bytes()?,
            b"Keys" => keys = r.raw_value()?,
            _ => r.skip()?,
        }
    }
    Ok((ok, message, keys))
}

/// The keys of a `Keys` array, base64-decoded into `out` one at a time.
pub fn each_key(keys: &[u8], mut f: impl FnMut(&[u8])) -> Result<(), HcError> {
    let mut r = Reader::new(keys);
    let mut out = [0u8; 33];
    for _ in 0..r.opt_array_len()?.unwrap_or(0) {
        let n = super::base64::decode(r.bytes()?, &mut out).ok_or(HcError::Msgpack)?;
        f(&out[..n]);
    }
    Ok(())
}
