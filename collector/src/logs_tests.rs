use super::*;

#[test]
fn a_path_names_its_resource_type_and_id_or_a_placeholder_for_one() {
    // (path, type, id, names one, operation, search)
    let cases = [
        ("/FHIR/R4/Patient/9000000009", "Patient", "9000000009", true, false, false),
        ("/personal-demographics/FHIR/R4/Patient/9000000009?_format=json", "Patient", "9000000009", true, false, false),
        ("/FHIR/R4/Patient", "Patient", "", false, false, false),
        ("/FHIR/R4/Patient/_search", "Patient", "", false, false, true),
        ("/FHIR/R4/Patient/$match", "Patient", "", false, true, false),
        ("/FHIR/R4/Patient/9000000009/$everything", "Patient", "9000000009", true, true, false),
        ("/FHIR/R4/Patient/{id}", "Patient", "", true, false, false),
        ("/FHIR/R4/Patient/<nhs_number>", "Patient", "", true, false, false),
        ("/FHIR/R4/Patient/:id", "Patient", "", true, false, false),
        ("/FHIR/STU3/Patient/2/Appointment", "Appointment", "", false, false, false),
        ("/FHIR/R4/metadata", "", "", false, false, false),
        ("/FHIR/R4/", "", "", false, false, false),
        ("/healthz", "", "", false, false, false),
        ("", "", "", false, false, false),
    ];
    for (path, kind, id, names_one, operation, search) in cases {
        let expected = Path { resource_type: kind.into(), resource_id: id.into(), names_one, operation, search };
        assert_eq!(Path::parse(path), expected, "{path}");
    }
}

#[test]
fn http_methods_and_statuses_map_to_actions_and_outcomes() {
    let action = |method: &str, path: &str| {
        let p = Path::parse(path);
        action_from_http(method, &p.resource_type, p.names_one, &p)
    };
    assert_eq!(action("get", "/Patient/1"), Some(Action::Read));
    assert_eq!(action("GET", "/Patient/{id}"), Some(Action::Read), "a route template names one resource");
    assert_eq!(action("GET", "/Patient"), Some(Action::Search));
    assert_eq!(action("GET", "/Patient/_search"), Some(Action::Search));
    assert_eq!(action("GET", "/home"), Some(Action::Read));
    assert_eq!(action("POST", "/Patient/_search/"), Some(Action::Search));
    assert_eq!(action("POST", "/Patient"), Some(Action::Create));
    assert_eq!(action("POST", "/Patient/$match"), Some(Action::Execute));
    assert_eq!(action("GET", "/Patient/1/$everything"), Some(Action::Execute));
    assert_eq!(action("PUT", "/Patient/1"), Some(Action::Update));
    assert_eq!(action("DELETE", "/Patient/1"), Some(Action::Delete));
    assert_eq!(action("OPTIONS", "/"), None);
    assert_eq!(outcome_from_http("200"), Some(Outcome::Success));
    assert_eq!(outcome_from_http("304"), Some(Outcome::Success));
    assert_eq!(outcome_from_http("302"), Some(Outcome::MinorFailure), "a redirect to sign in showed nothing");
    assert_eq!(outcome_from_http("401"), Some(Outcome::Denied));
    assert_eq!(outcome_from_http("404"), Some(Outcome::MinorFailure));
    assert_eq!(outcome_from_http("503"), Some(Outcome::SeriousFailure));
    assert_eq!(outcome_from_http("99"), None);
    assert_eq!(outcome_from_http("600"), None);
    assert_eq!(outcome_from_http("ok"), None);
}

#[test]
fn attribute_values_are_read_as_text_and_maps_or_long_values_refused() {
    let kv = |key: &str, value: Value| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    };
    let record = vec![
        kv("a", Value::IntValue(404)),
        kv("b", Value::ArrayValue(Default::default())),
        kv("c", Value::KvlistValue(Default::default())),
        kv("d", Value::StringValue("x".repeat(MAX_AUDIT_FIELD_BYTES + 1))),
        kv("e", Value::StringValue("  ".into())),
    ];
    let resource = vec![kv("a", Value::StringValue("shadowed".into())), kv("f", Value::BoolValue(true))];
    let found = Attributes { record: &record, resource: &resource };
    assert_eq!(found.text("a"), Ok(Some("404".into())), "the record's own value wins over its resource's");
    assert_eq!(found.resource_text("a"), Ok("shadowed".into()), "what describes the application: the resource's");
    assert_eq!(found.text("b"), Ok(None));
    assert!(found.text("c").is_err());
    assert!(found.text("d").unwrap_err().1.contains("longer than"));
    assert_eq!(found.text("e"), Ok(None), "blank is absent");
    let blank_then_resource = vec![kv("e", Value::StringValue("from the resource".into()))];
    let found_e = Attributes { record: &record, resource: &blank_then_resource };
    assert_eq!(found_e.text("e"), Ok(Some("from the resource".into())), "a blank record value falls back");
    assert_eq!(found.text("f"), Ok(Some("true".into())));
    assert_eq!(found.first(&["missing", "f"]), Ok(Some(("true".into(), 1))));
}
