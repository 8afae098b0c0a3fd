//! `pathwatch state migrate`: a standalone deployment's state moved into PostgreSQL through the
//! binary, verified, and then used by the same commands with `state.backend = "postgres"`.

use crate::support::{pathwatch, run, temp_dir};

fn text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn a_standalone_state_moves_into_postgres_verified_and_only_once() {
    let Some(state::testing::Place::Postgres(url)) = state::testing::postgres("state_migrate").await else { return };
    let (_dir, data) = temp_dir();
    for (name, role) in [("jo.bloggs", "ig_lead"), ("sam", "oncall")] {
        let added = run(pathwatch(&data).args(["user", "add", name, "--role", role]));
        assert!(added.status.success(), "{}", text(&added));
    }
    let token = run(pathwatch(&data).args(["user", "token", "create", "sam"]));
    assert!(token.status.success(), "{}", text(&token));
    // The hazard log (its own file) moves too, history and all.
    let starter = data.join("starter.yaml");
    std::fs::write(&starter, hazard_log::STARTER_LOG).unwrap();
    let starter = starter.to_str().unwrap();
    let imported = run(pathwatch(&data).args(["hazard", "import", starter, "--actor", "cso", "--reason", "first log"]));
    assert!(imported.status.success(), "{}", text(&imported));
    let from = format!("sqlite:{}", data.display());

    // A Pathwatch still running on the directory (its monitor lease live) would go on writing there.
    let source = state::open(&data.join("dashboard.db")).await.unwrap();
    let now = domain::Clock::System.now_ns_i64();
    let live = state::lease::acquire(&source, "monitor", "elsewhere:1:1", now, 60_000_000_000).await.unwrap().unwrap();
    let running = run(pathwatch(&data).args(["state", "migrate", "--from", &from, "--to", &url]));
    assert!(!running.status.success() && text(&running).contains("stop it first"), "{}", text(&running));
    state::lease::release(&source, &live).await.unwrap();
    source.close().await;

    let moved = run(pathwatch(&data).args(["state", "migrate", "--from", &from, "--to", &url]));
    let said = text(&moved);
    assert!(moved.status.success(), "{said}");
    assert!(said.contains("copied and verified"), "{said}");
    let accounts = said.lines().find(|l| l.starts_with("accounts ")).expect("a line for accounts");
    assert!(accounts.split_whitespace().nth(1) == Some("2") && accounts.ends_with("yes"), "{accounts}");

    // The same commands now read PostgreSQL: the accounts are there, a new token gets a new id.
    let postgres = |cmd: &mut std::process::Command| {
        cmd.env("PATHWATCH_STATE__BACKEND", "postgres").env("PATHWATCH_STATE__URL", &url);
    };
    let mut list = pathwatch(&data);
    postgres(list.args(["user", "list"]));
    let listed = text(&run(&mut list));
    assert!(listed.contains("jo.bloggs") && listed.contains("\"sam\""), "{listed}");
    let hazards_line = said.lines().find(|l| l.starts_with("hazard_changes ")).expect("a line for hazard_changes");
    assert!(hazards_line.ends_with("yes") && !hazards_line.contains(" 0 "), "{hazards_line}");
    let mut export = pathwatch(&data);
    postgres(export.args(["hazard", "export", "--format", "yaml"]));
    let exported = text(&run(&mut export));
    let first = hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap().remove(0);
    assert!(exported.contains(&first.title), "{exported}");
    let mut another = pathwatch(&data);
    postgres(another.args(["user", "token", "create", "sam"]));
    let another = run(&mut another);
    assert!(another.status.success(), "{}", text(&another));

    // Copying again would mix two deployments' state: refused, naming the table.
    let again = run(pathwatch(&data).args(["state", "migrate", "--from", &from, "--to", &url]));
    assert!(!again.status.success());
    assert!(text(&again).contains("already holds state"), "{}", text(&again));
    // A source that does not exist is not created.
    let missing = run(pathwatch(&data).args(["state", "migrate", "--from", "sqlite:/nonexistent/dir", "--to", &url]));
    assert!(text(&missing).contains("--from: no state database"), "{}", text(&missing));
    assert!(!std::path::Path::new("/nonexistent/dir").exists());
}
