//! Shared-key encryption (AES-GCM, 128/192/256-bit keys) with a keyring, and
//! the cluster label.
//!
//! Datagram framing, outermost first:
//! - label (if configured): `0xF4, len, label bytes`;
//! - encrypted (if the keyring has keys): `0xE1, nonce[12], ciphertext, tag[16]`,
//!   with associated data `0xE1 ‖ label`, so a packet cannot be moved between
//!   clusters with different labels even if they share a key;
//! - otherwise the plain datagram (version byte, messages).
//!
//! The first key encrypts; every key is tried to decrypt (rotation).
//!
//! A refused datagram may be answered with a refusal notice, always in the
//! clear and never framed: `0xE5, reason`. It tells a joiner why it cannot
//! get in (memberlist answers a refused stream with an error the same way);
//! it carries nothing secret, and a notice is never answered.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, KeyInit, Nonce, Tag};

/// Keys a keyring holds at most.
pub const MAX_KEYS: usize = 16;
/// Framing byte of an encrypted datagram.
pub const ENCRYPTED: u8 = 0xE1;
/// Framing byte of a label header (memberlist's has-label type, 244).
pub const LABELLED: u8 = 0xF4;
/// First byte of a refusal notice.
pub const REFUSED: u8 = 0xE5;
/// Bytes of a refusal notice.
pub const REFUSAL_LEN: usize = 2;
/// Nonce bytes.
pub const NONCE: usize = 12;
/// Tag bytes.
pub const TAG: usize = 16;
/// Longest label.
pub const MAX_LABEL: usize = 255;

type Aes192Gcm = AesGcm<Aes192, U12>;

/// A 16, 24 or 32-byte AES key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Key {
    bytes: [u8; 32],
    len: u8,
}

/// Why a key or keyring operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not 16, 24 or 32 bytes.
    Length,
    /// The keyring is full.
    Full,
    /// The key is not installed.
    Unknown,
    /// The primary key cannot be removed.
    Primary,
}

impl Key {
    /// A key from raw bytes.
    pub fn new(bytes: &[u8]) -> Result<Key, KeyError> {
        if !matches!(bytes.len(), 16 | 24 | 32) {
            return Err(KeyError::Length);
        }
        let mut k = Key {
            bytes: [0; 32],
            len: bytes.len() as u8,
        };
        k.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(k)
    }
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub(crate) fn seal(&self, nonce: &[u8; NONCE], aad: &[u8], buf: &mut [u8]) -> Option<Tag> {
        let n = Nonce::from_slice(nonce);
        match self.len {
            16 => Aes128Gcm::new_from_slice(self.as_bytes())
                .ok()?
                .encrypt_in_place_detached(n, aad, buf)
                .ok(),
            24 => Aes192Gcm::new_from_slice(self.as_bytes())
                .ok()?
                .encrypt_in_place_detached(n, aad, buf)
                .ok(),
            _ => Aes256Gcm::new_from_slice(self.as_bytes())
                .ok()?
                .encrypt_in_place_detached(n, aad, buf)
                .ok(),
        }
    }

    pub(crate) fn open(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let n = Nonce::from_slice(nonce);
        let t = Tag::from_slice(tag);
        match self.len {
            16 => Aes128Gcm::new_from_slice(self.as_bytes())
                .is_ok_and(|c| c.decrypt_in_place_detached(n, aad, buf, t).is_ok()),
            24 => Aes192Gcm::new_from_slice(self.as_bytes())
                .is_ok_and(|c| c.decrypt_in_place_detached(n, aad, buf, t).is_ok()),
            _ => Aes256Gcm::new_from_slice(self.as_bytes())
                .is_ok_and(|c| c.decrypt_in_place_detached(n, aad, buf, t).is_ok()),
        }
    }
}

/// An ordered set of keys; the first is the primary.
///
/// ```
/// use serf_core::wire::{Key, Keyring};
/// let mut ring = Keyring::default();
/// let a = Key::new(&[1; 32]).unwrap();
/// let b = Key::new(&[2; 16]).unwrap();
/// ring.install(a).unwrap();
/// ring.install(b).unwrap();
/// assert_eq!(ring.primary(), Some(&a));
/// ring.use_key(&b).unwrap();
/// assert_eq!(ring.primary(), Some(&b));
/// ring.remove(&a).unwrap();
/// assert_eq!(ring.keys().count(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Keyring {
    /// First, so that the line every datagram reads (is there a key?) is
    /// the keyring's own address, as [`crate::Node::hot_addresses`] gives it.
    count: usize,
    keys: [Key; MAX_KEYS],
}

impl Keyring {
    /// True when no key is installed (plaintext cluster).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The encrypting key.
    pub fn primary(&self) -> Option<&Key> {
        self.keys[..self.count].first()
    }
    /// All keys, primary first.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys[..self.count].iter()
    }
    /// Adds a key (no-op if present); the first key installed becomes primary.
    pub fn install(&mut self, key: Key) -> Result<(), KeyError> {
        if self.keys().any(|k| *k == key) {
            return Ok(());
        }
        if self.count == MAX_KEYS {
            return Err(KeyError::Full);
        }
        self.keys[self.count] = key;
        self.count += 1;
        Ok(())
    }
    /// Makes an installed key the primary.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyError> {
        let i = self
            .keys()
            .position(|k| k == key)
            .ok_or(KeyError::Unknown)?;
        self.keys[..=i].rotate_right(1);
        Ok(())
    }
    /// Removes a key other than the primary.
    pub fn remove(&mut self, key: &Key) -> Result<(), KeyError> {
        let i = self
            .keys()
            .position(|k| k == key)
            .ok_or(KeyError::Unknown)?;
        if i == 0 {
            return Err(KeyError::Primary);
        }
        self.keys[i..self.count].rotate_left(1);
        self.count -= 1;
        Ok(())
    }
}

/// A cluster label (bound into every datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    bytes: [u8; MAX_LABEL],
    len: u8,
}

impl Label {
    /// A label of 1..=255 bytes.
    pub fn new(label: &str) -> Option<Label> {
        let b = label.as_bytes();
        if b.is_empty() || b.len() > MAX_LABEL {
            return None;
        }
        let mut l = Label {
            bytes: [0; MAX_LABEL],
            len: b.len() as u8,
        };
        l.bytes[..b.len()].copy_from_slice(b);
        Some(l)
    }
    /// The label bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Why a datagram's framing was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Missing, unexpected or different label.
    Label,
    /// Plaintext where encryption is required, or the reverse.
    Encryption,
    /// No key decrypts it (or it was tampered with).
    Decrypt,
}

/// Why a peer refused what we sent, as its refusal notice says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It encrypts and we sent plaintext.
    EncryptionRequired,
    /// It does not encrypt and we sent an encrypted datagram.
    EncryptionNotConfigured,
    /// None of its keys decrypts what we sent.
    NoKeyDecrypts,
    /// Our label (or its absence) does not match its label.
    LabelMismatch,
}

impl Refusal {
    /// What the refusing node saw, given its own keyring state.
    pub fn of(e: FrameError, encrypting: bool) -> Refusal {
        match e {
            FrameError::Label => Refusal::LabelMismatch,
            FrameError::Decrypt => Refusal::NoKeyDecrypts,
            FrameError::Encryption if encrypting => Refusal::EncryptionRequired,
            FrameError::Encryption => Refusal::EncryptionNotConfigured,
        }
    }

    /// Our own failure to read a peer's stream, worded as memberlist words
    /// it (`encrypting`: whether we do): plaintext while we encrypt is
    /// "not encrypted", ciphertext while we do not is "encryption is not
    /// configured".
    pub fn reading(e: FrameError, encrypting: bool) -> Refusal {
        Refusal::of(e, !encrypting)
    }

    /// The notice's bytes.
    pub fn encode(self) -> [u8; REFUSAL_LEN] {
        let reason = match self {
            Refusal::EncryptionRequired => 1,
            Refusal::EncryptionNotConfigured => 2,
            Refusal::NoKeyDecrypts => 3,
            Refusal::LabelMismatch => 4,
        };
        [REFUSED, reason]
    }

    /// Reads a notice; `None` if `datagram` is not a well-formed one.
    pub fn decode(datagram: &[u8]) -> Option<Refusal> {
        match datagram {
            [REFUSED, 1] => Some(Refusal::EncryptionRequired),
            [REFUSED, 2] => Some(Refusal::EncryptionNotConfigured),
            [REFUSED, 3] => Some(Refusal::NoKeyDecrypts),
            [REFUSED, 4] => Some(Refusal::LabelMismatch),
            _ => None,
        }
    }
}

impl Refusal {
    /// Worded as memberlist reports a failed join, from the joiner's side.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::EncryptionRequired => {
                "Remote state is encrypted and encryption is not configured"
            }
            Refusal::EncryptionNotConfigured => {
                "Encryption is configured but remote state is not encrypted"
            }
            Refusal::NoKeyDecrypts => "No installed keys could decrypt the message",
            Refusal::LabelMismatch => "Remote cluster label does not match ours",
        }
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.text())
    }
}

/// Bytes the framing adds in front of the plain datagram.
pub fn header_len(label: Option<&Label>, ring: &Keyring) -> usize {
    label.map_or(0, |l| 2 + l.len as usize) + if ring.is_empty() { 0 } else { 1 + NONCE }
}

/// Bytes the framing adds after the plain datagram.
pub fn trailer_len(ring: &Keyring) -> usize {
    if ring.is_empty() {
        0
    } else {
        TAG
    }
}

fn aad<'a>(label: Option<&Label>, scratch: &'a mut [u8; 1 + MAX_LABEL]) -> &'a [u8] {
    scratch[0] = ENCRYPTED;
    let l = label.map_or(&[][..], |l| l.as_bytes());
    scratch[1..1 + l.len()].copy_from_slice(l);
    &scratch[..1 + l.len()]
}

/// Frames a datagram in place: `buf[h..h + len]` holds the plain datagram
/// (h = [`header_len`]); header and tag are written around it. Returns the
/// framed length, or `None` if encryption failed.
pub fn seal(
    buf: &mut [u8],
    len: usize,
    label: Option<&Label>,
    ring: &Keyring,
    nonce: [u8; NONCE],
) -> Option<usize> {
    let mut at = 0;
    if let Some(l) = label {
        buf[0] = LABELLED;
        buf[1] = l.len;
        buf[2..2 + l.len as usize].copy_from_slice(l.as_bytes());
        at = 2 + l.len as usize;
    }
    let Some(key) = ring.primary() else {
        return Some(at + len);
    };
    buf[at] = ENCRYPTED;
    buf[at + 1..at + 1 + NONCE].copy_from_slice(&nonce);
    let body = at + 1 + NONCE;
    let mut scratch = [0u8; 1 + MAX_LABEL];
    let tag = key.seal(&nonce, aad(label, &mut scratch), &mut buf[body..body + len])?;
    buf[body + len..body + len + TAG].copy_from_slice(&tag);
    Some(body + len + TAG)
}

/// Checks the label of `datagram` and returns the rest.
pub fn strip_label<'a>(datagram: &'a [u8], label: Option<&Label>) -> Result<&'a [u8], FrameError> {
    match (datagram.first(), label) {
        (Some(&LABELLED), Some(l)) => {
            let n = *datagram.get(1).ok_or(FrameError::Label)? as usize;
            let got = datagram.get(2..2 + n).ok_or(FrameError::Label)?;
            if got != l.as_bytes() {
                return Err(FrameError::Label);
            }
            Ok(&datagram[2 + n..])
        }
        (Some(&LABELLED), None) | (_, Some(_)) => Err(FrameError::Label),
        _ => Ok(datagram),
    }
}

/// Decrypts `body` (label already stripped) into `out`, trying every key.
/// Returns the plain length.
pub fn open(
    body: &[u8],
    out: &mut [u8],
    label: Option<&Label>,
    ring: &Keyring,
) -> Result<usize, FrameError> {
    if body.first() != Some(&ENCRYPTED) {
        return Err(FrameError::Encryption);
    }
    if body.len() < 1 + NONCE + TAG {
        return Err(FrameError::Decrypt);
    }
    let nonce = &body[1..1 + NONCE];
    let ct = &body[1 + NONCE..body.len() - TAG];
    let tag = &body[body.len() - TAG..];
    if ct.len() > out.len() {
        return Err(FrameError::Decrypt);
    }
    let mut scratch = [0u8; 1 + MAX_LABEL];
    let aad = aad(label, &mut scratch);
    for key in ring.keys() {
        out[..ct.len()].copy_from_slice(ct);
        if key.open(nonce, aad, &mut out[..ct.len()], tag) {
            return Ok(ct.len());
        }
    }
    Err(FrameError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[&[u8]]) -> Keyring {
        let mut r = Keyring::default();
        for k in keys {
            r.install(Key::new(k).unwrap()).unwrap();
        }
        r
    }

    #[test]
    fn sealed_datagrams_open_with_any_installed_key_and_matching_label() {
        let label = Label::new("east");
        for key_len in [16usize, 24, 32] {
            let k = [7u8; 32];
            let sender = ring(&[&k[..key_len]]);
            let receiver = ring(&[&[9u8; 32], &k[..key_len]]);
            let mut buf = [0u8; 256];
            let h = header_len(label.as_ref(), &sender);
            buf[h..h + 6].copy_from_slice(b"\x01hello");
            let n = seal(&mut buf, 6, label.as_ref(), &sender, [3; NONCE]).unwrap();
            assert_eq!(n, h + 6 + TAG);
            let body = strip_label(&buf[..n], label.as_ref()).unwrap();
            let mut out = [0u8; 256];
            let m = open(body, &mut out, label.as_ref(), &receiver).unwrap();
            assert_eq!(&out[..m], b"\x01hello");
            // A different label is refused before decryption...
            assert_eq!(
                strip_label(&buf[..n], Label::new("west").as_ref()),
                Err(FrameError::Label)
            );
            // ...and a relabelled packet fails authentication.
            assert_eq!(
                open(body, &mut out, Label::new("west").as_ref(), &receiver),
                Err(FrameError::Decrypt)
            );
            // A wrong key cannot open it.
            assert_eq!(
                open(body, &mut out, label.as_ref(), &ring(&[&[1u8; 32]])),
                Err(FrameError::Decrypt)
            );
        }
    }

    #[test]
    fn plaintext_is_refused_where_a_key_is_required() {
        let mut out = [0u8; 64];
        assert_eq!(
            open(b"\x01abc", &mut out, None, &ring(&[&[1; 16]])),
            Err(FrameError::Encryption)
        );
        assert_eq!(
            open(&[ENCRYPTED, 1, 2], &mut out, None, &ring(&[&[1; 16]])),
            Err(FrameError::Decrypt)
        );
        assert_eq!(
            strip_label(b"\x01abc", Label::new("x").as_ref()),
            Err(FrameError::Label)
        );
        assert_eq!(
            strip_label(&[LABELLED, 1, b'x', 1], None),
            Err(FrameError::Label)
        );
    }

    #[test]
    fn keyring_rules() {
        let mut r = ring(&[&[1; 16]]);
        assert_eq!(Key::new(&[0; 20]), Err(KeyError::Length));
        assert_eq!(
            r.remove(&Key::new(&[1; 16]).unwrap()),
            Err(KeyError::Primary)
        );
        assert_eq!(
            r.use_key(&Key::new(&[2; 16]).unwrap()),
            Err(KeyError::Unknown)
        );
    }
}
