//! Query filters: the node list and tag expressions a member must pass to
//! answer, and the built-in `no_std` matcher.

use crate::identity::Identity;
use crate::wire::tags::Tags;
use crate::wire::NodeList;

/// Decides whether a tag value matches a filter expression. Serf uses Go
/// regular expressions (unanchored); the core ships [`SimpleMatcher`] and the
/// std runtime plugs in full regular expressions.
pub trait TagMatcher: core::fmt::Debug + Sync {
    /// True if `value` matches `expr`.
    fn matches(&self, expr: &str, value: &str) -> bool;
}

/// The built-in matcher ([`simple_match`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleMatcher;

impl TagMatcher for SimpleMatcher {
    fn matches(&self, expr: &str, value: &str) -> bool {
        simple_match(expr, value)
    }
}

/// The built-in matcher as a `'static` trait object for [`crate::Config`].
pub static SIMPLE_MATCHER: SimpleMatcher = SimpleMatcher;

/// True if a member named `me` with tags `mine` passes the filters.
pub fn passes<I: Identity>(
    me: &I,
    mine: Tags<'_>,
    nodes: &[u8],
    tag_filter: &[u8],
    matcher: &dyn TagMatcher,
) -> bool {
    if !nodes.is_empty() && !NodeList::<I>::new(nodes).any(|n| n.same_name(me)) {
        return false;
    }
    Tags::new(tag_filter).all(|(key, expr)| matcher.matches(expr, mine.get(key).unwrap_or("")))
}

/// A small unanchored pattern matcher for tag filters in `no_std` (the std
/// runtime plugs in full regular expressions): literals, `.`, `*` (after an
/// atom), `^`, `$` and top-level `|`.
///
/// ```
/// use serf_core::query::simple_match;
/// assert!(simple_match("web", "frontend-web-1"));
/// assert!(simple_match("^db$|^cache$", "cache"));
/// assert!(!simple_match("^db$", "db2"));
/// assert!(simple_match("us-.*-1", "us-east-1"));
/// assert!(simple_match("", "anything"));
/// ```
pub fn simple_match(expr: &str, value: &str) -> bool {
    expr.split('|')
        .any(|alt| match_alt(alt.as_bytes(), value.as_bytes()))
}

fn match_alt(p: &[u8], v: &[u8]) -> bool {
    if let Some(rest) = p.strip_prefix(b"^") {
        return match_here(rest, v);
    }
    (0..=v.len()).any(|i| match_here(p, &v[i..]))
}

fn match_here(p: &[u8], v: &[u8]) -> bool {
    match p {
        [] => true,
        [b'$'] => v.is_empty(),
        [c, b'*', rest @ ..] => {
            let mut i = 0;
            loop {
                if match_here(rest, &v[i..]) {
                    return true;
                }
                if i < v.len() && (*c == b'.' || v[i] == *c) {
                    i += 1;
                } else {
                    return false;
                }
            }
        }
        [c, rest @ ..] => !v.is_empty() && (*c == b'.' || *c == v[0]) && match_here(rest, &v[1..]),
    }
}
