//! Who a person signing in acts as: the Pathwatch role and organisations their provider's claims
//! give them. Where the provider pairs roles with organisations (CIS2's role profiles), a role
//! reaches only the organisations of the profiles that carry it; a person with several may choose.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::auth::accounts::Role;
use crate::auth::oidc::OidcError;
use crate::auth::oidc_token;

/// CIS2's claim naming the role profile the person chose for this session, when they chose one.
pub(crate) const SELECTED_ROLE_CLAIM: &str = "selected_roleid";

/// One role profile: the role codes a person holds in one organisation (CIS2: an element of
/// `nhsid_nrbac_roles`, identified by `person_roleid`).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleProfile {
    pub id: Option<String>,
    pub role_codes: Vec<String>,
    pub org_codes: Vec<String>,
}

/// The role profiles in `claims`, when the role and organisation paths run through the same list
/// (`nhsid_nrbac_roles.role_code` and `nhsid_nrbac_roles.org_code`); None when they do not pair.
pub fn profiles(claims: &Value, role_path: &str, org_path: Option<&str>) -> Option<Vec<RoleProfile>> {
    let org_path = org_path?;
    let (role_list, role_rest) = role_path.rsplit_once('.')?;
    let (org_list, org_rest) = org_path.rsplit_once('.')?;
    if role_list != org_list {
        return None;
    }
    let mut list = claims;
    for segment in role_list.split('.') {
        list = list.get(segment)?;
    }
    let items = list.as_array()?;
    Some(
        items
            .iter()
            .map(|item| RoleProfile {
                id: oidc_token::claim_values(item, "person_roleid").into_iter().next(),
                role_codes: oidc_token::claim_values(item, role_rest),
                org_codes: oidc_token::claim_values(item, org_rest),
            })
            .collect(),
    )
}

/// Who the person acts as: the selected profile when there is one; else the highest Pathwatch
/// role any profile maps to, over the organisations of the profiles that carry that role. A role
/// never reaches an organisation where the person does not hold it.
pub fn act_as(
    profiles: &[RoleProfile],
    selected: Option<&str>,
    roles: &BTreeMap<String, Role>,
) -> Result<(Role, Vec<String>), OidcError> {
    let rank = |r: &Role| Role::ALL.iter().position(|a| a == r);
    let mapped = |p: &RoleProfile| p.role_codes.iter().filter_map(|c| roles.get(c)).max_by_key(|r| rank(r)).copied();
    let chosen: Vec<&RoleProfile> = match selected {
        Some(id) => profiles.iter().filter(|p| p.id.as_deref() == Some(id)).collect(),
        None => profiles.iter().collect(),
    };
    let role = chosen.iter().filter_map(|p| mapped(p)).max_by_key(rank).ok_or(OidcError::NoRole)?;
    let organisations = chosen.iter().filter(|p| mapped(p) == Some(role)).flat_map(|p| p.org_codes.clone());
    Ok((role, ods_codes(organisations.collect())?))
}

/// Every Pathwatch role the profiles map to, each with the organisations of the profiles carrying
/// it, highest role first: what a person without a selected role may choose to act as.
pub fn grants(profiles: &[RoleProfile], roles: &BTreeMap<String, Role>) -> Vec<(Role, Vec<String>)> {
    let mut by_role: BTreeMap<usize, (Role, Vec<String>)> = BTreeMap::new();
    for p in profiles {
        let Some(role) =
            p.role_codes.iter().filter_map(|c| roles.get(c)).max_by_key(|r| Role::ALL.iter().position(|a| a == *r))
        else {
            continue;
        };
        let rank = Role::ALL.iter().position(|a| a == role).unwrap_or(0);
        by_role.entry(rank).or_insert((*role, Vec::new())).1.extend(p.org_codes.iter().cloned());
    }
    by_role.into_values().rev().filter_map(|(role, orgs)| ods_codes(orgs).ok().map(|orgs| (role, orgs))).collect()
}

/// ODS codes as stored: upper case, sorted, each once. Something that is not a code is dropped;
/// none at all is refused (an empty list would mean every organisation).
pub(crate) fn ods_codes(values: Vec<String>) -> Result<Vec<String>, OidcError> {
    let mut codes: Vec<String> = values
        .into_iter()
        .filter(|c| (3..=10).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    codes.sort();
    codes.dedup();
    if codes.is_empty() {
        return Err(OidcError::NoOrganisation);
    }
    Ok(codes)
}
