//! The optional uploader tag (wire contract §2.5): a salted SHA-1 of the client's IP.
//!
//! It lets consumers tell uploads from one source apart (to weigh or block a bad uploader)
//! without publishing the address. The IP is whatever the caller decided is the client (the
//! socket peer, or the right-most untrusted `X-Forwarded-For` hop behind a trusted proxy); that
//! decision belongs to the gateway, which sees the socket.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// Lowercase hex SHA-1 of `salt` followed by the IP's text (`1.2.3.4`, `2001:db8::1`).
pub fn uploader_key(salt: &[u8], ip: IpAddr) -> [u8; 40] {
    let mut h = Sha1::new();
    h.update(salt);
    h.update(ip.to_string().as_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_digest() {
        // printf 'salt127.0.0.1' | sha1sum
        let k = uploader_key(b"salt", "127.0.0.1".parse().unwrap());
        assert_eq!(&k, b"6a0149e8527fbd0cf24cd04e900f1381e87882b2");
    }
}
