//! The generated OpenAPI document against what the API really returns: every `/api/v1` route is
//! called as an admin on a dashboard with data behind every route, and each reply is checked
//! against the schema the document gives for its status. Objects are read as closed: a field the
//! reply has and the document does not name fails, as does a documented required field missing.

use audit_store::SpanStore;
use serde_json::Value;

use crate::findings::{draw_sample, raise, rig, AT, PASSWORD, SEC};
use crate::web::{get, sign_in};

/// Resolves `#/components/schemas/X`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/schemas/").expect("a local schema reference");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("schema type {other} not handled by this check"),
    }
}

/// The object properties a schema allows, `allOf` parts merged (serde's flatten).
fn properties(doc: &Value, schema: &Value, out: &mut serde_json::Map<String, Value>, required: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        properties(doc, part, out, required);
    }
    if let Some(own) = schema["properties"].as_object() {
        out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    required.extend(schema["required"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)));
}

/// Every way `value` departs from `schema`, with the path to it.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if schema.as_bool() == Some(false) {
        problems.push(format!("{at}: nothing allowed here"));
        return;
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fitting = options
            .iter()
            .filter(|o| {
                let mut p = Vec::new();
                check(doc, o, value, at, &mut p);
                p.is_empty()
            })
            .count();
        if fitting != 1 {
            problems.push(format!("{at}: {fitting} of the oneOf options fit {value}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(value, t)) {
        problems.push(format!("{at}: {value} is not {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Object(fields) if types.contains(&"object") || schema.get("allOf").is_some() => {
            let (mut allowed, mut required) = (serde_json::Map::new(), Vec::new());
            properties(doc, schema, &mut allowed, &mut required);
            for name in required.iter().filter(|r| !fields.contains_key(*r)) {
                problems.push(format!("{at}: required {name} missing"));
            }
            for (name, field) in fields {
                match allowed.get(name) {
                    Some(field_schema) => check(doc, field_schema, field, &format!("{at}.{name}"), problems),
                    None => problems.push(format!("{at}: {name} is not in the document")),
                }
            }
        }
        Value::Array(items) => {
            let prefix = schema["prefixItems"].as_array();
            for (i, item) in items.iter().enumerate() {
                let item_schema = prefix.and_then(|p| p.get(i)).unwrap_or(&schema["items"]);
                if !item_schema.is_null() {
                    check(doc, item_schema, item, &format!("{at}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_api_reply_matches_the_generated_document() {
    let mut rig = rig().await;
    let finding = raise(&mut rig).await;
    rig.store.insert_spans(&crate::hazards::canary_run(7, AT - 60 * SEC, true)).await.unwrap();
    // A credential check, one readable and one not, so /api/v1/credentials has a report to check.
    let credentials = [
        ("production/kid", "apim_signing_key", Some(20 * 86_400 * SEC)),
        ("production/mesh.ca_cert", "mesh_ca_certificate", None),
    ];
    rig.store.insert_spans(&crate::credentials::check(1, AT - 120 * SEC, &credentials)).await.unwrap();
    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let sample = draw_sample(&rig.app, &ig, "1", "7").await;
    let doc = get(&rig.app, "/api/openapi.json", "").await.json();
    let hazard = doc_hazard_id(&get(&rig.app, "/api/v1/hazards", &admin).await.json());
    let trace = format!("{:032x}", 7);
    let pathway =
        get(&rig.app, "/api/v1/pathways", &admin).await.json()["pathways"][0]["id"].as_str().unwrap().to_string();

    let alert = rig.fire_alert().await.to_string();
    let token = rig.api_token("admin").await;
    // An exception, so the list of them has one to check against the document.
    let now = AT + 3_600 * SEC;
    rig.findings
        .transition(finding, audit_review::Status::Open, audit_review::Status::Justified, "ig", "ok", now)
        .await
        .unwrap();
    let scope = audit_review::exceptions::Scope::Patient;
    rig.findings.add_exception(finding, scope, now + 86_400 * SEC, "Expected for a week", "ig", now).await.unwrap();
    let mut silence = String::new();
    let mut incident = String::new();
    let mut checked = 0;
    let api_routes = dashboard::web::route_table().iter().filter(|r| r.path.starts_with("/api/v1/"));
    for route in api_routes {
        let path = match route.path {
            "/api/v1/alerts/{id}" | "/api/v1/alerts/{id}/acknowledge" => route.path.replace("{id}", &alert),
            "/api/v1/silences/{id}/end" => route.path.replace("{id}", &silence),
            p if p.starts_with("/api/v1/incidents/{id}") => route.path.replace("{id}", &incident),
            "/api/v1/audit/findings/{id}" => route.path.replace("{id}", &finding.to_string()),
            "/api/v1/audit/samples/{id}" => route.path.replace("{id}", &sample),
            "/api/v1/hazards/{id}" => route.path.replace("{id}", &hazard),
            "/api/v1/traces/{id}" => route.path.replace("{id}", &trace),
            "/api/v1/pathways/{id}" => route.path.replace("{id}", &pathway),
            "/api/v1/audit/search" => format!("{}?user=recep1", route.path),
            other => other.to_string(),
        };
        let reply = if route.method == "POST" {
            // Writes take an API token and JSON.
            let body = match route.path {
                "/api/v1/silences" => {
                    let ends = chrono::DateTime::from_timestamp_nanos((AT + 5 * 3_600 * SEC) as i64).to_rfc3339();
                    serde_json::json!({"slo": "pds-availability", "reason": "PDS release", "ends_at": ends})
                }
                "/api/v1/incidents" => serde_json::json!({"title": "PDS look-ups failing", "severity": "sev2",
                    "lead": "admin", "pathways": [pathway], "alert_id": alert.parse::<i64>().unwrap()}),
                "/api/v1/incidents/{id}/status" => {
                    serde_json::json!({"expected": "investigating", "to": "identified", "message": "Cause found"})
                }
                "/api/v1/incidents/{id}/timeline" => serde_json::json!({"text": "A note", "public": false}),
                _ => serde_json::json!({}),
            };
            let request = axum::http::Request::post(&path)
                .header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"))
                .header(axum::http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            crate::web::send(&rig.app, request).await
        } else {
            get(&rig.app, &path, &admin).await
        };
        if route.path == "/api/v1/silences" && route.method == "POST" {
            silence = reply.json()["id"].to_string();
        }
        if route.path == "/api/v1/incidents" && route.method == "POST" {
            incident = reply.json()["id"].to_string();
        }
        let status = reply.status.as_u16().to_string();
        let operation = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        let content_type =
            reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json");
        let content_type = content_type.split(';').next().unwrap_or_default().trim();
        let schema = &operation["responses"][&status]["content"][content_type]["schema"];
        assert!(!schema.is_null(), "{path} answered {status}, which the document does not give: {}", reply.body);
        assert!(matches!(reply.status.as_u16(), 200 | 201), "{path}: {}", reply.body);
        let mut problems = Vec::new();
        check(&doc, schema, &reply.json(), &path, &mut problems);
        assert!(problems.is_empty(), "{path} departs from the document:\n{}", problems.join("\n"));
        checked += 1;
    }
    assert_eq!(checked, 28, "every API route was called");

    // The check can fail: a reply with a field the document does not name, or a wrong type.
    let schema = &doc["paths"]["/api/v1/alerts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    let mut problems = Vec::new();
    check(&doc, schema, &serde_json::json!({"alerts": [], "extra": 1}), "alerts", &mut problems);
    check(&doc, schema, &serde_json::json!({"alerts": [{"id": "x"}]}), "alerts", &mut problems);
    assert!(problems.iter().any(|p| p.contains("extra is not in the document")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("alerts.alerts[0].id")), "{problems:?}");
}

fn doc_hazard_id(hazards: &Value) -> String {
    hazards["hazards"][0]["hazard"]["id"].as_str().expect("the starter log has hazards").to_string()
}
