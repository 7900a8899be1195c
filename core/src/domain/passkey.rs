//! Passkeys: WebAuthn credentials as factors. The relying party's settings, the ceremonies a
//! browser runs against them (registration, then authentications), and what is kept of each.
//! The cryptography (attestation and assertion parsing, signatures, flags, the signature
//! counter) is webauthn-rs-core's; these rules choose its options, keep its state between the
//! two halves of a ceremony, and say what a refusal means.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use verifyd_runtime::{Sid, Timestamp};
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AuthenticationState, AuthenticatorAttachment, COSEAlgorithm, Credential, PublicKeyCredential,
    RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

/// How long a ceremony's options are good for: the options' `timeout` says the same.
pub const CEREMONY_LIFETIME: i64 = 300;

/// The algorithms a new passkey may use, in the order the browser is asked to prefer them:
/// ES256 (nearly every authenticator) and RS256 (Windows Hello). Not EdDSA: webauthn-rs-core
/// 0.6 cannot verify it, and offering what cannot be verified would register passkeys that
/// never sign in.
fn algorithms() -> Vec<COSEAlgorithm> {
    vec![COSEAlgorithm::ES256, COSEAlgorithm::RS256]
}

/// The web application passkeys are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingParty {
    /// A domain (`example.com`): browsers hash it into every ceremony.
    pub id: String,
    pub name: String,
    /// As configured: full origins, or bare hosts read as `https://` ([`origin_url`]).
    pub origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attachment {
    Platform,
    CrossPlatform,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Required,
    Preferred,
    Discouraged,
}

impl Attachment {
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "platform" => Some(Self::Platform),
            "cross-platform" => Some(Self::CrossPlatform),
            "any" => Some(Self::Any),
            _ => None,
        }
    }

    pub fn as_wire(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::CrossPlatform => "cross-platform",
            Self::Any => "any",
        }
    }
}

impl Requirement {
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "required" => Some(Self::Required),
            "preferred" => Some(Self::Preferred),
            "discouraged" => Some(Self::Discouraged),
            _ => None,
        }
    }

    pub fn as_wire(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
            Self::Discouraged => "discouraged",
        }
    }

    fn policy(self) -> UserVerificationPolicy {
        match self {
            Self::Required => UserVerificationPolicy::Required,
            Self::Preferred => UserVerificationPolicy::Preferred,
            Self::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        }
    }
}

/// A passkey factor's settings: the service's, overridden by what its creation sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeySettings {
    pub relying_party: RelyingParty,
    pub authenticator_attachment: Attachment,
    pub discoverable_credentials: Requirement,
    pub user_verification: Requirement,
}

/// Why settings cannot make a relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsRefusal {
    /// No relying party ID, or one that is not a domain name.
    RelyingPartyId,
    /// An origin that is not an http(s) URL with a host and nothing else.
    Origin,
}

/// An origin as configured, as a URL: a bare host (`login.example.com`, Twilio's examples)
/// means `https://`.
pub fn origin_url(origin: &str) -> Option<url::Url> {
    let text = origin.trim();
    let text = if text.contains("://") { text.to_owned() } else { format!("https://{text}") };
    let url = url::Url::parse(&text).ok()?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let ok = matches!(url.scheme(), "https" | "http") && url.host_str().is_some() && bare && url.username().is_empty();
    ok.then_some(url)
}

/// Whether `id` can be a relying party ID: a lower-case domain name (`localhost` included),
/// never an IP address (WebAuthn refuses those).
pub fn relying_party_id_allowed(id: &str) -> bool {
    let labels_ok = id.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    let ip = id.parse::<std::net::IpAddr>().is_ok();
    !id.is_empty() && id.len() <= 253 && labels_ok && !ip && !id.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl PasskeySettings {
    /// Checks the settings, so that a factor is never created with a relying party the
    /// ceremonies could not use.
    pub fn check(&self) -> Result<(), SettingsRefusal> {
        self.relying_party().map(|_| ())
    }

    fn relying_party(&self) -> Result<WebauthnCore, SettingsRefusal> {
        let rp = &self.relying_party;
        if !relying_party_id_allowed(&rp.id) {
            return Err(SettingsRefusal::RelyingPartyId);
        }
        let origins = if rp.origins.is_empty() {
            vec![origin_url(&rp.id).ok_or(SettingsRefusal::RelyingPartyId)?]
        } else {
            rp.origins.iter().map(|o| origin_url(o).ok_or(SettingsRefusal::Origin)).collect::<Result<_, _>>()?
        };
        let name = if rp.name.is_empty() { rp.id.as_str() } else { rp.name.as_str() };
        let timeout = Duration::from_secs(CEREMONY_LIFETIME as u64);
        // The RP ID is checked against each origin by the library (the origin's host must be
        // the RP ID or under it) at every ceremony.
        Ok(WebauthnCore::new_unsafe_experts_only(name, &rp.id, origins, timeout, Some(false), Some(false)))
    }
}

/// What the browser is handed, as JSON (`{"publicKey": {...}}`), and the state the server
/// keeps until the browser answers.
#[derive(Debug)]
pub struct Started {
    pub options: serde_json::Map<String, serde_json::Value>,
    /// The challenge as the options carry it (base64url), by which the answer finds the state.
    pub challenge: String,
    /// webauthn-rs-core's state, as JSON.
    pub state: String,
}

/// Why a ceremony's answer is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeremonyRefusal {
    /// The answer does not verify (for the log: the library's reason).
    Invalid(String),
    /// The signature counter did not increase: the credential may have been cloned.
    CounterWentBack,
}

fn invalid(e: WebauthnError) -> CeremonyRefusal {
    match e {
        WebauthnError::CredentialPossibleCompromise => CeremonyRefusal::CounterWentBack,
        other => CeremonyRefusal::Invalid(other.to_string()),
    }
}

fn options_of(value: impl Serialize) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn challenge_of(options: &serde_json::Map<String, serde_json::Value>) -> String {
    options.get("publicKey").and_then(|p| p.get("challenge")).and_then(|c| c.as_str()).unwrap_or_default().to_owned()
}

/// Starts a registration for the user `user_id` (the entity's SID: browsers give it back as the
/// user handle of every assertion). `exclude` are the entity's passkeys already registered, so
/// that one authenticator is not registered twice.
pub fn start_registration(
    settings: &PasskeySettings,
    user_id: &[u8],
    user_name: &str,
    exclude: Vec<Vec<u8>>,
) -> Result<Started, SettingsRefusal> {
    let rp = settings.relying_party()?;
    let attachment = match settings.authenticator_attachment {
        Attachment::Platform => Some(AuthenticatorAttachment::Platform),
        Attachment::CrossPlatform => Some(AuthenticatorAttachment::CrossPlatform),
        Attachment::Any => None,
    };
    let builder = rp
        .new_challenge_register_builder(user_id, user_name, user_name)
        .map_err(|_| SettingsRefusal::RelyingPartyId)?
        .user_verification_policy(settings.user_verification.policy())
        .credential_algorithms(algorithms())
        .require_resident_key(settings.discoverable_credentials == Requirement::Required)
        .authenticator_attachment(attachment)
        .exclude_credentials((!exclude.is_empty()).then_some(exclude));
    let (options, state) = rp.generate_challenge_register(builder).map_err(|_| SettingsRefusal::RelyingPartyId)?;
    let mut options = options_of(options);
    // The library asks for a resident key or discourages one; `preferred` is a hint it
    // cannot express, written here (it changes nothing the server checks).
    if settings.discoverable_credentials == Requirement::Preferred
        && let Some(selection) = options.get_mut("publicKey").and_then(|p| p.get_mut("authenticatorSelection"))
        && let Some(selection) = selection.as_object_mut()
    {
        selection.insert("residentKey".into(), "preferred".into());
    }
    let challenge = challenge_of(&options);
    let state = serde_json::to_string(&state).map_err(|_| SettingsRefusal::RelyingPartyId)?;
    Ok(Started { options, challenge, state })
}

/// Checks the browser's answer to a registration and gives the credential to keep.
pub fn finish_registration(
    settings: &PasskeySettings,
    state: &str,
    answer: &RegisterPublicKeyCredential,
) -> Result<Credential, CeremonyRefusal> {
    let rp = settings.relying_party().map_err(|e| CeremonyRefusal::Invalid(format!("settings: {e:?}")))?;
    let state: RegistrationState =
        serde_json::from_str(state).map_err(|e| CeremonyRefusal::Invalid(format!("state: {e}")))?;
    rp.register_credential(answer, &state, None).map_err(invalid)
}

/// Starts an authentication: `credentials` are the passkeys that may answer it (none: any
/// discoverable passkey of the relying party, found by the browser).
pub fn start_authentication(
    settings: &PasskeySettings,
    credentials: Vec<Credential>,
) -> Result<Started, SettingsRefusal> {
    let rp = settings.relying_party()?;
    let builder = rp
        .new_challenge_authenticate_builder(credentials, Some(settings.user_verification.policy()))
        .map_err(|_| SettingsRefusal::RelyingPartyId)?;
    let (options, state) = rp.generate_challenge_authenticate(builder).map_err(|_| SettingsRefusal::RelyingPartyId)?;
    let options = options_of(options);
    let challenge = challenge_of(&options);
    let state = serde_json::to_string(&state).map_err(|_| SettingsRefusal::RelyingPartyId)?;
    Ok(Started { options, challenge, state })
}

/// Checks the browser's answer to an authentication against the passkey as it is stored now
/// (not as it was when the challenge was made: its counter may have moved since), and gives
/// the passkey as it is to be stored after it.
pub fn finish_authentication(
    settings: &PasskeySettings,
    state: &str,
    stored: &Credential,
    answer: &PublicKeyCredential,
) -> Result<Credential, CeremonyRefusal> {
    let rp = settings.relying_party().map_err(|e| CeremonyRefusal::Invalid(format!("settings: {e:?}")))?;
    let mut state: AuthenticationState =
        serde_json::from_str(state).map_err(|e| CeremonyRefusal::Invalid(format!("state: {e}")))?;
    state.set_allowed_credentials(vec![stored.clone()]);
    let result = rp.authenticate_credential(answer, &state).map_err(invalid)?;
    let mut updated = stored.clone();
    if result.counter() > updated.counter {
        updated.counter = result.counter();
    }
    updated.backup_state = result.backup_state();
    Ok(updated)
}

/// What a passkey factor keeps of its credential, once verified: webauthn-rs-core's
/// credential (ID, public key, counter, backup flags, the user verification it was made with)
/// and, when its counter once went backwards, when: such a passkey approves nothing again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    pub credential: Credential,
    pub flagged_at: Option<Timestamp>,
}

impl StoredPasskey {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_text(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// Which half of a passkey's life a ceremony is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CeremonyKind {
    Registration,
    Authentication,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "registration" => Some(Self::Registration),
            "authentication" => Some(Self::Authentication),
            _ => None,
        }
    }
}

/// A ceremony the server started and the browser has yet to answer, found by its challenge
/// (unique: 32 random bytes) within its service. Answered once: `date_responded` is set by
/// the answer that succeeded, and every later one is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceremony {
    pub challenge: String,
    pub kind: CeremonyKind,
    /// The factor a registration verifies; the challenge an authentication approves.
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    /// The entity it is bound to (a registration always is; an authentication when created
    /// with an identity).
    pub entity_sid: Option<Sid>,
    pub identity: Option<String>,
    /// An authentication created for one factor.
    pub factor_sid: Option<Sid>,
    /// webauthn-rs-core's state for the second half.
    pub state: String,
    pub date_created: Timestamp,
    pub expires_at: Timestamp,
    pub date_responded: Option<Timestamp>,
}

/// Why a ceremony cannot be answered now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyClosed {
    Answered,
    Expired,
}

impl Ceremony {
    pub fn open(&self, now: Timestamp) -> Result<(), CeremonyClosed> {
        if self.date_responded.is_some() {
            Err(CeremonyClosed::Answered)
        } else if now >= self.expires_at {
            Err(CeremonyClosed::Expired)
        } else {
            Ok(())
        }
    }
}

/// Whether a user handle (the entity's SID given at registration) names `entity`.
pub fn user_handle_names(handle: Option<&[u8]>, entity: &Sid) -> bool {
    handle.is_some_and(|h| subtle::ConstantTimeEq::ct_eq(h, entity.as_str().as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use verifyd_authenticator::{Algorithm, Authenticator};

    use super::*;

    fn settings(id: &str, origins: &[&str]) -> PasskeySettings {
        PasskeySettings {
            relying_party: RelyingParty {
                id: id.into(),
                name: "Example".into(),
                origins: origins.iter().map(|o| o.to_string()).collect(),
            },
            authenticator_attachment: Attachment::Any,
            discoverable_credentials: Requirement::Preferred,
            user_verification: Requirement::Preferred,
        }
    }

    #[test]
    fn origins_without_a_scheme_are_https() {
        assert_eq!(origin_url("login.example.com").unwrap().as_str(), "https://login.example.com/");
        assert_eq!(origin_url("http://localhost:8080").unwrap().as_str(), "http://localhost:8080/");
        assert!(origin_url("https://example.com/path").is_none());
        assert!(origin_url("ftp://example.com").is_none());
        assert!(origin_url("https://user@example.com").is_none());
    }

    #[test]
    fn relying_party_ids_are_domains() {
        assert!(relying_party_id_allowed("example.com"));
        assert!(relying_party_id_allowed("localhost"));
        assert!(!relying_party_id_allowed("127.0.0.1"));
        assert!(!relying_party_id_allowed("Example.com"));
        assert!(!relying_party_id_allowed("https://example.com"));
        assert!(!relying_party_id_allowed(""));
        assert_eq!(settings("", &[]).check(), Err(SettingsRefusal::RelyingPartyId));
        assert_eq!(settings("example.com", &["ftp://x"]).check(), Err(SettingsRefusal::Origin));
        assert_eq!(settings("example.com", &[]).check(), Ok(()));
    }

    #[test]
    fn registration_options_say_what_the_settings_ask() {
        let mut s = settings("example.com", &["https://example.com"]);
        s.user_verification = Requirement::Required;
        s.authenticator_attachment = Attachment::Platform;
        let started = start_registration(&s, b"YE0123", "alice", vec![vec![1, 2, 3]]).unwrap();
        let o = &started.options["publicKey"];
        assert_eq!(o["rp"]["id"], "example.com");
        assert_eq!(o["user"]["id"], "WUUwMTIz");
        assert_eq!(o["timeout"], 300_000);
        assert_eq!(o["challenge"], started.challenge.as_str());
        assert_eq!(started.challenge.len(), 43, "32 random bytes, base64url");
        assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(o["authenticatorSelection"]["authenticatorAttachment"], "platform");
        assert_eq!(o["authenticatorSelection"]["residentKey"], "preferred");
        assert_eq!(o["excludeCredentials"][0]["id"], "AQID");
        let algs: Vec<i64> =
            o["pubKeyCredParams"].as_array().unwrap().iter().map(|p| p["alg"].as_i64().unwrap()).collect();
        assert_eq!(algs, [-7, -257]);
        let again = start_registration(&s, b"YE0123", "alice", vec![]).unwrap();
        assert_ne!(again.challenge, started.challenge);
    }

    #[test]
    fn ceremonies_close_once_answered_or_expired() {
        let now = Timestamp::from_unix(1_000_000).unwrap();
        let mut c = Ceremony {
            challenge: "c".into(),
            kind: CeremonyKind::Authentication,
            sid: Sid::from_parts("YC", [1; 16]),
            account_sid: Sid::from_parts("AC", [1; 16]),
            service_sid: Sid::from_parts("VA", [1; 16]),
            entity_sid: None,
            identity: None,
            factor_sid: None,
            state: String::new(),
            date_created: now,
            expires_at: now.plus_seconds(CEREMONY_LIFETIME),
            date_responded: None,
        };
        assert_eq!(c.open(now.plus_seconds(299)), Ok(()));
        assert_eq!(c.open(now.plus_seconds(300)), Err(CeremonyClosed::Expired));
        c.date_responded = Some(now);
        assert_eq!(c.open(now), Err(CeremonyClosed::Answered));
    }

    fn register(s: &PasskeySettings, authenticator: &mut Authenticator) -> Credential {
        let started = start_registration(s, b"YE0123", "alice", vec![]).unwrap();
        let answer = authenticator.create(&started.options["publicKey"], "https://example.com").unwrap();
        let answer: RegisterPublicKeyCredential = serde_json::from_value(answer).unwrap();
        finish_registration(s, &started.state, &answer).expect("a registration")
    }

    fn assert_with(
        s: &PasskeySettings,
        stored: &Credential,
        authenticator: &mut Authenticator,
        origin: &str,
    ) -> Result<Credential, CeremonyRefusal> {
        let started = start_authentication(s, vec![stored.clone()]).unwrap();
        let answer = authenticator.get(&started.options["publicKey"], origin).unwrap();
        let answer: PublicKeyCredential = serde_json::from_value(answer).unwrap();
        finish_authentication(s, &started.state, stored, &answer)
    }

    #[test]
    fn both_algorithms_register_and_authenticate_and_counters_move_forward() {
        let s = settings("example.com", &["https://example.com"]);
        for algorithm in [Algorithm::Es256, Algorithm::Rs256] {
            let mut authenticator = Authenticator::new(algorithm);
            let stored = register(&s, &mut authenticator);
            assert_eq!(stored.counter, 0);
            let copy = authenticator.clone();
            let after = assert_with(&s, &stored, &mut authenticator, "https://example.com").unwrap();
            assert_eq!(after.counter, 1);
            let after = assert_with(&s, &after, &mut authenticator, "https://example.com").unwrap();
            assert_eq!(after.counter, 2);
            // A copy made before: its counter (1 next) is behind the stored one.
            let mut copy = copy;
            assert_eq!(
                assert_with(&s, &after, &mut copy, "https://example.com"),
                Err(CeremonyRefusal::CounterWentBack)
            );
            // Another origin, or a state answered with another credential, is refused.
            assert!(matches!(
                assert_with(&s, &after, &mut authenticator, "https://evil.example"),
                Err(CeremonyRefusal::Invalid(_))
            ));
        }
    }

    #[test]
    fn an_algorithm_not_offered_cannot_register() {
        let s = settings("example.com", &[]);
        let started = start_registration(&s, b"YE0123", "alice", vec![]).unwrap();
        let refused =
            Authenticator::new(Algorithm::Ed25519).create(&started.options["publicKey"], "https://example.com");
        assert!(refused.is_err(), "EdDSA is not offered");
    }

    #[test]
    fn a_registration_from_another_origin_or_without_required_verification_is_refused() {
        let mut s = settings("example.com", &["https://example.com"]);
        let started = start_registration(&s, b"YE0123", "alice", vec![]).unwrap();
        let answer = Authenticator::new(Algorithm::Es256).create(&started.options["publicKey"], "https://evil.example");
        let answer: RegisterPublicKeyCredential = serde_json::from_value(answer.unwrap()).unwrap();
        assert!(matches!(finish_registration(&s, &started.state, &answer), Err(CeremonyRefusal::Invalid(_))));
        s.user_verification = Requirement::Required;
        let started = start_registration(&s, b"YE0123", "alice", vec![]).unwrap();
        let answer = Authenticator::new(Algorithm::Es256)
            .user_verified(false)
            .create(&started.options["publicKey"], "https://example.com");
        let answer: RegisterPublicKeyCredential = serde_json::from_value(answer.unwrap()).unwrap();
        assert!(matches!(finish_registration(&s, &started.state, &answer), Err(CeremonyRefusal::Invalid(_))));
    }

    #[test]
    fn user_handles_name_the_entity() {
        let entity = Sid::from_parts("YE", [7; 16]);
        assert!(user_handle_names(Some(entity.as_str().as_bytes()), &entity));
        assert!(!user_handle_names(Some(b"YE0"), &entity));
        assert!(!user_handle_names(None, &entity));
    }
}
