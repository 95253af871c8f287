use sha2::{Digest, Sha512};

/// The `Hash` header: hex SHA-512 of the API key bytes followed by the exact body bytes
/// (the key alone when there is no body). Lower-case hex, as deployed integrations send.
pub fn sign(api_key: &str, body: &[u8]) -> String {
    let mut h = Sha512::new();
    h.update(api_key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with coreutils:
    //   printf 'sim-api-key' | sha512sum
    //   printf 'sim-api-key{"amountToCollect":"10.00"}' | sha512sum
    #[test]
    fn matches_independently_computed_sha512() {
        assert_eq!(
            sign("sim-api-key", b""),
            "812c83a932e1f99fef64c6a7c9c8cb88f60247312bc4a204b13fa6b2455aacade0717cb937e309c3ba87f99865c503f654dfcf0a4a8b6c615e3c7f15440f5c67"
        );
        assert_eq!(
            sign("sim-api-key", br#"{"amountToCollect":"10.00"}"#),
            "9577af1404c1d502f4ec8e177bfb02be95bd02048b3076d575f1be353c1dfdb51888aa16c34ba6a70166319129dd3d5dbd4e0918ae88431613890f6cb7a67d62"
        );
    }
}
