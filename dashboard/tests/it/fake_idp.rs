//! A fake OpenID Connect provider for the sign-in tests: axum on 127.0.0.1:0 with discovery, an
//! authorize endpoint that signs the user straight in, a token endpoint that checks the client's
//! authentication and the PKCE verifier, userinfo and JWKS. Knobs let a test make it misbehave.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Digest;

pub const CLIENT_ID: &str = "pathwatch";
pub const CLIENT_SECRET: &str = "client-secret-for-tests";

/// Three 2048-bit keys, made once per test run: two for the provider, one for the client.
pub fn keys() -> &'static [RsaPrivateKey; 3] {
    static KEYS: OnceLock<[RsaPrivateKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        [0, 1, 2].map(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
    })
}

pub fn client_key_pem() -> String {
    keys()[2].to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// How the token endpoint authenticates the client.
#[derive(Clone)]
pub enum ClientCheck {
    Secret,
    /// private_key_jwt, verified with the public half of this one of `keys()`.
    Assertion(usize),
}

/// What the ID token's signature looks like.
#[derive(Clone, Copy, PartialEq)]
pub enum Signing {
    Rs256,
    Rs512,
    /// One bit of the signature flipped.
    Corrupted,
    /// `alg: none`, empty signature.
    Unsigned,
    /// HMAC with the client secret as the key: what a confidential client's library may accept.
    Hs256,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

pub struct Knobs {
    /// (kid, key index) published in the JWKS.
    pub published: Vec<(String, usize)>,
    /// (kid, key index) that signs ID tokens.
    pub signer: (String, usize),
    pub signing: Signing,
    pub client: ClientCheck,
    pub subject: String,
    /// Merged into the ID token's claims (after the standard ones, so they can be overridden).
    pub id_claims: Value,
    pub userinfo: Value,
    /// `issuer` in the discovery document; None: the real one.
    pub discovery_issuer: Option<String>,
    /// `jwks_uri` in the discovery document; None: the real one.
    pub jwks_uri: Option<String>,
    pub token_requests: usize,
    pub userinfo_requests: usize,
    codes: HashMap<String, Grant>,
}

#[derive(Clone)]
struct Shared {
    url: String,
    knobs: Arc<Mutex<Knobs>>,
}

pub struct FakeIdp {
    pub url: String,
    pub knobs: Arc<Mutex<Knobs>>,
}

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let knobs = Arc::new(Mutex::new(Knobs {
            published: vec![("key-1".into(), 0)],
            signer: ("key-1".into(), 0),
            jwks_uri: None,
            signing: Signing::Rs256,
            client: ClientCheck::Secret,
            subject: "555021935107".into(),
            id_claims: json!({"name": "Dr Ada Lovelace", "roles": ["pw-oncall"], "org_codes": ["rx1", "A81001"]}),
            userinfo: json!({}),
            discovery_issuer: None,
            token_requests: 0,
            userinfo_requests: 0,
            codes: HashMap::new(),
        }));
        let shared = Shared { url: url.clone(), knobs: knobs.clone() };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/jwks", get(jwks))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeIdp { url, knobs }
    }

    pub fn set(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.knobs.lock().unwrap());
    }

    pub fn get<T>(&self, read: impl FnOnce(&Knobs) -> T) -> T {
        read(&self.knobs.lock().unwrap())
    }
}

async fn discovery(State(s): State<Shared>) -> Json<Value> {
    let issuer = s.knobs.lock().unwrap().discovery_issuer.clone().unwrap_or_else(|| s.url.clone());
    let jwks_uri = s.knobs.lock().unwrap().jwks_uri.clone().unwrap_or_else(|| format!("{}/jwks", s.url));
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{}/authorize", s.url),
        "token_endpoint": format!("{}/token", s.url),
        "userinfo_endpoint": format!("{}/userinfo", s.url),
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "RS512"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
    }))
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    assert_eq!(field("response_type"), "code");
    assert_eq!(field("client_id"), CLIENT_ID);
    assert_eq!(field("code_challenge_method"), "S256");
    assert!(field("scope").split(' ').any(|s| s == "openid"));
    let code = format!("code-{}", hex::encode(rand_bytes()));
    let grant =
        Grant { challenge: field("code_challenge"), nonce: field("nonce"), redirect_uri: field("redirect_uri") };
    s.knobs.lock().unwrap().codes.insert(code.clone(), grant);
    let mut back = url::Url::parse(&field("redirect_uri")).unwrap();
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", &field("state"));
    Redirect::to(back.as_str()).into_response()
}

fn rand_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    b
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

/// Checks the client's authentication; Err is the description of what was wrong.
fn client_authenticated(
    check: &ClientCheck,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    aud: &str,
) -> Result<(), String> {
    match check {
        ClientCheck::Secret => {
            let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
            let decoded = basic.strip_prefix("Basic ").and_then(|b| STANDARD.decode(b).ok()).unwrap_or_default();
            if decoded == format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes() {
                Ok(())
            } else {
                Err("wrong client id or secret".into())
            }
        }
        ClientCheck::Assertion(index) => {
            let key = &keys()[*index];
            if form.get("client_assertion_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return Err("no client assertion".into());
            }
            let jwt = form.get("client_assertion").cloned().unwrap_or_default();
            let (input, signature) = jwt.rsplit_once('.').ok_or("not a JWT")?;
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').next().unwrap()).unwrap()).unwrap();
            if header["alg"] != "RS512" || header["kid"] != "client-key-1" {
                return Err(format!("unexpected header {header}"));
            }
            let verifier = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha512>::new(key.to_public_key());
            let signature =
                rsa::pkcs1v15::Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap_or_default().as_slice())
                    .map_err(|_| "bad signature encoding")?;
            verifier.verify(input.as_bytes(), &signature).map_err(|_| "assertion signature does not verify")?;
            let claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
            let exp = claims["exp"].as_i64().unwrap_or(0);
            if claims["iss"] != CLIENT_ID
                || claims["sub"] != CLIENT_ID
                || claims["aud"] != aud
                || exp < now()
                || exp > now() + 600
                || claims["jti"].as_str().is_none_or(str::is_empty)
            {
                return Err(format!("assertion claims wrong: {claims}"));
            }
            Ok(())
        }
    }
}

async fn token(State(s): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut knobs = s.knobs.lock().unwrap();
    knobs.token_requests += 1;
    if let Err(why) = client_authenticated(&knobs.client, &headers, &form, &format!("{}/token", s.url)) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client", &why);
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let Some(grant) = knobs.codes.remove(&field("code")) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
    };
    if grant.redirect_uri != field("redirect_uri") {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri differs");
    }
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
    if challenge != grant.challenge {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
    }
    let now = now();
    let mut claims = json!({
        "iss": s.url, "aud": CLIENT_ID, "sub": knobs.subject, "exp": now + 300, "iat": now,
        "nonce": grant.nonce, "auth_time": now,
    });
    if let (Some(extra), Some(base)) = (knobs.id_claims.as_object(), claims.as_object_mut()) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    let access_token = format!("access-{}", hex::encode(rand_bytes()));
    let id_token = sign(&knobs, &claims);
    Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}

fn sign(knobs: &Knobs, claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let (kid, index) = &knobs.signer;
    let alg = match knobs.signing {
        Signing::Rs512 => "RS512",
        Signing::Unsigned => "none",
        _ => "RS256",
    };
    let input = format!("{}.{}", b64(&json!({"alg": alg, "kid": kid, "typ": "JWT"})), b64(claims));
    let key = keys()[*index].clone();
    let mut signature = match knobs.signing {
        Signing::Unsigned => return format!("{input}."),
        Signing::Hs256 => {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = Some(kid.clone());
            let key = jsonwebtoken::EncodingKey::from_secret(CLIENT_SECRET.as_bytes()).unwrap();
            return jsonwebtoken::encode(&header, claims, &key).unwrap();
        }
        Signing::Rs512 => rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(key).sign(input.as_bytes()).to_vec(),
        _ => rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key).sign(input.as_bytes()).to_vec(),
    };
    if knobs.signing == Signing::Corrupted {
        signature[10] ^= 1;
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn userinfo(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut knobs = s.knobs.lock().unwrap();
    knobs.userinfo_requests += 1;
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !bearer.starts_with("Bearer access-") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut claims = json!({"sub": knobs.subject});
    if let (Some(extra), Some(base)) = (knobs.userinfo.as_object(), claims.as_object_mut()) {
        base.extend(extra.clone());
    }
    Json(claims).into_response()
}

async fn jwks(State(s): State<Shared>) -> Json<Value> {
    let knobs = s.knobs.lock().unwrap();
    let keys: Vec<Value> = knobs
        .published
        .iter()
        .map(|(kid, index)| {
            let public = keys()[*index].to_public_key();
            json!({
                "kty": "RSA", "use": "sig", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            })
        })
        .collect();
    Json(json!({ "keys": keys }))
}
