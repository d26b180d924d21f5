//! A stream message read as it arrives, chunk by chunk, in bounded memory:
//! memberlist's label and compression, the push-pull header, each node
//! state, then Serf's state entry by entry, each handed out as soon as it is
//! whole. A push-pull of any size is never gathered: only the value being
//! completed is kept (at most [`RECORD_MAX`] bytes), with the LZW table and
//! one window of decompressed bytes. Encrypted streams cannot be read this
//! way (the tag authenticates the whole message): they are opened whole and
//! their plaintext is fed here in one piece.

use super::lzw::{Lzw, MAX_EXPANSION};
use super::msgpack::Reader;
use super::serf::{each_event_of, serf_kind};
use super::stream::{header_of, node_state_of, user_message_len, Header, NodeState};
use super::{kind, HcError};

/// The largest single value (a node state, an event batch, a ping) a stream
/// may carry.
pub const RECORD_MAX: usize = 8 * 1024;
/// Decompressed bytes handled at a time.
const INFLATE: usize = 2 * MAX_EXPANSION;

/// Serf's clocks in its push-pull state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// `LTime`: the member clock.
    Member,
    /// `EventLTime`.
    Event,
    /// `QueryLTime`.
    Query,
}

/// What a stream message holds, in the order it comes.
#[derive(Debug)]
pub enum Item<'a> {
    /// The label the message carries (empty if none); always first.
    Label(&'a [u8]),
    /// A push-pull's header.
    Header(Header),
    /// One member's state.
    Node(NodeState<'a>),
    /// One of Serf's clocks.
    Clock(Clock, u64),
    /// A member Serf's state lists as left (`LeftMembers` comes before
    /// `StatusLTimes`, as Go writes the fields in name order).
    Left(&'a [u8]),
    /// A member's status time: (name, member clock).
    Status(&'a [u8], u64),
    /// One event of Serf's buffer: (event clock, name, payload).
    Event(u64, &'a [u8], &'a [u8]),
    /// A whole message of another kind (ping, ack, error), type byte first.
    Message(&'a [u8]),
}

/// How far a message has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every byte so far was taken; the message goes on.
    More,
    /// The message ended (bytes after it are not read).
    Done,
}

/// The bytes of a value that began in an earlier chunk.
struct Pending {
    buf: [u8; RECORD_MAX],
    len: usize,
}

/// Where a whole value was found.
enum Taken {
    /// The first `n` bytes of the input.
    Input(usize),
    /// `len` bytes of the pending buffer, `used` of them from the input.
    Pending { len: usize, used: usize },
}

impl Pending {
    /// One whole value (as `len_of` measures it) from what is pending and
    /// `input`; `None` once all of `input` was kept for later.
    fn take(
        &mut self,
        input: &[u8],
        len_of: fn(&[u8]) -> Result<Option<usize>, HcError>,
    ) -> Result<Option<Taken>, HcError> {
        if self.len == 0 {
            if let Some(n) = len_of(input)? {
                // The same bound whether or not the value came in one piece.
                if n > RECORD_MAX {
                    return Err(HcError::TooLarge);
                }
                return Ok(Some(Taken::Input(n)));
            }
            let kept = self.buf.get_mut(..input.len()).ok_or(HcError::TooLarge)?;
            kept.copy_from_slice(input);
            self.len = input.len();
            return Ok(None);
        }
        let add = input.len().min(RECORD_MAX - self.len);
        self.buf[self.len..self.len + add].copy_from_slice(&input[..add]);
        match len_of(&self.buf[..self.len + add])? {
            Some(n) => {
                let used = n - self.len;
                self.len = 0;
                Ok(Some(Taken::Pending { len: n, used }))
            }
            None if add == input.len() => {
                self.len += add;
                Ok(None)
            }
            None => Err(HcError::TooLarge),
        }
    }

    /// The value `t` names, and how much of `input` it used.
    fn view<'s>(&'s self, t: &Taken, input: &'s [u8]) -> (&'s [u8], usize) {
        match *t {
            Taken::Input(n) => (&input[..n], n),
            Taken::Pending { len, used } => (&self.buf[..len], used),
        }
    }
}

fn more(e: HcError) -> Result<Option<usize>, HcError> {
    match e {
        HcError::Truncated => Ok(None),
        e => Err(e),
    }
}

fn one_byte(b: &[u8]) -> Result<Option<usize>, HcError> {
    Ok(b.first().map(|_| 1))
}

/// One msgpack value.
fn value_len(b: &[u8]) -> Result<Option<usize>, HcError> {
    let mut r = Reader::new(b);
    match r.skip() {
        Ok(()) => Ok(Some(b.len() - r.rest().len())),
        Err(e) => more(e),
    }
}

/// Two msgpack values (a map entry).
fn pair_len(b: &[u8]) -> Result<Option<usize>, HcError> {
    let mut r = Reader::new(b);
    match r.skip().and_then(|()| r.skip()) {
        Ok(()) => Ok(Some(b.len() - r.rest().len())),
        Err(e) => more(e),
    }
}

/// A map, array or string header alone (or nil).
fn head_len(b: &[u8]) -> Result<Option<usize>, HcError> {
    let n = match b.first() {
        None => return Ok(None),
        Some(0x80..=0xc0) => 1,
        Some(0xd9 | 0xc4) => 2,
        Some(0xdc | 0xde | 0xda | 0xc5) => 3,
        Some(0xdd | 0xdf | 0xdb | 0xc6) => 5,
        Some(_) => return Err(HcError::Msgpack),
    };
    Ok((b.len() >= n).then_some(n))
}

/// memberlist's label header: type, length, label.
fn label_len(b: &[u8]) -> Result<Option<usize>, HcError> {
    match b {
        [_, len, ..] => {
            let n = 2 + usize::from(*len);
            Ok((b.len() >= n).then_some(n))
        }
        _ => Ok(None),
    }
}

/// A small message: its type byte and one value (a user message: its type
/// byte, `{UserMsgLen}` and that many bytes).
fn message_len(b: &[u8]) -> Result<Option<usize>, HcError> {
    if b.first() == Some(&kind::USER) {
        return user_message_len(b);
    }
    match b.get(1..) {
        Some(rest) => Ok(value_len(rest)?.map(|n| 1 + n)),
        None => Ok(None),
    }
}

/// The wrapping around the message.
#[derive(Clone, Copy, Debug)]
enum Outer {
    Label,
    Kind,
    CompressMap,
    CompressKey { left: usize },
    Algo { left: usize },
    Skip { left: usize },
    BufHead,
    Compressed { left: usize },
    Plain,
    Done,
}

/// One of Serf's fields whose value is a list read entry by entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Left,
    Status,
    Events,
}

/// Inside the (decompressed) message.
#[derive(Clone, Copy, Debug)]
enum Inner {
    Kind,
    Whole,
    Header,
    Nodes {
        left: u32,
        user: u32,
    },
    UserKind,
    UserMap,
    UserKey {
        left: usize,
    },
    UserValue {
        clock: Option<Clock>,
        left: usize,
    },
    ListHead {
        list: List,
        left: usize,
    },
    Entries {
        list: List,
        count: usize,
        left: usize,
    },
    Done,
}

/// Reads one stream message as it arrives (see the module's note).
pub struct StreamFeed {
    outer: Outer,
    inner: Inner,
    header: Option<Header>,
    pending: Pending,
    lzw: Lzw,
    inflated: [u8; INFLATE],
}

impl Default for StreamFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamFeed {
    /// A reader at the start of a message.
    pub fn new() -> Self {
        StreamFeed {
            outer: Outer::Label,
            inner: Inner::Kind,
            header: None,
            pending: Pending {
                buf: [0; RECORD_MAX],
                len: 0,
            },
            lzw: Lzw::new(),
            inflated: [0; INFLATE],
        }
    }

    /// Back to the start of a message (for the next stream), without
    /// clearing its buffers.
    pub fn reset(&mut self) {
        self.outer = Outer::Label;
        self.inner = Inner::Kind;
        self.header = None;
        self.pending.len = 0;
        self.lzw.reset();
    }

    /// The push-pull header, once read.
    pub fn header(&self) -> Option<Header> {
        self.header
    }

    /// Reads `bytes`, the next piece of the stream, handing each whole item
    /// to `f` (whose error ends the read). An encrypted message is
    /// [`HcError::Kind`]`(encrypt)`: open it whole, then feed the plaintext.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        f: &mut dyn FnMut(Item<'_>) -> Result<(), HcError>,
    ) -> Result<Progress, HcError> {
        let mut input = bytes;
        loop {
            if let Outer::Done = self.outer {
                return Ok(Progress::Done);
            }
            if let Outer::Compressed { left } = self.outer {
                if input.is_empty() {
                    return Ok(Progress::More);
                }
                let piece = &input[..left.min(input.len())];
                let (used, made) = if self.lzw.done() {
                    (piece.len(), 0)
                } else {
                    self.lzw.feed(piece, &mut self.inflated)?
                };
                let (h, inflated) = (&mut self.header, &self.inflated[..made]);
                inner(&mut self.inner, &mut self.pending, h, inflated, f)?;
                if let Some(e) = self.lzw.failure() {
                    // A bad code, after what came before it.
                    return Err(e);
                }
                if used == 0 && made == 0 {
                    return Err(HcError::Compress);
                }
                input = &input[used..];
                let left = left - used;
                self.outer = Outer::Compressed { left };
                if left == 0 {
                    // Go's reader accepts a stream cut before the end code.
                    if !matches!(self.inner, Inner::Done) {
                        return Err(HcError::Truncated);
                    }
                    self.outer = Outer::Done;
                }
                continue;
            }
            if let Outer::Plain = self.outer {
                inner(
                    &mut self.inner,
                    &mut self.pending,
                    &mut self.header,
                    input,
                    f,
                )?;
                if matches!(self.inner, Inner::Done) {
                    self.outer = Outer::Done;
                    continue;
                }
                return Ok(Progress::More);
            }
            let Some(&first) = input.first() else {
                return Ok(Progress::More);
            };
            match self.outer {
                Outer::Label if first != kind::HAS_LABEL && self.pending.len == 0 => {
                    f(Item::Label(&[]))?;
                    self.outer = Outer::Kind;
                    continue;
                }
                Outer::Kind => {
                    match first {
                        kind::COMPRESS => {
                            input = &input[1..];
                            self.outer = Outer::CompressMap;
                        }
                        kind::ENCRYPT => return Err(HcError::Kind(first)),
                        _ => self.outer = Outer::Plain,
                    }
                    continue;
                }
                _ => {}
            }
            let len_of = match self.outer {
                Outer::Label => label_len,
                Outer::CompressMap | Outer::BufHead => head_len,
                _ => value_len,
            };
            let Some(t) = self.pending.take(input, len_of)? else {
                return Ok(Progress::More);
            };
            let (v, used) = self.pending.view(&t, input);
            let mut r = Reader::new(v);
            self.outer = match self.outer {
                Outer::Label => {
                    f(Item::Label(&v[2..]))?;
                    Outer::Kind
                }
                Outer::CompressMap => Outer::CompressKey { left: r.map_len()? },
                Outer::CompressKey { left: 0 } => return Err(HcError::Compress),
                Outer::CompressKey { left } => match r.bytes()? {
                    b"Algo" => Outer::Algo { left: left - 1 },
                    // Go writes `Buf` last: the message follows its header.
                    b"Buf" => Outer::BufHead,
                    _ => Outer::Skip { left: left - 1 },
                },
                Outer::Algo { left } => match r.uint(u64::MAX)? {
                    0 => Outer::CompressKey { left },
                    _ => return Err(HcError::Compress),
                },
                Outer::Skip { left } => Outer::CompressKey { left },
                Outer::BufHead => {
                    let n = match v {
                        [b @ 0xa0..=0xbf] => usize::from(b & 0x1f),
                        [0xd9 | 0xc4, n] => usize::from(*n),
                        [0xda | 0xc5, a, b] => usize::from(u16::from_be_bytes([*a, *b])),
                        [0xdb | 0xc6, a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]) as usize,
                        _ => return Err(HcError::Msgpack),
                    };
                    Outer::Compressed { left: n }
                }
                o => o,
            };
            input = &input[used..];
        }
    }
}

/// Reads the message itself from `input` (all of it is taken, or kept for
/// the next piece), handing out its items.
fn inner(
    stage: &mut Inner,
    pending: &mut Pending,
    header: &mut Option<Header>,
    mut input: &[u8],
    f: &mut dyn FnMut(Item<'_>) -> Result<(), HcError>,
) -> Result<(), HcError> {
    loop {
        match *stage {
            Inner::Done => return Ok(()),
            Inner::Nodes { left: 0, user } => {
                *stage = if user == 0 {
                    Inner::Done
                } else {
                    Inner::UserKind
                };
                continue;
            }
            Inner::UserKey { left: 0 } => {
                *stage = Inner::Done;
                continue;
            }
            Inner::Entries { count: 0, left, .. } => {
                *stage = Inner::UserKey { left };
                continue;
            }
            Inner::Kind => {
                let Some(&k) = input.first() else {
                    return Ok(());
                };
                *stage = match k {
                    kind::PUSH_PULL => {
                        input = &input[1..];
                        Inner::Header
                    }
                    kind::PING | kind::ACK | kind::ERR | kind::USER => Inner::Whole,
                    kind::COMPRESS => return Err(HcError::Nesting),
                    k => return Err(HcError::Kind(k)),
                };
                continue;
            }
            Inner::Entries {
                list: List::Events,
                count,
                left,
            } if pending.len == 0 && input.first() == Some(&0xc0) => {
                // Serf's event buffer is mostly empty slots (nil).
                let nils = input.iter().take(count).take_while(|&&b| b == 0xc0).count();
                *stage = Inner::Entries {
                    list: List::Events,
                    count: count - nils,
                    left,
                };
                input = &input[nils..];
                continue;
            }
            Inner::Entries {
                list: List::Status,
                count,
                left,
            } if pending.len == 0 => {
                // A status time wholly in this piece: parsed once.
                let mut r = Reader::new(input);
                if let (Ok(name), Ok(ltime)) = (r.bytes(), r.uint(u64::MAX)) {
                    f(Item::Status(name, ltime))?;
                    *stage = Inner::Entries {
                        list: List::Status,
                        count: count - 1,
                        left,
                    };
                    input = &input[input.len() - r.rest().len()..];
                    continue;
                }
            }
            Inner::Nodes { left, user } if pending.len == 0 => {
                // The common case, a state wholly in this piece: parsed once,
                // not measured first.
                let mut r = Reader::new(input);
                if let Ok(state) = node_state_of(&mut r) {
                    let used = input.len() - r.rest().len();
                    if used <= RECORD_MAX {
                        f(Item::Node(state))?;
                        *stage = Inner::Nodes {
                            left: left - 1,
                            user,
                        };
                        input = &input[used..];
                        continue;
                    }
                }
            }
            _ => {}
        }
        let len_of = match *stage {
            Inner::Whole => message_len,
            Inner::UserKind => one_byte,
            Inner::UserMap | Inner::ListHead { .. } => head_len,
            Inner::Entries {
                list: List::Status, ..
            } => pair_len,
            _ => value_len,
        };
        let Some(t) = pending.take(input, len_of)? else {
            return Ok(());
        };
        let (v, used) = pending.view(&t, input);
        let mut r = Reader::new(v);
        *stage = match *stage {
            Inner::Whole => {
                f(Item::Message(v))?;
                Inner::Done
            }
            Inner::Header => {
                let h = header_of(&mut r)?;
                *header = Some(h);
                f(Item::Header(h))?;
                Inner::Nodes {
                    left: h.nodes,
                    user: h.user_state_len,
                }
            }
            Inner::Nodes { left, user } => {
                f(Item::Node(node_state_of(&mut r)?))?;
                Inner::Nodes {
                    left: left - 1,
                    user,
                }
            }
            Inner::UserKind if v == [serf_kind::PUSH_PULL] => Inner::UserMap,
            Inner::UserKind => return Err(HcError::Kind(v[0])),
            Inner::UserMap => Inner::UserKey { left: r.map_len()? },
            Inner::UserKey { left } => {
                let left = left - 1;
                let list = |list| Inner::ListHead { list, left };
                let clock = |c| Inner::UserValue {
                    clock: Some(c),
                    left,
                };
                match r.bytes()? {
                    b"LTime" => clock(Clock::Member),
                    b"EventLTime" => clock(Clock::Event),
                    b"QueryLTime" => clock(Clock::Query),
                    b"LeftMembers" => list(List::Left),
                    b"StatusLTimes" => list(List::Status),
                    b"Events" => list(List::Events),
                    _ => Inner::UserValue { clock: None, left },
                }
            }
            Inner::UserValue { clock, left } => {
                if let Some(c) = clock {
                    f(Item::Clock(c, r.uint(u64::MAX)?))?;
                }
                Inner::UserKey { left }
            }
            Inner::ListHead { list, left } => {
                let count = match (list, v) {
                    (_, [0xc0]) => 0,
                    (List::Status, _) => r.map_len()?,
                    _ => r.array_len()?,
                };
                Inner::Entries { list, count, left }
            }
            Inner::Entries { list, count, left } => {
                match list {
                    List::Left => f(Item::Left(r.bytes()?))?,
                    List::Status => f(Item::Status(r.bytes()?, r.uint(u64::MAX)?))?,
                    List::Events => {
                        let mut result = Ok(());
                        each_event_of(&mut r, &mut |ltime, name, payload| {
                            if result.is_ok() {
                                result = f(Item::Event(ltime, name, payload));
                            }
                        })?;
                        result?;
                    }
                }
                Inner::Entries {
                    list,
                    count: count - 1,
                    left,
                }
            }
            s => s,
        };
        input = &input[used..];
    }
}
