//! memberlist's packet encryption: `[version][nonce 12][ciphertext][tag 16]`,
//! AES-GCM with the label as associated data. Version 1 (what memberlist
//! sends at every protocol Serf speaks) encrypts the message as it is;
//! version 0 pads it to the AES block first (PKCS#7). Every installed key is
//! tried on receipt, the primary one encrypts.

use super::HcError;
use crate::wire::crypto::{Key, Keyring, NONCE, TAG};

/// Padded, protocol 0.
pub const V0: u8 = 0;
/// Unpadded.
pub const V1: u8 = 1;
/// Bytes in front of the plaintext.
pub const HEADER: usize = 1 + NONCE;
const BLOCK: usize = 16;

/// Encrypts `buf[HEADER..HEADER + len]` in place as version 1, writing the
/// version and `nonce` in front and the tag after; returns the packet's
/// length.
pub fn seal_packet(
    buf: &mut [u8],
    len: usize,
    label: &[u8],
    key: &Key,
    nonce: [u8; NONCE],
) -> Result<usize, HcError> {
    let end = HEADER + len;
    if buf.len() < end + TAG {
        return Err(HcError::TooLarge);
    }
    buf[0] = V1;
    buf[1..HEADER].copy_from_slice(&nonce);
    let tag = key
        .seal(&nonce, label, &mut buf[HEADER..end])
        .ok_or(HcError::Decrypt)?;
    buf[end..end + TAG].copy_from_slice(&tag);
    Ok(end + TAG)
}

/// Decrypts an encrypted packet (label already stripped) into `out`, trying
/// every key; returns the plaintext's length.
pub fn open_packet(
    packet: &[u8],
    out: &mut [u8],
    label: &[u8],
    ring: &Keyring,
) -> Result<usize, HcError> {
    let (&version, rest) = packet.split_first().ok_or(HcError::Truncated)?;
    if version != V0 && version != V1 {
        return Err(HcError::Decrypt);
    }
    if rest.len() < NONCE + TAG {
        return Err(HcError::Truncated);
    }
    let (nonce, rest) = rest.split_at(NONCE);
    let (ct, tag) = rest.split_at(rest.len() - TAG);
    let plain = out.get_mut(..ct.len()).ok_or(HcError::TooLarge)?;
    let opened = ring.keys().any(|key| {
        plain.copy_from_slice(ct);
        key.open(nonce, label, plain, tag)
    });
    if !opened {
        return Err(HcError::Decrypt);
    }
    if version == V1 {
        return Ok(ct.len());
    }
    let pad = usize::from(*plain.last().ok_or(HcError::Decrypt)?);
    if pad == 0 || pad > BLOCK || pad > plain.len() {
        return Err(HcError::Decrypt);
    }
    Ok(plain.len() - pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[[u8; 32]]) -> Keyring {
        let mut r = Keyring::default();
        for k in keys {
            r.install(Key::new(k).unwrap()).unwrap();
        }
        r
    }

    #[test]
    fn a_sealed_packet_opens_with_any_installed_key_under_its_label_only() {
        let key = Key::new(&[5u8; 32]).unwrap();
        let mut buf = [0u8; 128];
        buf[HEADER..HEADER + 5].copy_from_slice(b"\x00\x80abc");
        let n = seal_packet(&mut buf, 5, b"dc1", &key, [9; NONCE]).unwrap();
        assert_eq!(n, HEADER + 5 + TAG);
        let mut out = [0u8; 128];
        let both = ring(&[[1u8; 32], [5u8; 32]]);
        assert_eq!(open_packet(&buf[..n], &mut out, b"dc1", &both), Ok(5));
        assert_eq!(&out[..5], b"\x00\x80abc");
        assert_eq!(
            open_packet(&buf[..n], &mut out, b"dc2", &both),
            Err(HcError::Decrypt)
        );
        assert_eq!(
            open_packet(&buf[..n], &mut out, b"dc1", &ring(&[[1u8; 32]])),
            Err(HcError::Decrypt)
        );
        assert_eq!(
            open_packet(&buf[..10], &mut out, b"", &both),
            Err(HcError::Truncated)
        );
    }

    #[test]
    fn version_zero_packets_lose_their_padding() {
        // Version 0: "abc" padded to a block with 13 bytes of 13.
        let key = Key::new(&[5u8; 32]).unwrap();
        let mut buf = [0u8; 128];
        let mut padded = [13u8; BLOCK];
        padded[..3].copy_from_slice(b"abc");
        buf[HEADER..HEADER + BLOCK].copy_from_slice(&padded);
        let n = seal_packet(&mut buf, BLOCK, b"", &key, [1; NONCE]).unwrap();
        buf[0] = V0;
        let mut out = [0u8; 128];
        assert_eq!(
            open_packet(&buf[..n], &mut out, b"", &ring(&[[5u8; 32]])),
            Ok(3)
        );
        assert_eq!(&out[..3], b"abc");
    }
}
