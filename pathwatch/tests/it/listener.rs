//! The listeners' own limits: a connection that never finishes its headers is closed after
//! `collector.header_timeout_secs`, and past `collector.max_connections` new connections wait until
//! one closes, so silent or trickling connections cannot pile up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

/// Whether the server has closed `stream` (whatever it said first), waiting at most `within`.
fn closed(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn silent_connections_are_closed_after_the_header_timeout_and_cannot_take_every_slot() {
    let (_tmp, data) = temp_dir();
    let port = free_port();
    let _collector = Collector::start(
        &data,
        port,
        &[
            ("PATHWATCH_COLLECTOR__HEADER_TIMEOUT_SECS", "2".into()),
            ("PATHWATCH_COLLECTOR__MAX_CONNECTIONS", "2".into()),
        ],
    );
    // Collector::start's own probe connection has been and gone. Two connections that say nothing,
    // one of them half a request: together they hold every slot.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut trickling = TcpStream::connect(("127.0.0.1", port)).unwrap();
    trickling.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A third, with a whole request, is answered only once a slot frees…
    let mut patient = TcpStream::connect(("127.0.0.1", port)).unwrap();
    patient.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    patient.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = String::new();
    patient.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // …which happened because the silent ones were closed for taking too long over their headers.
    assert!(closed(&mut silent, Duration::from_millis(500)), "a connection that never spoke is still open");
    assert!(closed(&mut trickling, Duration::from_millis(500)), "a half-sent request is still open");
}

#[test]
fn grpc_connections_that_stall_or_sit_idle_are_closed_after_the_header_timeout() {
    let (_tmp, data) = temp_dir();
    let (port, grpc) = (free_port(), free_port());
    let _collector = Collector::start(
        &data,
        port,
        &[
            ("PATHWATCH_COLLECTOR__HEADER_TIMEOUT_SECS", "1".into()),
            ("PATHWATCH_COLLECTOR__MAX_CONNECTIONS", "3".into()),
            ("PATHWATCH_COLLECTOR__GRPC_LISTEN", format!("127.0.0.1:{grpc}")),
        ],
    );
    let started = std::time::Instant::now();
    // Silent; one byte of the preface and no more; a whole handshake and then no call.
    let mut silent = TcpStream::connect(("127.0.0.1", grpc)).unwrap();
    let mut stalled = TcpStream::connect(("127.0.0.1", grpc)).unwrap();
    stalled.write_all(b"P").unwrap();
    let mut idle = TcpStream::connect(("127.0.0.1", grpc)).unwrap();
    idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut frame = [0u8; 9];
    idle.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 4, "a client that speaks HTTP/2 is answered with the server's SETTINGS");
    for (name, stream) in [("silent", &mut silent), ("stalled", &mut stalled), ("idle", &mut idle)] {
        assert!(closed(stream, Duration::from_secs(10)), "the {name} connection is still open");
    }
    assert!(started.elapsed() < Duration::from_secs(6), "closed only after {:?}", started.elapsed());
    // All three slots are free again: three more are served at once.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut next = TcpStream::connect(("127.0.0.1", grpc)).unwrap();
        next.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
        next.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        next.read_exact(&mut frame).unwrap();
        held.push(next);
    }
}
