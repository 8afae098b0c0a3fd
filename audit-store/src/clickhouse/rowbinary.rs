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
use crate::StoreError;

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

/// Where one encoded span is in a buffer, and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSpan {
    pub bytes: std::ops::Range<usize>,
    pub start_secs: u32,
    pub trace_id: String,
    pub span_id: String,
}

/// Walks spans encoded by [`encode_spans`], row by row, without decoding what is not needed.
pub fn encoded_spans(rows: &[u8]) -> Result<Vec<EncodedSpan>, StoreError> {
    let mut out = Vec::new();
    walk(rows, |bytes, start_secs, trace_id, span_id| {
        out.push(EncodedSpan { bytes, start_secs, trace_id: trace_id.to_string(), span_id: span_id.to_string() })
    })?;
    Ok(out)
}

/// How many spans `rows` holds, checking that it is whole rows of [`encode_spans`] and nothing
/// else: spans from several buffers go to ClickHouse as one stream, where a buffer that is not
/// (a corrupt one) would shift every row after it.
pub fn check_spans(rows: &[u8]) -> Result<usize, StoreError> {
    let mut count = 0;
    walk(rows, |_, _, _, _| count += 1)?;
    Ok(count)
}

fn walk(rows: &[u8], mut each: impl FnMut(std::ops::Range<usize>, u32, &str, &str)) -> Result<(), StoreError> {
    let mut reader = Reader { rows, at: 0 };
    while reader.at < rows.len() {
        let start = reader.at;
        let start_secs = u32::from_le_bytes(reader.fixed::<4>()?);
        reader.fixed::<8>()?;
        let trace_id = reader.string()?;
        let span_id = reader.string()?;
        // ParentSpanId, SpanName, SpanKind, ServiceName, ScopeName, DurationNs, StatusCode,
        // StatusMessage, CorrelationId.
        reader.string()?;
        reader.string()?;
        reader.fixed::<1>()?;
        reader.string()?;
        reader.string()?;
        reader.fixed::<8>()?;
        reader.fixed::<1>()?;
        reader.string()?;
        reader.string()?;
        // Attribute and resource keys and values.
        for _ in 0..4 {
            reader.strings()?;
        }
        // Event times, names and attributes.
        for _ in 0..reader.leb128()? {
            reader.fixed::<8>()?;
        }
        reader.strings()?;
        reader.strings()?;
        // Link trace and span ids.
        reader.strings()?;
        reader.strings()?;
        each(start..reader.at, start_secs, trace_id, span_id);
    }
    Ok(())
}

struct Reader<'a> {
    rows: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.rows.len()).ok_or_else(|| {
            StoreError::Corrupt(format!("encoded spans end inside a value at byte {} of {}", self.at, self.rows.len()))
        })?;
        let out = &self.rows[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn leb128(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let [byte] = self.fixed::<1>()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(StoreError::Corrupt(format!("an over-long length at byte {} of encoded spans", self.at)))
    }

    fn string(&mut self) -> Result<&'a str, StoreError> {
        let len = usize::try_from(self.leb128()?).unwrap_or(usize::MAX);
        let at = self.at;
        std::str::from_utf8(self.take(len)?)
            .map_err(|_| StoreError::Corrupt(format!("a string at byte {at} of encoded spans is not UTF-8")))
    }

    fn strings(&mut self) -> Result<(), StoreError> {
        for _ in 0..self.leb128()? {
            self.string()?;
        }
        Ok(())
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

    fn span(i: u64, events: usize) -> Span {
        Span {
            trace_id: format!("{i:032x}"),
            span_id: format!("{:016x}", i + 1),
            name: "n".repeat(200 * i as usize),
            start_ns: 1_700_000_000_000_000_000 + i * 1_000_000_000,
            attributes: vec![("k".into(), "v".into()); i as usize],
            events: (0..events)
                .map(|e| crate::model::SpanEvent { time_ns: e as u64, name: "e".into(), attributes: vec![] })
                .collect(),
            links: vec![crate::model::SpanLink { trace_id: "t".into(), span_id: "s".into() }],
            ..Span::default()
        }
    }

    #[test]
    fn encoded_spans_are_found_row_by_row() {
        let spans = [span(1, 0), span(2, 3), span(3, 1)];
        let mut rows = Vec::new();
        encode_spans(&spans, &mut rows);
        let found = encoded_spans(&rows).unwrap();
        assert_eq!(found.len(), 3);
        for (f, s) in found.iter().zip(&spans) {
            assert_eq!((f.trace_id.as_str(), f.span_id.as_str()), (s.trace_id.as_str(), s.span_id.as_str()));
            assert_eq!(f.start_secs, seconds(s.start_ns));
            let mut alone = Vec::new();
            encode_spans(std::slice::from_ref(s), &mut alone);
            assert_eq!(&rows[f.bytes.clone()], alone.as_slice());
        }
        // Cut anywhere inside, the walk says so instead of reading past the end.
        for cut in [1, 5, rows.len() - 1] {
            assert!(matches!(encoded_spans(&rows[..cut]), Err(StoreError::Corrupt(_))), "cut at {cut}");
        }
    }
}
