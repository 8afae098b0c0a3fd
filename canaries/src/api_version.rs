//! Which API version each request spoke, and what the server announced about its retirement:
//! recorded on the step (span attributes `domain::canary::attr::API_*`) so the compatibility page
//! can list, per environment, the versions each flow uses and any retirement dates.
//!
//! The version asked for is read from the request: GP Connect's `Ssp-InteractionID`, a MESH media
//! type (`application/vnd.mesh.v2+json`), a `version=` media-type parameter, or a FHIR base path
//! (`/FHIR/R4`). The version served is read from the answer's media type (`fhirVersion=`,
//! `version=`, MESH's) or an `api-version` header. Retirement notices: `Deprecation` (RFC 9745:
//! `@<Unix seconds>`; earlier drafts an HTTP date or `true`), `Sunset` (RFC 8594, an HTTP date),
//! `Warning` (RFC 7234; `299` is "miscellaneous persistent warning", used for deprecations) and
//! `Link` with `rel="deprecation"` or `rel="sunset"`. Each value is cut to 200 characters; dates are
//! kept as RFC 3339 text (ten digits of Unix seconds could be taken for an NHS number by the
//! collector's pseudonymiser).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::probe::Request;
use domain::canary::attr;

/// A recorded header value is cut to this many characters.
const MAX_VALUE: usize = 200;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Printable ASCII only (no control, bidi or zero-width characters), at most 200 characters, and
/// any run of ten or more digits masked: such a run could be taken for an NHS number downstream.
fn cut(value: &str) -> String {
    let kept: String = value.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(MAX_VALUE).collect();
    let mut out = String::with_capacity(kept.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 10 {
            out.push_str("[digits]");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in kept.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// A media type's parameter (`version`, `fhirVersion`), case-insensitive.
fn media_parameter<'a>(media: &'a str, name: &str) -> Option<&'a str> {
    media.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"')).filter(|v| !v.is_empty())
    })
}

/// `vnd.mesh.v2` in a media type: "MESH v2".
fn mesh_version(media: &str) -> Option<String> {
    let rest = &media[media.find("vnd.mesh.v")? + "vnd.mesh.v".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("MESH v{digits}"))
}

/// The version `request` asks for, when it says.
pub fn spoken(request: &Request) -> Option<String> {
    if let Some(interaction) = header(&request.headers, "ssp-interactionid") {
        let short = interaction.strip_prefix("urn:nhs:names:services:").unwrap_or(interaction);
        return Some(cut(short));
    }
    let accept = header(&request.headers, "accept").unwrap_or("");
    if let Some(mesh) = mesh_version(accept) {
        return Some(mesh);
    }
    if let Some(version) = media_parameter(accept, "version") {
        return Some(cut(&format!("version {version}")));
    }
    let path = url::Url::parse(&request.url).map(|u| u.path().to_string()).unwrap_or_default();
    path.split('/').any(|segment| segment == "R4").then(|| "FHIR R4".to_string())
}

/// The version the answer says it is, when it says.
pub fn served(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = header(headers, "api-version").or_else(|| header(headers, "x-api-version")) {
        return Some(cut(v));
    }
    let media = header(headers, "content-type")?;
    if let Some(mesh) = mesh_version(media) {
        return Some(mesh);
    }
    if let Some(fhir) = media_parameter(media, "fhirVersion") {
        return Some(cut(&format!("FHIR {fhir}")));
    }
    media_parameter(media, "version").map(|v| cut(&format!("version {v}")))
}

/// A `Deprecation` or `Sunset` value as a time: `@<Unix seconds>` (RFC 9745, parameters after `;`
/// ignored; bare seconds too) or an HTTP date with a four-digit year. Only years 1970 to 9999 are
/// times (a value in milliseconds is not): `true` (an early draft's "deprecated, no date") is None,
/// as is anything unreadable.
pub fn notice_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.split(';').next().unwrap_or("").trim();
    let seconds = value.strip_prefix('@').unwrap_or(value).trim();
    let at = if !seconds.is_empty() && seconds.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        seconds.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0))?
    } else {
        // `Sun, 06 Nov 1994 08:49:37 GMT`: chrono would read a two- or three-digit year as 19xx.
        let four_digit_year = value.split_whitespace().nth(3).is_some_and(|y| y.len() == 4);
        if !four_digit_year {
            return None;
        }
        DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc)
    };
    (1970..=9999).contains(&chrono::Datelike::year(&at)).then_some(at)
}

/// The first `Link` target with a `rel` of `deprecation` or `sunset` (`rel` may name several),
/// resolved against `base`; only an http(s) URL of at most 200 characters.
fn notice_link(headers: &HeaderMap, base: &str) -> Option<String> {
    let base = url::Url::parse(base).ok();
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|link| {
            link.split(';').skip(1).any(|p| {
                let Some((key, value)) = p.split_once('=') else { return false };
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("deprecation") || r.eq_ignore_ascii_case("sunset"))
            })
        })
        .filter_map(|link| {
            let target = link.split(';').next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
            let url = match &base {
                Some(b) => b.join(target).ok()?,
                None => url::Url::parse(target).ok()?,
            };
            let ok = matches!(url.scheme(), "http" | "https") && url.as_str().len() <= MAX_VALUE;
            ok.then(|| url.to_string())
        })
        .next()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Records on a step the version `request` asks for, before it is sent.
pub fn note_request(attributes: &mut BTreeMap<String, String>, request: &Request) {
    if let Some(version) = spoken(request) {
        attributes.insert(attr::API_VERSION.into(), version);
    }
}

/// Records on a step what `request` spoke and what its answer (`headers`) announced. A notice
/// seen on any request of the step stays, so a poll's later answers do not hide it.
pub fn note(attributes: &mut BTreeMap<String, String>, request: &Request, headers: &HeaderMap) {
    note_request(attributes, request);
    let mut set = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            attributes.insert(key.to_string(), v);
        }
    };
    set(attr::API_SERVED_VERSION, served(headers));
    // Whether the step got an answer: what the compatibility matrix takes as a step's truth.
    set(attr::API_ANSWERED, Some("true".into()));
    if let Some(deprecation) = header(headers, "deprecation") {
        let at = notice_time(deprecation);
        set(attr::API_DEPRECATED_AT, at.map(rfc3339));
        // The words only when it is not a date we kept (`true`), with long digit runs masked.
        set(attr::API_DEPRECATION, Some(if at.is_some() { "announced".into() } else { cut(deprecation) }));
    }
    if let Some(sunset) = header(headers, "sunset") {
        match notice_time(sunset) {
            Some(at) => set(attr::API_SUNSET_AT, Some(rfc3339(at))),
            None => set(attr::API_SUNSET, Some(cut(sunset))),
        }
    }
    let warnings: Vec<&str> = headers.get_all("warning").iter().filter_map(|v| v.to_str().ok()).take(3).collect();
    if !warnings.is_empty() {
        set(attr::API_WARNING, Some(cut(&warnings.join("; "))));
    }
    set(attr::API_NOTICE_LINK, notice_link(headers, &request.url));
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use reqwest::Method;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn request(url: &str, pairs: &[(&'static str, &str)]) -> Request {
        pairs.iter().fold(Request::new(Method::GET, url, "/x"), |r, (name, value)| r.header(name, value))
    }

    #[test]
    fn the_version_asked_for_is_read_from_each_apis_own_convention() {
        let gp = request(
            "https://gp.example/fhir/metadata",
            &[("ssp-interactionid", "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1")],
        );
        assert_eq!(spoken(&gp).as_deref(), Some("gpconnect:fhir:rest:read:metadata-1"));
        let mesh =
            request("https://mesh.example/messageexchange/X26/inbox", &[("accept", "application/vnd.mesh.v2+json")]);
        assert_eq!(spoken(&mesh).as_deref(), Some("MESH v2"));
        let versioned = request("https://nrl.example/x", &[("accept", "application/fhir+json; version=1")]);
        assert_eq!(spoken(&versioned).as_deref(), Some("version 1"));
        let pds = request("https://pds.example/personal-demographics/FHIR/R4/Patient/9000000009", &[]);
        assert_eq!(spoken(&pds).as_deref(), Some("FHIR R4"));
        assert_eq!(spoken(&request("https://idp.example/.well-known/openid-configuration", &[])), None);
    }

    #[test]
    fn the_version_served_is_read_from_the_answer() {
        assert_eq!(
            served(&headers(&[("content-type", "application/fhir+json; fhirVersion=4.0")])).as_deref(),
            Some("FHIR 4.0")
        );
        assert_eq!(served(&headers(&[("content-type", "application/vnd.mesh.v2+json")])).as_deref(), Some("MESH v2"));
        assert_eq!(
            served(&headers(&[("api-version", "3.1"), ("content-type", "x; version=2")])).as_deref(),
            Some("3.1")
        );
        assert_eq!(served(&headers(&[("content-type", "application/json")])), None);
    }

    /// An HTTP date as a `Sunset` header carries it; parsing is what is tested, not its distance from today.
    const SUNSET: &str = "Sat, 31 Jul 2027 23:59:59 GMT";

    #[test]
    fn retirement_notices_are_kept_as_dates_and_words() {
        let mut attributes = BTreeMap::new();
        let answer = headers(&[
            ("deprecation", "@1688169599"),
            ("sunset", SUNSET),
            ("warning", "299 - \"Deprecated API\""),
            ("link", "<https://digital.nhs.uk/retire>; rel=\"deprecation\", <https://x.example/>; rel=\"help\""),
        ]);
        note(&mut attributes, &request("https://pds.example/FHIR/R4/Patient", &[]), &answer);
        assert_eq!(attributes[attr::API_DEPRECATED_AT], rfc3339(DateTime::from_timestamp(1_688_169_599, 0).unwrap()));
        assert_eq!(attributes[attr::API_DEPRECATION], "announced", "no @-digits in a span");
        assert!(!attributes.values().any(|v| v.contains("1688169599")));
        assert_eq!(attributes[attr::API_SUNSET_AT], rfc3339(DateTime::parse_from_rfc2822(SUNSET).unwrap().into()));
        assert_eq!(attributes[attr::API_WARNING], "299 - \"Deprecated API\"");
        assert_eq!(attributes[attr::API_NOTICE_LINK], "https://digital.nhs.uk/retire");
        assert_eq!(attributes[attr::API_VERSION], "FHIR R4");

        // A later answer without notices leaves them; `true` and an unreadable sunset are kept as words.
        note(&mut attributes, &request("https://pds.example/FHIR/R4/Patient", &[]), &HeaderMap::new());
        assert!(attributes.contains_key(attr::API_SUNSET_AT));
        let mut plain = BTreeMap::new();
        note(&mut plain, &request("https://x.example/", &[]), &headers(&[("deprecation", "true"), ("sunset", "soon")]));
        assert_eq!((plain[attr::API_DEPRECATION].as_str(), plain[attr::API_SUNSET].as_str()), ("true", "soon"));
        assert!(!plain.contains_key(attr::API_DEPRECATED_AT));
        assert_eq!(notice_time("@not-a-number"), None);
        assert_eq!(notice_time("@1688169599000"), None, "milliseconds are no time");
        assert_eq!(notice_time("@1688169599;foo=bar").map(|t| t.timestamp()), Some(1_688_169_599));
        assert_eq!(notice_time("1688169599").map(|t| t.timestamp()), Some(1_688_169_599));
        assert_eq!(notice_time("Sat, 31 Jul 99 23:59:59 GMT"), None, "a two-digit year is no time");
        // Unreadable values keep their words, never a run of ten digits.
        let mut odd = BTreeMap::new();
        note(&mut odd, &request("https://x.example/", &[]), &headers(&[("sunset", "before 16881695990123 ends")]));
        assert_eq!(odd[attr::API_SUNSET], "before [digits] ends");
        // The first deprecation or sunset link, resolved; `rel` may name several; no other scheme.
        let mut links = BTreeMap::new();
        let answer =
            headers(&[("link", "<javascript:alert(1)>; rel=deprecation, </notice>; rel=\"sunset deprecation\"")]);
        note(&mut links, &request("https://api.example/FHIR/R4/Patient", &[]), &answer);
        assert_eq!(links[attr::API_NOTICE_LINK], "https://api.example/notice");
    }
}
