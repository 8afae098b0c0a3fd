//! Cases: a person's findings at one organisation in one week, worked through together. Seventy
//! findings are a handful of people; an IG lead reads the case list, highest score first, a page at
//! a time, and opens a case to see its findings.
//!
//! A case is not stored apart: every finding carries its case key (`organisation|user|week`,
//! weeks from Monday 00:00 UTC by the finding's first event), written when it is raised, and the
//! list groups findings by it. So a case can never disagree with its findings.

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::findings::{FindingFilter, ReviewStore};
use crate::rules::{Reason, Rule, Severity};
use crate::ReviewError;

const NS_PER_WEEK: i64 = 7 * 86_400_000_000_000;
/// 1970-01-05 was a Monday.
const MONDAY_NS: i64 = 4 * 86_400_000_000_000;
/// Points a case gains for each rule beyond its strongest finding's.
const POINTS_PER_FURTHER_RULE: i64 = 5;

/// The case a finding belongs to. The same arithmetic as the migration that keyed old findings.
pub fn case_key(organisation: &str, user_id: &str, from_ns: u64) -> String {
    let from = from_ns.min(i64::MAX as u64) as i64;
    format!("{organisation}|{user_id}|{}", (from - MONDAY_NS) / NS_PER_WEEK)
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = FindingCase)]
pub struct Case {
    /// `organisation|user|week`: give it back as `case` to list the case's findings.
    pub key: String,
    pub organisation: String,
    pub user_id: String,
    pub role: String,
    /// The period its findings' evidence spans.
    pub from_ns: u64,
    pub to_ns: u64,
    /// Its strongest finding's score, and 5 more for each further rule among its findings.
    pub score: i64,
    pub findings: u64,
    /// Findings open or under investigation.
    pub unresolved: u64,
    pub rules: Vec<Rule>,
    pub severity: Severity,
    /// Who its findings are assigned to (none: empty).
    pub assignees: Vec<String>,
    /// The strongest finding's two strongest reasons.
    pub reasons: Vec<Reason>,
}

/// Which cases to list: those with findings matching every filter given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseFilter {
    pub status: Option<crate::Status>,
    /// Cases with a finding open or under investigation.
    pub unresolved: bool,
    pub rule: Option<Rule>,
    pub severity: Option<Severity>,
    pub assignee: Option<String>,
    /// Only these organisations' (empty: all).
    pub organisations: Vec<String>,
    /// The page after this (score, key): cases are listed by score, then key, both descending.
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// A page of cases and, when there are more, the cursor of the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CasePage {
    pub cases: Vec<Case>,
    pub next: Option<(i64, String)>,
}

impl ReviewStore {
    /// Cases whose findings match the filter, highest score first. A case's counts are over its
    /// findings that match (the unresolved ones, by default).
    pub async fn cases(&self, filter: &CaseFilter) -> Result<CasePage, ReviewError> {
        let which = FindingFilter {
            status: filter.status,
            unresolved: filter.unresolved,
            rule: filter.rule,
            severity: filter.severity,
            assignee: filter.assignee.clone(),
            organisations: filter.organisations.clone(),
            ..Default::default()
        };
        let (conditions, texts) = which.conditions();
        let mut sql = format!(
            "SELECT case_key, organisation, user_id, max(role), min(from_ns), max(to_ns), \
             max(score) + {POINTS_PER_FURTHER_RULE} * (count(DISTINCT rule) - 1) AS case_score, count(*), \
             sum(CASE WHEN status IN ('open', 'investigating') THEN 1 ELSE 0 END) \
             FROM findings WHERE 1 = 1{conditions} GROUP BY case_key, organisation, user_id"
        );
        let n = texts.len();
        let score = format!("(max(score) + {POINTS_PER_FURTHER_RULE} * (count(DISTINCT rule) - 1))");
        if filter.after.is_some() {
            sql.push_str(&format!(
                " HAVING ({score} < ${} OR ({score} = ${} AND case_key < ${}))",
                n + 1,
                n + 1,
                n + 2
            ));
        }
        let limit = n + 1 + 2 * usize::from(filter.after.is_some());
        sql.push_str(&format!(" ORDER BY case_score DESC, case_key DESC LIMIT ${limit}"));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for text in texts {
            query = query.bind(text);
        }
        if let Some((score, key)) = &filter.after {
            query = query.bind(*score).bind(key.clone());
        }
        let page = i64::from(filter.limit.clamp(1, 500));
        let rows = query.bind(page + 1).fetch_all(&self.pool).await?;
        let n = |r: &state::Row, i: usize| -> Result<u64, ReviewError> { Ok(r.try_get::<i64, _>(i)?.max(0) as u64) };
        let mut cases = Vec::new();
        for r in rows.iter().take(page as usize) {
            cases.push(Case {
                key: r.try_get(0)?,
                organisation: r.try_get(1)?,
                user_id: r.try_get(2)?,
                role: r.try_get(3)?,
                from_ns: n(r, 4)?,
                to_ns: n(r, 5)?,
                score: r.try_get(6)?,
                findings: n(r, 7)?,
                unresolved: n(r, 8)?,
                rules: Vec::new(),
                severity: Severity::Low,
                assignees: Vec::new(),
                reasons: Vec::new(),
            });
        }
        self.fill(&mut cases).await?;
        let next = (rows.len() > cases.len()).then(|| cases.last().map(|c| (c.score, c.key.clone()))).flatten();
        Ok(CasePage { cases, next })
    }

    /// Each case's rules, severity, assignees and strongest reasons, from all its findings.
    async fn fill(&self, cases: &mut [Case]) -> Result<(), ReviewError> {
        if cases.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = (1..=cases.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT case_key, rule, severity, assignee, score, reasons FROM findings WHERE case_key IN ({}) \
             ORDER BY score DESC, id DESC",
            list.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for c in cases.iter() {
            query = query.bind(c.key.clone());
        }
        for r in query.fetch_all(&self.pool).await? {
            let key: String = r.try_get(0)?;
            let Some(case) = cases.iter_mut().find(|c| c.key == key) else { continue };
            let (rule, severity): (String, String) = (r.try_get(1)?, r.try_get(2)?);
            let rule = Rule::parse(&rule).ok_or_else(|| ReviewError::Corrupt(format!("unknown rule {rule:?}")))?;
            let severity = Severity::parse(&severity)
                .ok_or_else(|| ReviewError::Corrupt(format!("unknown severity {severity:?}")))?;
            if !case.rules.contains(&rule) {
                case.rules.push(rule);
            }
            case.severity = case.severity.max(severity);
            let assignee: String = r.try_get(3)?;
            if !assignee.is_empty() && !case.assignees.contains(&assignee) {
                case.assignees.push(assignee);
            }
            if case.reasons.is_empty() {
                let reasons: Vec<Reason> = serde_json::from_str(&r.try_get::<String, _>(5)?).map_err(|e| {
                    ReviewError::Corrupt(format!("a finding's reasons are not what Pathwatch wrote: {e}"))
                })?;
                case.reasons = reasons.into_iter().take(2).collect();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_case_is_a_person_at_an_organisation_in_a_week_from_monday() {
        let day = 86_400_000_000_000u64;
        // Monday 2 November 2026 00:00 UTC and the Sunday after, 23:59.
        let monday = 1_793_577_600 * 1_000_000_000;
        let key = super::case_key("A1", "u1", monday);
        assert_eq!(key, super::case_key("A1", "u1", monday + 7 * day - 60_000_000_000));
        assert_ne!(key, super::case_key("A1", "u1", monday - 1));
        assert_ne!(key, super::case_key("B2", "u1", monday));
        assert_eq!(key, format!("A1|u1|{}", (monday as i64 - 4 * day as i64) / (7 * day as i64)));
    }
}
