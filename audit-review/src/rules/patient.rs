//! The rules about one person's access to one patient on one day: a family member or neighbour,
//! their own record, a sensitive record, no care relationship. They read the store's per-patient
//! aggregate ([`audit_store::TelemetryStore::patient_access`]).

use audit_store::PatientAccess;

use super::*;

fn access_candidate(
    rule: Rule,
    severity: Severity,
    a: &PatientAccess,
    explanation: String,
    reasons: Vec<Reason>,
) -> Candidate {
    Candidate {
        rule,
        severity,
        user_id: a.user_id.clone(),
        role: a.role.clone(),
        organisation: a.organisation.clone(),
        nhs_number: a.nhs_number.clone(),
        bucket: a.day,
        from_ns: a.first_ns,
        to_ns: a.last_ns + 1,
        events: a.events,
        first_seq: a.first_seq,
        explanation,
        score: 0,
        reasons: Vec::new(),
    }
    .with_reasons(reasons)
}

/// Points for the care relationship, or its absence: no relationship makes any other evidence
/// stronger; a relationship the operator chose to look past (`when_explained`) counts as the
/// evidence they asked for.
const NO_RELATIONSHIP_POINTS: i32 = 10;
const RAISED_WHEN_EXPLAINED_POINTS: i32 = 10;
const ADDRESS_POINTS: i32 = 30;
/// The same first line of the address (one postcode known, and the other the same or unknown), or the same postcode unit
/// (about fifteen households): half of a shared home.
const NEARBY_POINTS: i32 = 15;
const NEXT_OF_KIN_POINTS: i32 = 40;
const SELF_POINTS: i32 = 40;
const SENSITIVE_POINTS: i32 = 20;
const CORROBORATED_POINTS: i32 = -15;

/// The organisation cares for the patient, but not the user's team: weaker than no care at all for
/// a relative (staff cover other wards), strong for a sensitive record (a celebrity on one ward is
/// what staff of other wards are tempted to open).
fn outside_team_points(rule: Rule) -> i32 {
    if rule == Rule::SensitiveRecord {
        15
    } else {
        5
    }
}

fn relationship_reason(a: &PatientAccess, rule: Rule, key: &str) -> Reason {
    if a.explained {
        Reason::new(format!("a care relationship explains it, but {key} is set"), RAISED_WHEN_EXPLAINED_POINTS)
    } else if a.explained_org {
        let org = if a.organisation.is_empty() { "the organisation" } else { &a.organisation };
        Reason::new(
            format!("{org} cares for them, but not the user's team nor the user as their named clinician"),
            outside_team_points(rule),
        )
    } else {
        let org = if a.organisation.is_empty() { "the user's organisation" } else { &a.organisation };
        Reason::new(format!("no care relationship is recorded for {org}"), NO_RELATIONSHIP_POINTS)
    }
}

fn relationship_text(a: &PatientAccess) -> String {
    if a.explained_org && !a.explained {
        format!(
            "{} cares for them, but not the user's team nor the user as their named clinician",
            if a.organisation.is_empty() { "the organisation" } else { &a.organisation }
        )
    } else if a.explained {
        format!(
            "{} has a care relationship with them",
            if a.organisation.is_empty() { "the organisation" } else { &a.organisation }
        )
    } else {
        format!(
            "no care relationship is recorded for {}",
            if a.organisation.is_empty() { "the user's organisation" } else { &a.organisation }
        )
    }
}

fn flagged(a: &PatientAccess) -> bool {
    a.vip || a.restricted || a.deceased
}

/// Distinct patients each user opened each day at each organisation (days from 06:00).
pub(super) type DailyPatients = HashMap<(String, String, i64), u64>;

/// Marks as explained the accesses a day's cover of another team explains: where a user's day was
/// mostly another team's patients (at least `min_patients` of them other than the one judged, and
/// at least half of everyone the user opened that day), they were working for it, and its care
/// explains their accesses to its patients that day. Flagged records (VIP, restricted, after
/// death) never count toward cover: opening a few of a ward's patients during one's own shift does
/// not excuse opening its celebrity; a whole day on its records would.
pub(super) fn with_cover(mut rows: Vec<PatientAccess>, min_patients: u64, daily: &DailyPatients) -> Vec<PatientAccess> {
    if min_patients == 0 {
        return rows;
    }
    let mut patients: HashMap<(String, String, i64, String), std::collections::HashSet<String>> = HashMap::new();
    for a in rows.iter().filter(|a| a.explained_org && !a.explained && !flagged(a)) {
        for team in &a.care_teams {
            patients
                .entry((a.user_id.clone(), a.organisation.clone(), a.day, team.clone()))
                .or_default()
                .insert(a.nhs_number.clone());
        }
    }
    for a in rows.iter_mut().filter(|a| a.explained_org && !a.explained) {
        // (A day not found is no cover: fail closed.)
        let day = daily.get(&(a.user_id.clone(), a.organisation.clone(), a.day)).copied().unwrap_or(u64::MAX / 2);
        a.explained = a.care_teams.iter().any(|team| {
            patients.get(&(a.user_id.clone(), a.organisation.clone(), a.day, team.clone())).is_some_and(|p| {
                let others = p.len() - usize::from(p.contains(&a.nhs_number));
                others as u64 >= min_patients && 2 * p.len() as u64 >= day
            })
        });
    }
    rows
}

/// Family or neighbour, self-access and sensitive records: one finding per user, patient and day.
pub(super) fn patient_findings(
    ctx: &Context<'_>,
    rows: &[PatientAccess],
    surnames: &SurnameHouseholds,
) -> Vec<Candidate> {
    let c = ctx.config;
    // Accesses no care of the organisation explains, by organisation and patient: colleagues who
    // opened the same record.
    let mut unexplained: HashMap<(&str, &str), Vec<&PatientAccess>> = HashMap::new();
    for a in rows.iter().filter(|a| !a.explained_org) {
        unexplained.entry((&a.organisation, &a.nhs_number)).or_default().push(a);
    }
    // Only colleagues of a known team count (never "everyone without a team", nor shared logins
    // missing from the directory), and never for a VIP, whom a group of curious staff may open.
    let colleagues = |a: &PatientAccess| -> usize {
        if a.vip || a.user_teams.is_empty() {
            return 0;
        }
        let Some(others) = unexplained.get(&(a.organisation.as_str(), a.nhs_number.as_str())) else { return 0 };
        let mut users: Vec<&str> = others
            .iter()
            .filter(|o| o.user_id != a.user_id && (o.day - a.day).abs() <= 7)
            .filter(|o| o.user_teams.iter().any(|t| a.user_teams.contains(t)))
            .map(|o| o.user_id.as_str())
            .collect();
        users.sort_unstable();
        users.dedup();
        users.len()
    };
    let mut out = Vec::new();
    for a in rows {
        let when =
            format!("{} event{} on {}", a.events, if a.events == 1 { "" } else { "s" }, local_date(a.day * NS_PER_DAY));
        let user = who(&a.user_id, &a.role, &a.organisation);
        let f = &c.family_or_neighbour;
        // A shared surname alone counts only when few households hold it.
        let holders = surnames.by_surname.get(&a.surname_key).copied();
        let rare = holders.is_none_or(|n| n <= 3 || n as f64 <= f.surname_max_share * surnames.households as f64);
        // Named as next of kin: family, wherever they live (and a surname shared with them counts).
        let kin = f.next_of_kin && a.next_of_kin;
        // Where they live: the same home (address, or first line and postcode), else the same first
        // line or postcode, else the same sector (which weighs only beside the surname).
        let home = a.same_address || (f.places && a.same_line && a.same_postcode);
        let address = f.address && home;
        let nearby = f.places && !address && (a.same_line || a.same_postcode);
        let sector = f.places && !home && !nearby && a.same_sector;
        let surname = f.surname
            && a.same_surname
            && (!a.explained || f.surname_when_explained)
            && (home || rare || kin || nearby || sector);
        // Living near a patient the user cares for is no evidence on its own.
        let near = nearby && (!a.explained || surname || kin);
        if f.enabled && (surname || address || kin || near) {
            let mut reasons = Vec::new();
            let mut shared = Vec::new();
            if kin {
                reasons.push(Reason::new("the patient names the user as their next of kin", NEXT_OF_KIN_POINTS));
            }
            if surname {
                let (n, of) = (holders.unwrap_or(1), surnames.households.max(holders.unwrap_or(1)));
                let points = score::surname_points(n, of);
                reasons.push(Reason::new(
                    format!(
                        "shares the patient's surname, held by {n} of the {of} household{} known",
                        if of == 1 { "" } else { "s" }
                    ),
                    points,
                ));
                shared.push(match holders {
                    Some(n) if !address => {
                        format!("surname (a surname {n} of {} households hold)", surnames.households)
                    }
                    _ => "surname".to_string(),
                });
                let key = (a.surname_key.clone(), a.sector_key.clone());
                let here = surnames.by_surname_sector.get(&key).copied().unwrap_or(1).min(n);
                let nearer = score::sector_points(here, of, points);
                if sector && nearer > 0 {
                    reasons.push(Reason::new(
                        format!("lives in the patient's postcode sector, where {here} of those households are"),
                        nearer,
                    ));
                    shared.push("postcode sector".into());
                }
            }
            if address {
                let text = if a.same_address {
                    "shares the patient's address"
                } else {
                    "shares the first line of the patient's address and their postcode"
                };
                reasons.push(Reason::new(text, ADDRESS_POINTS));
                shared.push("address".into());
            }
            if near {
                let (text, what) = if a.same_postcode && !a.same_line {
                    ("lives in the patient's postcode (about fifteen households)", "postcode")
                } else {
                    (
                        "shares the first line of the patient's address (the postcodes do not differ)",
                        "first line of address",
                    )
                };
                reasons.push(Reason::new(text, NEARBY_POINTS));
                shared.push(what.into());
            }
            if !a.explained || (!address && !kin) {
                reasons.push(relationship_reason(
                    a,
                    Rule::FamilyOrNeighbour,
                    "family_or_neighbour.surname_when_explained",
                ));
            }
            let who_is = match (shared.is_empty(), kin) {
                (false, true) => format!("shares their {} and names them as next of kin", shared.join(" and ")),
                (false, false) => format!("shares their {}", shared.join(" and ")),
                (true, _) => "names them as next of kin".to_string(),
            };
            let text =
                format!("{user} opened the record of a patient who {who_is}; {} ({when}).", relationship_text(a));
            out.push(access_candidate(Rule::FamilyOrNeighbour, f.severity, a, text, reasons));
        }
        if c.self_access.enabled && a.self_access {
            let text = format!("{user} opened their own record (the NHS number on their staff record) ({when}).");
            let reason = Reason::new("the patient's NHS number is on the user's staff record", SELF_POINTS);
            out.push(access_candidate(Rule::SelfAccess, c.self_access.severity, a, text, vec![reason]));
        }
        let s = &c.sensitive_record;
        let mut kinds = Vec::new();
        if s.vip && a.vip {
            kinds.push("a VIP-flagged patient");
        }
        if s.restricted && a.restricted {
            kinds.push("a restricted (S-flagged) record");
        }
        if s.deceased && a.deceased {
            kinds.push("a patient recorded as deceased, after the date of death");
        }
        if s.enabled && !kinds.is_empty() && (!a.explained || s.when_explained) {
            let text = format!("{user} opened {}; {} ({when}).", kinds.join(", "), relationship_text(a));
            let mut reasons: Vec<Reason> =
                kinds.iter().map(|k| Reason::new(format!("opened {k}"), SENSITIVE_POINTS)).collect();
            reasons.push(relationship_reason(a, Rule::SensitiveRecord, "sensitive_record.when_explained"));
            let n = if a.explained_org || s.colleagues_corroborate == 0 { 0 } else { colleagues(a) };
            if n > 0 && n as u64 >= s.colleagues_corroborate {
                reasons.push(Reason::new(
                    format!(
                        "{n} colleagues of the same team opened the record within a week, none explained by care \
                         either: care not recorded yet?"
                    ),
                    CORROBORATED_POINTS,
                ));
            }
            out.push(access_candidate(Rule::SensitiveRecord, s.severity, a, text, reasons));
        }
    }
    out
}

/// Browsing: many patients in one day whom no care relationship explains.
pub(super) fn no_care_relationship(ctx: &Context<'_>, rows: &[PatientAccess]) -> Vec<Candidate> {
    let cfg = &ctx.config.no_care_relationship;
    let mut days: BTreeMap<(&str, i64), Vec<&PatientAccess>> = BTreeMap::new();
    // Cover across wards is common: the organisation's care explains an access here unless by_team.
    for a in rows.iter().filter(|a| if cfg.by_team { !a.explained } else { !a.explained_org }) {
        days.entry((&a.user_id, a.day)).or_default().push(a);
    }
    let mut out = Vec::new();
    for ((_, day), accesses) in days {
        if (accesses.len() as u64) < cfg.min_patients {
            continue;
        }
        let first = accesses[0];
        let text = format!(
            "{} opened {} patients' records in the day from 06:00 on {} with no care relationship recorded for {} \
             (a finding is raised from {}).",
            who(&first.user_id, &first.role, &first.organisation),
            accesses.len(),
            local_date(day * NS_PER_DAY),
            if first.organisation.is_empty() { "their organisation" } else { &first.organisation },
            cfg.min_patients
        );
        let reason = Reason::new(
            format!(
                "{} patients in a day with no care relationship (raised from {})",
                accesses.len(),
                cfg.min_patients
            ),
            anchor(accesses.len() as f64, cfg.min_patients as f64),
        );
        let mut c = access_candidate(Rule::NoCareRelationship, cfg.severity, first, text, vec![reason]);
        c.nhs_number = String::new();
        c.events = accesses.iter().map(|a| a.events).sum();
        c.from_ns = accesses.iter().map(|a| a.first_ns).min().unwrap_or(first.first_ns);
        c.to_ns = accesses.iter().map(|a| a.last_ns).max().unwrap_or(first.last_ns) + 1;
        c.first_seq = accesses.iter().map(|a| a.first_seq).min().unwrap_or(first.first_seq);
        out.push(c);
    }
    out
}
