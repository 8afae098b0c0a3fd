//! Credentials that expire: every certificate and key the canaries use (MESH and Spine client
//! certificates, the CA certificates they trust, the APIM signing key's rotation date when
//! configured), read when the canaries start (the certificates their connections were built with,
//! so a file renewed on disk counts once the canaries are restarted to present it), and reported as
//! spans (`pathwatch credentials`, one child span per credential) at each check, so the dashboard
//! and the alert engine can say how many days are left wherever they run.
//!
//! A file that cannot be read or holds no certificate is reported with its problem: a credential
//! nobody can check is itself something to fix before it expires unseen. Expiry times travel as
//! RFC 3339 text: ten digits of Unix seconds could be taken for an NHS number by the collector's
//! pseudonymiser.

use std::path::Path;

use opentelemetry_proto::tonic::trace::v1::{span, Span};

use crate::config::CanaryConfig;
use crate::otlp::text;
use domain::canary::attr;

/// What a credential is, as reports and pages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MeshClientCertificate,
    MeshCaCertificate,
    SpineClientCertificate,
    SpineCaCertificate,
    ApimSigningKey,
    OidcClientSecret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MeshClientCertificate => "mesh_client_certificate",
            Kind::MeshCaCertificate => "mesh_ca_certificate",
            Kind::SpineClientCertificate => "spine_client_certificate",
            Kind::SpineCaCertificate => "spine_ca_certificate",
            Kind::ApimSigningKey => "apim_signing_key",
            Kind::OidcClientSecret => "oidc_client_secret",
        }
    }
}

/// Certificates read from one file at most: a bundle is rarely more than a few dozen.
pub const MAX_CERTIFICATES_PER_FILE: usize = 100;
/// A subject is cut to this many characters.
const MAX_SUBJECT: usize = 200;

/// One credential's expiry, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Stable across checks and renewals: `{environment}/{key}` for a client certificate file's
    /// first (its own) certificate, `{environment}/{key}#{subject}` for the others and for each
    /// certificate of a CA bundle (`#2`… added where subjects repeat), so adding or reordering
    /// certificates in a file never moves an id to another certificate.
    pub id: String,
    pub kind: Kind,
    /// The canary environment, or empty for the deployment's own (the dashboard's OIDC client).
    pub environment: String,
    /// The certificate's subject, the key id, or the client id.
    pub subject: String,
    /// When it stops working (Unix seconds); None when it could not be read.
    pub not_after: Option<i64>,
    pub problem: Option<String>,
}

/// The certificates in a PEM file: (subject, notAfter in Unix seconds), in file order, at most
/// `MAX_CERTIFICATES_PER_FILE`.
pub fn certificates(path: &Path) -> Result<Vec<(String, i64)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut found = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let pem = pem.map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        if found.len() == MAX_CERTIFICATES_PER_FILE {
            return Err(format!("{} holds more than {MAX_CERTIFICATES_PER_FILE} certificates", path.display()));
        }
        let cert =
            pem.parse_x509().map_err(|e| format!("{} holds a certificate that does not parse: {e}", path.display()))?;
        let subject: String = cert.subject().to_string().chars().take(MAX_SUBJECT).collect();
        found.push((subject, cert.validity().not_after.timestamp()));
    }
    if found.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(found)
}

/// Midnight UTC at the start of `date` (`YYYY-MM-DD`), in Unix seconds.
pub fn date_seconds(date: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// Each certificate of the file at `key` (one credential per certificate); `own_first`: the
/// file's first certificate is ours (a client certificate, then its chain).
fn certificate_file(env: &str, key: &str, kind: Kind, path: &Path, own_first: bool) -> Vec<Credential> {
    let id = format!("{env}/{key}");
    match certificates(path) {
        Ok(certs) => {
            let mut ids: Vec<String> = Vec::with_capacity(certs.len());
            for (i, (subject, _)) in certs.iter().enumerate() {
                let base = if own_first && i == 0 { id.clone() } else { format!("{id}#{subject}") };
                let mut unique = base.clone();
                let mut n = 1;
                while ids.contains(&unique) {
                    n += 1;
                    unique = format!("{base}#{n}");
                }
                ids.push(unique);
            }
            certs
                .into_iter()
                .zip(ids)
                .map(|((subject, not_after), id)| Credential {
                    id,
                    kind,
                    environment: env.to_string(),
                    subject,
                    not_after: Some(not_after),
                    problem: None,
                })
                .collect()
        }
        Err(problem) => vec![Credential {
            id,
            kind,
            environment: env.to_string(),
            subject: String::new(),
            not_after: None,
            problem: Some(problem),
        }],
    }
}

/// Every expiring credential of the environments the flows use, read now.
pub fn inventory(config: &CanaryConfig) -> Vec<Credential> {
    let mut used: Vec<String> = config.effective_flows().into_iter().map(|f| f.environment).collect();
    used.sort();
    used.dedup();
    let mut out = Vec::new();
    for name in used {
        let Some(env) = config.environments.get(&name) else { continue };
        let files = [
            ("mesh.client_cert", Kind::MeshClientCertificate, &env.mesh.client_cert, true),
            ("mesh.ca_cert", Kind::MeshCaCertificate, &env.mesh.ca_cert, false),
            ("gpconnect.client_cert", Kind::SpineClientCertificate, &env.gpconnect.client_cert, true),
            ("gpconnect.ca_cert", Kind::SpineCaCertificate, &env.gpconnect.ca_cert, false),
        ];
        for (key, kind, path, own_first) in files {
            if let Some(path) = path {
                out.extend(certificate_file(&name, key, kind, path, own_first));
            }
        }
        if let (Some(kid), Some(date)) = (&env.kid, &env.kid_rotate_by) {
            out.push(Credential {
                id: format!("{name}/kid"),
                kind: Kind::ApimSigningKey,
                environment: name.clone(),
                subject: kid.clone(),
                not_after: date_seconds(date),
                problem: date_seconds(date).is_none().then(|| format!("{date:?} is not a date (YYYY-MM-DD)")),
            });
        }
    }
    out
}

/// The report of one check at `at_unix_ns` as spans: the root, then one child per credential.
pub fn spans(credentials: &[Credential], at_unix_ns: u64) -> Vec<Span> {
    let trace_id = uuid::Uuid::new_v4().into_bytes();
    let root_id = crate::run::random_span_id();
    let mut spans = vec![Span {
        trace_id: trace_id.to_vec(),
        span_id: root_id.to_vec(),
        name: domain::canary::CREDENTIALS_SPAN.into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: at_unix_ns,
        end_time_unix_nano: at_unix_ns,
        ..Default::default()
    }];
    for c in credentials {
        let mut attributes = vec![
            text(attr::CREDENTIAL_ID, c.id.clone()),
            text(attr::CREDENTIAL_KIND, c.kind.as_str()),
            text(attr::ENVIRONMENT, c.environment.clone()),
            text(attr::CREDENTIAL_SUBJECT, c.subject.clone()),
        ];
        if let Some(not_after) = c.not_after.and_then(|secs| chrono::DateTime::from_timestamp(secs, 0)) {
            let text_form = not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            attributes.push(text(attr::CREDENTIAL_NOT_AFTER, text_form));
        }
        if let Some(problem) = &c.problem {
            attributes.push(text(attr::CREDENTIAL_PROBLEM, problem.clone()));
        }
        spans.push(Span {
            trace_id: trace_id.to_vec(),
            span_id: crate::run::random_span_id().to_vec(),
            parent_span_id: root_id.to_vec(),
            name: domain::canary::CREDENTIAL_SPAN.into(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: at_unix_ns,
            end_time_unix_nano: at_unix_ns,
            attributes,
            ..Default::default()
        });
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value;

    #[test]
    fn a_rotation_date_is_midnight_utc_and_nonsense_is_none() {
        assert_eq!(date_seconds("1970-01-02"), Some(86_400));
        assert_eq!(date_seconds("2027-02-30"), None);
        assert_eq!(date_seconds("soon"), None);
    }

    /// A self-signed certificate for `name` that expires at midnight UTC `days` from now.
    fn certificate(name: &str, days: i64) -> (String, i64) {
        let day = (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        use chrono::Datelike;
        params.not_after = rcgen::date_time_ymd(day.year(), day.month() as u8, day.day() as u8);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        (pem, date_seconds(&day.format("%Y-%m-%d").to_string()).unwrap())
    }

    #[test]
    fn every_certificate_of_every_file_the_flows_use_is_reported_with_its_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let (client, client_expiry) = certificate("X26ABC1.mesh", 20);
        let (ca, ca_expiry) = certificate("MESH CA", 400);
        let (intermediate, _) = certificate("MESH intermediate", 90);
        std::fs::write(dir.path().join("client.pem"), &client).unwrap();
        std::fs::write(dir.path().join("ca.pem"), format!("{ca}{intermediate}")).unwrap();
        let mut config = CanaryConfig::default();
        let mut env = crate::config::EnvironmentConfig::default();
        env.mesh.client_cert = Some(dir.path().join("client.pem"));
        env.mesh.ca_cert = Some(dir.path().join("ca.pem"));
        env.gpconnect.client_cert = Some(dir.path().join("missing.pem"));
        env.kid = Some("key-2026".into());
        env.kid_rotate_by = Some("2030-01-01".into());
        config.environments.insert("production".into(), env.clone());
        // An environment no flow uses is not checked.
        config.environments.insert("unused".into(), env);
        config.flows = vec![crate::config::FlowConfig::builtin(crate::flows::FlowKind::Mesh, "production")];
        let found = inventory(&config);
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "production/mesh.client_cert",
                "production/mesh.ca_cert#CN=MESH CA",
                "production/mesh.ca_cert#CN=MESH intermediate",
                "production/gpconnect.client_cert",
                "production/kid"
            ]
        );
        assert_eq!(found[0].not_after, Some(client_expiry));
        assert!(found[0].subject.contains("CN=X26ABC1.mesh"), "{:?}", found[0]);
        assert_eq!((found[1].not_after, found[1].kind), (Some(ca_expiry), Kind::MeshCaCertificate));
        assert!(found[2].subject.contains("MESH intermediate"));
        assert_eq!(found[3].not_after, None);
        assert!(found[3].problem.as_deref().unwrap().contains("missing.pem"), "{:?}", found[3]);
        assert_eq!((found[4].subject.as_str(), found[4].not_after), ("key-2026", date_seconds("2030-01-01")));
        // As spans: a root and one child per credential, carrying what the dashboard reads.
        let spans = spans(&found, 5);
        assert_eq!(spans.len(), 1 + found.len());
        assert_eq!(spans[0].name, domain::canary::CREDENTIALS_SPAN);
        assert!(spans[1..].iter().all(|s| s.parent_span_id == spans[0].span_id && s.trace_id == spans[0].trace_id));
        let attribute = |span: &Span, key: &str| {
            span.attributes.iter().find(|a| a.key == key).and_then(|a| match &a.value.as_ref()?.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
        };
        let sent = attribute(&spans[1], attr::CREDENTIAL_NOT_AFTER).unwrap();
        assert_eq!(chrono::DateTime::parse_from_rfc3339(&sent).unwrap().timestamp(), client_expiry, "{sent}");
        // Reordered or grown, a bundle's ids stay with their certificates; a repeated subject is told apart.
        let (other, _) = certificate("MESH CA", 30);
        std::fs::write(dir.path().join("ca.pem"), format!("{intermediate}{other}{ca}")).unwrap();
        let again = inventory(&config);
        let ids: Vec<&str> = again[1..4].iter().map(|c| c.id.as_str()).collect();
        let bundle = "production/mesh.ca_cert";
        assert_eq!(
            ids,
            [
                format!("{bundle}#CN=MESH intermediate"),
                format!("{bundle}#CN=MESH CA"),
                format!("{bundle}#CN=MESH CA#2")
            ]
        );
        assert_eq!(attribute(&spans[4], attr::CREDENTIAL_NOT_AFTER), None);
        assert!(attribute(&spans[4], attr::CREDENTIAL_PROBLEM).is_some());
    }

    #[test]
    fn an_unreadable_or_empty_file_is_reported_with_its_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing =
            certificate_file("prod", "mesh.client_cert", Kind::MeshClientCertificate, &dir.path().join("x"), true);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].problem.as_deref().unwrap().contains("cannot read"), "{missing:?}");
        let key_only = dir.path().join("key.pem");
        std::fs::write(&key_only, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let found = certificate_file("prod", "mesh.client_cert", Kind::MeshClientCertificate, &key_only, true);
        assert!(found[0].problem.as_deref().unwrap().contains("no PEM certificate"), "{found:?}");
        assert_eq!(found[0].id, "prod/mesh.client_cert");
    }
}
