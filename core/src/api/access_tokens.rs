//! Enrolment access tokens: a backend asks for one, hands it to the app, and the app creates
//! its push factor with it (Basic `token:<access token>`). A JWT signed with a key derived
//! from the master key (HS256), bound to service, identity and factor type, valid for its
//! `Ttl`, and single-use: the factor creation that consumes it makes it invalid.

use serde_json::json;
use verifyd_models::{
    AccessToken, CreateAccessTokenField, CreateAccessTokenRequest, FactorType, FetchAccessTokenRequest,
};
use verifyd_runtime::Sid;
use verifyd_server::{AccessTokensApi, Reply};

use crate::domain::access_token::AccessToken as Token;
use crate::ids::{new_sid, prefix};
use crate::jwt;
use crate::keys::SealContext;
use crate::store::{Change, Store};
use crate::{Core, CoreError, Principal};

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/AccessTokens/{sid}")
}

impl<S: Store> Core<S> {
    fn access_token_response(&self, t: &Token) -> Result<AccessToken, CoreError> {
        let token = self.keys.open_text(SealContext::AccessToken(&t.sid), &t.token_sealed)?;
        Ok(AccessToken {
            sid: t.sid.clone(),
            account_sid: t.account_sid.clone(),
            service_sid: t.service_sid.clone(),
            entity_identity: Some(t.identity.clone()),
            factor_type: t.factor_type.into(),
            factor_friendly_name: t.factor_friendly_name.clone(),
            token: Some(token),
            ttl: t.ttl,
            date_created: t.date_created,
            url: self.urls.at(&path(&t.service_sid, &t.sid))?,
        })
    }

    /// An access token presented as a password: a valid, unexpired, unused token of ours.
    pub(crate) async fn enrolment(&self, token: &jwt::Unverified) -> Result<Principal, CoreError> {
        let claims = self
            .keys
            .token_verifying_keys()
            .find_map(|key| token.clone().verify_hs256(key).ok())
            .ok_or(CoreError::Unauthenticated)?;
        let now = self.clock.now();
        if jwt::int_claim(&claims, "exp").is_none_or(|exp| exp <= now.unix()) {
            return Err(CoreError::Unauthenticated);
        }
        let sid = |name: &str| {
            jwt::str_claim(&claims, name).and_then(|s| Sid::parse(s).ok()).ok_or(CoreError::Unauthenticated)
        };
        let (token_sid, account_sid, service_sid) = (sid("jti")?, sid("sub")?, sid("iss")?);
        let record = self
            .store
            .access_token(&account_sid, &service_sid, &token_sid)
            .await?
            .filter(|t| t.usable(now))
            .ok_or(CoreError::Unauthenticated)?;
        Ok(Principal::Enrolment {
            account_sid,
            service_sid,
            identity: record.identity,
            factor_type: record.factor_type,
            factor_friendly_name: record.factor_friendly_name,
            token_sid,
        })
    }
}

impl<S: Store> AccessTokensApi for Core<S> {
    async fn create_access_token(
        &self,
        principal: &Principal,
        r: CreateAccessTokenRequest,
    ) -> Result<Reply<AccessToken>, CoreError> {
        self.service_of(principal, &r.service_sid).await?;
        if !matches!(r.factor_type, FactorType::Push | FactorType::Totp) {
            return Err(CreateAccessTokenField::FactorType.invalid().into());
        }
        let now = self.clock.now();
        let ttl = r.ttl_or_default();
        let sid = new_sid(prefix::ACCESS_TOKEN);
        let expires_at = now.plus_seconds(ttl);
        let claims = json!({
            "jti": sid.as_str(),
            "sub": principal.account_sid().as_str(),
            "iss": r.service_sid.as_str(),
            "identity": r.identity,
            "factor_type": r.factor_type.as_str(),
            "factor_friendly_name": r.factor_friendly_name,
            "iat": now.unix(),
            "exp": expires_at.unix(),
        });
        let header = json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"});
        let token = jwt::sign_hs256(self.keys.token_signing_key(), &header, &claims);
        let record = Token {
            token_sealed: self.keys.seal(SealContext::AccessToken(&sid), token.as_bytes()),
            sid,
            account_sid: principal.account_sid().clone(),
            service_sid: r.service_sid,
            identity: r.identity,
            factor_type: r.factor_type,
            factor_friendly_name: r.factor_friendly_name,
            ttl,
            date_created: now,
            expires_at,
            used: false,
        };
        self.store.save(vec![Change::InsertAccessToken(record.clone())]).await?;
        self.access_token_response(&record).map(Reply::new)
    }

    async fn fetch_access_token(
        &self,
        principal: &Principal,
        r: FetchAccessTokenRequest,
    ) -> Result<Reply<AccessToken>, CoreError> {
        let now = self.clock.now();
        let record = self
            .store
            .access_token(principal.account_sid(), &r.service_sid, &r.access_token_sid)
            .await?
            .filter(|t| t.usable(now))
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.access_token_sid)))?;
        self.access_token_response(&record).map(Reply::new)
    }
}
