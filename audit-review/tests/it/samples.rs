//! Samples for review: reproducible (the same seed, the same items, on every backend), stratified,
//! reviewed with outcomes, measured as coverage, exported with NHS numbers masked.

use audit_review::samples::{to_csv, to_json, ReviewOutcome, SampleUnit};
use audit_review::{ReviewError, ReviewStore};
use audit_store::{Action, Outcome, SampleQuery, TelemetryStore};

use crate::support::*;

pub async fn samples_are_reproducible_reviewed_covered_and_exported<S: TelemetryStore>(store: &S) {
    let place = state::testing::sqlite();
    samples_with(store, &ReviewStore::connect(&place.location("audit-review")).await.unwrap()).await;
}

/// The same with the review store on each state backend (the events on SQLite).
async fn samples_kept_on_every_state_backend(place: &state::testing::Place) {
    let telemetry = audit_store::testing::sqlite().await;
    samples_with(&telemetry.store, &ReviewStore::connect(&place.location("audit-review")).await.unwrap()).await;
}

async fn samples_with<S: TelemetryStore>(store: &S, reviews: &ReviewStore) {
    let mut events = Vec::new();
    for i in 0..100u32 {
        let (user, org) =
            if i % 2 == 0 { (format!("a{}", i % 6), "A81001") } else { (format!("b{}", i % 5), "B82005") };
        let action = if i % 4 == 0 { Action::Search } else { Action::Read };
        events.push(access(&user, "clinician", org, &nhs(i), action, Outcome::Success, T0 + u64::from(i) * 60 * SEC));
    }
    Log::new(store).add(events).await;
    let query = SampleQuery {
        from_ns: T0,
        to_ns: T0 + DAY,
        seed: 2026,
        per_stratum: 3,
        by_organisation: true,
        by_role: false,
        by_action: false,
    };
    let first = reviews.draw_sample(store, SampleUnit::Events, &query, "ig1", T0 + DAY).await.unwrap();
    let again = reviews.draw_sample(store, SampleUnit::Events, &query, "ig2", T0 + DAY).await.unwrap();
    let (_, a) = reviews.sample(first.id).await.unwrap();
    let (kept, b) = reviews.sample(again.id).await.unwrap();
    assert_eq!(a.len(), 6, "three from each organisation");
    assert_eq!(a.iter().map(|i| i.seq).collect::<Vec<_>>(), b.iter().map(|i| i.seq).collect::<Vec<_>>());
    assert_eq!((kept.query.seed, kept.created_by.as_str()), (2026, "ig2"), "the seed and query are kept");
    let other = reviews
        .draw_sample(store, SampleUnit::Events, &SampleQuery { seed: 7, ..query.clone() }, "ig1", 1)
        .await
        .unwrap();
    assert_ne!(
        reviews.sample(other.id).await.unwrap().1.iter().map(|i| i.seq).collect::<Vec<_>>(),
        a.iter().map(|i| i.seq).collect::<Vec<_>>()
    );

    // Reviews: a finding of inappropriate access needs a note.
    let err = reviews.review_item(first.id, 1, ReviewOutcome::Inappropriate, " ", "ig1", 5).await.unwrap_err();
    assert!(matches!(err, ReviewError::Invalid(ref m) if m.contains("needs a note")), "{err}");
    reviews.review_item(first.id, 1, ReviewOutcome::Inappropriate, "No reason recorded", "ig1", 5).await.unwrap();
    reviews.review_item(first.id, 2, ReviewOutcome::Appropriate, "", "ig1", 6).await.unwrap();
    assert!(matches!(
        reviews.review_item(first.id, 99, ReviewOutcome::Appropriate, "", "ig1", 6).await,
        Err(ReviewError::NotFound(_))
    ));
    let (sample, items) = reviews.sample(first.id).await.unwrap();
    assert_eq!(sample.reviewed, 2);

    let coverage = reviews.coverage(store, T0, T0 + DAY).await.unwrap();
    assert_eq!(coverage.iter().map(|c| c.events).sum::<u64>(), 100);
    assert_eq!(coverage.iter().map(|c| c.sampled).sum::<u64>(), 18, "three samples of six");
    assert_eq!(coverage.iter().map(|c| c.reviewed).sum::<u64>(), 2);
    assert_eq!(coverage.iter().map(|c| c.inappropriate).sum::<u64>(), 1);
    assert!(coverage.iter().all(|c| c.events > 0), "every sampled stratum is one the store counts");

    let csv = to_csv(&sample, &items);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(lines[0].starts_with("sample,seed,position,record,occurred,user"));
    assert!(lines[1].contains(",inappropriate,No reason recorded,ig1,"), "{}", lines[1]);
    assert!(lines[1].contains("*** *** "), "masked: {}", lines[1]);
    assert!(!csv.contains(&items[0].nhs_number), "no NHS number in the export");
    let json = to_json(&sample, &items);
    assert_eq!(json["sample"]["query"]["seed"], 2026);
    assert_eq!(json["items"][0]["outcome"], "inappropriate");
    assert!(json["items"][0]["nhs_number"].as_str().unwrap().starts_with("*** *** "));

    // Users: everyone active once, stratified by organisation.
    let users = reviews
        .draw_sample(store, SampleUnit::Users, &SampleQuery { per_stratum: 2, ..query }, "ig1", 9)
        .await
        .unwrap();
    let (_, people) = reviews.sample(users.id).await.unwrap();
    assert_eq!(people.len(), 4);
    assert!(people.iter().all(|p| p.events > 0 && p.action.is_empty()));
}

audit_store::on_every_store!("pwr":samples_are_reproducible_reviewed_covered_and_exported);

mod review_backends {
    use super::*;
    state::on_every_state!(samples_kept_on_every_state_backend);
}
