//! The four roles as four processes on loopback against one data directory (plus `pathwatch
//! sandbox`), walked as the README's demo: a sandbox fault → the canary goes to outage → the alert
//! e-mail arrives → the dashboard shows it → an IG lead's audit search is recorded in the chain
//! (sent by the dashboard to the collector over HTTP) → `pathwatch audit verify` passes.
//!
//! The e-mail goes to a real SMTP server (aiosmtpd, started by scripts/test.sh:
//! `PATHWATCH_TEST_SMTP_ADDR`, messages in `PATHWATCH_TEST_SMTP_MAILDIR`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{fixture_time, free_port, pathwatch, run, temp_dir, TOKEN};

const CANARY_TOKEN: &str = "canary-token-0123456789abcdef";
const DASHBOARD_TOKEN: &str = "dashboard-token-0123456789abcdef";
pub(crate) const ADMIN_PASSWORD: &str = "four roles admin password";

/// A role's process; killed when dropped.
pub(crate) struct Running(pub(crate) Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `pathwatch --config FILE <role>` and waits (at most a minute) for it to print `ready`.
pub(crate) fn start(data: &Path, config: &Path, role: &'static str) -> Running {
    start_saying(data, config, role).0
}

/// As `start`, with the lines the role printed before `ready`.
pub(crate) fn start_saying(data: &Path, config: &Path, role: &'static str) -> (Running, Vec<String>) {
    start_with(data, config, role, &[])
}

/// As `start_saying`, with `PATHWATCH_*` settings of its own (its ports, its ClickHouse node).
pub(crate) fn start_with(
    data: &Path,
    config: &Path,
    role: &'static str,
    env: &[(&str, String)],
) -> (Running, Vec<String>) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join(format!("{role}.log"))).unwrap();
    let mut child = pathwatch(data)
        .arg("--config")
        .arg(config)
        .arg(role)
        .env("PATHWATCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut before = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "ready" {
                let _ = ready.send(Some(before));
                return;
            }
            before.push(line);
        }
        let _ = ready.send(None);
    });
    let running = Running(child);
    match said.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(lines)) => (running, lines),
        outcome => panic!(
            "pathwatch {role} {} before printing ready:\n{}",
            if outcome.is_err() { "took a minute" } else { "exited" },
            std::fs::read_to_string(data.join(format!("{role}.log"))).unwrap_or_default()
        ),
    }
}

fn smtp() -> Option<(String, PathBuf)> {
    let addr = domain::testing::service("PATHWATCH_TEST_SMTP_ADDR", "the roles walk")?;
    let dir = domain::testing::service("PATHWATCH_TEST_SMTP_MAILDIR", "the roles walk")?;
    Some((addr, PathBuf::from(dir)))
}

/// Every message in the maildir that mentions `needle`.
fn mails_with(maildir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for folder in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(folder)).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if text.contains(needle) {
                found.push(text);
            }
        }
    }
    found
}

async fn wait_for<T>(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(started.elapsed() < within, "{what}: not within {} s", within.as_secs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn cookie_named(reply: &reqwest::Response, name: &str) -> Option<String> {
    reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains(name))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

/// Signs in through the login form; returns the session cookie.
pub(crate) async fn sign_in(client: &reqwest::Client, dashboard: &str, name: &str, password: &str) -> String {
    let form = client.get(format!("{dashboard}/login")).send().await.unwrap();
    let login_cookie = cookie_named(&form, "pathwatch_login").unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    let reply = client
        .post(format!("{dashboard}/login"))
        .header("cookie", login_cookie)
        .form(&[("name", name), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 303, "signing in as {name}");
    cookie_named(&reply, "pathwatch_session").unwrap()
}

async fn page(client: &reqwest::Client, url: String, session: &str) -> (u16, String) {
    let reply = client.get(url).header("cookie", session).send().await.unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_roles_as_four_processes_walk_the_demo_from_a_sandbox_fault_to_a_verified_chain() {
    let Some((smtp_addr, maildir)) = smtp() else { return };
    let (smtp_host, smtp_port) = smtp_addr.rsplit_once(':').unwrap();
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let [collector, dashboard, sandbox, monitor, canaries] = [(); 5].map(|_| free_port());
    // One recipient per run, so mail from other tests or runs is never mistaken for ours.
    let recipient = format!("oncall-{}@example.org", free_port());
    let config = data.join("pathwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[collector]
listen = "127.0.0.1:{collector}"
[collector.ingest_tokens]
default = "{TOKEN}"
pathwatch-canary = "{CANARY_TOKEN}"
pathwatch-dashboard = "{DASHBOARD_TOKEN}"

[dashboard]
listen = "127.0.0.1:{dashboard}"

[sandbox]
listen = "127.0.0.1:{sandbox}"

[roles]
monitor_listen = "127.0.0.1:{monitor}"
canaries_listen = "127.0.0.1:{canaries}"

[[canaries.flows]]
name = "pds"
kind = "pds"
environment = "demo"
schedule = "* * * * * *"
jitter_s = 0
patient = "9000000009"
search = {{ family = "Smith", gender = "female", birthdate = "2010-10-22" }}

[alerts]
evaluate_every_secs = 1

[alerts.email]
smtp_host = "{smtp_host}"
smtp_port = {smtp_port}
security = "none"
from = "pathwatch@example.org"
to = ["{recipient}"]
"#
        ),
    )
    .unwrap();

    let _sandbox = start(&data, &config, "sandbox");
    let _collector = start(&data, &config, "collector");
    let _monitor = start(&data, &config, "monitor");
    let (_dashboard, said) = start_saying(&data, &config, "dashboard");
    // The dashboard checked its token with the collector before serving anyone.
    assert!(said.iter().any(|l| l.starts_with("audit trail: auditors' actions recorded through")), "{said:?}");
    let _canaries = start(&data, &config, "canaries");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Each role answers its own health and metrics.
    for (role, port) in
        [("collector", collector), ("dashboard", dashboard), ("monitor", monitor), ("canaries", canaries)]
    {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let reply = client.get(format!("http://127.0.0.1:{port}{path}")).send().await.unwrap();
            assert_eq!(reply.status(), 200, "{role} {path}: {}", reply.text().await.unwrap());
        }
    }
    let metrics = client.get(format!("http://127.0.0.1:{monitor}/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("pathwatch_loop_running{name=\"alert engine\"} 1"), "{metrics}");

    // The canaries' runs reach the collector over HTTP, with their own token: healthy first.
    let canary_metrics = format!("http://127.0.0.1:{canaries}/metrics");
    wait_for("a healthy canary run", Duration::from_secs(60), async || {
        let text = client.get(&canary_metrics).send().await.ok()?.text().await.ok()?;
        text.contains("probe_success{flow=\"pds\"} 1").then_some(())
    })
    .await;

    // A fault in the sandbox: every PDS call answers 500.
    let fault = client
        .put(format!("http://127.0.0.1:{sandbox}/_admin/faults/pds"))
        .json(&serde_json::json!({"error_rate": 1.0, "error_status": 500}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());

    // The monitor fires and e-mails on-call.
    let mail = wait_for("the alert e-mail", Duration::from_secs(120), async || {
        mails_with(&maildir, &recipient).into_iter().find(|m| m.contains("FIRING"))
    })
    .await;
    assert!(mail.contains("pds"), "{mail}");

    // The dashboard, a process of its own, shows the outage and the firing alert.
    let session = sign_in(&client, &format!("http://127.0.0.1:{dashboard}"), "admin", ADMIN_PASSWORD).await;
    let (status, home) = page(&client, format!("http://127.0.0.1:{dashboard}/"), &session).await;
    assert_eq!(status, 200);
    assert!(home.contains("outage"), "the overview shows the outage:\n{home}");
    let (_, alerts) = page(&client, format!("http://127.0.0.1:{dashboard}/alerts"), &session).await;
    assert!(alerts.contains("FIRING"), "{alerts}");

    // An IG lead searches the audit trail; the dashboard records it through the collector.
    let added =
        run(pathwatch(&data).arg("--config").arg(&config).args(["user", "add", "ig.lead", "--role", "ig_lead"]));
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let one_time = String::from_utf8_lossy(&added.stderr).rsplit(": ").next().unwrap().trim().to_string();
    let base = format!("http://127.0.0.1:{dashboard}");
    let session = sign_in(&client, &base, "ig.lead", &one_time).await;
    let (_, form) = page(&client, format!("{base}/account/password"), &session).await;
    let new_password = "an IG lead's own passphrase";
    let changed = client
        .post(format!("{base}/account/password"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf_in(&form).as_str()),
            ("current", &one_time),
            ("new", new_password),
            ("confirm", new_password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 303, "{}", changed.text().await.unwrap());
    let session = sign_in(&client, &base, "ig.lead", new_password).await;
    let (status, search) = page(&client, format!("{base}/audit/search?user=nobody.in.particular"), &session).await;
    assert_eq!(status, 200, "{search}");

    // The search is in the chain, written by the collector as the auditors' source.
    let recorded = wait_for("the IG lead's search in the audit trail", Duration::from_secs(10), async || {
        let out = run(pathwatch(&data).arg("--config").arg(&config).args(["audit", "search", "--user", "ig.lead"]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"]["source_system"] == "pathwatch-dashboard")
    })
    .await;
    assert_eq!(recorded["event"]["action"], audit_store::Action::Search.as_str(), "{recorded}");
    let filter = recorded["event"]["resource_id"].as_str().unwrap();
    assert!(filter.contains("nobody.in.particular"), "{recorded}");
    let verified = run(pathwatch(&data).arg("--config").arg(&config).args(["audit", "verify"]));
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    assert!(String::from_utf8_lossy(&verified.stderr).contains("audit chain intact"));

    // Reads fail closed: with the collector gone, nothing is recorded and nothing is shown.
    drop(_collector);
    let (status, refused) = page(&client, format!("{base}/audit/search?user=someone.else"), &session).await;
    assert_eq!(status, 503, "{refused}");
    assert!(refused.contains("could not be recorded"), "{refused}");
    assert!(!refused.contains("someone.else</td>"), "{refused}");
}

/// Pathwatch's own tokens carry only their own rights, whoever holds them (each role's host holds
/// one): the dashboard's sends auditors' actions and nothing else, the canaries' sends canary
/// spans and nothing else, and no other token can write as either.
#[tokio::test]
async fn each_roles_token_carries_only_its_own_rights() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let config = data.join("pathwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nlisten = \"127.0.0.1:{port}\"\n[collector.ingest_tokens]\ndefault = \"{TOKEN}\"\n\
             pathwatch-canary = \"{CANARY_TOKEN}\"\npathwatch-dashboard = \"{DASHBOARD_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let _collector = start(&data, &config, "collector");
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, body: serde_json::Value| {
        client.post(format!("http://127.0.0.1:{port}{path}")).bearer_auth(token).json(&body).send()
    };
    let event = |id: &str, source: &str, resource_type: &str| {
        serde_json::json!({
            "event_id": id, "time": fixture_time(),
            "actor": {"user_id": "ig.lead", "role": "ig_lead", "organisation": ""},
            "action": "search", "outcome": "success", "resource_type": resource_type,
            "resource_id": "user someone", "source_system": source
        })
    };
    let status_and_body = |reply: reqwest::Response| async move {
        let status = reply.status().as_u16();
        (status, reply.json::<serde_json::Value>().await.unwrap_or_default())
    };
    // The dashboard's token: its own record is taken; another source's, or a clinical access, is not.
    let (status, reply) = status_and_body(
        post(
            "/v1/audit",
            DASHBOARD_TOKEN,
            serde_json::json!([
                event("own", "pathwatch-dashboard", "AuditEvent"),
                event("epr", "epr", "AuditEvent"),
                event("patient", "pathwatch-dashboard", "Patient"),
            ]),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(1)), "{reply}");
    let refused: Vec<&str> =
        reply["rejected"].as_array().unwrap().iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(refused, ["source_system", "resource_type"], "{reply}");
    let spans = post("/v1/traces", DASHBOARD_TOKEN, serde_json::json!({"resourceSpans": []})).await.unwrap();
    assert_eq!(spans.status(), 403, "the dashboard's token sends no spans");
    // Nobody else writes as the dashboard, in any spelling; the canaries' token sends no events.
    let (status, reply) = status_and_body(
        post(
            "/v1/audit",
            TOKEN,
            serde_json::json!([
                event("forged", "pathwatch-dashboard", "AuditEvent"),
                event("shouted", "PATHWATCH-DASHBOARD", "AuditEvent"),
            ]),
        )
        .await
        .unwrap(),
    )
    .await;
    // All refused: the collector answers 400 with each record's reason.
    assert_eq!((status, reply["accepted"].as_u64()), (400, Some(0)), "{reply}");
    assert_eq!(reply["rejected"].as_array().map(Vec::len), Some(2), "{reply}");
    let canary = post("/v1/audit", CANARY_TOKEN, serde_json::json!([event("c", "", "AuditEvent")])).await.unwrap();
    assert_eq!(canary.status(), 403, "the canaries' token sends no audit events");
}
