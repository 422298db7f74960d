//! DSSE envelopes (secure-systems-lab/dsse v1): the signature covers the pre-authentication
//! encoding of the payload type and the exact payload bytes (docs/format.md §"Envelope").

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{LogError, Result};

/// Largest envelope accepted, in bytes; checked before parsing. Room for a maximal event
/// (48,000 bytes: 64,000 in base64) and its signature; small enough that its entry fits an
/// entry bundle ([`crate::entry::MAX_ENTRY_BYTES`]).
pub const MAX_ENVELOPE_BYTES: usize = 65_400;

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The id of the signing key.
    pub keyid: String,
    /// The 64-byte signature over the pre-authentication encoding.
    pub sig: Vec<u8>,
}

/// A signed payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// What the payload is (pledger's: `application/vnd.pledger.event+json`).
    pub payload_type: String,
    /// The payload's bytes: the event.
    pub payload: Vec<u8>,
    /// Its signatures (a pledger envelope has exactly one).
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigWire<'a> {
    #[serde(borrow)]
    keyid: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    sig: std::borrow::Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvelopeWire<'a> {
    #[serde(rename = "payloadType", borrow)]
    payload_type: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    signatures: Vec<SigWire<'a>>,
}

impl Envelope {
    /// Signs `payload` with `key`, naming it `keyid`.
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &SigningKey, keyid: &str) -> Envelope {
        let sig = key.sign(&pae(payload_type, &payload));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: vec![EnvelopeSignature { keyid: keyid.to_owned(), sig: sig.to_bytes().to_vec() }],
        }
    }

    /// Parses an envelope's JSON. Payload and signatures are standard base64 (URL-safe base64 is
    /// accepted too, as DSSE allows).
    pub fn parse(json: &[u8]) -> Result<Envelope> {
        if json.len() > MAX_ENVELOPE_BYTES {
            return Err(LogError::Envelope(format!(
                "{} bytes, more than the {MAX_ENVELOPE_BYTES} allowed",
                json.len()
            )));
        }
        let wire: EnvelopeWire =
            serde_json::from_slice(json).map_err(|e| LogError::Envelope(pledger_core::event::one_line(&e)))?;
        Self::from_wire(wire)
    }

    pub(crate) fn from_wire(wire: EnvelopeWire) -> Result<Envelope> {
        let payload = decode_b64(&wire.payload).ok_or_else(|| LogError::Envelope("payload is not base64".into()))?;
        let signatures = wire
            .signatures
            .into_iter()
            .map(|s| {
                let sig = decode_b64(&s.sig).ok_or_else(|| LogError::Envelope("sig is not base64".into()))?;
                Ok(EnvelopeSignature { keyid: s.keyid.into_owned(), sig })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Envelope { payload_type: wire.payload_type.into_owned(), payload, signatures })
    }

    /// The canonical JSON pledger writes: `payloadType`, `payload`, `signatures`, compact.
    pub fn to_json(&self) -> String {
        let payload = B64.encode(&self.payload);
        let sigs: Vec<String> = self.signatures.iter().map(|s| B64.encode(&s.sig)).collect();
        let wire = EnvelopeWire {
            payload_type: self.payload_type.as_str().into(),
            payload: payload.into(),
            signatures: self
                .signatures
                .iter()
                .zip(&sigs)
                .map(|(s, b)| SigWire { keyid: s.keyid.as_str().into(), sig: b.as_str().into() })
                .collect(),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// The one signature pledger envelopes carry, as (keyid, Ed25519 signature).
    pub fn single_signature(&self) -> Result<(&str, Signature)> {
        match self.signatures.as_slice() {
            [s] => {
                let bytes: [u8; 64] = s
                    .sig
                    .as_slice()
                    .try_into()
                    .map_err(|_| LogError::Envelope(format!("signature is {} bytes, not 64", s.sig.len())))?;
                Ok((&s.keyid, Signature::from_bytes(&bytes)))
            }
            other => Err(LogError::Envelope(format!("{} signatures; a pledger event has exactly one", other.len()))),
        }
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Verifies the single signature under `key` with strict Ed25519 rules.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        match self.single_signature() {
            Ok((_, sig)) => key.verify_strict(&self.signed_bytes(), &sig).is_ok(),
            Err(_) => false,
        }
    }
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.as_bytes()).ok().or_else(|| base64::engine::general_purpose::URL_SAFE.decode(s.as_bytes()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The worked example of DSSE's protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_parse_verify_and_tamper() {
        let key = SigningKey::from_bytes(&[1u8; 32]);
        let env = Envelope::sign("application/x-test", b"{\"a\":1}".to_vec(), &key, "k1");
        let json = env.to_json();
        let parsed = Envelope::parse(json.as_bytes()).unwrap();
        assert_eq!(parsed, env);
        assert!(parsed.verify(&key.verifying_key()));
        let mut forged = parsed.clone();
        forged.payload[5] ^= 1;
        assert!(!forged.verify(&key.verifying_key()));
        let other = SigningKey::from_bytes(&[2u8; 32]);
        assert!(!parsed.verify(&other.verifying_key()));
        for bad in ["", "{}", "[1]", r#"{"payloadType":"x","payload":"%%","signatures":[]}"#] {
            assert!(Envelope::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
