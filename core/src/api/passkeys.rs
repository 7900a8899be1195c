//! Passkeys: Twilio's four `/Passkeys/*` operations (JSON bodies). A registration creates an
//! unverified factor and answers the browser's `navigator.credentials.create()` options; the
//! browser's answer, which names no factor, finds it by the challenge in its
//! `clientDataJSON`. An authentication answers `navigator.credentials.get()` options and is
//! approved, once, by an assertion of one of the passkeys it allows. Every ceremony is kept
//! in the store between its two halves, so that any instance can finish what another began.

use std::sync::Arc;

use base64::Engine as _;
use verifyd_models::{
    ChallengeRespondedReason, ChallengeStatus, CreateChallengePasskeysField, CreateChallengePasskeysRequest,
    CreateNewFactorPasskeyConfig, CreateNewFactorPasskeyField, CreateNewFactorPasskeyRequest, Factor as FactorBody,
    FactorConfig, FactorStatus, FactorType, NewFactor, NewFactorBinding, PasskeysAuthenticatorAttachment,
    PasskeysChallenge, PasskeysDiscoverableCredentials, PasskeysRelyingParty, PasskeysUserVerification,
    UpdateChallengePasskeysField, UpdateChallengePasskeysRequest, UpdatePasskeysFactorField,
    UpdatePasskeysFactorRequest, VerifyServicePasskeys,
};
use verifyd_runtime::{InvalidParameter, Sid, WireEnum as _};
use verifyd_server::{PasskeysApi, Reply};
use webauthn_rs_core::proto::{Credential, PublicKeyCredential, RegisterPublicKeyCredential};

use super::entities::key;
use super::webhooks::event_changes;
use crate::domain::challenge::Challenge;
use crate::domain::factor::{Factor, FactorSettings};
use crate::domain::passkey::{
    Attachment, CEREMONY_LIFETIME, Ceremony, CeremonyClosed, CeremonyKind, CeremonyRefusal, PasskeySettings,
    Requirement, SettingsRefusal, StoredPasskey, finish_authentication, finish_registration, origin_url,
    relying_party_id_allowed, start_authentication, start_registration, user_handle_names,
};
use crate::domain::service::{PasskeyDefaults, split_origins};
use crate::domain::webhook::Event;
use crate::ids::{new_sid, prefix};
use crate::observe::AnswerOutcome;
use crate::store::{Change, Cursor, Decision, Page, PasskeyKey, Store, StoreError};
use crate::{Core, CoreError, Principal};

/// A relying party ID the creation's `config` lacks and the service does not set.
const NO_RELYING_PARTY: InvalidParameter = InvalidParameter::new("config.relying_party.id", 60306);

/// The service's `Passkeys.*` keys as a create or update sent them.
pub(crate) struct PasskeyForm {
    pub id: Option<String>,
    pub name: Option<String>,
    pub origins: Option<String>,
    pub attachment: Option<PasskeysAuthenticatorAttachment>,
    pub discoverable: Option<PasskeysDiscoverableCredentials>,
    pub user_verification: Option<PasskeysUserVerification>,
}

impl PasskeyForm {
    /// The settings sent, checked: a relying party ID must be a domain and every origin an
    /// http(s) origin.
    pub(crate) fn read(
        self,
        id_field: InvalidParameter,
        origins_field: InvalidParameter,
    ) -> Result<PasskeyDefaults, CoreError> {
        if self.id.as_deref().is_some_and(|id| !relying_party_id_allowed(id)) {
            return Err(id_field.into());
        }
        let origins = self.origins.as_deref().map(split_origins);
        if origins.as_ref().is_some_and(|o| o.is_empty() || o.iter().any(|o| origin_url(o).is_none())) {
            return Err(origins_field.into());
        }
        Ok(PasskeyDefaults {
            relying_party_id: self.id,
            relying_party_name: self.name,
            relying_party_origins: origins,
            authenticator_attachment: self.attachment.and_then(|a| Attachment::from_wire(a.as_str())),
            discoverable_credentials: self.discoverable.and_then(|d| Requirement::from_wire(d.as_str())),
            user_verification: self.user_verification.and_then(|u| Requirement::from_wire(u.as_str())),
        })
    }
}

fn open_attachment(a: Attachment) -> Option<verifyd_runtime::Open<PasskeysAuthenticatorAttachment>> {
    PasskeysAuthenticatorAttachment::from_known(a.as_wire()).map(Into::into)
}

fn open_discoverable(r: Requirement) -> Option<verifyd_runtime::Open<PasskeysDiscoverableCredentials>> {
    PasskeysDiscoverableCredentials::from_known(r.as_wire()).map(Into::into)
}

fn open_verification(r: Requirement) -> Option<verifyd_runtime::Open<PasskeysUserVerification>> {
    PasskeysUserVerification::from_known(r.as_wire()).map(Into::into)
}

/// The service's `passkeys` as set (null where not).
pub(crate) fn service_passkeys(d: &PasskeyDefaults) -> VerifyServicePasskeys {
    VerifyServicePasskeys {
        relying_party: PasskeysRelyingParty {
            id: d.relying_party_id.clone(),
            name: d.relying_party_name.clone(),
            origins: d.relying_party_origins.clone(),
        },
        authenticator_attachment: d.authenticator_attachment.and_then(open_attachment),
        discoverable_credentials: d.discoverable_credentials.and_then(open_discoverable),
        user_verification: d.user_verification.and_then(open_verification),
    }
}

/// A passkey factor's `config`: the settings it was created with.
pub(crate) fn factor_config(p: &PasskeySettings) -> FactorConfig {
    let rp = &p.relying_party;
    let origins = if rp.origins.is_empty() { vec![format!("https://{}", rp.id)] } else { rp.origins.clone() };
    FactorConfig {
        alg: None,
        skew: None,
        code_length: None,
        time_step: None,
        sdk_version: None,
        app_id: None,
        notification_platform: None,
        notification_token: None,
        credential_sid: None,
        relying_party: Some(PasskeysRelyingParty {
            id: Some(rp.id.clone()),
            name: Some(rp.name.clone()),
            origins: Some(origins),
        }),
        authenticator_attachment: open_attachment(p.authenticator_attachment),
        discoverable_credentials: open_discoverable(p.discoverable_credentials),
        user_verification: open_verification(p.user_verification),
    }
}

/// What a factor's creation `config` overrides.
fn wanted(config: Option<CreateNewFactorPasskeyConfig>) -> Result<PasskeyDefaults, CoreError> {
    let Some(config) = config else { return Ok(PasskeyDefaults::default()) };
    let (id, name, origins) = match config.relying_party {
        Some(rp) => (rp.id, rp.name, rp.origins),
        None => (None, None, None),
    };
    let invalid = || CoreError::from(CreateNewFactorPasskeyField::Config.invalid());
    if id.as_deref().is_some_and(|id| !relying_party_id_allowed(id)) {
        return Err(invalid());
    }
    if origins.as_ref().is_some_and(|o| o.iter().any(|o| origin_url(o).is_none())) {
        return Err(invalid());
    }
    Ok(PasskeyDefaults {
        relying_party_id: id,
        relying_party_name: name,
        relying_party_origins: origins.filter(|o| !o.is_empty()),
        authenticator_attachment: config.authenticator_attachment.and_then(|a| Attachment::from_wire(a.as_str())),
        discoverable_credentials: config.discoverable_credentials.and_then(|d| Requirement::from_wire(d.as_str())),
        user_verification: config.user_verification.and_then(|u| Requirement::from_wire(u.as_str())),
    })
}

/// Binary values as browsers and libraries send them: base64url (the WebAuthn JSON), with
/// or without padding, or standard base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let lenient = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::STANDARD, lenient).decode(text))
        .ok()
}

fn encode_base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The challenge a `clientDataJSON` carries, as the options gave it.
fn client_challenge(client_data: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&decode_base64(client_data)?).ok()?;
    json.get("challenge")?.as_str().map(str::to_owned)
}

/// The credential's ID: `id` is its base64url; `rawId` the same bytes, as base64url (what
/// browsers send) or hex (Twilio's examples). When both are sent they must agree.
fn credential_id(id: Option<&str>, raw_id: Option<&str>) -> Option<Vec<u8>> {
    let from_id = match id {
        Some(id) => Some(decode_base64(id)?),
        None => None,
    };
    let from_raw = raw_id.map(|raw| (decode_base64(raw), hex::decode(raw).ok()));
    match (from_id, from_raw) {
        (Some(id), None) => Some(id),
        (Some(id), Some((b64, hex))) => (b64.as_ref() == Some(&id) || hex.as_ref() == Some(&id)).then_some(id),
        (None, Some((Some(b64), _))) => Some(b64),
        (None, Some((None, hex))) => hex,
        (None, None) => None,
    }
}

fn stored_passkey(f: &Factor) -> Option<StoredPasskey> {
    f.credential.as_deref().and_then(StoredPasskey::from_text)
}

fn passkey_settings(f: &Factor) -> Option<&PasskeySettings> {
    match &f.settings {
        FactorSettings::Passkeys(p) => Some(p),
        _ => None,
    }
}

/// What a registration's answer came to.
enum Registered {
    Verified(Box<Factor>),
    NoService,
    Unknown,
    Closed(CeremonyClosed),
    Taken,
    Refused(String),
}

/// What an authentication's answer came to.
enum Approval {
    Approved(Box<Challenge>),
    NoService,
    Unknown,
    Closed(CeremonyClosed),
    Refused(String),
    /// The counter went backwards: the passkey is flagged now.
    Cloned,
    Flagged,
}

impl<S: Store> Core<S> {
    fn passkeys_url(&self, service: &Sid, operation: &str) -> Result<verifyd_runtime::HttpUrl, CoreError> {
        self.urls.at(&format!("{}/Passkeys/{operation}", super::services::path(service)))
    }

    fn pending_challenge(
        &self,
        c: &Ceremony,
        options: serde_json::Map<String, serde_json::Value>,
    ) -> Result<PasskeysChallenge, CoreError> {
        Ok(PasskeysChallenge {
            sid: c.sid.clone(),
            account_sid: c.account_sid.clone(),
            service_sid: c.service_sid.clone(),
            entity_sid: c.entity_sid.clone(),
            identity: c.identity.clone(),
            factor_sid: c.factor_sid.clone(),
            date_created: c.date_created,
            date_updated: c.date_created,
            date_responded: None,
            expiration_date: Some(c.expires_at),
            status: ChallengeStatus::Pending.into(),
            responded_reason: ChallengeRespondedReason::None.into(),
            details: None,
            hidden_details: None,
            metadata: None,
            factor_type: FactorType::Passkeys.into(),
            url: self.passkeys_url(&c.service_sid, "Challenges")?,
            links: None,
            options: Some(options),
        })
    }

    fn approved_challenge(&self, c: &Challenge) -> Result<PasskeysChallenge, CoreError> {
        Ok(PasskeysChallenge {
            sid: c.sid.clone(),
            account_sid: c.account_sid.clone(),
            service_sid: c.service_sid.clone(),
            entity_sid: Some(c.entity_sid.clone()),
            identity: Some(c.identity.clone()),
            factor_sid: Some(c.factor_sid.clone()),
            date_created: c.date_created,
            date_updated: c.date_updated,
            date_responded: c.date_responded,
            expiration_date: Some(c.expiration_date),
            status: c.status.into(),
            responded_reason: c.responded_reason.into(),
            details: None,
            hidden_details: None,
            metadata: None,
            factor_type: FactorType::Passkeys.into(),
            url: self.passkeys_url(&c.service_sid, "ApproveChallenge")?,
            links: None,
            options: None,
        })
    }

    /// The entity's passkey factors, for exclusion from a registration and for an
    /// authentication's allowed list (read outside the ceremony's operation: the answer is
    /// checked against the factor as stored then).
    async fn passkeys_of(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
    ) -> Result<Vec<Factor>, CoreError> {
        let page = Page { cursor: Cursor::First, limit: 1000, descending: false };
        let factors = self.store.list_factors(&key(principal, service, identity), page).await?;
        Ok(factors.into_iter().filter(Factor::is_passkey).collect())
    }
}

impl<S: Store> PasskeysApi for Core<S> {
    async fn create_new_factor_passkey(
        &self,
        principal: &Principal,
        r: CreateNewFactorPasskeyRequest,
    ) -> Result<Reply<NewFactor>, CoreError> {
        let service = self.service_of(principal, &r.service_sid).await?;
        let settings = service.settings.passkeys.resolve(wanted(r.config)?, &service.settings.friendly_name);
        settings.check().map_err(|e| match e {
            SettingsRefusal::RelyingPartyId => CoreError::from(NO_RELYING_PARTY),
            SettingsRefusal::Origin => CreateNewFactorPasskeyField::Config.invalid().into(),
        })?;
        let exclude: Vec<Vec<u8>> = self
            .passkeys_of(principal, &r.service_sid, &r.identity)
            .await?
            .iter()
            .filter_map(|f| f.credential_id.clone())
            .collect();
        let now = self.clock.now();
        let sid = new_sid(prefix::FACTOR);
        let factor = self.new_factor(
            principal,
            &r.service_sid,
            &r.identity,
            &r.friendly_name,
            sid,
            FactorSettings::Passkeys(settings.clone()),
        );
        let name = r.friendly_name.clone();
        // The options name the entity (its SID is the user handle), which is known only inside
        // the creation's operation when the identity is new.
        let (record, options) = self
            .save_new_factor_with(principal, factor, move |entity, factor| {
                let started = start_registration(&settings, entity.sid.as_str().as_bytes(), &name, exclude)
                    .map_err(|_| CoreError::from(NO_RELYING_PARTY))?;
                let ceremony = Ceremony {
                    challenge: started.challenge,
                    kind: CeremonyKind::Registration,
                    sid: factor.sid.clone(),
                    account_sid: factor.account_sid.clone(),
                    service_sid: factor.service_sid.clone(),
                    entity_sid: Some(entity.sid.clone()),
                    identity: Some(entity.identity.clone()),
                    factor_sid: Some(factor.sid.clone()),
                    state: started.state,
                    date_created: now,
                    expires_at: now.plus_seconds(CEREMONY_LIFETIME),
                    date_responded: None,
                };
                Ok((vec![Change::InsertCeremony(ceremony)], started.options))
            })
            .await?;
        let mut answer = self
            .new_factor_response(&record, NewFactorBinding { secret: None, uri: None, alg: None, public_key: None })?;
        answer.binding = None;
        answer.options = Some(options);
        Ok(Reply::new(answer))
    }

    async fn update_passkeys_factor(
        &self,
        principal: &Principal,
        r: UpdatePasskeysFactorRequest,
    ) -> Result<Reply<FactorBody>, CoreError> {
        let invalid_response = || CoreError::from(UpdatePasskeysFactorField::Response.invalid());
        let client_data = r.response.client_data_json.clone().ok_or_else(invalid_response)?;
        let attestation = r.response.attestation_object.clone().ok_or_else(invalid_response)?;
        let challenge = client_challenge(&client_data).ok_or_else(invalid_response)?;
        let id = credential_id(r.id.as_deref(), r.raw_id.as_deref())
            .ok_or_else(|| CoreError::from(UpdatePasskeysFactorField::Id.invalid()))?;
        let answer: RegisterPublicKeyCredential = serde_json::from_value(serde_json::json!({
            "id": encode_base64url(&id),
            "rawId": encode_base64url(&id),
            "type": "public-key",
            "response": { "attestationObject": attestation, "clientDataJSON": client_data },
        }))
        .map_err(|_| invalid_response())?;
        let now = self.clock.now();
        let keys = Arc::clone(&self.keys);
        let service = r.service_sid.clone();
        let passkey_key = PasskeyKey {
            account: principal.account_sid().clone(),
            service: r.service_sid.clone(),
            challenge,
            credential_id: Some(id.clone()),
        };
        let outcome = match self
            .store
            .with_passkey(passkey_key, move |state| {
                let Some(state) = state else { return Decision::nothing(Registered::NoService) };
                let (Some(mut ceremony), Some(mut factor)) = (state.ceremony, state.ceremony_factor) else {
                    return Decision::nothing(Registered::Unknown);
                };
                if ceremony.kind != CeremonyKind::Registration || factor.status == FactorStatus::Verified {
                    return Decision::nothing(Registered::Unknown);
                }
                if let Err(closed) = ceremony.open(now) {
                    return Decision::nothing(Registered::Closed(closed));
                }
                if state.credential_factor.is_some() {
                    return Decision::nothing(Registered::Taken);
                }
                let Some(settings) = passkey_settings(&factor) else { return Decision::nothing(Registered::Unknown) };
                let credential = match finish_registration(settings, &ceremony.state, &answer) {
                    Ok(credential) => credential,
                    Err(CeremonyRefusal::Invalid(why)) => {
                        return Decision::nothing(Registered::Refused(why));
                    }
                    Err(CeremonyRefusal::CounterWentBack) => {
                        return Decision::nothing(Registered::Refused("counter".into()));
                    }
                };
                // The ID the authenticator attested is the one kept, and the one looked up.
                if credential.cred_id.as_slice() != id.as_slice() {
                    return Decision::nothing(Registered::Refused("the credential ID is not the attested one".into()));
                }
                factor.status = FactorStatus::Verified;
                factor.credential_id = Some(id);
                factor.credential = Some(StoredPasskey { credential, flagged_at: None }.to_text());
                factor.date_updated = now;
                ceremony.date_responded = Some(now);
                let mut changes = vec![Change::UpdateCeremony(ceremony), Change::UpdateFactor(factor.clone())];
                changes.extend(event_changes(&keys, &state.webhooks, Event::FactorVerified(&factor), now));
                Decision::save(changes, Registered::Verified(Box::new(factor)))
            })
            .await
        {
            // The same credential registered at once by another answer: its row came first.
            Err(StoreError::Duplicate(_)) => Registered::Taken,
            other => other?,
        };
        match outcome {
            Registered::Verified(f) => self.factor_response(&f).map(Reply::new),
            Registered::NoService => Err(CoreError::not_found(super::services::path(&service))),
            Registered::Closed(CeremonyClosed::Expired) => Err(CoreError::ChallengeExpired),
            Registered::Closed(CeremonyClosed::Answered) | Registered::Unknown => {
                Err(CoreError::FactorVerificationFailed)
            }
            Registered::Taken => Err(CoreError::FactorExists),
            Registered::Refused(why) => {
                tracing::info!(service = %service, reason = %why, "passkey registration refused");
                Err(CoreError::FactorVerificationFailed)
            }
        }
    }

    async fn create_challenge_passkeys(
        &self,
        principal: &Principal,
        r: CreateChallengePasskeysRequest,
    ) -> Result<Reply<PasskeysChallenge>, CoreError> {
        let service = self.service_of(principal, &r.service_sid).await?;
        let (settings, allowed, entity) = match &r.identity {
            Some(identity) => {
                let entity = self
                    .store
                    .entity(&key(principal, &r.service_sid, identity))
                    .await?
                    .ok_or_else(|| CoreError::not_found(super::entities::path(&r.service_sid, identity)))?;
                let mut factors = self.passkeys_of(principal, &r.service_sid, identity).await?;
                if let Some(sid) = &r.factor_sid {
                    factors.retain(|f| f.sid == *sid);
                    if factors.is_empty() {
                        return Err(CoreError::not_found(super::factors::path(&r.service_sid, identity, sid)));
                    }
                }
                factors.retain(|f| f.status == FactorStatus::Verified);
                let Some(first) = factors.first() else { return Err(CoreError::FactorUnverified) };
                let settings = passkey_settings(first).cloned().ok_or(CoreError::FactorUnverified)?;
                // One relying party per ceremony: the passkeys of another (a factor created with
                // its own `config`) are left out of the options.
                let allowed: Vec<Credential> = factors
                    .iter()
                    .filter(|f| passkey_settings(f).is_some_and(|p| p.relying_party.id == settings.relying_party.id))
                    .filter_map(stored_passkey)
                    .filter(|p| p.flagged_at.is_none())
                    .map(|p| p.credential)
                    .collect();
                if allowed.is_empty() {
                    return Err(CoreError::FactorUnverified);
                }
                (settings, allowed, Some(entity))
            }
            None => {
                if r.factor_sid.is_some() {
                    return Err(CreateChallengePasskeysField::Identity.invalid().into());
                }
                let settings =
                    service.settings.passkeys.resolve(PasskeyDefaults::default(), &service.settings.friendly_name);
                // Without an identity, only a passkey the authenticator can find by itself
                // answers: a service that discourages those cannot use this.
                if settings.check().is_err() || settings.discoverable_credentials == Requirement::Discouraged {
                    return Err(CreateChallengePasskeysField::Identity.invalid().into());
                }
                (settings, Vec::new(), None)
            }
        };
        let started = start_authentication(&settings, allowed).map_err(|_| CoreError::FactorUnverified)?;
        let now = self.clock.now();
        let ceremony = Ceremony {
            challenge: started.challenge,
            kind: CeremonyKind::Authentication,
            sid: new_sid(prefix::CHALLENGE),
            account_sid: principal.account_sid().clone(),
            service_sid: r.service_sid.clone(),
            entity_sid: entity.as_ref().map(|e| e.sid.clone()),
            identity: entity.map(|e| e.identity),
            factor_sid: r.factor_sid.clone(),
            state: started.state,
            date_created: now,
            expires_at: now.plus_seconds(CEREMONY_LIFETIME),
            date_responded: None,
        };
        self.store.save(vec![Change::InsertCeremony(ceremony.clone())]).await?;
        self.pending_challenge(&ceremony, started.options).map(Reply::new)
    }

    async fn update_challenge_passkeys(
        &self,
        principal: &Principal,
        r: UpdateChallengePasskeysRequest,
    ) -> Result<Reply<PasskeysChallenge>, CoreError> {
        let invalid_response = || CoreError::from(UpdateChallengePasskeysField::Response.invalid());
        let challenge = client_challenge(&r.response.client_data_json).ok_or_else(invalid_response)?;
        let id = credential_id(Some(&r.id), Some(&r.raw_id))
            .ok_or_else(|| CoreError::from(UpdateChallengePasskeysField::RawId.invalid()))?;
        let user_handle = match &r.response.user_handle {
            Some(handle) if !handle.is_empty() => Some(decode_base64(handle).ok_or_else(invalid_response)?),
            _ => None,
        };
        let answer: PublicKeyCredential = serde_json::from_value(serde_json::json!({
            "id": encode_base64url(&id),
            "rawId": encode_base64url(&id),
            "type": "public-key",
            "response": {
                "authenticatorData": r.response.authenticator_data,
                "clientDataJSON": r.response.client_data_json,
                "signature": r.response.signature,
                "userHandle": user_handle.as_deref().map(encode_base64url),
            },
        }))
        .map_err(|_| invalid_response())?;
        let now = self.clock.now();
        let keys = Arc::clone(&self.keys);
        let service = r.service_sid.clone();
        let passkey_key = PasskeyKey {
            account: principal.account_sid().clone(),
            service: r.service_sid.clone(),
            challenge,
            credential_id: Some(id),
        };
        let outcome = self
            .store
            .with_passkey(passkey_key, move |state| {
                let Some(state) = state else { return Decision::nothing(Approval::NoService) };
                let Some(mut ceremony) = state.ceremony.filter(|c| c.kind == CeremonyKind::Authentication) else {
                    return Decision::nothing(Approval::Unknown);
                };
                if let Err(closed) = ceremony.open(now) {
                    return Decision::nothing(Approval::Closed(closed));
                }
                let Some(mut factor) = state.credential_factor.filter(|f| f.status == FactorStatus::Verified) else {
                    return Decision::nothing(Approval::Refused("no verified passkey has this credential".into()));
                };
                // Bound to an entity (and maybe one factor) when created with an identity;
                // otherwise the user handle must name the passkey's entity.
                let bound = ceremony.entity_sid.as_ref().is_none_or(|e| *e == factor.entity_sid)
                    && ceremony.factor_sid.as_ref().is_none_or(|f| *f == factor.sid);
                let handle_ok = match (&user_handle, &ceremony.entity_sid) {
                    (None, Some(_)) => true,
                    (handle, _) => user_handle_names(handle.as_deref(), &factor.entity_sid),
                };
                if !bound || !handle_ok {
                    return Decision::nothing(Approval::Refused("the passkey is not the challenge's entity's".into()));
                }
                let (Some(settings), Some(mut stored)) = (passkey_settings(&factor).cloned(), stored_passkey(&factor))
                else {
                    return Decision::nothing(Approval::Refused("the factor keeps no credential".into()));
                };
                if stored.flagged_at.is_some() {
                    return Decision::nothing(Approval::Flagged);
                }
                match finish_authentication(&settings, &ceremony.state, &stored.credential, &answer) {
                    Ok(credential) => stored.credential = credential,
                    Err(CeremonyRefusal::Invalid(why)) => return Decision::nothing(Approval::Refused(why)),
                    Err(CeremonyRefusal::CounterWentBack) => {
                        // Refused, and the passkey flagged: a copy of the authenticator exists.
                        stored.flagged_at = Some(now);
                        factor.credential = Some(stored.to_text());
                        factor.date_updated = now;
                        return Decision::save(vec![Change::UpdateFactor(factor)], Approval::Cloned);
                    }
                }
                factor.credential = Some(stored.to_text());
                factor.date_updated = now;
                ceremony.date_responded = Some(now);
                let challenge = Challenge {
                    seq: 0,
                    sid: ceremony.sid.clone(),
                    account_sid: factor.account_sid.clone(),
                    service_sid: factor.service_sid.clone(),
                    entity_sid: factor.entity_sid.clone(),
                    identity: factor.identity.clone(),
                    factor_sid: factor.sid.clone(),
                    factor_type: FactorType::Passkeys,
                    status: ChallengeStatus::Approved,
                    responded_reason: ChallengeRespondedReason::None,
                    details: None,
                    hidden_details: None,
                    metadata: None,
                    date_created: ceremony.date_created,
                    date_updated: now,
                    date_responded: Some(now),
                    expiration_date: ceremony.expires_at,
                    answer_attempts: 0,
                };
                let mut changes = vec![
                    Change::UpdateCeremony(ceremony),
                    Change::UpdateFactor(factor.clone()),
                    Change::InsertChallenge(challenge.clone()),
                ];
                changes.extend(event_changes(
                    &keys,
                    &state.webhooks,
                    Event::ChallengeAnswered(&challenge, &factor),
                    now,
                ));
                Decision::save(changes, Approval::Approved(Box::new(challenge)))
            })
            .await?;
        let answered = match &outcome {
            Approval::Approved(_) => Some(AnswerOutcome::Approved),
            Approval::Closed(CeremonyClosed::Answered) => Some(AnswerOutcome::AlreadyAnswered),
            Approval::Closed(CeremonyClosed::Expired) => Some(AnswerOutcome::Expired),
            Approval::Unknown | Approval::Refused(_) => Some(AnswerOutcome::Invalid),
            Approval::Cloned | Approval::Flagged => Some(AnswerOutcome::Flagged),
            Approval::NoService => None,
        };
        if let Some(answered) = answered {
            self.report_answer(FactorType::Passkeys, answered);
        }
        match outcome {
            Approval::Approved(c) => self.approved_challenge(&c).map(Reply::new),
            Approval::NoService => Err(CoreError::not_found(super::services::path(&service))),
            Approval::Closed(CeremonyClosed::Answered) => Err(CoreError::ChallengeResponded),
            Approval::Closed(CeremonyClosed::Expired) => Err(CoreError::ChallengeExpired),
            Approval::Unknown => Err(CoreError::ChallengeVerificationFailed),
            Approval::Refused(why) => {
                tracing::info!(service = %service, reason = %why, "passkey assertion refused");
                Err(CoreError::ChallengeVerificationFailed)
            }
            Approval::Cloned => {
                tracing::warn!(service = %service, "a passkey's signature counter went backwards: flagged as cloned");
                Err(CoreError::PasskeyFlagged)
            }
            Approval::Flagged => Err(CoreError::PasskeyFlagged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_ids_from_id_and_raw_id() {
        let bytes = vec![0xeb, 0x24, 0xa6, 0x84];
        let b64 = encode_base64url(&bytes);
        assert_eq!(credential_id(Some(&b64), Some(&b64)), Some(bytes.clone()));
        assert_eq!(credential_id(Some(&b64), Some("eb24a684")), Some(bytes.clone()), "Twilio's hex rawId");
        assert_eq!(credential_id(Some(&b64), None), Some(bytes.clone()));
        assert_eq!(credential_id(None, Some(&b64)), Some(bytes.clone()));
        assert_eq!(credential_id(Some(&b64), Some("AAAA")), None, "disagreeing IDs");
        assert_eq!(credential_id(Some("!!"), None), None);
        assert_eq!(credential_id(None, None), None);
    }

    #[test]
    fn the_challenge_comes_from_the_client_data() {
        let data = encode_base64url(br#"{"type":"webauthn.get","challenge":"abc_-1","origin":"https://x"}"#);
        assert_eq!(client_challenge(&data).as_deref(), Some("abc_-1"));
        assert_eq!(client_challenge(&encode_base64url(b"[]")), None);
        assert_eq!(client_challenge("%%%"), None);
    }
}
