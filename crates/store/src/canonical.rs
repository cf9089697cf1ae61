//! Canonical encodings and the digests over them. The same bytes must come out on every machine and in
//! every version of airlock, because stored hashes are recomputed from them later:
//! - canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace, strings escaped as serde_json
//!   escapes them, numbers as serde_json prints them;
//! - the request digest: SHA-256 over the canonical JSON of the request (its `kind` and fields) plus the
//!   context that changes what it does (`cwd`, `environment`); the agent, session and id are not part of it;
//! - the audit entry hash: SHA-256 over the canonical JSON of all the entry's stored fields except `hash`
//!   ([`entry_hash`]).

use std::io::Write as _;

use airlock_engine::Envelope;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The hash that the first entry's `prev_hash` holds.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Canonical JSON of a value: sorted keys, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    // Only serde_json's UTF-8 output goes in, so this never falls back.
    String::from_utf8(canonical_bytes(value)).unwrap_or_default()
}

/// [`canonical_json`] as bytes.
fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            // The entries themselves sorted, not the keys: no second (hashed) lookup per key.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_canonical(out, v);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        other => {
            // Scalars: serde_json's own printing is already canonical.
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The SHA-256 (lowercase hex) of the canonical JSON of the exact request: kind, fields, `cwd` and
/// `environment`. Two requests that differ in one byte of any of these have different digests.
pub fn request_digest(envelope: &Envelope) -> String {
    let mut value = serde_json::to_value(envelope).unwrap_or(Value::Null);
    // The envelope is one flat object (request and context are flattened into it, and none of the request
    // kinds has a field of these names); these three are left out when absent, so removing them is the
    // same as serialising the envelope without them (`request_digests_are_stable` pins the result).
    if let Value::Object(fields) = &mut value {
        for key in ["id", "agent", "session"] {
            fields.remove(key);
        }
    }
    sha256_hex(&canonical_bytes(&value))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The fields of one audit entry that its hash covers (everything stored except the hash itself).
#[derive(Debug, Clone, Copy)]
pub struct HashedFields<'a> {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Time of the decision, ms since the epoch.
    pub ts_ms: i64,
    /// Agent name.
    pub agent: Option<&'a str>,
    /// Agent session.
    pub session: Option<&'a str>,
    /// Request kind.
    pub kind: &'a str,
    /// Request digest.
    pub digest: &'a str,
    /// Redacted summary.
    pub summary: &'a str,
    /// allow / ask / deny.
    pub decision: &'a str,
    /// Reasons, as canonical JSON text.
    pub reasons: &'a str,
    /// Mitigation.
    pub mitigation: &'a str,
    /// Approval that let it through, if any.
    pub approval_id: Option<&'a str>,
    /// What happened.
    pub outcome: &'a str,
    /// Hash of the entry before.
    pub prev_hash: &'a str,
}

/// The hash of an audit entry: SHA-256 (lowercase hex) over the canonical JSON object of its fields, keys
/// sorted: `{"agent":…,"approval_id":…,"decision":…,"digest":…,"kind":…,"mitigation":…,"outcome":…,
/// "prev_hash":…,"reasons":…,"seq":…,"session":…,"summary":…,"ts_ms":…}` (`reasons` as a JSON string holding
/// the reasons' canonical JSON; absent optional fields as `null`). `buf` is scratch space reused between calls.
pub fn entry_hash(fields: &HashedFields<'_>, buf: &mut Vec<u8>) -> String {
    let hex = entry_hash_hex(fields, buf);
    String::from_utf8_lossy(&hex).into_owned()
}

/// [`entry_hash`] as lowercase hex bytes on the stack (no allocation), for comparing with a stored hash.
pub(crate) fn entry_hash_hex(fields: &HashedFields<'_>, buf: &mut Vec<u8>) -> [u8; 64] {
    buf.clear();
    // INVARIANT: keys in byte order; changing this encoding invalidates every stored chain.
    buf.extend_from_slice(b"{\"agent\":");
    write_opt(buf, fields.agent);
    buf.extend_from_slice(b",\"approval_id\":");
    write_opt(buf, fields.approval_id);
    buf.extend_from_slice(b",\"decision\":");
    write_str(buf, fields.decision);
    buf.extend_from_slice(b",\"digest\":");
    write_str(buf, fields.digest);
    buf.extend_from_slice(b",\"kind\":");
    write_str(buf, fields.kind);
    buf.extend_from_slice(b",\"mitigation\":");
    write_str(buf, fields.mitigation);
    buf.extend_from_slice(b",\"outcome\":");
    write_str(buf, fields.outcome);
    buf.extend_from_slice(b",\"prev_hash\":");
    write_str(buf, fields.prev_hash);
    buf.extend_from_slice(b",\"reasons\":");
    write_str(buf, fields.reasons);
    let _ = write!(buf, ",\"seq\":{}", fields.seq);
    buf.extend_from_slice(b",\"session\":");
    write_opt(buf, fields.session);
    buf.extend_from_slice(b",\"summary\":");
    write_str(buf, fields.summary);
    let _ = write!(buf, ",\"ts_ms\":{}}}", fields.ts_ms);
    let mut out = [0u8; 64];
    // 32 digest bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(Sha256::digest(buf.as_slice()), &mut out);
    out
}

fn write_opt(buf: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(s) => write_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":2,"x":"\u00e9\n"}],"c":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[{"x":"é\n","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn digest_ignores_agent_and_session_but_not_one_byte_of_the_request() {
        let a: Envelope =
            serde_json::from_str(r#"{"kind":"shell","command":"rm -rf /tmp/x","agent":"a"}"#)
                .unwrap();
        let b: Envelope = serde_json::from_str(
            r#"{"kind":"shell","command":"rm -rf /tmp/x","agent":"b","session":"s"}"#,
        )
        .unwrap();
        let c: Envelope =
            serde_json::from_str(r#"{"kind":"shell","command":"rm -rf /tmp/y"}"#).unwrap();
        let d: Envelope =
            serde_json::from_str(r#"{"kind":"shell","command":"rm -rf /tmp/x","cwd":"/"}"#)
                .unwrap();
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&c));
        assert_ne!(request_digest(&a), request_digest(&d));
        assert_eq!(request_digest(&a).len(), 64);
    }

    /// Request digests are stored (approvals, audit entries, deferred requests) and recomputed later, so they
    /// are pinned: one envelope of every kind, with every context field, unicode, and keys to sort.
    #[test]
    fn request_digests_are_stable() {
        let pinned = [
            (
                r#"{"id":"x1","kind":"shell","command":"rm -rf ~/é","shell":"bash","agent":"a","session":"s","cwd":"/w","environment":"production"}"#,
                "e18895f0f79c41e0c19a16e58dd31dddf4bfd62ba2de6db2f814251b288ad7de",
            ),
            (
                r#"{"kind":"sql","dialect":"postgres","sql":"DROP TABLE t","upstream":"db"}"#,
                "6d2edffc3a08f9f8409509210bfb35dd9fdc250b78d9bd3740eeb34d68678aba",
            ),
            (
                r#"{"kind":"http","method":"POST","url":"https://api.example/graphql","headers":{"b":"2","A":"1","content-type":"application/json"},"body":"{\"query\":\"mutation { volumeDelete(volumeId: \\\"v\\\") }\"}","agent":"gw","upstream":"railway","environment":"production"}"#,
                "76e894371a2388c50ef4dc6c8d25a82b92ee54f3dfddb47436f38d0527d17114",
            ),
            (
                r#"{"kind":"mcp","server":"fs","tool":"delete","arguments":{"z":[1,2.5,null,true],"a":{"y":"\n","x":"\u00e9"}}}"#,
                "c4d25a3e5591e241377a6840a693d3f9d8e896129cf96d8ba4f9b3d81611a56b",
            ),
            (
                r#"{"kind":"file","op":"write","path":"/etc/hosts","content":"127.0.0.1 x\n"}"#,
                "51da3b676840ec73430441acf22dd9d9a63654022fd0486886484515e11428c0",
            ),
        ];
        for (json, digest) in pinned {
            let envelope: Envelope = serde_json::from_str(json).unwrap();
            assert_eq!(request_digest(&envelope), digest, "{json}");
        }
    }

    #[test]
    fn entry_hash_matches_the_documented_encoding() {
        let fields = HashedFields {
            seq: 1,
            ts_ms: 5,
            agent: Some("a"),
            session: None,
            kind: "shell",
            digest: "d",
            summary: "s \"q\"",
            decision: "ask",
            reasons: "[]",
            mitigation: "none",
            approval_id: None,
            outcome: "held",
            prev_hash: GENESIS_HASH,
        };
        let expected = format!(
            r#"{{"agent":"a","approval_id":null,"decision":"ask","digest":"d","kind":"shell","mitigation":"none","outcome":"held","prev_hash":"{GENESIS_HASH}","reasons":"[]","seq":1,"session":null,"summary":"s \"q\"","ts_ms":5}}"#
        );
        let mut buf = Vec::new();
        assert_eq!(
            entry_hash(&fields, &mut buf),
            sha256_hex(expected.as_bytes())
        );
        // Same result through the generic canonical encoder.
        let v: Value = serde_json::from_str(&expected).unwrap();
        assert_eq!(canonical_json(&v), expected);
    }
}
