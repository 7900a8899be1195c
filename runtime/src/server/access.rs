//! Who may call an operation: the spec's `x-verifyd-access`, checked before the
//! implementation sees the request.

/// What a principal outside its grant is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401 `20003`, as for wrong credentials.
    Unauthenticated,
    /// 404 `20404`: the resource is someone else's, and Twilio does not say that it exists.
    NotFound,
}

/// One principal kind that may call an operation, and the wire keys that must equal its
/// claims when the request carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<R: 'static> {
    /// The principal kind.
    pub role: R,
    /// Keys of the request (path, query or body) bound to the principal's claims of the
    /// same name: a device's `ServiceSid`, `Identity`, `FactorSid`.
    pub bound: &'static [&'static str],
    /// The answer when a bound key names something else.
    pub outside: Refusal,
}

/// Whether a principal of `role`, with `claim`s, may send a request whose wire values for a
/// key are `sent(key)`: a role without a grant is refused as unauthenticated; every value the
/// request carries for a bound key, wherever it carries it (path, query or body), must equal
/// the claim (a principal without that claim is refused too). Checking every place, not the
/// one the operation reads, keeps a second copy elsewhere from slipping past.
pub fn admit<'c, R: Copy + Eq>(
    grants: &[Grant<R>],
    role: R,
    claim: impl Fn(&str) -> Option<&'c str>,
    sent: impl Fn(&str) -> Vec<String>,
) -> Result<(), Refusal> {
    let grant = grants.iter().find(|g| g.role == role).ok_or(Refusal::Unauthenticated)?;
    for key in grant.bound {
        if sent(key).iter().any(|value| claim(key) != Some(value.as_str())) {
            return Err(grant.outside);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Role {
        Account,
        Device,
        Enrolment,
    }

    const GRANTS: &[Grant<Role>] = &[
        Grant { role: Role::Account, bound: &[], outside: Refusal::Unauthenticated },
        Grant { role: Role::Device, bound: &["ServiceSid", "FactorSid"], outside: Refusal::NotFound },
    ];

    fn device_claims(key: &str) -> Option<&'static str> {
        match key {
            "ServiceSid" => Some("VA1"),
            "FactorSid" => Some("YF1"),
            _ => None,
        }
    }

    fn sent<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Vec<String> + 'a {
        move |key| pairs.iter().filter(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()).collect()
    }

    #[test]
    fn a_role_without_a_grant_is_unauthenticated() {
        assert_eq!(admit(GRANTS, Role::Enrolment, |_| None, sent(&[])), Err(Refusal::Unauthenticated));
        assert_eq!(admit(&[], Role::Account, |_| None, sent(&[])), Err(Refusal::Unauthenticated));
    }

    #[test]
    fn bound_keys_must_equal_the_claims_when_sent() {
        assert_eq!(
            admit(GRANTS, Role::Device, device_claims, sent(&[("ServiceSid", "VA1"), ("FactorSid", "YF1")])),
            Ok(())
        );
        // FactorSid is optional in a list filter: absent is the principal's business.
        assert_eq!(admit(GRANTS, Role::Device, device_claims, sent(&[("ServiceSid", "VA1")])), Ok(()));
        assert_eq!(
            admit(GRANTS, Role::Device, device_claims, sent(&[("ServiceSid", "VA1"), ("FactorSid", "YF2")])),
            Err(Refusal::NotFound)
        );
        assert_eq!(admit(GRANTS, Role::Device, device_claims, sent(&[("ServiceSid", "va1")])), Err(Refusal::NotFound));
        // One right copy does not cover another (the query's and the body's, say).
        assert_eq!(
            admit(GRANTS, Role::Device, device_claims, sent(&[("FactorSid", "YF1"), ("FactorSid", "YF2")])),
            Err(Refusal::NotFound)
        );
        // A principal without the claim cannot name any value of it.
        assert_eq!(admit(GRANTS, Role::Device, |_| None, sent(&[("ServiceSid", "VA1")])), Err(Refusal::NotFound));
    }

    #[test]
    fn unbound_roles_see_every_value() {
        assert_eq!(admit(GRANTS, Role::Account, |_| None, sent(&[("ServiceSid", "VA9")])), Ok(()));
    }
}
