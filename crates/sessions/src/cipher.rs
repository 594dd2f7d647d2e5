//! Face templates at rest: AES-256-GCM with the row's identity as associated data, so a blob
//! copied onto another user's row (or another application's) fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use facegate_pipeline::Embedding;

/// Blob layout version, so a key rotation or algorithm change can tell old rows apart.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("template blob is malformed")]
    Malformed,
    #[error("template failed authentication (wrong key or wrong owner)")]
    Unauthentic,
    #[error("template plaintext is not an embedding")]
    NotAnEmbedding,
}

pub trait TemplateCipher {
    fn seal(&self, plaintext: &[u8], aad: &[u8], nonce: [u8; 12]) -> Vec<u8>;
    fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError>;
    /// The key devices and addresses are remembered under (`visits`): derived from the
    /// template key, so a deployment has one secret, yet never the template key itself.
    fn signals_key(&self) -> &[u8];
}

pub struct AesGcmCipher {
    aead: Aes256Gcm,
    signals: Vec<u8>,
}

impl AesGcmCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        AesGcmCipher {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            signals: facegate_signals::device::keyed_hash(key, "", "derive", "signals v1")
                .into_bytes(),
        }
    }
}

impl TemplateCipher for AesGcmCipher {
    fn signals_key(&self) -> &[u8] {
        &self.signals
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8], nonce: [u8; 12]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        // Encryption with a 12-byte nonce and in-memory buffers cannot fail; an empty
        // ciphertext would later fail `open` as Malformed rather than leak anything.
        let ct = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        let (&version, rest) = blob.split_first().ok_or(CipherError::Malformed)?;
        if version != FORMAT_V1 || rest.len() < NONCE_LEN + 16 {
            return Err(CipherError::Malformed);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        self.aead
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CipherError::Unauthentic)
    }
}

/// AAD for a vendor_data template.
pub fn template_aad(application_id: &str, vendor_data: &str) -> Vec<u8> {
    format!("facegate/template/v1\0{application_id}\0{vendor_data}").into_bytes()
}

/// AAD for a template held in a session row (portrait reference, pending enrolment).
pub fn session_aad(application_id: &str, session_id: &str, slot: &str) -> Vec<u8> {
    format!("facegate/session/v1\0{application_id}\0{session_id}\0{slot}").into_bytes()
}

pub fn seal_embedding(
    cipher: &impl TemplateCipher,
    e: &Embedding,
    aad: &[u8],
    nonce: [u8; 12],
) -> Vec<u8> {
    cipher.seal(&e.to_le_bytes(), aad, nonce)
}

pub fn open_embedding(
    cipher: &impl TemplateCipher,
    blob: &[u8],
    aad: &[u8],
) -> Result<Embedding, CipherError> {
    let bytes = cipher.open(blob, aad)?;
    Embedding::from_le_bytes(&bytes).ok_or(CipherError::NotAnEmbedding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb() -> Embedding {
        Embedding::from_raw((0..128).map(|i| (i as f32).sin()).collect()).expect("valid")
    }

    #[test]
    fn round_trips_and_binds_owner() {
        let c = AesGcmCipher::new(&[7u8; 32]);
        let aad = template_aad("app", "user-1");
        let blob = seal_embedding(&c, &emb(), &aad, [1; 12]);
        assert_eq!(blob.len(), 1 + 12 + 512 + 16);
        // The plaintext floats must not appear in the blob.
        let plain = emb().to_le_bytes();
        assert!(!blob.windows(16).any(|w| w == &plain[..16]));
        let back = open_embedding(&c, &blob, &aad).expect("opens");
        assert!((back.cosine(&emb()) - 1.0).abs() < 1e-6);
        assert_eq!(
            open_embedding(&c, &blob, &template_aad("app", "user-2")),
            Err(CipherError::Unauthentic)
        );
        assert_eq!(
            open_embedding(&AesGcmCipher::new(&[8u8; 32]), &blob, &aad),
            Err(CipherError::Unauthentic)
        );
        let mut tampered = blob.clone();
        tampered[20] ^= 1;
        assert_eq!(
            open_embedding(&c, &tampered, &aad),
            Err(CipherError::Unauthentic)
        );
        assert_eq!(
            open_embedding(&c, &[1, 2], &aad),
            Err(CipherError::Malformed)
        );
    }
}
