//! Verify services: every operation, with the spec's defaults on create; an update changes
//! only what it is sent.

use std::sync::Arc;

use verifyd_models::{
    CreateServiceField, CreateServiceRequest, DeleteServiceRequest, FetchServiceRequest, ListServicesField,
    ListServicesRequest, ServiceList, UpdateServiceField, UpdateServiceRequest, VerifyService, VerifyServiceLinks,
    VerifyServicePush, VerifyServiceTotp, VerifyServiceWhatsapp,
};
use verifyd_runtime::{InvalidParameter, Sid};
use verifyd_server::{Reply, ServicesApi};

use super::passkeys::{PasskeyForm, service_passkeys};
use crate::domain::service::{
    Service, ServiceSettings, TOTP_CODE_LENGTH, TOTP_SKEW, TOTP_TIME_STEP, friendly_name_allowed,
};
use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{Change, Decision, Store};
use crate::{Core, CoreError, Principal};

/// The `Passkeys.*` keys of a create or update request (their fields have the same names).
macro_rules! passkey_form {
    ($r:ident) => {
        PasskeyForm {
            id: $r.passkeys_relying_party_id.take(),
            name: $r.passkeys_relying_party_name.take(),
            origins: $r.passkeys_relying_party_origins.take(),
            attachment: $r.passkeys_authenticator_attachment,
            discoverable: $r.passkeys_discoverable_credentials,
            user_verification: $r.passkeys_user_verification,
        }
    };
}

pub fn path(sid: &Sid) -> String {
    format!("/Services/{sid}")
}

/// Twilio's rule for a friendly name: no URL in it (the spec limits its length). `field` is
/// the operation's `FriendlyName`.
fn check_friendly_name(name: &str, field: InvalidParameter) -> Result<(), CoreError> {
    if friendly_name_allowed(name) { Ok(()) } else { Err(field.into()) }
}

impl<S: Store> Core<S> {
    /// A `DefaultTemplateSid` must name a template of this server.
    fn check_template(&self, sid: Option<&Sid>, field: InvalidParameter) -> Result<(), CoreError> {
        match sid {
            Some(sid) if self.config.templates.get(sid).is_none() => Err(field.into()),
            _ => Ok(()),
        }
    }

    /// The service of this account, or 404.
    pub(crate) async fn service_of(&self, principal: &Principal, sid: &Sid) -> Result<Service, CoreError> {
        self.store.service(principal.account_sid(), sid).await?.ok_or_else(|| CoreError::not_found(path(sid)))
    }

    /// [`service_of`](Self::service_of) as kept from an earlier request when it was read less
    /// than `service_cache_seconds` ago: for starts, which read it on every request (a change
    /// made on this instance is seen at once; the store's operation still checks that the
    /// service exists).
    pub(crate) async fn kept_service_of(&self, principal: &Principal, sid: &Sid) -> Result<Arc<Service>, CoreError> {
        let now = self.clock.now();
        if let Some(kept) = self.services.get(sid, now).filter(|s| &s.account_sid == principal.account_sid()) {
            return Ok(kept);
        }
        let ticket = self.services.ticket();
        let found = self.service_of(principal, sid).await?;
        Ok(self.services.keep(sid, found, now, ticket))
    }

    pub(crate) fn service_response(&self, s: &Service) -> Result<VerifyService, CoreError> {
        let p = path(&s.sid);
        let link = |suffix: &str| self.urls.at(&format!("{p}/{suffix}"));
        let settings = &s.settings;
        Ok(VerifyService {
            sid: s.sid.clone(),
            account_sid: s.account_sid.clone(),
            friendly_name: Some(settings.friendly_name.clone()),
            code_length: settings.code_length,
            lookup_enabled: Some(settings.lookup_enabled),
            psd2_enabled: Some(settings.psd2_enabled),
            skip_sms_to_landlines: Some(settings.skip_sms_to_landlines),
            dtmf_input_required: Some(settings.dtmf_input_required),
            tts_name: settings.tts_name.clone(),
            do_not_share_warning_enabled: Some(settings.do_not_share_warning_enabled),
            custom_code_enabled: Some(settings.custom_code_enabled),
            push: Some(VerifyServicePush {
                include_date: Some(settings.push_include_date.unwrap_or(false)),
                apn_credential_sid: settings.push_apn_credential_sid.clone(),
                fcm_credential_sid: settings.push_fcm_credential_sid.clone(),
            }),
            totp: Some(VerifyServiceTotp {
                issuer: Some(settings.totp_issuer.clone().unwrap_or_else(|| settings.friendly_name.clone())),
                time_step: Some(settings.totp_time_step.unwrap_or(TOTP_TIME_STEP)),
                code_length: Some(settings.totp_code_length.unwrap_or(TOTP_CODE_LENGTH)),
                skew: Some(settings.totp_skew.unwrap_or(TOTP_SKEW)),
            }),
            whatsapp: Some(VerifyServiceWhatsapp {
                msg_service_sid: settings.whatsapp_msg_service_sid.clone(),
                from: settings.whatsapp_from.clone(),
            }),
            passkeys: service_passkeys(&settings.passkeys),
            default_template_sid: settings.default_template_sid.clone(),
            verify_event_subscription_enabled: Some(settings.verify_event_subscription_enabled),
            date_created: s.date_created,
            date_updated: s.date_updated,
            url: self.urls.at(&p)?,
            links: VerifyServiceLinks {
                verification_checks: link("VerificationCheck")?,
                verifications: link("Verifications")?,
                rate_limits: link("RateLimits")?,
                entities: link("Entities")?,
                webhooks: link("Webhooks")?,
                access_tokens: link("AccessTokens")?,
            },
        })
    }
}

impl<S: Store> ServicesApi for Core<S> {
    async fn create_service(
        &self,
        principal: &Principal,
        mut r: CreateServiceRequest,
    ) -> Result<Reply<VerifyService>, CoreError> {
        check_friendly_name(&r.friendly_name, CreateServiceField::FriendlyName.invalid())?;
        self.check_template(r.default_template_sid.as_ref(), CreateServiceField::DefaultTemplateSid.invalid())?;
        let passkeys = passkey_form!(r).read(
            CreateServiceField::PasskeysRelyingPartyId.invalid(),
            CreateServiceField::PasskeysRelyingPartyOrigins.invalid(),
        )?;
        let settings = ServiceSettings {
            code_length: r.code_length_or_default(),
            lookup_enabled: r.lookup_enabled_or_default(),
            psd2_enabled: r.psd2_enabled_or_default(),
            skip_sms_to_landlines: r.skip_sms_to_landlines_or_default(),
            dtmf_input_required: r.dtmf_input_required_or_default(),
            do_not_share_warning_enabled: r.do_not_share_warning_enabled_or_default(),
            custom_code_enabled: r.custom_code_enabled_or_default(),
            verify_event_subscription_enabled: r.verify_event_subscription_enabled_or_default(),
            tts_name: r.tts_name,
            push_include_date: r.push_include_date,
            push_apn_credential_sid: r.push_apn_credential_sid,
            push_fcm_credential_sid: r.push_fcm_credential_sid,
            totp_issuer: r.totp_issuer,
            totp_time_step: r.totp_time_step,
            totp_code_length: r.totp_code_length,
            totp_skew: r.totp_skew,
            default_template_sid: r.default_template_sid,
            whatsapp_msg_service_sid: r.whatsapp_msg_service_sid,
            whatsapp_from: r.whatsapp_from,
            passkeys,
            friendly_name: r.friendly_name,
        };
        let now = self.clock.now();
        let service = Service {
            seq: 0,
            sid: new_sid(prefix::SERVICE),
            account_sid: principal.account_sid().clone(),
            settings,
            date_created: now,
            date_updated: now,
        };
        self.store.save(vec![Change::InsertService(service.clone())]).await?;
        self.service_response(&service).map(Reply::new)
    }

    async fn fetch_service(
        &self,
        principal: &Principal,
        r: FetchServiceRequest,
    ) -> Result<Reply<VerifyService>, CoreError> {
        let record = self.service_of(principal, &r.service_sid).await?;
        self.service_response(&record).map(Reply::new)
    }

    async fn list_services(
        &self,
        principal: &Principal,
        r: ListServicesRequest,
    ) -> Result<Reply<ServiceList>, CoreError> {
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListServicesField::PageToken.invalid())?;
        let rows = self.store.list_services(principal.account_sid(), request.store_page()).await?;
        let page = page(rows, &request, |s| s.seq, &self.urls, "/Services", "services", &[])?;
        Ok(Reply::new(ServiceList {
            services: page.items.iter().map(|s| self.service_response(s)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_service(
        &self,
        principal: &Principal,
        mut r: UpdateServiceRequest,
    ) -> Result<Reply<VerifyService>, CoreError> {
        if let Some(name) = &r.friendly_name {
            check_friendly_name(name, UpdateServiceField::FriendlyName.invalid())?;
        }
        self.check_template(r.default_template_sid.as_ref(), UpdateServiceField::DefaultTemplateSid.invalid())?;
        let passkeys = passkey_form!(r).read(
            UpdateServiceField::PasskeysRelyingPartyId.invalid(),
            UpdateServiceField::PasskeysRelyingPartyOrigins.invalid(),
        )?;
        let sid = r.service_sid.clone();
        let now = self.clock.now();
        let change = move |s: &mut ServiceSettings| {
            fn set<T>(field: &mut T, value: Option<T>) {
                if let Some(v) = value {
                    *field = v;
                }
            }
            fn set_opt<T>(field: &mut Option<T>, value: Option<T>) {
                if value.is_some() {
                    *field = value;
                }
            }
            set(&mut s.friendly_name, r.friendly_name);
            set(&mut s.code_length, r.code_length);
            set(&mut s.lookup_enabled, r.lookup_enabled);
            set(&mut s.psd2_enabled, r.psd2_enabled);
            set(&mut s.skip_sms_to_landlines, r.skip_sms_to_landlines);
            set(&mut s.dtmf_input_required, r.dtmf_input_required);
            set(&mut s.do_not_share_warning_enabled, r.do_not_share_warning_enabled);
            set(&mut s.custom_code_enabled, r.custom_code_enabled);
            set(&mut s.verify_event_subscription_enabled, r.verify_event_subscription_enabled);
            set_opt(&mut s.tts_name, r.tts_name);
            set_opt(&mut s.push_include_date, r.push_include_date);
            set_opt(&mut s.push_apn_credential_sid, r.push_apn_credential_sid);
            set_opt(&mut s.push_fcm_credential_sid, r.push_fcm_credential_sid);
            set_opt(&mut s.totp_issuer, r.totp_issuer);
            set_opt(&mut s.totp_time_step, r.totp_time_step);
            set_opt(&mut s.totp_code_length, r.totp_code_length);
            set_opt(&mut s.totp_skew, r.totp_skew);
            set_opt(&mut s.default_template_sid, r.default_template_sid);
            set_opt(&mut s.whatsapp_msg_service_sid, r.whatsapp_msg_service_sid);
            set_opt(&mut s.whatsapp_from, r.whatsapp_from);
            passkeys.update(&mut s.passkeys);
        };
        let record = self
            .store
            .with_service(principal.account_sid(), &sid, move |found| match found {
                None => Decision::nothing(None),
                Some(mut service) => {
                    change(&mut service.settings);
                    service.date_updated = now;
                    Decision::save(vec![Change::UpdateService(service.clone())], Some(service))
                }
            })
            .await;
        self.services.forget(&sid);
        let record = record?.ok_or_else(|| CoreError::not_found(path(&sid)))?;
        self.service_response(&record).map(Reply::new)
    }

    async fn delete_service(&self, principal: &Principal, r: DeleteServiceRequest) -> Result<Reply<()>, CoreError> {
        let account = principal.account_sid().clone();
        let deleted = self
            .store
            .with_service(principal.account_sid(), &r.service_sid, move |found| match found {
                None => Decision::nothing(false),
                Some(s) => Decision::save(vec![Change::DeleteService { account, sid: s.sid }], true),
            })
            .await;
        self.services.forget(&r.service_sid);
        let deleted = deleted?;
        if deleted { Ok(Reply::new(())) } else { Err(CoreError::not_found(path(&r.service_sid))) }
    }
}
