//! Entities: the end users that own factors, named by an identity of the caller's choosing.

use verifyd_models::{
    CreateEntityRequest, DeleteEntityRequest, Entity, EntityLinks, EntityList, FetchEntityRequest, ListEntitiesRequest,
};
use verifyd_runtime::Sid;

use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{EntityKey, EntityRecord, NewEntityOutcome, Store};
use crate::{Core, CoreError, Principal};

/// Twilio's code for an invalid entity, factor or challenge request.
pub const INVALID: u32 = 60306;

pub fn path(service: &Sid, identity: &str) -> String {
    format!("/Services/{service}/Entities/{identity}")
}

pub fn key(principal: &Principal, service: &Sid, identity: &str) -> EntityKey {
    EntityKey {
        account_sid: principal.account_sid().clone(),
        service_sid: service.clone(),
        identity: identity.to_owned(),
    }
}

impl<S: Store> Core<S> {
    fn entity_response(&self, e: &EntityRecord) -> Result<Entity, CoreError> {
        let p = path(&e.service_sid, &e.identity);
        Ok(Entity {
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

    pub(crate) async fn create_entity_op(
        &self,
        principal: &Principal,
        r: CreateEntityRequest,
    ) -> Result<Entity, CoreError> {
        let key = key(principal, &r.service_sid, &r.identity);
        match self.store.create_entity(key, new_sid(prefix::ENTITY), self.clock.now()).await? {
            NewEntityOutcome::Created(e) => self.entity_response(&e),
            NewEntityOutcome::Duplicate => Err(CoreError::EntityExists),
            NewEntityOutcome::NoSuchService => Err(CoreError::not_found(crate::services::path(&r.service_sid))),
        }
    }

    pub(crate) async fn fetch_entity_op(
        &self,
        principal: &Principal,
        r: FetchEntityRequest,
    ) -> Result<Entity, CoreError> {
        let e = self
            .store
            .entity(key(principal, &r.service_sid, &r.identity))
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.identity)))?;
        self.entity_response(&e)
    }

    pub(crate) async fn list_entities_op(
        &self,
        principal: &Principal,
        r: ListEntitiesRequest,
    ) -> Result<EntityList, CoreError> {
        let request = PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), INVALID)?;
        self.service_of(principal, &r.service_sid).await?;
        let rows =
            self.store.list_entities(principal.account_sid(), &r.service_sid, request.cursor, request.fetch()).await?;
        let list_path = format!("/Services/{}/Entities", r.service_sid);
        let page = page(rows, &request, |e| e.seq, &self.urls, &list_path, "entities", &[])?;
        Ok(EntityList {
            entities: page.items.iter().map(|e| self.entity_response(e)).collect::<Result<_, _>>()?,
            meta: page.meta,
        })
    }

    pub(crate) async fn delete_entity_op(
        &self,
        principal: &Principal,
        r: DeleteEntityRequest,
    ) -> Result<(), CoreError> {
        if self.store.delete_entity(key(principal, &r.service_sid, &r.identity), self.clock.now()).await? {
            Ok(())
        } else {
            Err(CoreError::not_found(path(&r.service_sid, &r.identity)))
        }
    }
}
