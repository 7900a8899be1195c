//! Messaging configurations: per service and country (or `all`), the Messaging Service the
//! Twilio provider sends from (see `domain::messaging`).

use verifyd_models::{
    CreateMessagingConfigurationRequest, DeleteMessagingConfigurationRequest, FetchMessagingConfigurationRequest,
    ListMessagingConfigurationField, ListMessagingConfigurationRequest, ListMessagingConfigurationResponse,
    MessagingConfiguration as MessagingConfigurationBody, UpdateMessagingConfigurationRequest,
};
use verifyd_runtime::Sid;
use verifyd_server::{MessagingConfigurationsApi, Reply};

use crate::domain::messaging::{MessagingConfiguration, normalize_country};
use crate::paging::{PageRequest, page};
use crate::store::{Change, Decision, MessagingConfigurationKey, Store, StoreError};
use crate::{Core, CoreError, Principal};

fn path(service: &Sid, country: &str) -> String {
    format!("/Services/{service}/MessagingConfigurations/{country}")
}

/// The key of a configuration named in a path. The spec admits two letters or `all` only, so
/// anything else is a path that names nothing.
fn key(principal: &Principal, service: &Sid, country: &str) -> Result<MessagingConfigurationKey, CoreError> {
    let country = normalize_country(country).ok_or_else(|| CoreError::not_found(path(service, country)))?;
    Ok(MessagingConfigurationKey { account: principal.account_sid().clone(), service: service.clone(), country })
}

impl<S: Store> Core<S> {
    fn messaging_configuration_response(
        &self,
        m: &MessagingConfiguration,
    ) -> Result<MessagingConfigurationBody, CoreError> {
        Ok(MessagingConfigurationBody {
            account_sid: m.account_sid.clone(),
            service_sid: m.service_sid.clone(),
            country: m.country.clone(),
            messaging_service_sid: Sid::parse(&m.messaging_service_sid)
                .map_err(|_| CoreError::Internal(format!("a stored Messaging Service SID is malformed: {m:?}")))?,
            date_created: m.date_created,
            date_updated: m.date_updated,
            url: self.urls.at(&path(&m.service_sid, &m.country))?,
        })
    }
}

impl<S: Store> MessagingConfigurationsApi for Core<S> {
    async fn create_messaging_configuration(
        &self,
        principal: &Principal,
        r: CreateMessagingConfigurationRequest,
    ) -> Result<Reply<MessagingConfigurationBody>, CoreError> {
        let key = key(principal, &r.service_sid, &r.country)?;
        let now = self.clock.now();
        let created = MessagingConfiguration {
            seq: 0,
            account_sid: key.account.clone(),
            service_sid: key.service.clone(),
            country: key.country.clone(),
            messaging_service_sid: r.messaging_service_sid.to_string(),
            date_created: now,
            date_updated: now,
        };
        let service = r.service_sid.clone();
        let saved = self
            .store
            .with_messaging_configuration(key, move |found| match found {
                None => Decision::nothing(Err(CoreError::not_found(super::services::path(&service)))),
                Some(Some(_)) => Decision::nothing(Err(CoreError::MessagingConfigurationExists)),
                Some(None) => Decision::save(vec![Change::InsertMessagingConfiguration(created.clone())], Ok(created)),
            })
            .await;
        let saved = match saved {
            Ok(outcome) => outcome?,
            // Two creations for one country at once: the second finds the first's row.
            Err(StoreError::Duplicate(_)) => return Err(CoreError::MessagingConfigurationExists),
            Err(e) => return Err(e.into()),
        };
        self.messaging_configuration_response(&saved).map(Reply::new)
    }

    async fn fetch_messaging_configuration(
        &self,
        principal: &Principal,
        r: FetchMessagingConfigurationRequest,
    ) -> Result<Reply<MessagingConfigurationBody>, CoreError> {
        let key = key(principal, &r.service_sid, &r.country)?;
        let found = self
            .store
            .messaging_configuration(&key)
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &key.country)))?;
        self.messaging_configuration_response(&found).map(Reply::new)
    }

    async fn list_messaging_configuration(
        &self,
        principal: &Principal,
        r: ListMessagingConfigurationRequest,
    ) -> Result<Reply<ListMessagingConfigurationResponse>, CoreError> {
        let request = PageRequest::new(
            r.page_size,
            r.page,
            r.page_token.as_deref(),
            ListMessagingConfigurationField::PageToken.invalid(),
        )?;
        self.service_of(principal, &r.service_sid).await?;
        let rows = self
            .store
            .list_messaging_configurations(principal.account_sid(), &r.service_sid, request.store_page())
            .await?;
        let list_path = format!("/Services/{}/MessagingConfigurations", r.service_sid);
        let page = page(rows, &request, |m| m.seq, &self.urls, &list_path, "messaging_configurations", &[])?;
        Ok(Reply::new(ListMessagingConfigurationResponse {
            messaging_configurations: page
                .items
                .iter()
                .map(|m| self.messaging_configuration_response(m))
                .collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_messaging_configuration(
        &self,
        principal: &Principal,
        r: UpdateMessagingConfigurationRequest,
    ) -> Result<Reply<MessagingConfigurationBody>, CoreError> {
        let key = key(principal, &r.service_sid, &r.country)?;
        let now = self.clock.now();
        let missing = path(&r.service_sid, &key.country);
        let messaging_service_sid = r.messaging_service_sid.to_string();
        let updated = self
            .store
            .with_messaging_configuration(key, move |found| match found.flatten() {
                None => Decision::nothing(None),
                Some(mut m) => {
                    m.messaging_service_sid = messaging_service_sid;
                    m.date_updated = now;
                    Decision::save(vec![Change::UpdateMessagingConfiguration(m.clone())], Some(m))
                }
            })
            .await?
            .ok_or_else(|| CoreError::not_found(missing))?;
        self.messaging_configuration_response(&updated).map(Reply::new)
    }

    async fn delete_messaging_configuration(
        &self,
        principal: &Principal,
        r: DeleteMessagingConfigurationRequest,
    ) -> Result<Reply<()>, CoreError> {
        let key = key(principal, &r.service_sid, &r.country)?;
        let missing = path(&r.service_sid, &key.country);
        let deleted = self
            .store
            .with_messaging_configuration(key.clone(), move |found| match found.flatten() {
                None => Decision::nothing(false),
                Some(m) => Decision::save(
                    vec![Change::DeleteMessagingConfiguration {
                        account: m.account_sid,
                        service: m.service_sid,
                        country: m.country,
                    }],
                    true,
                ),
            })
            .await?;
        if deleted { Ok(Reply::new(())) } else { Err(CoreError::not_found(missing)) }
    }
}
