//! The canaries read at most `MAX_BODY` of any answer: an oversized success is a failed check, an
//! oversized error answer is judged by its status (and retried like any other), and either way the
//! step keeps what the headers announced.

use std::time::Duration;

use canaries::probe::{Probe, Request, Step, MAX_BODY};
use canaries::ErrorClass;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server answering every connection with `status` and a body one byte over the limit, streamed
/// without a length (`declare_length`: with `Content-Length` instead). Returns its URL.
async fn oversized(status: u16, declare_length: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/big", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let framing = if declare_length {
                    format!("content-length: {}", MAX_BODY + 1)
                } else {
                    "connection: close".to_string()
                };
                let head = format!("HTTP/1.1 {status} X\r\n{framing}\r\nsunset: Sat, 31 Jul 2100 23:59:59 GMT\r\n\r\n");
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..=(MAX_BODY >> 20) {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn an_oversized_answer_is_not_read_whole() {
    let probe = Probe { client: reqwest::Client::new(), max_attempts: 2 };
    for declare_length in [false, true] {
        let url = oversized(200, declare_length).await;
        let mut step = Step::new("big", Duration::from_secs(20));
        let error = step.send(&probe, &Request::new(Method::GET, &url, "/big").idempotent()).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Assertion, "{}", error.message);
        assert!(error.message.contains("larger than 16 MiB"), "{}", error.message);
        assert!(step.attributes.contains_key(domain::canary::attr::API_SUNSET_AT), "the headers still count");

        // A 503 that is too big is a 503: retried, then reported with an empty body.
        let url = oversized(503, declare_length).await;
        let mut step = Step::new("big", Duration::from_secs(20));
        let reply = step.send(&probe, &Request::new(Method::GET, &url, "/big").idempotent()).await.unwrap();
        assert_eq!((reply.status, reply.body.len(), step.attempts), (503, 0, 2));
    }
}
