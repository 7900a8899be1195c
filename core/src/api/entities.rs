//! Entities: the end users that own factors, named by an identity of the caller's choosing.

use verifyd_models::{
    CreateEntityRequest, DeleteEntityRequest, Entity as EntityBody, EntityLinks, EntityList, FetchEntityRequest,
    ListEntitiesField, ListEntitiesRequest,
};
use verifyd_runtime::Sid;
use verifyd_server::{EntitiesApi, Reply};

use super::webhooks::event_changes;
use crate::domain::factor::Entity;
use crate::domain::webhook::Event;
use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{Change, Decision, EntityKey, Store};
use crate::{Core, CoreError, Principal};

pub fn path(service: &Sid, identity: &str) -> String {
    format!("/Services/{service}/Entities/{identity}")
}

pub fn key(principal: &Principal, service: &Sid, identity: &str) -> EntityKey {
    EntityKey { account: principal.account_sid().clone(), service: service.clone(), identity: identity.to_owned() }
}

enum Creation {
    Created(Entity),
    Exists,
    NoService,
}

impl<S: Store> Core<S> {
    fn entity_response(&self, e: &Entity) -> Result<EntityBody, CoreError> {
        let p = path(&e.service_sid, &e.identity);
        Ok(EntityBody {
            sid: e.sid.clone(),
            identity: Some(e.identity.clone()),
            account_sid: e.account_sid.clone(),
            service_sid: e.service_sid.clone(),
            date_created: e.date_created,
            date_updated: e.date_updated,
            url: self.urls.at(&p)?,
            links: EntityLinks {
                factors: self.urls.at(&format!("{p}/Factors"))?,
                new_factors: self.urls.at(&format!("{p}/Factors"))?,
                challenges: self.urls.at(&format!("{p}/Challenges"))?,
            },
        })
    }
}

impl<S: Store> EntitiesApi for Core<S> {
    async fn create_entity(
        &self,
        principal: &Principal,
        r: CreateEntityRequest,
    ) -> Result<Reply<EntityBody>, CoreError> {
        let now = self.clock.now();
        let sid = new_sid(prefix::ENTITY);
        let account = principal.account_sid().clone();
        let (service, identity) = (r.service_sid.clone(), r.identity.clone());
        let created = self
            .store
            .with_entity(key(principal, &r.service_sid, &r.identity), move |state| match state {
                None => Decision::nothing(Creation::NoService),
                Some(state) if state.entity.is_some() => Decision::nothing(Creation::Exists),
                Some(_) => {
                    let entity = Entity {
                        seq: 0,
                        sid,
                        account_sid: account,
                        service_sid: service,
                        identity,
                        date_created: now,
                        date_updated: now,
                    };
                    Decision::save(vec![Change::InsertEntity(entity.clone())], Creation::Created(entity))
                }
            })
            .await?;
        match created {
            Creation::Created(e) => self.entity_response(&e).map(Reply::new),
            Creation::Exists => Err(CoreError::EntityExists),
            Creation::NoService => Err(CoreError::not_found(super::services::path(&r.service_sid))),
        }
    }

    async fn fetch_entity(&self, principal: &Principal, r: FetchEntityRequest) -> Result<Reply<EntityBody>, CoreError> {
        let e = self
            .store
            .entity(&key(principal, &r.service_sid, &r.identity))
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.identity)))?;
        self.entity_response(&e).map(Reply::new)
    }

    async fn list_entities(
        &self,
        principal: &Principal,
        r: ListEntitiesRequest,
    ) -> Result<Reply<EntityList>, CoreError> {
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListEntitiesField::PageToken.invalid())?;
        self.service_of(principal, &r.service_sid).await?;
        let rows = self.store.list_entities(principal.account_sid(), &r.service_sid, request.store_page()).await?;
        let list_path = format!("/Services/{}/Entities", r.service_sid);
        let page = page(rows, &request, |e| e.seq, &self.urls, &list_path, "entities", &[])?;
        Ok(Reply::new(EntityList {
            entities: page.items.iter().map(|e| self.entity_response(e)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    /// Deletes the entity with its factors and challenges; each factor's deletion is an event.
    async fn delete_entity(&self, principal: &Principal, r: DeleteEntityRequest) -> Result<Reply<()>, CoreError> {
        let now = self.clock.now();
        let keys = std::sync::Arc::clone(&self.keys);
        let deleted = self
            .store
            .with_entity(key(principal, &r.service_sid, &r.identity), move |state| {
                let Some(state) = state else { return Decision::nothing(false) };
                let Some(entity) = state.entity else { return Decision::nothing(false) };
                let mut changes: Vec<Change> = state
                    .factors
                    .iter()
                    .flat_map(|f| event_changes(&keys, &state.webhooks, Event::FactorDeleted(f), now))
                    .collect();
                changes.push(Change::DeleteEntity { account: entity.account_sid, sid: entity.sid });
                Decision::save(changes, true)
            })
            .await?;
        if deleted { Ok(Reply::new(())) } else { Err(CoreError::not_found(path(&r.service_sid, &r.identity))) }
    }
}
