//! What an account limited to some organisations may not see of the others. (Issue 15 grows this
//! into a walk of every route with data of two organisations behind each.)

use axum::http::StatusCode;

use crate::findings::{rig, PASSWORD};
use crate::web::{get, sign_in};

/// The assurance packs cover every organisation (incidents, user ids, closing notes): an account
/// scoped to one organisation is told so and gets no pack.
#[tokio::test]
async fn an_account_scoped_to_one_organisation_gets_no_assurance_pack_of_all_of_them() {
    let rig = rig().await;
    let (scoped, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let page = get(&rig.app, "/reports", &scoped).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("limited to B82005"), "{}", page.body);
    let download = get(&rig.app, "/reports/download?report=dspt&from=2026-10-01&to=2026-11-01", &scoped).await;
    assert_eq!(download.status, StatusCode::FORBIDDEN);
    assert!(download.headers.get("content-type").is_none_or(|t| t != "application/zip"));
    // An IG lead over every organisation still gets it.
    let (unscoped, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let download = get(&rig.app, "/reports/download?report=dspt&from=2026-10-01&to=2026-11-01", &unscoped).await;
    assert_eq!(download.status, StatusCode::OK);
}
