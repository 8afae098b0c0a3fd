//! `application/x-www-form-urlencoded` decoding for token request bodies and query strings. FHIR searches
//! repeat parameters (`birthdate=ge…&birthdate=le…`) and need their order, so pairs stay a list.
//!
//! Decoding never fails: a malformed escape is kept literally, as browsers and most servers do.

/// Decodes `a=1&b=x+y` into `[("a","1"),("b","x y")]`. Empty segments are skipped; a key without `=`
/// has an empty value.
pub fn parse_pairs(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(segment), String::new()),
        })
        .collect()
}

/// The first value of `key`, if present.
pub fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Every value of `key`, in order.
pub fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_repeats() {
        let pairs = parse_pairs("a=x+y&b=%7C%3a&b=2&flag&&c=%zz&d=%4");
        assert_eq!(first(&pairs, "a"), Some("x y"));
        assert_eq!(all(&pairs, "b"), vec!["|:", "2"]);
        assert_eq!(first(&pairs, "flag"), Some(""));
        assert_eq!(first(&pairs, "c"), Some("%zz"));
        assert_eq!(first(&pairs, "d"), Some("%4"));
        assert_eq!(first(&pairs, "missing"), None);
    }

    #[test]
    fn decodes_utf8() {
        assert_eq!(parse_pairs("n=ATTS%C3%96N")[0].1, "ATTSÖN");
    }
}
