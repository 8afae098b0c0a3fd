//! `/admin/accounts`: the administrator's list of accounts.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::accounts::Account;
use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::state::DashboardState;

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    title: &'static str,
    user: Option<UserView>,
    accounts: Vec<Account>,
}

pub(crate) async fn accounts_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let accounts = state.inner.accounts.list().await?;
    Ok(render(StatusCode::OK, &AccountsPage { title: "Accounts", user: Some(user.view()), accounts }))
}
