//! Bad input through a real gateway: bodies over the cap (declared, chunked, or once decoded) are 413;
//! truncated or corrupt compressed bodies are 400; unknown encodings 415; a compressed GraphQL mutation is
//! decoded and judged (held), and after approval the upstream gets the exact compressed bytes; a GraphQL body
//! that does not parse is held (ask) and never forwarded unseen.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::io::Write as _;

use support::{GRAPHQL, Harness, Options, VOLUME_DELETE, raw_status, send, send_raw};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn post_encoded(h: &Harness, encoding: &str, body: Vec<u8>) -> support::Answer {
    let bearer = h.bearer();
    send(
        h.addr(),
        "POST",
        GRAPHQL,
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
            ("content-encoding", encoding),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn bodies_over_the_cap_are_413() {
    let h = Harness::start(Options {
        max_body_bytes: Some(1024),
        ..Options::default()
    })
    .await;
    let answer = h
        .call("POST", "/u/railway/v1/items", vec![b'a'; 2000])
        .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"], "payload_too_large");
    // Exactly at the cap is fine.
    let answer = h
        .call("POST", "/u/railway/v1/items", vec![b'a'; 1024])
        .await;
    assert_eq!(answer.status, 200);
    // Chunked, without a length: refused once the cap is passed.
    let chunk = "b".repeat(600);
    let raw = format!(
        "POST /u/railway/v1/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n",
        h.token
    );
    let answer = send_raw(h.addr(), raw.as_bytes()).await;
    assert_eq!(raw_status(&answer), 413, "{answer}");
    // Small on the wire, over the cap once decoded.
    let bomb = gzip(&vec![b' '; 100_000]);
    assert!(bomb.len() < 1024);
    assert_eq!(post_encoded(&h, "gzip", bomb).await.status, 413);
    assert_eq!(h.railway.count(), 1);
}

#[tokio::test]
async fn the_default_cap_is_ten_mebibytes() {
    let h = Harness::start(Options::default()).await;
    let answer = h
        .call(
            "POST",
            "/u/railway/v1/items",
            vec![b'a'; 10 * 1024 * 1024 + 1],
        )
        .await;
    assert_eq!(answer.status, 413);
    assert_eq!(h.railway.count(), 0);
}

#[tokio::test]
async fn truncated_or_corrupt_bodies_are_400_and_unknown_encodings_415() {
    let h = Harness::start(Options::default()).await;
    let whole = gzip(VOLUME_DELETE.as_bytes());
    let truncated = whole[..whole.len() / 2].to_vec();
    let answer = post_encoded(&h, "gzip", truncated).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("truncated")
    );
    assert_eq!(
        post_encoded(&h, "gzip", b"not gzip at all".to_vec())
            .await
            .status,
        400
    );
    assert_eq!(post_encoded(&h, "br", vec![0xff; 32]).await.status, 400);
    assert_eq!(
        post_encoded(&h, "deflate", b"\x78\x9c garbage".to_vec())
            .await
            .status,
        400
    );
    let mut trailing = whole.clone();
    trailing.extend_from_slice(b"{\"query\":\"mutation { accountDelete }\"}");
    assert_eq!(post_encoded(&h, "gzip", trailing).await.status, 400);
    let answer = post_encoded(&h, "zstd", VOLUME_DELETE.as_bytes().to_vec()).await;
    assert_eq!(answer.status, 415);
    assert_eq!(h.railway.count(), 0);
}

#[tokio::test]
async fn compressed_mutations_are_judged_and_forwarded_as_received() {
    let h = Harness::start(Options::default()).await;
    let alice = h.approver("alice").await;
    let compressed = gzip(VOLUME_DELETE.as_bytes());
    let held = post_encoded(&h, "gzip", compressed.clone()).await;
    assert_eq!(held.status, 202, "{}", String::from_utf8_lossy(&held.body));
    let held = held.json();
    assert_eq!(held["reasons"][0]["rule"], "GQL005");
    let approval = h
        .store
        .approval(held["approval_id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        approval.summary.contains("volumeDelete"),
        "{}",
        approval.summary
    );
    h.store.approve(&approval.id, &alice).await.unwrap();
    let answer = post_encoded(&h, "gzip", compressed.clone()).await;
    assert_eq!(answer.status, 200);
    let seen = h.railway.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, compressed);
    assert_eq!(seen[0].header_values("content-encoding"), ["gzip"]);
    assert_eq!(
        seen[0].header_values("content-length"),
        [compressed.len().to_string()]
    );
}

#[tokio::test]
async fn unparseable_graphql_is_held_never_forwarded() {
    let h = Harness::start(Options::default()).await;
    for body in [
        r#"{"query": mutation { volumeDelete"#,
        "volumeDelete(volumeId: 1) {",
        "\u{0}\u{1}binary",
    ] {
        let answer = h.call("POST", GRAPHQL, body).await;
        assert_eq!(
            answer.status,
            202,
            "{body}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["decision"], "ask");
    }
    let answer = h.call("POST", GRAPHQL, vec![0xff, 0xfe, b'{', 0x80]).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(h.railway.count(), 0);
}

#[tokio::test]
async fn binary_bodies_are_bound_by_their_exact_bytes() {
    let h = Harness::start(Options::default()).await;
    let alice = h.approver("alice").await;
    // Two bodies that read the same once made UTF-8 (each invalid byte becomes U+FFFD).
    let first = vec![0xff, 0xfe, b'{', 0x80];
    let second = vec![0xfe, 0xff, b'{', 0x81];
    let held = h.call("POST", GRAPHQL, first.clone()).await;
    assert_eq!(held.status, 202);
    let id = held.json()["approval_id"].as_str().unwrap().to_string();
    h.store.approve(&id, &alice).await.unwrap();
    let other = h.call("POST", GRAPHQL, second).await;
    assert_eq!(
        other.status, 202,
        "an approval of one binary body must not cover another"
    );
    assert_eq!(h.railway.count(), 0);
    assert_eq!(h.call("POST", GRAPHQL, first.clone()).await.status, 200);
    assert_eq!(h.railway.seen()[0].body, first);
    assert!(
        h.railway.seen()[0]
            .header_values("x-airlock-body-sha256")
            .is_empty()
    );
}
