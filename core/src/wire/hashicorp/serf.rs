//! Serf's own messages, as HashiCorp's agents carry them inside memberlist
//! user messages: one type byte, then the msgpack body (the same go-msgpack
//! settings as memberlist's, fields in name order).

use super::msgpack::{Reader, Writer};
use super::relay::{decode_relay, encode_relay, Relay};
use super::HcError;
use crate::vivaldi::{Coordinate, MAX_DIMS};

/// Serf's message type bytes (`serf/messages.go`).
pub mod serf_kind {
    /// `messageLeave`.
    pub const LEAVE: u8 = 0;
    /// `messageJoin`.
    pub const JOIN: u8 = 1;
    /// `messagePushPull` (streams only).
    pub const PUSH_PULL: u8 = 2;
    /// `messageUserEvent`.
    pub const USER_EVENT: u8 = 3;
    /// `messageQuery`.
    pub const QUERY: u8 = 4;
    /// `messageQueryResponse`.
    pub const QUERY_RESPONSE: u8 = 5;
    /// `messageConflictResponse`.
    pub const CONFLICT_RESPONSE: u8 = 6;
    /// `messageKeyRequest`.
    pub const KEY_REQUEST: u8 = 7;
    /// `messageKeyResponse`.
    pub const KEY_RESPONSE: u8 = 8;
    /// `messageRelay`.
    pub const RELAY: u8 = 9;
}

/// A join or leave intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Intent<'a> {
    /// Member clock.
    pub ltime: u64,
    /// The member.
    pub node: &'a [u8],
    /// (Leave only) erase it everywhere: `force-leave -prune`.
    pub prune: bool,
}

/// A user event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UserEvent<'a> {
    /// Event clock.
    pub ltime: u64,
    /// Name.
    pub name: &'a [u8],
    /// Payload (`None`: Go's nil).
    pub payload: Option<&'a [u8]>,
    /// May be coalesced.
    pub cc: bool,
}

/// A query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Query<'a> {
    /// Query clock.
    pub ltime: u64,
    /// Query id.
    pub id: u32,
    /// Where responses go: IP bytes.
    pub addr: &'a [u8],
    /// And port.
    pub port: u16,
    /// The asking member's name.
    pub source_node: &'a [u8],
    /// The filters, as their encoded msgpack value (an array of
    /// type-prefixed filters, or nil).
    pub filters: &'a [u8],
    /// Flags (ack requested, no broadcast).
    pub flags: u32,
    /// Members relaying each response.
    pub relay_factor: u8,
    /// Timeout in nanoseconds.
    pub timeout_ns: u64,
    /// Name.
    pub name: &'a [u8],
    /// Payload (`None`: Go's nil).
    pub payload: Option<&'a [u8]>,
}

/// A query response (or ack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QueryResponse<'a> {
    /// The query's clock.
    pub ltime: u64,
    /// The query's id.
    pub id: u32,
    /// The responding member.
    pub from: &'a [u8],
    /// Flags (ack).
    pub flags: u32,
    /// Payload (`None`: Go's nil).
    pub payload: Option<&'a [u8]>,
}

/// One Serf message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerfMessage<'a> {
    /// `messageLeave`.
    Leave(Intent<'a>),
    /// `messageJoin`.
    Join(Intent<'a>),
    /// `messageUserEvent`.
    UserEvent(UserEvent<'a>),
    /// `messageQuery`.
    Query(Query<'a>),
    /// `messageQueryResponse`.
    QueryResponse(QueryResponse<'a>),
    /// `messageRelay`: a response (or ack) to forward.
    Relay(Relay<'a>),
}

/// The msgpack value `nil`, for a filter list that is absent.
const NIL: &[u8] = &[0xc0];

/// Decodes a Serf message (a memberlist user message's bytes).
pub fn decode_serf(bytes: &[u8]) -> Result<SerfMessage<'_>, HcError> {
    let (&k, body) = bytes.split_first().ok_or(HcError::Truncated)?;
    let mut r = Reader::new(body);
    let n = r.map_len()?;
    let m = match k {
        serf_kind::LEAVE | serf_kind::JOIN => {
            let mut i = Intent::default();
            for _ in 0..n {
                match r.bytes()? {
                    b"LTime" => i.ltime = r.uint(u64::MAX)?,
                    b"Node" => i.node = r.bytes()?,
                    b"Prune" => i.prune = r.bool()?,
                    _ => r.skip()?,
                }
            }
            if k == serf_kind::LEAVE {
                SerfMessage::Leave(i)
            } else {
                SerfMessage::Join(i)
            }
        }
        serf_kind::USER_EVENT => {
            let mut e = UserEvent::default();
            for _ in 0..n {
                match r.bytes()? {
                    b"LTime" => e.ltime = r.uint(u64::MAX)?,
                    b"Name" => e.name = r.bytes()?,
                    b"Payload" => e.payload = r.opt_bytes()?,
                    b"CC" => e.cc = r.bool()?,
                    _ => r.skip()?,
                }
            }
            SerfMessage::UserEvent(e)
        }
        serf_kind::QUERY => {
            let mut q = Query {
                filters: NIL,
                ..Query::default()
            };
            for _ in 0..n {
                match r.bytes()? {
                    b"LTime" => q.ltime = r.uint(u64::MAX)?,
                    b"ID" => q.id = r.u32()?,
                    b"Addr" => q.addr = r.bytes()?,
                    b"Port" => q.port = r.u16()?,
                    b"SourceNode" => q.source_node = r.bytes()?,
                    b"Filters" => q.filters = r.raw_value()?,
                    b"Flags" => q.flags = r.u32()?,
                    b"RelayFactor" => q.relay_factor = r.uint(u64::from(u8::MAX))? as u8,
                    b"Timeout" => q.timeout_ns = r.uint(i64::MAX as u64)?,
                    b"Name" => q.name = r.bytes()?,
                    b"Payload" => q.payload = r.opt_bytes()?,
                    _ => r.skip()?,
                }
            }
            SerfMessage::Query(q)
        }
        serf_kind::QUERY_RESPONSE => {
            let mut q = QueryResponse::default();
            for _ in 0..n {
                match r.bytes()? {
                    b"LTime" => q.ltime = r.uint(u64::MAX)?,
                    b"ID" => q.id = r.u32()?,
                    b"From" => q.from = r.bytes()?,
                    b"Flags" => q.flags = r.u32()?,
                    b"Payload" => q.payload = r.opt_bytes()?,
                    _ => r.skip()?,
                }
            }
            SerfMessage::QueryResponse(q)
        }
        serf_kind::RELAY => SerfMessage::Relay(decode_relay(&mut r, n)?),
        k => return Err(HcError::Kind(k)),
    };
    Ok(m)
}

/// Writes a Serf message (type byte, body in field-name order) into `buf`;
/// returns the length.
pub fn encode_serf(m: &SerfMessage<'_>, buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    match m {
        SerfMessage::Leave(i) => {
            w.raw(&[serf_kind::LEAVE])?;
            w.map(3)?;
            w.field_uint("LTime", i.ltime)?;
            w.field_str("Node", i.node)?;
            w.str(b"Prune")?;
            w.bool(i.prune)?;
        }
        SerfMessage::Join(i) => {
            w.raw(&[serf_kind::JOIN])?;
            w.map(2)?;
            w.field_uint("LTime", i.ltime)?;
            w.field_str("Node", i.node)?;
        }
        SerfMessage::UserEvent(e) => {
            w.raw(&[serf_kind::USER_EVENT])?;
            w.map(4)?;
            w.str(b"CC")?;
            w.bool(e.cc)?;
            w.field_uint("LTime", e.ltime)?;
            w.field_str("Name", e.name)?;
            w.str(b"Payload")?;
            w.opt_str(e.payload)?;
        }
        SerfMessage::Query(q) => {
            w.raw(&[serf_kind::QUERY])?;
            w.map(11)?;
            w.field_str("Addr", q.addr)?;
            w.str(b"Filters")?;
            raw_one(&mut w, q.filters)?;
            w.field_uint("Flags", u64::from(q.flags))?;
            w.field_uint("ID", u64::from(q.id))?;
            w.field_uint("LTime", q.ltime)?;
            w.field_str("Name", q.name)?;
            w.str(b"Payload")?;
            w.opt_str(q.payload)?;
            w.field_uint("Port", u64::from(q.port))?;
            w.field_uint("RelayFactor", u64::from(q.relay_factor))?;
            w.field_str("SourceNode", q.source_node)?;
            w.field_uint("Timeout", q.timeout_ns)?;
        }
        SerfMessage::QueryResponse(q) => {
            w.raw(&[serf_kind::QUERY_RESPONSE])?;
            w.map(5)?;
            w.field_uint("Flags", u64::from(q.flags))?;
            w.field_str("From", q.from)?;
            w.field_uint("ID", u64::from(q.id))?;
            w.field_uint("LTime", q.ltime)?;
            w.str(b"Payload")?;
            w.opt_str(q.payload)?;
        }
        SerfMessage::Relay(relay) => encode_relay(relay, &mut w)?,
    }
    Ok(w.len())
}

/// First byte of Serf's tags in memberlist node meta (Serf protocol 3+);
/// older members carry only a role, as the raw meta.
pub const TAG_MAGIC: u8 = 0xff;

/// `n` items read one after another by `item`; the first error ends them
/// (what follows a bad item cannot be found).
fn counted<'a, T: 'a>(
    mut r: Reader<'a>,
    mut n: usize,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T, HcError> + 'a,
) -> impl Iterator<Item = Result<T, HcError>> + 'a {
    core::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        n -= 1;
        let v = item(&mut r);
        if v.is_err() {
            n = 0;
        }
        Some(v)
    })
}

/// One of a member's tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Name.
    pub key: &'a [u8],
    /// Value.
    pub value: &'a [u8],
}

/// A tag: a string pair of a msgpack map.
fn tag<'a>(r: &mut Reader<'a>) -> Result<Tag<'a>, HcError> {
    Ok(Tag {
        key: r.bytes()?,
        value: r.bytes()?,
    })
}

/// Reads Serf's tags out of a member's meta, pair by pair: `0xff` and a
/// msgpack map of strings, or (from members older than Serf protocol 3) the
/// role alone.
pub fn tags(meta: &[u8]) -> Result<impl Iterator<Item = Result<Tag<'_>, HcError>>, HcError> {
    let (role, r, n) = match meta.split_first() {
        Some((&TAG_MAGIC, body)) => {
            let mut r = Reader::new(body);
            let n = r.map_len()?;
            (None, r, n)
        }
        _ => {
            let role = Tag {
                key: b"role",
                value: meta,
            };
            (Some(Ok(role)), Reader::new(&[]), 0)
        }
    };
    Ok(role.into_iter().chain(counted(r, n, tag)))
}

/// Writes tags as Serf puts them in node meta; returns the length.
pub fn encode_tags(tags: &[Tag<'_>], buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    w.raw(&[TAG_MAGIC])?;
    w.map(tags.len())?;
    for t in tags {
        w.str(t.key)?;
        w.str(t.value)?;
    }
    Ok(w.len())
}

/// Version byte in front of the coordinate in an ack's payload (Serf's ping
/// delegate).
pub const PING_VERSION: u8 = 1;

/// The coordinate an ack's payload carries: [`PING_VERSION`], then
/// `{Adjustment, Error, Height, Vec}`.
pub fn decode_coordinate(payload: &[u8]) -> Result<Coordinate, HcError> {
    let Some((&PING_VERSION, body)) = payload.split_first() else {
        return Err(HcError::Msgpack);
    };
    let mut r = Reader::new(body);
    let mut c = Coordinate {
        dims: 0,
        vec: [0.0; MAX_DIMS],
        error: 0.0,
        adjustment: 0.0,
        height: 0.0,
    };
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"Adjustment" => c.adjustment = r.f64()?,
            b"Error" => c.error = r.f64()?,
            b"Height" => c.height = r.f64()?,
            b"Vec" => {
                let n = r.array_len()?;
                if n > MAX_DIMS {
                    return Err(HcError::TooLarge);
                }
                for v in &mut c.vec[..n] {
                    *v = r.f64()?;
                }
                c.dims = n as u8;
            }
            _ => r.skip()?,
        }
    }
    Ok(c)
}

/// Writes `c` as Serf's ack payload; returns the length.
pub fn encode_coordinate(c: &Coordinate, buf: &mut [u8]) -> Result<usize, HcError> {
    let dims = usize::from(c.dims).min(MAX_DIMS);
    let mut w = Writer::new(buf);
    w.raw(&[PING_VERSION])?;
    w.map(4)?;
    w.str(b"Adjustment")?;
    w.f64(c.adjustment)?;
    w.str(b"Error")?;
    w.f64(c.error)?;
    w.str(b"Height")?;
    w.f64(c.height)?;
    w.str(b"Vec")?;
    w.array(dims)?;
    for v in &c.vec[..dims] {
        w.f64(*v)?;
    }
    Ok(w.len())
}

/// Serf's state in a push-pull (the user state after memberlist's node
/// states): its clocks, and, as their encoded msgpack values, the members'
/// status times (a map of name to clock), the members that left (an array of
/// names) and the event buffer (an array of event batches or nils).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushPullState<'a> {
    /// Member clock.
    pub ltime: u64,
    /// Event clock.
    pub event_ltime: u64,
    /// Query clock.
    pub query_ltime: u64,
    /// `StatusLTimes`, encoded.
    pub status_ltimes: &'a [u8],
    /// `LeftMembers`, encoded.
    pub left_members: &'a [u8],
    /// `Events`, encoded.
    pub events: &'a [u8],
}

/// Reads Serf's push-pull state (type byte included).
pub fn decode_push_pull(bytes: &[u8]) -> Result<PushPullState<'_>, HcError> {
    let Some((&serf_kind::PUSH_PULL, body)) = bytes.split_first() else {
        return Err(HcError::Kind(bytes.first().copied().unwrap_or(0)));
    };
    let mut r = Reader::new(body);
    let mut s = PushPullState {
        ltime: 0,
        event_ltime: 0,
        query_ltime: 0,
        status_ltimes: NIL,
        left_members: NIL,
        events: NIL,
    };
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"LTime" => s.ltime = r.uint(u64::MAX)?,
            b"EventLTime" => s.event_ltime = r.uint(u64::MAX)?,
            b"QueryLTime" => s.query_ltime = r.uint(u64::MAX)?,
            b"StatusLTimes" => s.status_ltimes = r.raw_value()?,
            b"LeftMembers" => s.left_members = r.raw_value()?,
            b"Events" => s.events = r.raw_value()?,
            _ => r.skip()?,
        }
    }
    Ok(s)
}

impl<'a> PushPullState<'a> {
    /// Each member's status time: (name, member clock).
    pub fn status_times(&self) -> impl Iterator<Item = Result<(&'a [u8], u64), HcError>> {
        let mut r = Reader::new(self.status_ltimes);
        let n = r.map_len().unwrap_or(0);
        counted(r, n, |r| Ok((r.bytes()?, r.uint(u64::MAX)?)))
    }

    /// The names of the members that left.
    pub fn left(&self) -> impl Iterator<Item = Result<&'a [u8], HcError>> {
        let mut r = Reader::new(self.left_members);
        let n = r.array_len().unwrap_or(0);
        counted(r, n, |r| r.bytes())
    }
}

impl PushPullState<'_> {
    /// Calls `f` with each event of the event buffer: (event clock, name,
    /// payload). A malformed buffer is an error (the events before it were
    /// handed out).
    pub fn each_event(&self, mut f: impl FnMut(u64, &[u8], &[u8])) -> Result<(), HcError> {
        let mut r = Reader::new(self.events);
        let Some(batches) = r.opt_array_len()? else {
            return Ok(());
        };
        for _ in 0..batches {
            each_event_of(&mut r, &mut f)?;
        }
        Ok(())
    }
}

/// Calls `f` with each event of one batch of Serf's event buffer read from
/// `r` (a nil batch has none).
pub(super) fn each_event_of(
    r: &mut Reader<'_>,
    f: &mut impl FnMut(u64, &[u8], &[u8]),
) -> Result<(), HcError> {
    if r.rest().first() == Some(&0xc0) {
        return r.skip();
    }
    // `{Events, LTime}`: the clock comes after the events it stamps.
    let (mut ltime, mut events) = (0, NIL);
    for _ in 0..r.map_len()? {
        match r.bytes()? {
            b"LTime" => ltime = r.uint(u64::MAX)?,
            b"Events" => events = r.raw_value()?,
            _ => r.skip()?,
        }
    }
    let mut e = Reader::new(events);
    for _ in 0..e.opt_array_len()?.unwrap_or(0) {
        let (mut name, mut payload) = (&[][..], &[][..]);
        for _ in 0..e.map_len()? {
            match e.bytes()? {
                b"Name" => name = e.bytes()?,
                b"Payload" => payload = e.bytes()?,
                _ => e.skip()?,
            }
        }
        f(ltime, name, payload);
    }
    Ok(())
}

/// The clocks and member statuses of Serf's push-pull state, for
/// [`encode_user_state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Clocks {
    /// Member clock.
    pub ltime: u64,
    /// Event clock.
    pub event_ltime: u64,
    /// Query clock.
    pub query_ltime: u64,
}

/// Writes Serf's push-pull state from the members' statuses — `statuses`
/// yields (name, member clock, left) — and the kept user events — `events`
/// yields (time, name, payload), each becoming a batch of one; returns the
/// length. `statuses` is walked three times (counts, times, left names),
/// `events` twice.
pub fn encode_user_state<'a, 'e, It, Ev>(
    clocks: &Clocks,
    statuses: impl Fn() -> It,
    events: impl Fn() -> Ev,
    buf: &mut [u8],
) -> Result<usize, HcError>
where
    It: Iterator<Item = (&'a [u8], u64, bool)>,
    Ev: Iterator<Item = (u64, &'e [u8], &'e [u8])>,
{
    let mut w = Writer::new(buf);
    w.raw(&[serf_kind::PUSH_PULL])?;
    w.map(6)?;
    w.field_uint("EventLTime", clocks.event_ltime)?;
    w.str(b"Events")?;
    w.array(events().count())?;
    for (ltime, name, payload) in events() {
        // Go's field order: userEvents{LTime, Events}, userEvent{Name, Payload}.
        w.map(2)?;
        w.field_uint("LTime", ltime)?;
        w.str(b"Events")?;
        w.array(1)?;
        w.map(2)?;
        w.str(b"Name")?;
        w.str(name)?;
        w.str(b"Payload")?;
        w.str(payload)?;
    }
    w.field_uint("LTime", clocks.ltime)?;
    w.str(b"LeftMembers")?;
    w.array(statuses().filter(|s| s.2).count())?;
    for (name, _, _) in statuses().filter(|s| s.2) {
        w.str(name)?;
    }
    w.field_uint("QueryLTime", clocks.query_ltime)?;
    w.str(b"StatusLTimes")?;
    w.map(statuses().count())?;
    for (name, ltime, _) in statuses() {
        w.str(name)?;
        w.uint(ltime)?;
    }
    Ok(w.len())
}

/// Writes Serf's push-pull state; returns the length. The three encoded
/// values must each be one msgpack value.
pub fn encode_push_pull(s: &PushPullState<'_>, buf: &mut [u8]) -> Result<usize, HcError> {
    let mut w = Writer::new(buf);
    w.raw(&[serf_kind::PUSH_PULL])?;
    w.map(6)?;
    w.field_uint("EventLTime", s.event_ltime)?;
    w.str(b"Events")?;
    raw_one(&mut w, s.events)?;
    w.field_uint("LTime", s.ltime)?;
    w.str(b"LeftMembers")?;
    raw_one(&mut w, s.left_members)?;
    w.field_uint("QueryLTime", s.query_ltime)?;
    w.str(b"StatusLTimes")?;
    raw_one(&mut w, s.status_ltimes)?;
    Ok(w.len())
}

/// Copies `value` after checking that it is exactly one msgpack value.
fn raw_one(w: &mut Writer<'_>, value: &[u8]) -> Result<(), HcError> {
    if Reader::new(value).raw_value()? != value {
        return Err(HcError::Msgpack);
    }
    w.raw(value)
}
