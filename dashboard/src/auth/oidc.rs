//! OpenID Connect sign-in against one configured provider (NHS CIS2, or any standard provider):
//! discovery, the authorization request (code flow with PKCE S256, `state`, `nonce`), the code
//! exchange with client authentication (client secret, or an RS512 `private_key_jwt` assertion as
//! CIS2 uses), the userinfo call, and turning the checked claims into a Pathwatch role and
//! organisations. ID-token checks are in `oidc_token`; the routes and pending sign-ins in `oidc_web`.
//!
//! It never logs or shows a token, code, secret or key; it never follows redirects from the
//! provider's back-channel endpoints; and it never signs anyone in whose claims map to no role.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest;

use crate::auth::accounts::{OidcIdentity, Role};
use crate::auth::oidc_token::{self, Jwks, SignatureError};

/// How long one call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents change rarely; a day-old copy is refetched on the next sign-in.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Everything the dashboard needs to know about the provider, secrets already read.
#[derive(Debug)]
pub struct OidcSettings {
    /// Button text: "Sign in with {display_name}".
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_auth: ClientAuth,
    pub scopes: Vec<String>,
    /// Requested authentication assurance (CIS2: e.g. `AAL3_ANY`); passed on, not enforced here.
    pub acr_values: Option<String>,
    /// Dotted path to the role values in the ID token or userinfo claims.
    pub role_claim: String,
    /// Claim value → Pathwatch role.
    pub roles: BTreeMap<String, Role>,
    /// Dotted path to ODS codes; None: the account sees every organisation.
    pub organisation_claim: Option<String>,
    pub name_claim: String,
    /// `<dashboard.public_url>/auth/oidc/callback`.
    pub redirect_uri: String,
}

/// How the dashboard proves to the token endpoint that it is the registered client.
pub enum ClientAuth {
    /// `client_secret_basic`, or `client_secret_post` when the provider supports only that.
    Secret(String),
    /// `private_key_jwt`: an RS512-signed assertion (what CIS2 requires).
    PrivateKeyJwt { key: Box<jsonwebtoken::EncodingKey>, key_id: Option<String> },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("Secret(***)"),
            ClientAuth::PrivateKeyJwt { key_id, .. } => write!(f, "PrivateKeyJwt(***, key_id: {key_id:?})"),
        }
    }
}

impl ClientAuth {
    /// A PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM RSA key.
    pub fn private_key_pem(pem: &str, key_id: Option<String>) -> Result<ClientAuth, OidcError> {
        let invalid = || OidcError::Setup("not a PEM RSA private key (PKCS#8 or PKCS#1)".into());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| invalid())?;
        // Signs once now, so a key that cannot sign is refused at start-up, not at someone's sign-in.
        jsonwebtoken::crypto::sign(b"pathwatch", &key, jsonwebtoken::Algorithm::RS512).map_err(|_| invalid())?;
        Ok(ClientAuth::PrivateKeyJwt { key: Box::new(key), key_id })
    }
}

/// Why a sign-in through the provider did not happen. `oidc_web` turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("single sign-on is not set up here")]
    NotConfigured,
    #[error("setting up single sign-on: {0}")]
    Setup(String),
    /// Network failure, timeout or a 5xx from the provider.
    #[error("the sign-in service could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered, but not as OpenID Connect says it must.
    #[error("the sign-in service gave an answer this service cannot use: {0}")]
    Provider(String),
    /// The provider said no (`error=` on the callback, or a 4xx from the token endpoint).
    #[error("the sign-in service refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused { error: String, description: Option<String> },
    /// The callback does not belong to a sign-in this browser started (or it was too slow).
    #[error("{0}")]
    BadCallback(&'static str),
    #[error("{0}")]
    BadToken(#[from] oidc_token::TokenError),
    #[error("too many sign-ins started from this address and not finished")]
    TooManyPending,
    #[error("your account has no Pathwatch role")]
    NoRole,
    #[error("your account has no organisation that Pathwatch recognises")]
    NoOrganisation,
    #[error(transparent)]
    Account(#[from] crate::auth::accounts::AccountError),
}

/// The parts of the discovery document used here.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// Whether `text` is an https URL, or an http URL on a loopback host (tests, local providers).
pub fn acceptable_url(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text) else { return false };
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(d))) => d == "localhost",
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

/// The configured provider, with its discovery document and keys cached after first use.
pub struct OidcProvider {
    settings: OidcSettings,
    http: reqwest::Client,
    discovery: tokio::sync::Mutex<Option<(Arc<Discovery>, Instant)>>,
    jwks: tokio::sync::Mutex<Option<Arc<Jwks>>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider").field("issuer", &self.settings.issuer).finish_non_exhaustive()
    }
}

/// What the token endpoint gave back.
struct Tokens {
    id_token: String,
    access_token: Option<String>,
}

/// The PKCE S256 challenge for a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn unreachable(e: reqwest::Error) -> OidcError {
    // Without the URL: reqwest puts it in the message, and a query could carry a code.
    OidcError::Unreachable(e.without_url().to_string())
}

impl OidcProvider {
    pub fn new(settings: OidcSettings) -> Result<OidcProvider, OidcError> {
        if !acceptable_url(&settings.issuer) {
            return Err(OidcError::Setup(format!("issuer {:?} is not an https URL", settings.issuer)));
        }
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OidcError::Setup(format!("HTTP client: {e}")))?;
        Ok(OidcProvider {
            settings,
            http,
            discovery: tokio::sync::Mutex::new(None),
            jwks: tokio::sync::Mutex::new(None),
        })
    }

    pub fn display_name(&self) -> &str {
        &self.settings.display_name
    }

    /// The issuer's discovery document, fetched on first use and cached for a day. A failed fetch
    /// is not cached: the next sign-in tries again.
    pub async fn discovery(&self) -> Result<Arc<Discovery>, OidcError> {
        let mut slot = self.discovery.lock().await;
        if let Some((doc, fetched)) = &*slot {
            if fetched.elapsed() < DISCOVERY_MAX_AGE {
                return Ok(doc.clone());
            }
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer.trim_end_matches('/'));
        let doc: Discovery = self.get_json(&url, "discovery document").await?;
        if doc.issuer != self.settings.issuer {
            return Err(OidcError::Provider(format!(
                "the discovery document names issuer {:?}, not the configured {:?}",
                doc.issuer, self.settings.issuer
            )));
        }
        for (name, url) in [
            ("authorization_endpoint", Some(&doc.authorization_endpoint)),
            ("token_endpoint", Some(&doc.token_endpoint)),
            ("jwks_uri", Some(&doc.jwks_uri)),
            ("userinfo_endpoint", doc.userinfo_endpoint.as_ref()),
        ] {
            if let Some(url) = url.filter(|u| !acceptable_url(u)) {
                return Err(OidcError::Provider(format!("{name} {url:?} is not an https URL")));
            }
        }
        let doc = Arc::new(doc);
        *slot = Some((doc.clone(), Instant::now()));
        Ok(doc)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str, what: &str) -> Result<T, OidcError> {
        let response = self.http.get(url).send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(OidcError::Unreachable(format!("{what}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(OidcError::Provider(format!("{what}: HTTP {status}")));
        }
        response.json().await.map_err(|e| OidcError::Provider(format!("{what} is not valid JSON: {e}")))
    }

    /// Where to send the browser to sign in.
    pub async fn authorization_url(&self, state: &str, nonce: &str, verifier: &str) -> Result<String, OidcError> {
        let discovery = self.discovery().await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|_| OidcError::Provider("the authorization endpoint is not a URL".into()))?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", &self.settings.redirect_uri)
                .append_pair("scope", &self.settings.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", &pkce_challenge(verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(acr) = &self.settings.acr_values {
                query.append_pair("acr_values", acr);
            }
        }
        Ok(url.into())
    }

    /// Finishes a sign-in: exchanges the code, checks the ID token, reads the role (from userinfo
    /// when the ID token lacks it) and says who this is and what they may do.
    pub async fn identify(&self, code: &str, verifier: &str, nonce: &str) -> Result<OidcIdentity, OidcError> {
        let discovery = self.discovery().await?;
        let tokens = self.exchange(&discovery, code, verifier).await?;
        let claims = self.check_id_token(&tokens.id_token, nonce).await?;
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        let s = &self.settings;
        let mut userinfo = Value::Null;
        if oidc_token::claim_values(&claims, &s.role_claim).is_empty() {
            if let (Some(endpoint), Some(access)) = (&discovery.userinfo_endpoint, &tokens.access_token) {
                userinfo = self.userinfo(endpoint, access, &subject).await?;
            }
        }
        // The ID token first; userinfo fills what it lacks.
        let values = |path: &str| {
            let from_token = oidc_token::claim_values(&claims, path);
            if from_token.is_empty() {
                oidc_token::claim_values(&userinfo, path)
            } else {
                from_token
            }
        };
        // Where the provider pairs roles with organisations (CIS2's role profiles), a role counts
        // only in its own profile's organisation; else the claims are read as they stand.
        let source = if oidc_token::claim_values(&claims, &s.role_claim).is_empty() { &userinfo } else { &claims };
        let mut alternatives = Vec::new();
        let (role, organisations) = match profiles(source, &s.role_claim, s.organisation_claim.as_deref()) {
            Some(profiles) => {
                let selected = values(SELECTED_ROLE_CLAIM).into_iter().next();
                if selected.is_none() {
                    alternatives = grants(&profiles, &s.roles);
                }
                match alternatives.first() {
                    // Several to choose from: the highest stands until the person chooses.
                    Some(first) if alternatives.len() > 1 => first.clone(),
                    _ => act_as(&profiles, selected.as_deref(), &s.roles)?,
                }
            }
            None => {
                let role = values(&s.role_claim)
                    .iter()
                    .filter_map(|v| s.roles.get(v))
                    .max_by_key(|r| Role::ALL.iter().position(|a| a == *r))
                    .copied()
                    .ok_or(OidcError::NoRole)?;
                let organisations = match &s.organisation_claim {
                    None => Vec::new(),
                    Some(path) => ods_codes(values(path))?,
                };
                (role, organisations)
            }
        };
        let display_name = values(&s.name_claim).into_iter().next().map(|n| n.chars().take(200).collect());
        let alternatives = if alternatives.len() > 1 { alternatives } else { Vec::new() };
        Ok(OidcIdentity { issuer: s.issuer.clone(), subject, display_name, role, organisations, alternatives })
    }

    async fn exchange(&self, discovery: &Discovery, code: &str, verifier: &str) -> Result<Tokens, OidcError> {
        let s = &self.settings;
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", s.redirect_uri.clone()),
            ("code_verifier", verifier.to_string()),
        ];
        let mut request = self.http.post(&discovery.token_endpoint);
        match &s.client_auth {
            ClientAuth::Secret(secret) => {
                // client_secret_basic is the default (RFC 8414); post only when the provider
                // lists post and not basic.
                let methods = discovery.token_endpoint_auth_methods_supported.as_deref().unwrap_or(&[]);
                let post_only = methods.iter().any(|m| m == "client_secret_post")
                    && !methods.iter().any(|m| m == "client_secret_basic");
                if post_only {
                    form.push(("client_id", s.client_id.clone()));
                    form.push(("client_secret", secret.clone()));
                } else {
                    let encode = |t: &str| url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>();
                    request = request.basic_auth(encode(&s.client_id), Some(encode(secret)));
                }
            }
            ClientAuth::PrivateKeyJwt { key, key_id } => {
                form.push(("client_id", s.client_id.clone()));
                form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
                form.push((
                    "client_assertion",
                    self.client_assertion(key, key_id.as_deref(), &discovery.token_endpoint)?,
                ));
            }
        }
        let response = request.form(&form).send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(OidcError::Unreachable(format!("token endpoint: HTTP {status}")));
        }
        let body: Value = response.json().await.map_err(|_| {
            OidcError::Provider(format!("the token endpoint answered HTTP {status} without a JSON body"))
        })?;
        if !status.is_success() {
            let text = |k: &str| body.get(k).and_then(Value::as_str).map(|t| t.chars().take(300).collect::<String>());
            return Err(OidcError::Refused {
                error: text("error").unwrap_or_else(|| format!("HTTP {status}")),
                description: text("error_description"),
            });
        }
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Provider("the token response has no id_token (is `openid` in scopes?)".into()))?;
        Ok(Tokens {
            id_token: id_token.to_string(),
            access_token: body.get("access_token").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// RFC 7523 client assertion: `iss` = `sub` = client id, `aud` = token endpoint, 5 minutes.
    fn client_assertion(
        &self,
        key: &jsonwebtoken::EncodingKey,
        key_id: Option<&str>,
        token_endpoint: &str,
    ) -> Result<String, OidcError> {
        let now = domain::Clock::System.now_s_i64();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS512);
        header.kid = key_id.map(str::to_string);
        let jti = crate::auth::sessions::random_token()?;
        let claims = json!({
            "iss": self.settings.client_id, "sub": self.settings.client_id, "aud": token_endpoint,
            "jti": jti, "iat": now, "exp": now + 300,
        });
        jsonwebtoken::encode(&header, &claims, key).map_err(|_| OidcError::Setup("signing failed".into()))
    }

    /// Checks the ID token's signature (refetching the keys once for an unknown `kid`: the
    /// provider may have rotated them) and claims; returns the claims.
    async fn check_id_token(&self, token: &str, nonce: &str) -> Result<Value, OidcError> {
        let parsed = oidc_token::parse(token)?;
        let mut refreshed = false;
        loop {
            let jwks = self.jwks(refreshed).await?;
            match parsed.verify(&jwks) {
                Ok(claims) => {
                    let s = &self.settings;
                    let expected = oidc_token::Expected {
                        issuer: &s.issuer,
                        client_id: &s.client_id,
                        nonce,
                        now: domain::Clock::System.now_s_i64(),
                    };
                    oidc_token::check_claims(claims, &expected)?;
                    return Ok(claims.clone());
                }
                Err(SignatureError::UnknownKey) if !refreshed => refreshed = true,
                Err(SignatureError::UnknownKey) => {
                    return Err(OidcError::BadToken(oidc_token::TokenError(
                        "the identity token was signed with a key the provider does not publish".into(),
                    )))
                }
                Err(SignatureError::Invalid(e)) => return Err(e.into()),
            }
        }
    }

    /// The provider's keys, cached; `refresh` fetches them again.
    async fn jwks(&self, refresh: bool) -> Result<Arc<Jwks>, OidcError> {
        let mut slot = self.jwks.lock().await;
        if let (Some(keys), false) = (&*slot, refresh) {
            return Ok(keys.clone());
        }
        let discovery = self.discovery().await?;
        let keys: Arc<Jwks> = Arc::new(self.get_json(&discovery.jwks_uri, "key set (jwks_uri)").await?);
        *slot = Some(keys.clone());
        Ok(keys)
    }

    async fn userinfo(&self, endpoint: &str, access_token: &str, subject: &str) -> Result<Value, OidcError> {
        let response = self.http.get(endpoint).bearer_auth(access_token).send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(OidcError::Unreachable(format!("userinfo: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(OidcError::Provider(format!("userinfo: HTTP {status}")));
        }
        let claims: Value =
            response.json().await.map_err(|_| OidcError::Provider("userinfo is not a JSON object".into()))?;
        // OpenID Connect Core 5.3.2: a userinfo response for someone else must not be used.
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(OidcError::Provider("userinfo describes someone other than the identity token".into()));
        }
        Ok(claims)
    }
}

/// CIS2's claim naming the role profile the person chose for this session, when they chose one.
const SELECTED_ROLE_CLAIM: &str = "selected_roleid";

/// One role profile: the role codes a person holds in one organisation (CIS2: an element of
/// `nhsid_nrbac_roles`, identified by `person_roleid`).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleProfile {
    pub id: Option<String>,
    pub role_codes: Vec<String>,
    pub org_codes: Vec<String>,
}

/// The role profiles in `claims`, when the role and organisation paths run through the same list
/// (`nhsid_nrbac_roles.role_code` and `nhsid_nrbac_roles.org_code`); None when they do not pair.
pub fn profiles(claims: &Value, role_path: &str, org_path: Option<&str>) -> Option<Vec<RoleProfile>> {
    let org_path = org_path?;
    let (role_list, role_rest) = role_path.rsplit_once('.')?;
    let (org_list, org_rest) = org_path.rsplit_once('.')?;
    if role_list != org_list {
        return None;
    }
    let mut list = claims;
    for segment in role_list.split('.') {
        list = list.get(segment)?;
    }
    let items = list.as_array()?;
    Some(
        items
            .iter()
            .map(|item| RoleProfile {
                id: oidc_token::claim_values(item, "person_roleid").into_iter().next(),
                role_codes: oidc_token::claim_values(item, role_rest),
                org_codes: oidc_token::claim_values(item, org_rest),
            })
            .collect(),
    )
}

/// Who the person acts as: the selected profile when there is one; else the highest Pathwatch
/// role any profile maps to, over the organisations of the profiles that carry that role. A role
/// never reaches an organisation where the person does not hold it.
pub fn act_as(
    profiles: &[RoleProfile],
    selected: Option<&str>,
    roles: &BTreeMap<String, Role>,
) -> Result<(Role, Vec<String>), OidcError> {
    let rank = |r: &Role| Role::ALL.iter().position(|a| a == r);
    let mapped = |p: &RoleProfile| p.role_codes.iter().filter_map(|c| roles.get(c)).max_by_key(|r| rank(r)).copied();
    let chosen: Vec<&RoleProfile> = match selected {
        Some(id) => profiles.iter().filter(|p| p.id.as_deref() == Some(id)).collect(),
        None => profiles.iter().collect(),
    };
    let role = chosen.iter().filter_map(|p| mapped(p)).max_by_key(rank).ok_or(OidcError::NoRole)?;
    let organisations = chosen.iter().filter(|p| mapped(p) == Some(role)).flat_map(|p| p.org_codes.clone());
    Ok((role, ods_codes(organisations.collect())?))
}

/// Every Pathwatch role the profiles map to, each with the organisations of the profiles carrying
/// it, highest role first: what a person without a selected role may choose to act as.
pub fn grants(profiles: &[RoleProfile], roles: &BTreeMap<String, Role>) -> Vec<(Role, Vec<String>)> {
    let mut by_role: BTreeMap<usize, (Role, Vec<String>)> = BTreeMap::new();
    for p in profiles {
        let Some(role) =
            p.role_codes.iter().filter_map(|c| roles.get(c)).max_by_key(|r| Role::ALL.iter().position(|a| a == *r))
        else {
            continue;
        };
        let rank = Role::ALL.iter().position(|a| a == role).unwrap_or(0);
        by_role.entry(rank).or_insert((*role, Vec::new())).1.extend(p.org_codes.iter().cloned());
    }
    by_role.into_values().rev().filter_map(|(role, orgs)| ods_codes(orgs).ok().map(|orgs| (role, orgs))).collect()
}

/// ODS codes as stored: upper case, sorted, each once. Something that is not a code is dropped;
/// none at all is refused (an empty list would mean every organisation).
fn ods_codes(values: Vec<String>) -> Result<Vec<String>, OidcError> {
    let mut codes: Vec<String> = values
        .into_iter()
        .filter(|c| (3..=10).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    codes.sort();
    codes.dedup();
    if codes.is_empty() {
        return Err(OidcError::NoOrganisation);
    }
    Ok(codes)
}
