//! Two collectors in front of one ClickHouse, taking audit events at once: each writes a chain of
//! its own, both verify (`pathwatch audit verify` names each), a record altered in either is found
//! in that chain alone, and a third collector told to write a chain another already writes refuses
//! to start.

use std::path::Path;
use std::time::{Duration, Instant};

use audit_store::chain;
use audit_store::{AuditLog, ClickHouseConfig, ClickHouseStore};

use crate::support::{audit_event, free_port, pathwatch, run, temp_dir, Collector, TOKEN};

const PER_COLLECTOR: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_write_a_chain_each_and_a_tampered_record_is_found_in_its_own() {
    let Some(url) = domain::testing::service("PATHWATCH_TEST_CLICKHOUSE_URL", "two collectors' chains") else {
        return;
    };
    let database = format!("pw_two_chains_{}", std::process::id());
    let env = vec![
        ("PATHWATCH_STORE__BACKEND", "clickhouse".to_string()),
        ("PATHWATCH_STORE__CLICKHOUSE__URL", url.clone()),
        ("PATHWATCH_STORE__CLICKHOUSE__DATABASE", database.clone()),
    ];
    let (_tmp, root) = temp_dir();
    let (data_a, data_b) = (root.join("a"), root.join("b"));
    // One told its chain, one left to pick its own.
    let with_chain = |chain: u16| [env.clone(), vec![("PATHWATCH_COLLECTOR__AUDIT_CHAIN", chain.to_string())]].concat();
    let a = Collector::start(&data_a, free_port(), &with_chain(1));
    let b = Collector::start(&data_b, free_port(), &env);

    // Both at once, in requests of 20.
    let client = reqwest::Client::new();
    let send = |collector: &Collector, name: &'static str| {
        let (client, url) = (client.clone(), collector.url.clone());
        async move {
            for request in 0..PER_COLLECTOR / 20 {
                let events: Vec<_> = (0..20).map(|i| audit_event(&format!("{name}-{request}-{i}"))).collect();
                let reply =
                    client.post(format!("{url}/v1/audit")).bearer_auth(TOKEN).json(&events).send().await.unwrap();
                assert_eq!(reply.status(), 200, "{name}: {}", reply.text().await.unwrap_or_default());
            }
        }
    };
    tokio::join!(send(&a, "a"), send(&b, "b"));

    let store = ClickHouseStore::connect(&ClickHouseConfig { url, database, ..Default::default() }).await.unwrap();
    let started = Instant::now();
    let reports = loop {
        let reports = chain::verify_all(&store, 1_000).await.unwrap();
        if reports.iter().map(|r| r.records_checked).sum::<u64>() == 2 * PER_COLLECTOR as u64 {
            break reports;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not all drained: {reports:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(
        reports.iter().all(|r| r.first_break.is_none() && r.records_checked == PER_COLLECTOR as u64),
        "{reports:?}"
    );
    assert_eq!(reports[0].chain, 1, "the chain collector a was told");
    let picked = reports[1].chain;

    let verify = || run(pathwatch(&data_a).args(["audit", "verify"]).envs(env.clone()));
    let out = verify();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("audit chain 1 intact: {PER_COLLECTOR} records verified")), "{said}");
    assert!(said.contains(&format!("audit chain {picked} intact: {PER_COLLECTOR} records verified")), "{said}");

    // Record 57 of b's chain re-pointed at another patient, behind Pathwatch's back.
    let mut altered = store.audit_chain_page(chain::chain_start(picked) + 56, 1).await.unwrap().remove(0);
    altered.event.nhs_number = "9000000017".into();
    store.insert_audit_events(&[altered]).await.unwrap();
    store.execute_unchecked("OPTIMIZE TABLE audit_events FINAL").await.unwrap();
    let out = verify();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("AUDIT CHAIN {picked} BROKEN after 56 good records")), "{said}");
    assert!(said.contains(&format!("chain {picked}: record 57 (event ")), "{said}");
    assert!(said.contains("audit chain 1 intact"), "the other chain still verifies: {said}");

    // A third collector told to write chain 1, which a already writes.
    let refused = refused_start(&root.join("c"), &with_chain(1));
    assert!(refused.contains("another collector writes chain 1"), "{refused}");
    drop((a, b));
}

/// Starts a collector that should refuse to start; what it said.
fn refused_start(data: &Path, env: &[(&str, String)]) -> String {
    std::fs::create_dir_all(data).unwrap();
    let mut child = pathwatch(data)
        .arg("collector")
        .env("PATHWATCH_INGEST_TOKEN", TOKEN)
        .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{}", free_port()))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the collector started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}
