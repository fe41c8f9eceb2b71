//! The hash chain along the global order (design brief §6).
//!
//! Each event's hash covers the previous event's hash and every stored field of this event,
//! including its global position: changing a byte, removing an event or swapping two events
//! breaks the chain at the first event affected. The canonical form is length-prefixed so that
//! no two different events share one byte string.

use sha2::{Digest, Sha256};

use crate::envelope::{to_micros, RecordedEvent};

pub type ChainHash = [u8; 32];

/// The "previous hash" of the first event in the log.
pub const GENESIS_HASH: ChainHash = [0; 32];

const DOMAIN: &[u8] = b"annal-event-v1\0";

pub fn chain_hash(previous: &ChainHash, event: &RecordedEvent) -> ChainHash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(canonical_bytes(event));
    h.finalize().into()
}

/// The bytes an event's hash is computed over (everything but the hash itself).
pub fn canonical_bytes(e: &RecordedEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + e.data.len() + e.raw.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&e.global_position.to_be_bytes());
    out.extend_from_slice(&e.stream_version.to_be_bytes());
    out.extend_from_slice(e.event_id.as_bytes());
    put_bytes(&mut out, e.stream.as_bytes());
    put_bytes(&mut out, e.event_type.as_bytes());
    out.extend_from_slice(&e.schema_version.to_be_bytes());
    out.extend_from_slice(&to_micros(&e.recorded_at).to_be_bytes());
    put_bytes(&mut out, e.actor.as_bytes());
    put_optional(&mut out, e.correlation_id.as_ref().map(|u| u.as_bytes().as_slice()));
    put_optional(&mut out, e.causation_id.as_ref().map(|u| u.as_bytes().as_slice()));
    put_bytes(&mut out, &e.data);
    put_optional(&mut out, e.raw.as_deref());
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_optional(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_bytes(out, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{from_micros, NewEvent};
    use uuid::Uuid;

    fn sample(position: u64, data: &[u8]) -> RecordedEvent {
        let new = NewEvent {
            event_id: Uuid::from_u128(position as u128),
            event_type: "Idle".into(),
            schema_version: 1,
            actor: "system".into(),
            correlation_id: None,
            causation_id: None,
            data: data.to_vec(),
            raw: None,
        };
        RecordedEvent::place(new, "enrollment-A", position, position, from_micros(1), &GENESIS_HASH)
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample(1, b"{}");
        let h = chain_hash(&GENESIS_HASH, &base);
        let mut variants = Vec::new();
        let mut e = base.clone();
        e.global_position = 2;
        variants.push(e);
        let mut e = base.clone();
        e.stream = "enrollment-B".into();
        variants.push(e);
        let mut e = base.clone();
        e.data = b"{ }".to_vec();
        variants.push(e);
        let mut e = base.clone();
        e.raw = Some(Vec::new());
        variants.push(e);
        let mut e = base.clone();
        e.actor = "admin".into();
        variants.push(e);
        let mut e = base.clone();
        e.recorded_at = from_micros(2);
        variants.push(e);
        for v in variants {
            assert_ne!(chain_hash(&GENESIS_HASH, &v), h, "{v:?}");
        }
        assert_ne!(chain_hash(&[1; 32], &base), h, "previous hash must count");
    }

    #[test]
    fn length_prefixes_keep_field_boundaries() {
        let mut a = sample(1, b"{}");
        let mut b = a.clone();
        a.stream = "ab".into();
        a.event_type = "c".into();
        b.stream = "a".into();
        b.event_type = "bc".into();
        assert_ne!(canonical_bytes(&a), canonical_bytes(&b));
    }
}
