//! The rows Pathwatch writes to and reads from ClickHouse's access-monitoring tables and queries,
//! by column name (`RowBinary`, as the `clickhouse` crate maps them).

use ::clickhouse::Row;
use serde::{Deserialize, Serialize};

#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StaffRow {
    pub(super) version: u64,
    pub(super) user_id: String,
    pub(super) surname_key: String,
    pub(super) address_key: String,
    pub(super) nhs_number: String,
}

#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PatientRow {
    pub(super) version: u64,
    pub(super) nhs_number: String,
    pub(super) surname_key: String,
    pub(super) address_key: String,
    pub(super) vip: u8,
    pub(super) restricted: u8,
    pub(super) deceased_ns: u64,
}

#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NextOfKinRow {
    pub(super) version: u64,
    pub(super) nhs_number: String,
    pub(super) next_of_kin: String,
}

/// A member of staff's place (`staff_places`).
#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StaffPlaceRow {
    pub(super) version: u64,
    pub(super) user_id: String,
    pub(super) line_key: String,
    pub(super) postcode_key: String,
    pub(super) sector_key: String,
}

/// A patient's place (`patient_places`).
#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PatientPlaceRow {
    pub(super) version: u64,
    pub(super) nhs_number: String,
    pub(super) line_key: String,
    pub(super) postcode_key: String,
    pub(super) sector_key: String,
}

#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StaffTeamRow {
    pub(super) version: u64,
    pub(super) user_id: String,
    pub(super) team_key: String,
}

#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TeamRelationshipRow {
    pub(super) organisation: String,
    pub(super) nhs_number: String,
    pub(super) team_key: String,
    pub(super) clinician: String,
    pub(super) kind: String,
    pub(super) from_ns: u64,
    pub(super) to_ns: u64,
}

#[derive(Row, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RelationshipRow {
    pub(super) organisation: String,
    pub(super) nhs_number: String,
    pub(super) kind: String,
    pub(super) from_ns: u64,
    pub(super) to_ns: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct ActivityRow {
    pub(super) user_id: String,
    pub(super) role: String,
    pub(super) organisation: String,
    pub(super) bucket: i64,
    pub(super) events: u64,
    pub(super) patients: u64,
    pub(super) exports: u64,
    pub(super) prints: u64,
    pub(super) searches: u64,
    pub(super) break_glass: u64,
    pub(super) failed: u64,
    pub(super) off_hours: u64,
    pub(super) first_seq: u64,
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct ProfileRow {
    pub(super) user_id: String,
    pub(super) organisation: String,
    pub(super) hour: u8,
    pub(super) events: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct AccessRow {
    pub(super) user_id: String,
    pub(super) role: String,
    pub(super) organisation: String,
    pub(super) nhs_number: String,
    pub(super) day: i64,
    pub(super) events: u64,
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
    pub(super) first_seq: u64,
    pub(super) explained: u8,
    pub(super) explained_org: u8,
    pub(super) self_access: u8,
    pub(super) same_surname: u8,
    pub(super) same_address: u8,
    pub(super) vip: u8,
    pub(super) restricted: u8,
    pub(super) deceased: u8,
    pub(super) surname_key: String,
    pub(super) care_teams: String,
    pub(super) user_teams: String,
    pub(super) next_of_kin: u8,
    pub(super) same_line: u8,
    pub(super) same_postcode: u8,
    pub(super) same_sector: u8,
    pub(super) sector_key: String,
}

#[derive(Row, Deserialize)]
pub(super) struct SampledUserRow {
    pub(super) user_id: String,
    pub(super) role: String,
    pub(super) organisation: String,
    pub(super) events: u64,
    pub(super) first_seq: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct HouseholdsRow {
    pub(super) households: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct SurnameRow {
    pub(super) surname_key: String,
    pub(super) sector_key: String,
    pub(super) households: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct StratumRow {
    pub(super) organisation: String,
    pub(super) role: String,
    pub(super) action: String,
    pub(super) events: u64,
}

#[derive(Row, Deserialize)]
pub(super) struct ArrivalsRow {
    pub(super) events: u64,
    pub(super) last_seq: u64,
    pub(super) earliest: u64,
    pub(super) latest: u64,
}
