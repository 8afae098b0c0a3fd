//! Spans encoded in ClickHouse's RowBinary format, ready to send as the body of
//! `INSERT INTO spans (…) FORMAT RowBinary`.
//!
//! The collector's spool keeps spans in this form, so moving a batch to ClickHouse is one copy of
//! bytes: no decoding, no per-row serialisation at drain time. The column list travels with the
//! bytes ([`SPAN_COLUMNS`]), so the encoding does not depend on the table's column order.
//!
//! RowBinary: integers little-endian at their width, `DateTime` as `UInt32` seconds, `String` as a
//! LEB128 length then the bytes, `Array(T)` as a LEB128 count then the elements.

use super::seconds;
use crate::model::Span;

/// The columns, in the order each row is encoded.
pub const SPAN_COLUMNS: &str = "Timestamp, TimestampNs, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, \
    ServiceName, ScopeName, DurationNs, StatusCode, StatusMessage, CorrelationId, AttributeKeys, AttributeValues, \
    ResourceKeys, ResourceValues, EventTimesNs, EventNames, EventAttributes, LinkTraceIds, LinkSpanIds";

/// Appends the RowBinary encoding of `spans` to `out`.
pub fn encode_spans(spans: &[Span], out: &mut Vec<u8>) {
    for s in spans {
        out.extend_from_slice(&seconds(s.start_ns).to_le_bytes());
        out.extend_from_slice(&s.start_ns.to_le_bytes());
        string(out, &s.trace_id);
        string(out, &s.span_id);
        string(out, &s.parent_span_id);
        string(out, &s.name);
        out.push(s.kind as u8);
        string(out, &s.service_name);
        string(out, &s.scope_name);
        out.extend_from_slice(&s.duration_ns.to_le_bytes());
        out.push(s.status as u8);
        string(out, &s.status_message);
        string(out, &s.correlation_id);
        strings(out, s.attributes.iter().map(|(k, _)| k.as_str()), s.attributes.len());
        strings(out, s.attributes.iter().map(|(_, v)| v.as_str()), s.attributes.len());
        strings(out, s.resource.iter().map(|(k, _)| k.as_str()), s.resource.len());
        strings(out, s.resource.iter().map(|(_, v)| v.as_str()), s.resource.len());
        leb128(out, s.events.len() as u64);
        for e in &s.events {
            out.extend_from_slice(&e.time_ns.to_le_bytes());
        }
        strings(out, s.events.iter().map(|e| e.name.as_str()), s.events.len());
        leb128(out, s.events.len() as u64);
        for e in &s.events {
            string(out, &serde_json::to_string(&e.attributes).unwrap_or_else(|_| "[]".into()));
        }
        strings(out, s.links.iter().map(|l| l.trace_id.as_str()), s.links.len());
        strings(out, s.links.iter().map(|l| l.span_id.as_str()), s.links.len());
    }
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    leb128(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn strings<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>, count: usize) {
    leb128(out, count as u64);
    for s in items {
        string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_matches_the_format() {
        let enc = |v| {
            let mut out = Vec::new();
            leb128(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
    }
}
