use std::time::Duration;

use crate::support::*;
use audit_store::SpanStore;

#[test]
fn invalid_configuration_fails_at_start_up_naming_the_key() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("bad.toml");
    std::fs::write(&file, "[collector]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let out = run(pathwatch(&data).arg("--config").arg(&file).arg("collector"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lisen"), "{stderr}");

    let out = run(pathwatch(&data).arg("collector").env("PATHWATCH_COLLECTOR__MAX_BODY_BYTES", "lots"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("collector.max_body_bytes"), "{stderr}");

    let out = run(pathwatch(&data).arg("collector"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("PATHWATCH_INGEST_TOKEN"), "the collector role refuses to run without a token: {stderr}");

    // Evidence notices and scheduled reports: a bad cron, a bad address, or e-mail without a server.
    for (toml, key) in [
        (
            "[[reports.schedules]]\nreport = \"dtac\"\ncron = \"every monday\"\nto = [\"a@b.org\"]\n",
            "reports.schedules[0].cron",
        ),
        (
            "[[reports.schedules]]\nreport = \"dtac\"\ncron = \"0 0 7 * * *\"\nto = [\"not an address\"]\n",
            "reports.schedules[0].to[0]",
        ),
        (
            "[[reports.schedules]]\nreport = \"dtac\"\ncron = \"0 0 7 * * *\"\nto = [\"a@b.org\"]\n",
            "needs an SMTP server",
        ),
        ("[[reports.schedules]]\nreport = \"sox\"\ncron = \"0 0 7 * * *\"\nto = [\"a@b.org\"]\n", "sox"),
        ("[evidence]\nnotify = [\"cso@example.org\"]\n", "evidence.notify"),
        ("[audit]\nnotify = [\"ig@example.org\"]\n", "audit.notify"),
        ("[audit]\nscan_every_minutes = 0\n", "audit.scan_every_minutes"),
        ("[audit.rules.volume_spike]\nown_factor = 0.5\n", "audit.rules.volume_spike.own_factor"),
        ("[audit.rules.working_hours]\ndays = [\"monday\"]\n", "audit.rules.working_hours.days"),
        ("[audit.rules.no_such_rule]\nenabled = true\n", "no_such_rule"),
    ] {
        std::fs::write(&file, format!("ingest_token = \"0123456789abcdef0\"\n{toml}")).unwrap();
        let out = run(pathwatch(&data).arg("--config").arg(&file).arg("collector"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert!(stderr.contains(key), "{toml}: {stderr}");
    }
}

#[test]
fn operator_commands_on_a_directory_without_data_say_so_and_create_nothing() {
    let (_tmp, data) = temp_dir();
    for args in
        [&["audit", "verify"][..], &["audit", "search", "--user", "u"], &["audit", "scan"], &["trace", "corr-1"]]
    {
        let out = run(pathwatch(&data).args(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("no Pathwatch data in"), "{args:?}: {stderr}");
    }
    assert!(!data.exists(), "a one-shot command created {}", data.display());
}

#[tokio::test]
async fn ingest_then_search_trace_and_verify_from_the_command_line_and_detect_tampering() {
    let (_tmp, data) = temp_dir();
    let port = free_port();
    let mut collector = Collector::start(&data, port, &[]);
    let client = reqwest::Client::new();
    let events: Vec<_> = (0..5).map(|i| audit_event(&format!("cli-{i}"))).collect();
    let reply =
        client.post(format!("{}/v1/audit", collector.url)).bearer_auth(TOKEN).json(&events).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let mut span = otlp_span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    span["attributes"] = serde_json::json!([{"key": "correlation_id", "value": {"stringValue": "corr-cli"}}]);
    let otlp = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cli"}}]},
        "scopeSpans": [{"spans": [span]}]}]});
    let reply =
        client.post(format!("{}/v1/traces", collector.url)).bearer_auth(TOKEN).json(&otlp).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    collector.kill();

    let (from, to) = (fixture_day(0), fixture_day(1));
    let out =
        run(pathwatch(&data).args(["audit", "search", "--patient", "900 000 0009", "--from", &from, "--to", &to]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["event"]["event_id"], "cli-0");

    let out = run(pathwatch(&data).args(["audit", "search", "--patient", "9000000000"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--patient"));

    for id in ["0af7651916cd43dd8448eb211c80319c", "corr-cli"] {
        let out = run(pathwatch(&data).args(["trace", id]));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let spans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(spans[0]["span_id"], "b7ad6b7169203331");
    }
    assert_eq!(run(pathwatch(&data).args(["trace", "ffffffffffffffffffffffffffffffff"])).status.code(), Some(1));

    let out = run(pathwatch(&data).args(["audit", "verify"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Alter record 3 behind Pathwatch's back.
    let store = audit_store::SqliteStore::open(&data.join("telemetry.db")).await.unwrap();
    store.execute_unchecked("UPDATE audit_events SET actor_user_id = 'someone-else' WHERE seq = 3").await.unwrap();
    let out = run(pathwatch(&data).args(["audit", "verify"]));
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["first_break"]["problem"], "altered");
    assert_eq!(report["first_break"]["seq"], 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("record 3"));
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn the_collector_exports_its_own_spans_when_configured() {
    let (_tmp, data) = temp_dir();
    let port = free_port();
    // Pointed at itself: Pathwatch's own spans arrive as ordinary OTLP traffic.
    let env = [
        ("PATHWATCH_SELF_TELEMETRY__OTLP_ENDPOINT", format!("http://127.0.0.1:{port}/v1/traces")),
        ("PATHWATCH_SELF_TELEMETRY__HEADERS__AUTHORIZATION", format!("Bearer {TOKEN}")),
        ("PATHWATCH_SELF_TELEMETRY__SERVICE_NAME", "pathwatch-under-test".to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ];
    let mut collector = Collector::start(&data, port, &env);
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/audit", collector.url))
        .bearer_auth(TOKEN)
        .json(&vec![audit_event("self-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let store = audit_store::SqliteStore::open(&data.join("telemetry.db")).await.unwrap();
    let query = audit_store::BucketQuery {
        service_name: "pathwatch-under-test".into(),
        span_name: Some("POST /v1/audit".into()),
        from_ns: 0,
        to_ns: u64::MAX / 2,
        bucket_secs: 86_400,
    };
    let started = std::time::Instant::now();
    loop {
        let buckets = store.latency_buckets(&query).await.unwrap();
        if buckets.iter().map(|b| b.count).sum::<u64>() >= 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no self-telemetry span arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    collector.kill();
}

/// Runs `pathwatch [args] up` until it prints `ready`; returns what it printed, then kills it.
/// Tried again with other ports when it did not start: a port `free_port` found free can be taken
/// by another test before `pathwatch` binds it.
fn up_once(data: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    let mut printed = String::new();
    for _ in 0..3 {
        printed = up_once_on_free_ports(data, args);
        if printed.ends_with("ready\n") {
            break;
        }
    }
    printed
}

fn up_once_on_free_ports(data: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    use std::io::BufRead;
    let mut child = pathwatch(data)
        .args(args)
        .arg("up")
        .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("PATHWATCH_DASHBOARD__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("PATHWATCH_SANDBOX__LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line == "ready" {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    printed
}

#[test]
fn standalone_mode_generates_prints_and_keeps_an_ingest_token() {
    let (_tmp, data) = temp_dir();
    let first = up_once(&data, &[]);
    assert!(first.contains("collector: http://127.0.0.1:") && first.ends_with("ready\n"), "{first}");
    let token_file = data.join("ingest.token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.len() >= 32, "{token:?}");
    let announced = format!("ingest token (generated now, kept in {}; not shown again): {token}", token_file.display());
    assert!(first.contains(&announced), "{first}");
    // Demo mode loads the starter hazard log once; a restart leaves the log as it is.
    assert!(first.contains("(starter log, 7 hazards)"), "{first}");
    // A restart keeps the same token, so senders already configured keep working, and says where
    // it is without printing it again (the log is often a journal others read).
    let second = up_once(&data, &[]);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
    assert!(second.contains(&format!("ingest token: in {}", token_file.display())), "{second}");
    assert!(!second.contains(token.trim()), "the token is printed only when it is made: {second}");
    assert!(second.contains("hazard log: ") && !second.contains("starter log"), "{second}");
    // With a token configured, none is generated or printed.
    let config = data.join("configured.toml");
    std::fs::write(&config, format!("ingest_token = \"{TOKEN}\"\n")).unwrap();
    let configured = up_once(&data, &["--config".as_ref(), config.as_os_str()]);
    assert!(configured.ends_with("ready\n") && !configured.contains("ingest token"), "{configured}");
}

#[test]
fn dashboard_accounts_are_managed_from_the_command_line_without_passwords_in_arguments() {
    let (_tmp, data) = temp_dir();
    let added = run(pathwatch(&data).args(["user", "add", "jo.bloggs", "--role", "ig_lead", "--org", "A81001"]));
    let stderr = String::from_utf8_lossy(&added.stderr);
    assert!(added.status.success(), "{stderr}");
    let account: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!(account["role"], "ig_lead");
    assert_eq!(account["organisations"], serde_json::json!(["A81001"]));
    assert_eq!(account["must_change_password"], true);
    let password = stderr.rsplit(": ").next().unwrap().trim();
    assert!(password.len() >= 20, "{stderr}");
    // The password is in no file in plain text.
    let mut db = std::fs::read(data.join("dashboard.db")).unwrap();
    db.extend(std::fs::read(data.join("dashboard.db-wal")).unwrap_or_default());
    assert!(String::from_utf8_lossy(&db).contains("$argon2id$"), "the search sees the stored hash");
    assert!(!String::from_utf8_lossy(&db).contains(password));

    let duplicate = run(pathwatch(&data).args(["user", "add", "jo.bloggs", "--role", "oncall"]));
    assert_eq!(duplicate.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    let bad_role = run(pathwatch(&data).args(["user", "add", "sam", "--role", "superuser"]));
    let stderr = String::from_utf8_lossy(&bad_role.stderr);
    assert!(
        stderr.contains("--role") && stderr.contains("\"superuser\"") && stderr.contains("safety_officer"),
        "{stderr}"
    );

    assert!(run(pathwatch(&data).args(["user", "disable", "jo.bloggs"])).status.success());
    let listed = run(pathwatch(&data).args(["user", "list"]));
    let accounts: Vec<serde_json::Value> =
        String::from_utf8_lossy(&listed.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["disabled"], true);
    let missing = run(pathwatch(&data).args(["user", "reset-password", "nobody"]));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no account named \"nobody\""));
}

#[test]
fn api_tokens_are_made_listed_and_revoked_from_the_command_line() {
    let (_tmp, data) = temp_dir();
    assert!(run(pathwatch(&data).args(["user", "add", "sam", "--role", "oncall"])).status.success());
    let made = run(pathwatch(&data).args(["user", "token", "create", "sam", "--label", "ci", "--expires-days", "30"]));
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(made.status.success(), "{stderr}");
    let token = String::from_utf8_lossy(&made.stdout).trim().to_string();
    assert!(token.starts_with("pw_") && token.len() == 67, "only the token on stdout: {token}");
    assert!(stderr.contains("shown once") && stderr.contains("30 days"), "{stderr}");
    let list = |data: &std::path::Path| -> Vec<serde_json::Value> {
        let listed = run(pathwatch(data).args(["user", "token", "list", "sam"]));
        String::from_utf8_lossy(&listed.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let tokens = list(&data);
    assert_eq!(
        (tokens.len(), &tokens[0]["label"], &tokens[0]["state"]),
        (1, &serde_json::json!("ci"), &serde_json::json!("active"))
    );
    assert!(!serde_json::to_string(&tokens).unwrap().contains(&token[3..]), "never listed");
    let id = tokens[0]["id"].to_string();
    assert!(run(pathwatch(&data).args(["user", "token", "revoke", "sam", &id])).status.success());
    assert_eq!(list(&data)[0]["state"], "revoked");
    let too_long = run(pathwatch(&data).args(["user", "token", "create", "sam", "--expires-days", "1000"]));
    assert_eq!(too_long.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("1 to 366 days"));
    let wrong_owner = run(pathwatch(&data).args(["user", "token", "revoke", "nobody", &id]));
    assert_eq!(wrong_owner.status.code(), Some(2));
}

#[test]
fn first_start_creates_the_dashboard_admin_once_and_never_with_a_known_password() {
    let (_tmp, data) = temp_dir();
    let first = up_once(&data, &[]);
    let line = first.lines().find(|l| l.starts_with("dashboard admin:")).unwrap_or_else(|| panic!("{first}"));
    assert!(line.contains("one-time password") && line.contains("change it at first sign-in"), "{line}");
    let again = up_once(&data, &[]);
    assert!(!again.contains("dashboard admin:"), "the password is shown once: {again}");

    // PATHWATCH_ADMIN_PASSWORD is used when set, and a weak one stops start-up naming it.
    let (_tmp2, data2) = temp_dir();
    let weak = run(pathwatch(&data2)
        .arg("up")
        .env("PATHWATCH_ADMIN_PASSWORD", "admin")
        .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("PATHWATCH_DASHBOARD__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("PATHWATCH_SANDBOX__LISTEN", format!("127.0.0.1:{}", free_port())));
    let stderr = String::from_utf8_lossy(&weak.stderr);
    assert_eq!(weak.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PATHWATCH_ADMIN_PASSWORD") && stderr.contains("too short"), "{stderr}");
}

#[test]
fn the_hazard_log_is_imported_and_exported_as_yaml_and_csv_from_the_command_line() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let yaml = data.join("starter.yaml");
    std::fs::write(&yaml, hazard_log::STARTER_LOG).unwrap();
    let import = |file: &std::path::Path| {
        run(pathwatch(&data).arg("hazard").arg("import").arg(file).args(["--actor", "sam", "--reason", "first log"]))
    };
    let out = import(&yaml);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7 created, 0 updated, 0 unchanged");
    let csv = data.join("log.csv");
    assert!(run(pathwatch(&data).args(["hazard", "export", "--out"]).arg(&csv)).status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("id,title,") && text.contains("HAZ-007"), "{text}");
    // The CSV imports back as it is: nothing changes.
    assert_eq!(String::from_utf8_lossy(&import(&csv).stdout).trim(), "0 created, 0 updated, 7 unchanged");
    // A bad cell is named by line and column, and nothing is saved.
    std::fs::write(&csv, text.replacen("HAZ-001,", "HAZ-001x,", 1).replacen(",4,3,3,", ",9,3,3,", 1)).unwrap();
    let out = import(&csv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2, column initial_severity"), "{stderr}");
    let yaml_out = run(pathwatch(&data).args(["hazard", "export"]));
    assert!(!String::from_utf8_lossy(&yaml_out.stdout).contains("HAZ-001x"), "the failed import saved nothing");
    let bad = run(pathwatch(&data).args(["hazard", "export", "--format", "xlsx"]));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use yaml or csv"));
}

#[tokio::test]
async fn assurance_packs_are_built_and_verified_from_the_command_line() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let yaml = data.join("starter.yaml");
    std::fs::write(&yaml, hazard_log::STARTER_LOG).unwrap();
    let out = run(pathwatch(&data).arg("hazard").arg("import").arg(&yaml).args(["--actor", "sam", "--reason", "log"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // An empty telemetry store, as a fresh deployment has.
    drop(audit_store::SqliteStore::open(&data.join("telemetry.db")).await.unwrap());
    let report = |args: &[&str]| {
        let out = run(pathwatch(&data).arg("report").args(args));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let zip = data.join("dcb0129.zip");
    let zip_arg = zip.to_str().unwrap();
    let (code, stdout, stderr) = report(&["dcb0129", "--from", "2026-10-01", "--to", "2027-01-01", "--out", zip_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "one digest per file: {stdout}");
    assert!(stdout.contains("  dcb0129.pdf"), "{stdout}");
    let (code, _, stderr) = report(&["verify", zip_arg]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("pack intact: 3 files match the manifest"), "{stderr}");
    // Never overwritten.
    let (code, _, stderr) = report(&["dcb0129", "--from", "2026-10-01", "--to", "2027-01-01", "--out", zip_arg]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("already exists"), "{stderr}");

    // As a folder; an edited file is caught and named.
    let dir = data.join("dspt-pack");
    let (code, _, stderr) =
        report(&["dspt", "--from", "2026-10-01", "--to", "2026-11-01", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let json = dir.join("dspt.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, text.replacen("\"events\": 0", "\"events\": 1", 1)).unwrap();
    let (code, _, stderr) = report(&["verify", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PROBLEM: dspt.json: ALTERED"), "{stderr}");

    // Bad requests name what is wrong.
    let (code, _, stderr) = report(&["dtac", "--from", "2026-11-01", "--to", "2026-10-01", "--out", "x.zip"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--to (2026-10-01) must be after --from"), "{stderr}");
    let (_, _, stderr) = report(&["dtac", "--from", "2026-02-30", "--to", "2026-10-01", "--out", "x.zip"]);
    assert!(stderr.contains("--from: \"2026-02-30\" is not a date"), "{stderr}");
    let (_, _, stderr) = report(&["sox", "--from", "2026-10-01", "--to", "2026-11-01", "--out", "x.zip"]);
    assert!(stderr.contains("use dcb0129, dtac, dspt or verify"), "{stderr}");
    let (_, _, stderr) = report(&["dtac", "--from", "2026-10-01"]);
    assert!(stderr.contains("--from, --to and --out are all needed"), "{stderr}");
}

#[test]
fn audit_context_files_are_checked_whole_before_anything_is_loaded() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let staff = data.join("staff.csv");
    let patients = data.join("patients.csv");
    let care = data.join("care.csv");
    std::fs::write(&staff, "user_id,surname,address,nhs_number\nrecep1,Okafor,1 High Street,\n").unwrap();
    std::fs::write(
        &patients,
        "nhs_number,surname,address,vip,restricted,deceased\n9000000009,Okafor,,no,,\n9000000017,Lee,,perhaps,,\n",
    )
    .unwrap();
    std::fs::write(&care, "organisation,nhs_number,kind,from,to\nA81001,9000000009,registration,2020-01-01,\n")
        .unwrap();
    let load = |patients: &std::path::Path| {
        run(pathwatch(&data)
            .args(["audit", "context", "--staff"])
            .arg(&staff)
            .arg("--patients")
            .arg(patients)
            .arg("--relationships")
            .arg(&care))
    };
    let out = load(&patients);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("patients.csv line 3, column vip: \"perhaps\""), "{stderr}");
    assert!(!data.join("telemetry.db").exists(), "nothing is loaded from a set of files with an error");
    std::fs::write(
        &patients,
        "nhs_number,surname,address,vip,restricted,deceased\n9000000009,Okafor,,no,,\n9000000017,Lee,,yes,,\n",
    )
    .unwrap();
    let out = load(&patients);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for line in ["staff directory: 1 people", "patient index: 2 patients", "care relationships: 1 added"] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }
    let out = run(pathwatch(&data).args(["audit", "scan"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 new events; 0 findings raised"));
    let out = run(pathwatch(&data).args(["audit", "scan", "--from", "2026-11-02", "--to", "2026-11-01"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from must be before --to"));
}

#[test]
fn audit_evaluate_reports_figures_counted_from_the_generated_log() {
    let (_tmp, data) = temp_dir();
    let evaluate = |seed: &str| {
        let out =
            run(pathwatch(&data).args(["audit", "evaluate", "--events", "20000", "--scenarios", "3", "--seed", seed]));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        (stdout, last)
    };
    let (table, first) = evaluate("5");
    assert!(table.contains("volume_spike") && table.contains("overall"), "{table}");
    assert_eq!(first["scenarios"], 24, "three per rule");
    let (precision, recall) = (first["precision"].as_f64().unwrap(), first["recall"].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&precision) && (0.0..=1.0).contains(&recall), "{first}");
    assert_eq!(
        first["detected"].as_u64().unwrap() as f64 / 24.0,
        recall,
        "recall is detected scenarios over injected ones"
    );
    assert!(first["events"].as_u64().unwrap() > 10_000, "{first}");
    // The same seed gives the same figures; another seed, another log.
    let (_, again) = evaluate("5");
    for key in ["events", "findings", "true_findings", "detected"] {
        assert_eq!(first[key], again[key], "{key}");
    }
    let (_, other) = evaluate("6");
    assert_ne!(first["events"], other["events"]);
    let out = run(pathwatch(&data).args(["audit", "evaluate", "--events", "50"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--events must be at least 10000"));
}

#[tokio::test]
async fn dead_letters_are_listed_retried_and_dropped_from_the_command_line_and_each_use_is_recorded() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let out = run(pathwatch(&data).args(["spool", "dead-letters"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no spool at"), "{}", String::from_utf8_lossy(&out.stderr));
    // Two batches ClickHouse refused for good, as the drainer sets them aside.
    let metrics = std::sync::Arc::new(collector::metrics::Metrics::new());
    let spool = collector::spool::Spool::open(&data.join("spool.db"), 1 << 30, metrics).await.unwrap();
    for _ in 0..2 {
        let poison = collector::spool::SpoolBatch { spans_rowbinary: vec![0xff; 7], span_count: 1, audit: vec![] };
        spool.commit(1, vec![poison]).await.unwrap();
        spool.dead_letter(&audit_store::StoreError::Invalid("Code: 33. Cannot read all data".into())).await.unwrap();
    }
    drop(spool);
    let list = |data: &std::path::Path| {
        let out = run(pathwatch(data).args(["spool", "dead-letters"]));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect::<Vec<serde_json::Value>>()
    };
    let listed = list(&data);
    assert_eq!(listed.len(), 2);
    assert!(listed[0]["error"].as_str().unwrap().contains("Cannot read all data"), "{listed:?}");
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    let out = run(pathwatch(&data).args(["spool", "drop", &id, "--reason", "x"]));
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--reason"));
    let out = run(pathwatch(&data).args(["spool", "drop", &id, "--reason", "test data sent by mistake"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(pathwatch(&data).args(["spool", "drop", "999", "--reason", "test data sent by mistake"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead letter 999"));
    let out = run(pathwatch(&data).args(["spool", "retry"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(list(&data).is_empty());
    // Back in the spool: the retried batch, and one audit event per use that did something
    // (list, drop, retry, list).
    let metrics = std::sync::Arc::new(collector::metrics::Metrics::new());
    let spool = collector::spool::Spool::open(&data.join("spool.db"), 1 << 30, metrics).await.unwrap();
    assert_eq!(spool.depth().0, 5);
}

/// `pathwatch config check` says what the roles would use, or names every key that is wrong,
/// without starting anything.
#[test]
fn config_check_names_what_is_wrong_or_says_what_would_run() {
    let (_tmp, data) = temp_dir();
    let out = run(pathwatch(&data).args(["config", "check"]));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.starts_with("configuration OK") && said.contains("telemetry store: SQLite"), "{said}");

    let out = run(pathwatch(&data)
        .args(["config", "check"])
        .env("PATHWATCH_STORE__BACKEND", "clickhouse")
        .env("PATHWATCH_STORE__CLICKHOUSE__CLUSTER", "two words")
        .env("PATHWATCH_COLLECTOR__AUDIT_CHAIN", "0")
        .env("PATHWATCH_STATE__BACKEND", "postgres")
        .env("PATHWATCH_STATE__URL", "postgres://pathwatch:secret@db.internal:5432/pathwatch"));
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("key `store.clickhouse.cluster`"), "{said}");
    assert!(said.contains("key `collector.audit_chain`"), "{said}");

    let out = run(pathwatch(&data)
        .args(["config", "check"])
        .env("PATHWATCH_STORE__BACKEND", "clickhouse")
        .env("PATHWATCH_STORE__CLICKHOUSE__CLUSTER", "pathwatch")
        .env("PATHWATCH_STATE__BACKEND", "postgres")
        .env("PATHWATCH_STATE__URL", "postgres://pathwatch:secret@db.internal:5432/pathwatch"));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("ClickHouse cluster pathwatch"), "{said}");
    assert!(said.contains("PostgreSQL at db.internal:5432/pathwatch") && !said.contains("secret"), "{said}");
}

/// `pathwatch up` with its sandboxes feeds a synthetic EHR's access log (three weeks of history
/// with misuse in it) through its own collector, so the audit rules find something on a first
/// look; a restart carries on without writing an event twice.
#[test]
fn the_demo_feeds_a_synthetic_ehr_whose_misuse_the_audit_rules_find() {
    let (_tmp, data) = temp_dir();
    let state = data.join("demo-access-log");
    let run = || {
        let mut child = pathwatch(&data)
            .arg("up")
            .env("PATHWATCH_COLLECTOR__LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("PATHWATCH_DASHBOARD__LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("PATHWATCH_SANDBOX__LISTEN", format!("127.0.0.1:{}", free_port()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Written once the history is in: "<world's first midnight> <newest event written>".
        let started = std::time::Instant::now();
        let written = loop {
            let text = std::fs::read_to_string(&state).unwrap_or_default();
            let to: u64 = text.split_whitespace().nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
            if to > 0 {
                break to;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "the demo access log was not written: {text:?}");
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = child.kill();
        let _ = child.wait();
        written
    };
    run();
    let count = || {
        let out = pathwatch(&data)
            .args([
                "audit",
                "search",
                "--user",
                "Y90001-001",
                "--from",
                "2000-01-01",
                "--to",
                "2100-01-01",
                "--limit",
                "1000000",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let first = count();
    let out = pathwatch(&data).args(["audit", "scan", "--from", "2000-01-01", "--to", "2100-01-01"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let raised: usize =
        said.split("; ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(out.status.success() && raised > 0, "the rules found nothing in the demo's misuse: {said}");
    let findings = String::from_utf8_lossy(&out.stdout);
    assert_eq!(findings.lines().count(), raised, "one line per finding: {findings}");
    // Started again: what was written stays written once.
    run();
    assert!(first > 0, "the demo's staff accessed records");
    let again = count();
    assert!(again >= first && again < first + first / 2 + 50, "no history written twice: {first} then {again}");
}
