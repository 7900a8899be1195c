//! `/SafeList/Numbers`: the account's numbers that the fraud controls never block.

use verifyd_models::{
    CreateSafelistField, CreateSafelistRequest, DeleteSafelistRequest, FetchSafelistRequest, Safelist,
};
use verifyd_server::{Reply, SafeListApi};

use crate::domain::safe_list::SafeListEntry;
use crate::domain::verification::{Destination, normalize_to};
use crate::ids::{new_sid, prefix};
use crate::store::{Change, Decision, Store, StoreError};
use crate::{Core, CoreError, Principal};

fn path(phone_number: &str) -> String {
    format!("/SafeList/Numbers/{phone_number}")
}

/// A number as the list keeps it (E.164); `None` for anything that is not a possible number.
fn phone(text: &str) -> Option<String> {
    match normalize_to(text)? {
        Destination::Phone(p) => Some(p.e164),
        Destination::Email(_) => None,
    }
}

impl<S: Store> Core<S> {
    fn safe_list_response(&self, entry: &SafeListEntry) -> Result<Safelist, CoreError> {
        Ok(Safelist {
            sid: entry.sid.clone(),
            phone_number: entry.phone_number.clone(),
            url: self.urls.at(&path(&entry.phone_number))?,
        })
    }
}

impl<S: Store> SafeListApi for Core<S> {
    async fn create_safelist(
        &self,
        principal: &Principal,
        r: CreateSafelistRequest,
    ) -> Result<Reply<Safelist>, CoreError> {
        let phone_number = phone(&r.phone_number).ok_or(CreateSafelistField::PhoneNumber.invalid())?;
        let entry = SafeListEntry {
            sid: new_sid(prefix::SAFE_LIST),
            account_sid: principal.account_sid().clone(),
            phone_number,
            date_created: self.clock.now(),
        };
        match self.store.save(vec![Change::InsertSafeListEntry(entry.clone())]).await {
            Ok(()) => self.safe_list_response(&entry).map(Reply::new),
            Err(StoreError::Duplicate(_)) => Err(CoreError::SafeListEntryExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn fetch_safelist(
        &self,
        principal: &Principal,
        r: FetchSafelistRequest,
    ) -> Result<Reply<Safelist>, CoreError> {
        let not_found = || CoreError::not_found(path(&r.phone_number));
        let number = phone(&r.phone_number).ok_or_else(not_found)?;
        let entry = self.store.safe_list_entry(principal.account_sid(), &number).await?.ok_or_else(not_found)?;
        self.safe_list_response(&entry).map(Reply::new)
    }

    async fn delete_safelist(&self, principal: &Principal, r: DeleteSafelistRequest) -> Result<Reply<()>, CoreError> {
        let not_found = || CoreError::not_found(path(&r.phone_number));
        let number = phone(&r.phone_number).ok_or_else(not_found)?;
        let account = principal.account_sid().clone();
        let deleted = self
            .store
            .with_safe_list_entry(principal.account_sid(), &number, move |found| match found {
                Some(entry) => Decision::save(
                    vec![Change::DeleteSafeListEntry { account, phone_number: entry.phone_number }],
                    true,
                ),
                None => Decision::nothing(false),
            })
            .await?;
        if deleted { Ok(Reply::new(())) } else { Err(not_found()) }
    }
}
