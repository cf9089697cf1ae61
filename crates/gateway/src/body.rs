//! Request bodies: read whole, up to the cap (`max_body_bytes`, 413 beyond it), then decoded for the engine
//! when the agent compressed them (`Content-Encoding: gzip`, `deflate`, `br`, or a list of them). The
//! decoded size is capped too (a small compressed bomb is 413). A truncated or corrupt stream, or trailing
//! bytes after it, is 400: the engine never judges a body other than the one the upstream would read. An
//! unknown encoding is 415. The bytes forwarded upstream are always the original ones, as received.

use std::borrow::Cow;
use std::io::Read as _;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

/// Most `Content-Encoding` layers accepted.
const MAX_LAYERS: usize = 3;

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Over the cap, raw or decoded (413).
    TooLarge {
        /// The cap in bytes.
        cap: usize,
    },
    /// The body could not be read from the agent (400).
    Read(String),
    /// A compressed body is truncated or corrupt (400).
    Corrupt {
        /// The encoding.
        encoding: String,
        /// What the decoder said.
        message: String,
    },
    /// An encoding the gateway cannot decode (415).
    Unsupported(String),
}

impl BodyError {
    /// A message for the agent.
    pub fn message(&self) -> String {
        match self {
            BodyError::TooLarge { cap } => format!("request body is larger than {cap} bytes"),
            BodyError::Read(m) => format!("cannot read the request body: {m}"),
            BodyError::Corrupt { encoding, message } => {
                format!("the {encoding}-encoded request body is truncated or corrupt: {message}")
            }
            BodyError::Unsupported(e) => format!(
                "content encoding `{e}` is not supported: send the body as identity, gzip, deflate or br"
            ),
        }
    }
}

/// Reads the whole body, refusing more than `cap` bytes (at once when `Content-Length` says so).
pub async fn read_capped(headers: &HeaderMap, body: Body, cap: usize) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge { cap })
        }
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}

/// The encodings named by `Content-Encoding`, in the order they were applied (`identity` left out).
pub fn encodings(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .flat_map(|v| {
            v.split(',')
                .map(|e| e.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|e| !e.is_empty() && e != "identity")
        .collect()
}

/// The body as the upstream will read it: `raw` with every content encoding undone (last applied first).
pub fn decode<'a>(
    encodings: &[String],
    raw: &'a [u8],
    cap: usize,
) -> Result<Cow<'a, [u8]>, BodyError> {
    if encodings.len() > MAX_LAYERS {
        return Err(BodyError::Unsupported(encodings.join(", ")));
    }
    let mut current: Cow<'a, [u8]> = Cow::Borrowed(raw);
    for encoding in encodings.iter().rev() {
        current = Cow::Owned(decode_one(encoding, &current, cap)?);
    }
    Ok(current)
}

fn decode_one(encoding: &str, input: &[u8], cap: usize) -> Result<Vec<u8>, BodyError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let corrupt = |message: String| BodyError::Corrupt {
        encoding: encoding.to_string(),
        message,
    };
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    match encoding {
        "gzip" | "x-gzip" => {
            // Every member, as an upstream reading a concatenated gzip stream would.
            let mut decoder = flate2::bufread::MultiGzDecoder::new(input);
            (&mut decoder)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(e.to_string()))?;
            if out.len() <= cap && !decoder.into_inner().is_empty() {
                return Err(corrupt("bytes after the end of the stream".into()));
            }
        }
        "deflate" => {
            // HTTP's `deflate` is zlib-wrapped; some clients send raw deflate.
            let mut decoder = flate2::bufread::ZlibDecoder::new(input);
            let zlib = (&mut decoder).take(limit).read_to_end(&mut out);
            let zlib_ok = zlib.is_ok() && decoder.total_in() == input.len() as u64;
            if !zlib_ok {
                out.clear();
                let mut raw = flate2::bufread::DeflateDecoder::new(input);
                (&mut raw)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| corrupt(e.to_string()))?;
                if out.len() <= cap && raw.total_in() != input.len() as u64 {
                    return Err(corrupt("truncated stream or bytes after its end".into()));
                }
            }
        }
        "br" => {
            let mut decoder = brotli::Decompressor::new(input, 4096);
            (&mut decoder)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(e.to_string()))?;
        }
        other => return Err(BodyError::Unsupported(other.to_string())),
    }
    if out.len() > cap {
        return Err(BodyError::TooLarge { cap });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn br(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    fn enc(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const TEXT: &[u8] = br#"{"query":"mutation { volumeDelete(volumeId: \"v1\") }"}"#;

    #[test]
    fn decodes_each_encoding() {
        assert_eq!(decode(&[], TEXT, 1000).unwrap().as_ref(), TEXT);
        assert_eq!(
            decode(&enc(&["gzip"]), &gzip(TEXT), 1000).unwrap().as_ref(),
            TEXT
        );
        assert_eq!(
            decode(&enc(&["deflate"]), &zlib(TEXT), 1000)
                .unwrap()
                .as_ref(),
            TEXT
        );
        assert_eq!(
            decode(&enc(&["deflate"]), &raw_deflate(TEXT), 1000)
                .unwrap()
                .as_ref(),
            TEXT
        );
        assert_eq!(
            decode(&enc(&["br"]), &br(TEXT), 1000).unwrap().as_ref(),
            TEXT
        );
        let layered = br(&gzip(TEXT));
        assert_eq!(
            decode(&enc(&["gzip", "br"]), &layered, 1000)
                .unwrap()
                .as_ref(),
            TEXT
        );
        let mut two_members = gzip(b"first ");
        two_members.extend(gzip(b"second"));
        assert_eq!(
            decode(&enc(&["gzip"]), &two_members, 1000)
                .unwrap()
                .as_ref(),
            b"first second"
        );
    }

    #[test]
    fn truncated_or_trailing_is_corrupt() {
        for (name, data) in [
            ("gzip", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("br", br(TEXT)),
        ] {
            let cut = &data[..data.len() - 4];
            assert!(
                matches!(
                    decode(&enc(&[name]), cut, 1000),
                    Err(BodyError::Corrupt { .. })
                ),
                "{name} truncated: {:?}",
                decode(&enc(&[name]), cut, 1000)
            );
        }
        let mut trailing = gzip(TEXT);
        trailing.extend_from_slice(b"junk");
        assert!(matches!(
            decode(&enc(&["gzip"]), &trailing, 1000),
            Err(BodyError::Corrupt { .. })
        ));
        let mut trailing = zlib(TEXT);
        trailing.extend_from_slice(b"junk");
        assert!(matches!(
            decode(&enc(&["deflate"]), &trailing, 1000),
            Err(BodyError::Corrupt { .. })
        ));
    }

    #[test]
    fn bombs_and_unknown_encodings() {
        let bomb = gzip(&vec![b'a'; 100_000]);
        assert!(bomb.len() < 1000);
        assert_eq!(
            decode(&enc(&["gzip"]), &bomb, 10_000),
            Err(BodyError::TooLarge { cap: 10_000 })
        );
        assert_eq!(
            decode(&enc(&["zstd"]), b"x", 10),
            Err(BodyError::Unsupported("zstd".into()))
        );
        let mut h = HeaderMap::new();
        h.append("content-encoding", "gzip, identity".parse().unwrap());
        h.append("content-encoding", "BR".parse().unwrap());
        assert_eq!(encodings(&h), enc(&["gzip", "br"]));
    }
}
