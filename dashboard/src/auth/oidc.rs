//! OpenID Connect sign-in against one configured provider (NHS CIS2, or any standard provider),
//! through the `openidconnect` crate: discovery, the authorization request (code flow with PKCE
//! S256, `state`, `nonce`), the code exchange with client authentication (client secret, or an
//! RS512 `private_key_jwt` assertion as CIS2 uses: the one part built here, with `jsonwebtoken`),
//! the ID-token and userinfo checks, then turning the checked claims into a Pathwatch role and
//! organisations. What we check beyond the crate is in `oidc_token`; the routes and pending
//! sign-ins in `oidc_web`.
//!
//! It never logs or shows a token, code, secret or key; it never follows redirects from the
//! provider's back-channel endpoints; and it never signs anyone in whose claims map to no role.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AuthType, AuthenticationContextClass, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError,
    ClientId, ClientSecret, CsrfToken, DiscoveryError, EndpointMaybeSet, EndpointNotSet, EndpointSet, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, SubjectIdentifier, TokenResponse as _, UserInfoClaims,
    UserInfoError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::accounts::{OidcIdentity, Role};
pub use crate::auth::oidc_config::OidcConfig;
use crate::auth::oidc_roles::{act_as, grants, ods_codes, profiles, SELECTED_ROLE_CLAIM};
use crate::auth::oidc_token;

/// How long one call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents change rarely; a day-old copy is refetched on the next sign-in.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Everything the dashboard needs to know about the provider, secrets already read.
#[derive(Debug)]
pub struct OidcSettings {
    /// `[dashboard.oidc]` as configured, without its secret references.
    pub config: OidcConfig<()>,
    pub client_auth: ClientAuth,
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

/// Claims beyond the standard ones, kept whole: the role, organisation and name claims are dotted
/// paths chosen in the configuration, so they cannot be fields of a type.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl openidconnect::AdditionalClaims for OtherClaims {}

type IdTokenFields = openidconnect::IdTokenFields<
    OtherClaims,
    openidconnect::EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = openidconnect::StandardTokenResponse<IdTokenFields, CoreTokenType>;
/// `openidconnect`'s client, with the claims kept whole; endpoints as discovery sets them.
type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The configured provider, with its discovery document and keys cached after first use.
pub struct OidcProvider {
    settings: OidcSettings,
    http: reqwest::Client,
    discovery: tokio::sync::Mutex<Option<(Arc<CoreProviderMetadata>, Instant)>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider").field("issuer", &self.settings.config.issuer).finish_non_exhaustive()
    }
}

/// The ID-token signature algorithms accepted: RSA only. Never `none`, never HMAC (with a public
/// key set, HMAC would let anyone holding the public key forge tokens).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 6] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
];

/// Words for a failed call to the provider, without a URL: reqwest puts the URL in its message,
/// and a query could carry a code.
fn unreachable<E: std::error::Error + 'static>(what: &str, error: &E) -> OidcError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        // oauth2 hands reqwest's error on boxed.
        let http = e.downcast_ref::<reqwest::Error>().or_else(|| e.downcast_ref::<Box<reqwest::Error>>().map(|b| &**b));
        if let Some(http) = http {
            let mut text = http.to_string();
            if let Some(url) = http.url() {
                text = text.replace(url.as_str(), "the provider");
            }
            return OidcError::Unreachable(format!("{what}: {text}"));
        }
        source = e.source();
    }
    OidcError::Unreachable(format!("{what}: {error}"))
}

/// A discovery or key-set fetch that failed: down (network, 5xx) or answering wrongly.
fn discovery_failed<E: std::error::Error + 'static>(what: &str, error: DiscoveryError<E>) -> OidcError {
    match error {
        DiscoveryError::Request(e) => unreachable(what, &e),
        DiscoveryError::Response(status, _, _) if status.is_server_error() => {
            OidcError::Unreachable(format!("{what}: HTTP {status}"))
        }
        DiscoveryError::Response(status, _, _) => OidcError::Provider(format!("{what}: HTTP {status}")),
        DiscoveryError::Parse(e) => {
            OidcError::Provider(format!("{what} is not as OpenID Connect says (at {})", e.path()))
        }
        other => OidcError::Provider(format!("{what}: {other}")),
    }
}

impl OidcProvider {
    pub fn new(settings: OidcSettings) -> Result<OidcProvider, OidcError> {
        if !acceptable_url(&settings.config.issuer) {
            return Err(OidcError::Setup(format!("issuer {:?} is not an https URL", settings.config.issuer)));
        }
        RedirectUrl::new(settings.redirect_uri.clone())
            .map_err(|_| OidcError::Setup(format!("redirect URI {:?} is not a URL", settings.redirect_uri)))?;
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // OAuth 2.0 security best practice: the back-channel endpoints' redirects are not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OidcError::Setup(format!("HTTP client: {e}")))?;
        Ok(OidcProvider { settings, http, discovery: tokio::sync::Mutex::new(None) })
    }

    pub fn display_name(&self) -> &str {
        &self.settings.config.display_name
    }

    /// The issuer's discovery document and keys, fetched on first use and cached for a day. A
    /// failed fetch is not cached: the next sign-in tries again.
    pub async fn discovery(&self) -> Result<Arc<CoreProviderMetadata>, OidcError> {
        let mut slot = self.discovery.lock().await;
        if let Some((doc, fetched)) = &*slot {
            if fetched.elapsed() < DISCOVERY_MAX_AGE {
                return Ok(doc.clone());
            }
        }
        // Read as the crate's type, but fetched here: every endpoint is checked before any is called.
        let issuer = &self.settings.config.issuer;
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let response = self.http.get(&url).send().await.map_err(|e| unreachable("discovery document", &e))?;
        let status = response.status();
        if !status.is_success() {
            let error = format!("discovery document: HTTP {status}");
            return Err(if status.is_server_error() {
                OidcError::Unreachable(error)
            } else {
                OidcError::Provider(error)
            });
        }
        let body = response.bytes().await.map_err(|e| unreachable("discovery document", &e))?;
        let doc: CoreProviderMetadata = serde_json::from_slice(&body).map_err(|e| {
            // Where, not what: serde's message would quote the provider's values into the log.
            OidcError::Provider(format!(
                "the discovery document is not as OpenID Connect says (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if doc.issuer().as_str() != issuer {
            return Err(OidcError::Provider(format!(
                "the discovery document names issuer {:?}, not the configured {issuer:?}",
                doc.issuer().as_str()
            )));
        }
        let endpoints = [
            ("authorization_endpoint", Some(doc.authorization_endpoint().as_str())),
            ("token_endpoint", doc.token_endpoint().map(|u| u.as_str())),
            ("jwks_uri", Some(doc.jwks_uri().as_str())),
            ("userinfo_endpoint", doc.userinfo_endpoint().map(|u| u.as_str())),
        ];
        for (name, url) in endpoints {
            if let Some(url) = url.filter(|u| !acceptable_url(u)) {
                return Err(OidcError::Provider(format!("{name} {url:?} is not an https URL")));
            }
        }
        if doc.token_endpoint().is_none() {
            return Err(OidcError::Provider("the discovery document names no token_endpoint".into()));
        }
        let keys = openidconnect::JsonWebKeySet::<CoreJsonWebKey>::fetch_async(doc.jwks_uri(), &self.http)
            .await
            .map_err(|e| discovery_failed("key set (jwks_uri)", e))?;
        let doc = Arc::new(doc.set_jwks(oidc_token::strong_keys(&keys)));
        *slot = Some((doc.clone(), Instant::now()));
        Ok(doc)
    }

    /// Fetches the provider's keys again (it may have rotated them) into the cached document.
    async fn refresh_keys(&self, doc: &CoreProviderMetadata) -> Result<Arc<CoreProviderMetadata>, OidcError> {
        let keys = openidconnect::JsonWebKeySet::<CoreJsonWebKey>::fetch_async(doc.jwks_uri(), &self.http)
            .await
            .map_err(|e| discovery_failed("key set (jwks_uri)", e))?;
        let doc = Arc::new(doc.clone().set_jwks(oidc_token::strong_keys(&keys)));
        *self.discovery.lock().await = Some((doc.clone(), Instant::now()));
        Ok(doc)
    }

    fn client(&self, doc: &CoreProviderMetadata) -> Result<Client, OidcError> {
        let s = &self.settings;
        let secret = match &s.client_auth {
            ClientAuth::Secret(secret) => Some(ClientSecret::new(secret.clone())),
            ClientAuth::PrivateKeyJwt { .. } => None,
        };
        let redirect = RedirectUrl::new(s.redirect_uri.clone())
            .map_err(|_| OidcError::Setup(format!("redirect URI {:?} is not a URL", s.redirect_uri)))?;
        // client_secret_basic is the default (RFC 8414); post only when the provider lists post
        // and not basic. Without a secret (private_key_jwt) the client id goes in the body.
        let methods = doc.token_endpoint_auth_methods_supported().map(Vec::as_slice).unwrap_or(&[]);
        let post_only = methods.contains(&CoreClientAuthMethod::ClientSecretPost)
            && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic);
        let auth_type = if post_only || secret.is_none() { AuthType::RequestBody } else { AuthType::BasicAuth };
        Ok(Client::from_provider_metadata(doc.clone(), ClientId::new(s.config.client_id.clone()), secret)
            .set_redirect_uri(redirect)
            .set_auth_type(auth_type))
    }

    /// Where to send the browser to sign in: the code flow with PKCE S256, `state` and `nonce`.
    pub async fn authorization_url(&self, state: &str, nonce: &str, verifier: &str) -> Result<String, OidcError> {
        let doc = self.discovery().await?;
        let client = self.client(&doc)?;
        let (state, nonce) = (state.to_string(), nonce.to_string());
        let verifier = PkceCodeVerifier::new(verifier.to_string());
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                || CsrfToken::new(state),
                || Nonce::new(nonce),
            )
            // `openid` is always sent by the crate.
            .add_scopes(self.settings.config.scopes.iter().filter(|s| *s != "openid").map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        for acr in self.settings.config.acr_values.iter().flat_map(|a| a.split_whitespace()) {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.to_string()));
        }
        Ok(request.url().0.into())
    }

    /// Finishes a sign-in: exchanges the code, checks the ID token, reads the role (from userinfo
    /// when the ID token lacks it) and says who this is and what they may do.
    pub async fn identify(&self, code: &str, verifier: &str, nonce: &str) -> Result<OidcIdentity, OidcError> {
        let doc = self.discovery().await?;
        let tokens = self.exchange(&doc, code, verifier).await?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Provider("the token response has no id_token (is `openid` in scopes?)".into()))?;
        let (claims, doc) = self.check_id_token(doc, id_token, nonce).await?;
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        let s = &self.settings;
        let mut userinfo = Value::Null;
        if oidc_token::claim_values(&claims, &s.config.role_claim).is_empty() && doc.userinfo_endpoint().is_some() {
            userinfo = self.userinfo(&doc, tokens.access_token().clone(), &subject).await?;
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
        let source =
            if oidc_token::claim_values(&claims, &s.config.role_claim).is_empty() { &userinfo } else { &claims };
        let mut alternatives = Vec::new();
        let (role, organisations) = match profiles(source, &s.config.role_claim, s.config.organisation_claim.as_deref())
        {
            Some(profiles) => {
                let selected = values(SELECTED_ROLE_CLAIM).into_iter().next();
                if selected.is_none() {
                    alternatives = grants(&profiles, &s.config.roles);
                }
                match alternatives.first() {
                    // Several to choose from: the highest stands until the person chooses.
                    Some(first) if alternatives.len() > 1 => first.clone(),
                    _ => act_as(&profiles, selected.as_deref(), &s.config.roles)?,
                }
            }
            None => {
                let role = values(&s.config.role_claim)
                    .iter()
                    .filter_map(|v| s.config.roles.get(v))
                    .max_by_key(|r| Role::ALL.iter().position(|a| a == *r))
                    .copied()
                    .ok_or(OidcError::NoRole)?;
                let organisations = match &s.config.organisation_claim {
                    None => Vec::new(),
                    Some(path) => ods_codes(values(path))?,
                };
                (role, organisations)
            }
        };
        let display_name = values(&s.config.name_claim).into_iter().next().map(|n| n.chars().take(200).collect());
        let alternatives = if alternatives.len() > 1 { alternatives } else { Vec::new() };
        Ok(OidcIdentity { issuer: s.config.issuer.clone(), subject, display_name, role, organisations, alternatives })
    }

    async fn exchange(
        &self,
        doc: &CoreProviderMetadata,
        code: &str,
        verifier: &str,
    ) -> Result<TokenResponse, OidcError> {
        let client = self.client(doc)?;
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
        if let ClientAuth::PrivateKeyJwt { key, key_id } = &self.settings.client_auth {
            // RFC 7523 client authentication, which the crate does not build itself.
            let token_endpoint = client.token_uri().map(|u| u.as_str()).unwrap_or_default();
            request = request
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", self.client_assertion(key, key_id.as_deref(), token_endpoint)?);
        }
        request.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(refusal) => {
                let text = |t: &str| t.chars().take(300).collect::<String>();
                OidcError::Refused {
                    error: text(refusal.error().as_ref()),
                    description: refusal.error_description().map(|d| text(d)),
                }
            }
            RequestTokenError::Request(e) => unreachable("token endpoint", &e),
            RequestTokenError::Parse(e, _) => {
                OidcError::Provider(format!("the token endpoint's answer is not as OAuth 2.0 says (at {})", e.path()))
            }
            RequestTokenError::Other(e) => OidcError::Provider(format!("token endpoint: {e}")),
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
            "iss": self.settings.config.client_id, "sub": self.settings.config.client_id, "aud": token_endpoint,
            "jti": jti, "iat": now, "exp": now + 300,
        });
        jsonwebtoken::encode(&header, &claims, key).map_err(|_| OidcError::Setup("signing failed".into()))
    }

    /// Checks the ID token (signature, issuer, audience, expiry, nonce by the crate; the rest in
    /// `oidc_token`), fetching the keys once more for an unknown `kid`: the provider may have
    /// rotated them. Returns the claims, and the document with the keys that checked them.
    async fn check_id_token(
        &self,
        mut doc: Arc<CoreProviderMetadata>,
        token: &openidconnect::IdToken<
            OtherClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        nonce: &str,
    ) -> Result<(Value, Arc<CoreProviderMetadata>), OidcError> {
        let nonce = Nonce::new(nonce.to_string());
        let mut refreshed = false;
        loop {
            let client = self.client(&doc)?;
            let now = domain::Clock::System.now_s_i64();
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(ALLOWED_ALGS)
                // A minute of leeway for the provider's clock: expiry is checked a minute late.
                .set_time_fn(move || {
                    chrono::DateTime::from_timestamp(now - oidc_token::LEEWAY_SECS, 0).unwrap_or_default()
                });
            match token.claims(&verifier, &nonce) {
                Ok(claims) => {
                    let claims = serde_json::to_value(claims)
                        .map_err(|e| OidcError::Provider(format!("the identity token's claims: {e}")))?;
                    oidc_token::check_other_claims(&claims, &self.settings.config.client_id, now)?;
                    return Ok((claims, doc));
                }
                Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
                    if !refreshed =>
                {
                    refreshed = true;
                    doc = self.refresh_keys(&doc).await?;
                }
                Err(e) => return Err(oidc_token::refusal(&e).into()),
            }
        }
    }

    async fn userinfo(
        &self,
        doc: &CoreProviderMetadata,
        access_token: AccessToken,
        subject: &str,
    ) -> Result<Value, OidcError> {
        let client = self.client(doc)?;
        // The crate refuses a userinfo response about someone other than the identity token's
        // subject (OpenID Connect Core 5.3.2).
        let request = client
            .user_info(access_token, Some(SubjectIdentifier::new(subject.to_string())))
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        let claims: UserInfoClaims<OtherClaims, CoreGenderClaim> =
            request.request_async(&self.http).await.map_err(|e| match e {
                UserInfoError::Request(e) => unreachable("userinfo", &e),
                UserInfoError::Response(status, _, _) if status.is_server_error() => {
                    OidcError::Unreachable(format!("userinfo: HTTP {status}"))
                }
                UserInfoError::Response(status, _, _) => OidcError::Provider(format!("userinfo: HTTP {status}")),
                UserInfoError::ClaimsVerification(ClaimsVerificationError::InvalidSubject(_)) => {
                    OidcError::Provider("userinfo describes someone other than the identity token".into())
                }
                UserInfoError::Parse(e) => {
                    OidcError::Provider(format!("userinfo is not as OpenID Connect says (at {})", e.path()))
                }
                other => OidcError::Provider(format!("userinfo: {other}")),
            })?;
        serde_json::to_value(claims).map_err(|e| OidcError::Provider(format!("userinfo: {e}")))
    }
}
