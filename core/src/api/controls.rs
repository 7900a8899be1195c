//! The operator's side of the fraud controls (the command line's `verifyd geo` and
//! `verifyd fraud-guard`): geo permissions per account and channel, Fraud Guard per service.

use verifyd_runtime::Sid;

use crate::domain::fraud::Level;
use crate::domain::geo::{CHANNELS, GeoPermission};
use crate::domain::messaging::{ALL_COUNTRIES, normalize_country};
use crate::store::{Change, Decision, Store};
use crate::{Core, CoreError};

/// Which geo permissions a command changes: the channels (all three when none is named) and
/// the countries, checked.
fn geo_targets(channels: &[String], countries: &[String]) -> Result<(Vec<String>, Vec<String>), CoreError> {
    let channels: Vec<String> = if channels.is_empty() {
        CHANNELS.iter().map(|c| (*c).to_owned()).collect()
    } else {
        channels
            .iter()
            .map(|c| {
                let c = c.trim().to_ascii_lowercase();
                if CHANNELS.contains(&c.as_str()) {
                    Ok(c)
                } else {
                    Err(CoreError::Internal(format!(
                        "{c:?} is not a channel geo permissions apply to (sms, call, whatsapp)"
                    )))
                }
            })
            .collect::<Result<_, _>>()?
    };
    if countries.is_empty() {
        return Err(CoreError::Internal("name at least one country (ISO 3166-1 alpha-2, or all)".into()));
    }
    let countries = countries
        .iter()
        .map(|c| {
            normalize_country(c)
                .ok_or_else(|| CoreError::Internal(format!("{c:?} is not a country code (ISO 3166-1 alpha-2) or all")))
        })
        .collect::<Result<_, _>>()?;
    Ok((channels, countries))
}

impl<S: Store> Core<S> {
    /// Allows (or denies) the countries on the channels. `all` first resets the channel: every
    /// country's own row goes, and `all` allowed is the default itself (no row is kept).
    pub async fn set_geo_permissions(
        &self,
        account: &Sid,
        channels: &[String],
        countries: &[String],
        allowed: bool,
    ) -> Result<(), CoreError> {
        let (channels, countries) = geo_targets(channels, countries)?;
        let account_sid = account.clone();
        let found = self
            .store
            .with_account(account, move |found| {
                if found.is_none() {
                    return Decision::nothing(false);
                }
                let mut changes = Vec::new();
                for channel in &channels {
                    if countries.iter().any(|c| c == ALL_COUNTRIES) {
                        changes.push(Change::ClearGeoPermissions {
                            account: account_sid.clone(),
                            channel: channel.clone(),
                        });
                        if !allowed {
                            changes.push(Change::SetGeoPermission {
                                account: account_sid.clone(),
                                channel: channel.clone(),
                                country: ALL_COUNTRIES.to_owned(),
                                allowed: Some(false),
                            });
                        }
                    }
                    for country in countries.iter().filter(|c| *c != ALL_COUNTRIES) {
                        changes.push(Change::SetGeoPermission {
                            account: account_sid.clone(),
                            channel: channel.clone(),
                            country: country.clone(),
                            allowed: Some(allowed),
                        });
                    }
                }
                Decision::save(changes, true)
            })
            .await?;
        if found { Ok(()) } else { Err(CoreError::not_found(format!("/Accounts/{account}"))) }
    }

    /// The account's geo permission rows, by channel then country (no row: allowed).
    pub async fn geo_permissions(&self, account: &Sid) -> Result<Vec<GeoPermission>, CoreError> {
        Ok(self.store.geo_permissions(account).await?)
    }

    /// Sets a service's Fraud Guard level (`None`: the server's `VERIFYD_FRAUD_GUARD`).
    pub async fn set_fraud_guard(&self, account: &Sid, service: &Sid, level: Option<Level>) -> Result<(), CoreError> {
        let (account_sid, service_sid) = (account.clone(), service.clone());
        let found = self
            .store
            .with_service(account, service, move |found| match found {
                None => Decision::nothing(false),
                Some(_) => Decision::save(
                    vec![Change::SetFraudGuard {
                        account: account_sid,
                        service: service_sid,
                        level: level.map(|l| l.as_str().to_owned()),
                    }],
                    true,
                ),
            })
            .await?;
        if found { Ok(()) } else { Err(CoreError::not_found(super::services::path(service))) }
    }

    /// The account's services with a Fraud Guard level of their own.
    pub async fn fraud_guard_overrides(&self, account: &Sid) -> Result<Vec<(Sid, String)>, CoreError> {
        Ok(self.store.fraud_guard_overrides(account).await?)
    }

    /// The server's Fraud Guard level, for services without their own.
    pub fn fraud_guard(&self) -> Level {
        self.config.fraud_guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_to_every_channel_and_are_checked() {
        let (channels, countries) = geo_targets(&[], &["us".into(), "All".into()]).expect("valid");
        assert_eq!(channels, ["sms", "call", "whatsapp"]);
        assert_eq!(countries, ["US", "all"]);
        assert!(geo_targets(&["email".into()], &["US".into()]).is_err());
        assert!(geo_targets(&[], &["USA".into()]).is_err());
        assert!(geo_targets(&["SMS".into()], &[]).is_err());
    }
}
