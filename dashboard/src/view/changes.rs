//! A hazard's change in words, as its history shows it: never JSON.

/// A field's change in words, never JSON: a list as what was added and removed, an assessment or a
/// control as the parts that changed, anything else as "before → after".
pub fn readable(field: &str, before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match (before, after) {
        (Value::Array(b), Value::Array(a)) => {
            // Items with an id (controls) that are in both are compared part by part; the rest by
            // value, never by how they read (two controls can read alike and differ).
            let id = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_string);
            let same_id = |x: &Value, others: &[Value]| {
                id(x).and_then(|i| others.iter().find(|o| id(o).as_ref() == Some(&i)).cloned())
            };
            let mut lines = Vec::new();
            for x in a {
                match same_id(x, b) {
                    Some(old) if old != *x => {
                        let name = format!("{field} {}", id(x).unwrap_or_default());
                        lines.extend(readable(&name, &old, x));
                    }
                    Some(_) => {}
                    None if !b.contains(x) => lines.push(format!("{field}: added “{}”", clip(&words(x)))),
                    None => {}
                }
            }
            for x in b.iter().filter(|x| same_id(x, a).is_none() && !a.contains(x)) {
                lines.push(format!("{field}: removed “{}”", clip(&words(x))));
            }
            if lines.is_empty() {
                lines.push(format!("{field}: reordered"));
            }
            lines
        }
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| b.get(*k) != a.get(*k))
                .map(|k| {
                    let part = |v: Option<&Value>| v.map_or_else(|| "—".to_string(), |v| clip(&words(v)));
                    format!("{field} {}: {} → {}", k.replace('_', " "), part(b.get(k)), part(a.get(k)))
                })
                .collect()
        }
        _ => vec![format!("{field}: {} → {}", short(before), short(after))],
    }
}

/// A value in words: a control as "C1: its description", an object as its parts, a list joined.
fn words(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        Value::Array(items) => items.iter().map(words).collect::<Vec<_>>().join("; "),
        Value::Object(map) => match (map.get("id"), map.get("description")) {
            (Some(Value::String(id)), Some(Value::String(d))) => format!("{id}: {d}"),
            _ => {
                map.iter().map(|(k, v)| format!("{} {}", k.replace('_', " "), words(v))).collect::<Vec<_>>().join(", ")
            }
        },
        other => other.to_string(),
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text.to_string()
    }
}

fn short(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    };
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hazards_history_reads_as_words_never_json() {
        use serde_json::json;
        let lines = readable("causes", &json!(["Wrong patient", "Timeout"]), &json!(["Timeout", "Stale cache"]));
        assert_eq!(lines, ["causes: added “Stale cache”", "causes: removed “Wrong patient”"]);
        let risk =
            readable("residual", &json!({"severity": 3, "likelihood": 4}), &json!({"severity": 3, "likelihood": 2}));
        assert_eq!(risk, ["residual likelihood: 4 → 2"]);
        let controls = readable(
            "additional_controls",
            &json!([{"id": "C1", "description": "Canary checks", "verification": "canary"}]),
            &json!([{"id": "C1", "description": "Canary checks every minute", "verification": "canary"}]),
        );
        assert_eq!(controls, ["additional_controls C1 description: Canary checks → Canary checks every minute"]);
        // A control whose verification alone changed is a change, never "reordered".
        let verified = readable(
            "additional_controls",
            &json!([{"id": "C1", "description": "Canary checks", "verification": "canary"}]),
            &json!([{"id": "C1", "description": "Canary checks", "verification": "weekly review"}]),
        );
        assert_eq!(verified, ["additional_controls C1 verification: canary → weekly review"]);
        let added = readable("additional_controls", &json!([]), &json!([{"id": "C2", "description": "Alert"}]));
        assert_eq!(added, ["additional_controls: added “C2: Alert”"]);
        assert_eq!(readable("owner", &json!("CSO"), &json!("Dr Jones")), ["owner: CSO → Dr Jones"]);
        assert_eq!(readable("effects", &json!(["a", "b"]), &json!(["b", "a"])), ["effects: reordered"]);
        assert!(lines.iter().chain(&risk).chain(&controls).all(|l| !l.contains('{') && !l.contains('[')));
    }
}
