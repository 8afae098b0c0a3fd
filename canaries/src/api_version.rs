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

fn cut(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(MAX_VALUE).collect()
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

/// A `Deprecation` or `Sunset` value as a time: `@<Unix seconds>` (RFC 9745) or an HTTP date.
/// `true` (an early draft's "deprecated, no date") is None, as is anything unreadable.
pub fn notice_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Some(seconds) = value.strip_prefix('@') {
        return seconds.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0));
    }
    DateTime::parse_from_rfc2822(value).ok().map(|t| t.with_timezone(&Utc))
}

/// The `Link` targets with `rel="deprecation"` or `rel="sunset"`, joined.
fn notice_links(headers: &HeaderMap) -> Option<String> {
    let links: Vec<String> = headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|link| {
            link.split(';').skip(1).any(|p| {
                let p = p.trim().to_ascii_lowercase().replace(' ', "");
                p == "rel=\"deprecation\"" || p == "rel=deprecation" || p == "rel=\"sunset\"" || p == "rel=sunset"
            })
        })
        .filter_map(|link| {
            let target = link.split(';').next()?.trim();
            target.strip_prefix('<')?.strip_suffix('>').map(str::to_string)
        })
        .take(3)
        .collect();
    (!links.is_empty()).then(|| cut(&links.join(" ")))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Records on a step what `request` spoke and what its answer (`headers`) announced. A notice
/// seen on any request of the step stays, so a poll's later answers do not hide it.
pub fn note(attributes: &mut BTreeMap<String, String>, request: &Request, headers: &HeaderMap) {
    let mut set = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            attributes.insert(key.to_string(), v);
        }
    };
    set(attr::API_VERSION, spoken(request));
    set(attr::API_SERVED_VERSION, served(headers));
    if let Some(deprecation) = header(headers, "deprecation") {
        let at = notice_time(deprecation);
        set(attr::API_DEPRECATED_AT, at.map(rfc3339));
        // The raw value only when it is not a date we kept: `@…` digits stay out of spans.
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
    set(attr::API_NOTICE_LINK, notice_links(headers));
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

    #[test]
    fn retirement_notices_are_kept_as_dates_and_words() {
        let mut attributes = BTreeMap::new();
        let answer = headers(&[
            ("deprecation", "@1688169599"),
            ("sunset", "Sat, 31 Jul 2027 23:59:59 GMT"),
            ("warning", "299 - \"Deprecated API\""),
            ("link", "<https://digital.nhs.uk/retire>; rel=\"deprecation\", <https://x.example/>; rel=\"help\""),
        ]);
        note(&mut attributes, &request("https://pds.example/FHIR/R4/Patient", &[]), &answer);
        assert_eq!(attributes[attr::API_DEPRECATED_AT], "2023-06-30T23:59:59Z");
        assert_eq!(attributes[attr::API_DEPRECATION], "announced", "no @-digits in a span");
        assert!(!attributes.values().any(|v| v.contains("1688169599")));
        assert_eq!(attributes[attr::API_SUNSET_AT], "2027-07-31T23:59:59Z");
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
    }
}
