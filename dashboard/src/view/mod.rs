//! What several pages and the API show the same way: a pathway's health as a row and a chart
//! (`pathways`), masked NHS numbers. Times are written by `domain::uk_time`.

pub mod changes;
pub mod pathways;

/// `*** *** 4321`: enough to tell two patients apart on one page, not enough to identify one
/// ("—" when there is no patient).
pub fn mask_nhs_number(nhs: &str) -> String {
    if nhs.is_empty() {
        "—".into()
    } else {
        domain::mask(nhs)
    }
}
