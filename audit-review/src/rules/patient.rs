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
const SELF_POINTS: i32 = 40;
const SENSITIVE_POINTS: i32 = 20;

fn relationship_reason(a: &PatientAccess, key: &str) -> Reason {
    if a.explained {
        Reason::new(format!("a care relationship explains it, but {key} is set"), RAISED_WHEN_EXPLAINED_POINTS)
    } else {
        let org = if a.organisation.is_empty() { "the user's organisation" } else { &a.organisation };
        Reason::new(format!("no care relationship is recorded for {org}"), NO_RELATIONSHIP_POINTS)
    }
}

fn relationship_text(a: &PatientAccess) -> String {
    if a.explained {
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

/// Family or neighbour, self-access and sensitive records: one finding per user, patient and day.
pub(super) fn patient_findings(
    ctx: &Context<'_>,
    rows: &[PatientAccess],
    surnames: &SurnameHouseholds,
) -> Vec<Candidate> {
    let c = ctx.config;
    let mut out = Vec::new();
    for a in rows {
        let when =
            format!("{} event{} on {}", a.events, if a.events == 1 { "" } else { "s" }, local_date(a.day * NS_PER_DAY));
        let user = who(&a.user_id, &a.role, &a.organisation);
        let f = &c.family_or_neighbour;
        // A shared surname alone counts only when few households hold it.
        let holders = surnames.by_surname.get(&a.surname_key).copied();
        let rare = holders.is_none_or(|n| n <= 3 || n as f64 <= f.surname_max_share * surnames.households as f64);
        let surname =
            f.surname && a.same_surname && (!a.explained || f.surname_when_explained) && (a.same_address || rare);
        let address = f.address && a.same_address;
        if f.enabled && (surname || address) {
            let mut reasons = Vec::new();
            if surname {
                let (n, of) = (holders.unwrap_or(1), surnames.households.max(holders.unwrap_or(1)));
                reasons.push(Reason::new(
                    format!(
                        "shares the patient's surname, held by {n} of the {of} household{} in the patient index",
                        if of == 1 { "" } else { "s" }
                    ),
                    score::surname_points(n, of),
                ));
            }
            if address {
                reasons.push(Reason::new("shares the patient's address", ADDRESS_POINTS));
            }
            if !a.explained || !address {
                reasons.push(relationship_reason(a, "family_or_neighbour.surname_when_explained"));
            }
            let held = match holders {
                Some(n) => format!(" (a surname {n} of the patient index's {} households hold)", surnames.households),
                None => String::new(),
            };
            let shared = match (surname, address) {
                (true, true) => "their surname and address".to_string(),
                (true, false) => format!("their surname{held}"),
                _ => "their address".to_string(),
            };
            let text = format!(
                "{user} opened the record of a patient who shares {shared}; {} ({when}).",
                relationship_text(a)
            );
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
            reasons.push(relationship_reason(a, "sensitive_record.when_explained"));
            out.push(access_candidate(Rule::SensitiveRecord, s.severity, a, text, reasons));
        }
    }
    out
}

/// Browsing: many patients in one day whom no care relationship explains.
pub(super) fn no_care_relationship(ctx: &Context<'_>, rows: &[PatientAccess]) -> Vec<Candidate> {
    let cfg = &ctx.config.no_care_relationship;
    let mut days: BTreeMap<(&str, i64), Vec<&PatientAccess>> = BTreeMap::new();
    for a in rows.iter().filter(|a| !a.explained) {
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
