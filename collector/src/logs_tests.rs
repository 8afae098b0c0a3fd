use super::*;

#[test]
fn a_path_names_its_resource_type_and_id() {
    let cases = [
        ("/FHIR/R4/Patient/9000000009", ("Patient", "9000000009")),
        ("/personal-demographics/FHIR/R4/Patient/9000000009?_format=json", ("Patient", "9000000009")),
        ("/FHIR/R4/Patient", ("Patient", "")),
        ("/FHIR/R4/Patient/_search", ("Patient", "")),
        ("/FHIR/R4/Patient/9000000009/$gpc.getstructuredrecord", ("Patient", "9000000009")),
        ("/FHIR/R4/Patient/{id}", ("Patient", "")),
        ("/FHIR/STU3/Patient/2/Appointment", ("Appointment", "")),
        ("/healthz", ("", "")),
        ("", ("", "")),
        ("/R4/X/1", ("", "")),
    ];
    for (path, (kind, id)) in cases {
        assert_eq!(resource_in(path), (kind.to_string(), id.to_string()), "{path}");
    }
}

#[test]
fn http_methods_and_statuses_map_to_actions_and_outcomes() {
    assert_eq!(action_from_http("get", "Patient", "1", "/Patient/1"), Some(Action::Read));
    assert_eq!(action_from_http("GET", "Patient", "", "/Patient"), Some(Action::Search));
    assert_eq!(action_from_http("GET", "", "", "/home"), Some(Action::Read));
    assert_eq!(action_from_http("POST", "Patient", "", "/Patient/_search/"), Some(Action::Search));
    assert_eq!(action_from_http("POST", "Patient", "", "/Patient"), Some(Action::Create));
    assert_eq!(action_from_http("PUT", "Patient", "1", "/Patient/1"), Some(Action::Update));
    assert_eq!(action_from_http("OPTIONS", "", "", "/"), None);
    assert_eq!(outcome_from_http("200"), Some(Outcome::Success));
    assert_eq!(outcome_from_http("304"), Some(Outcome::Success));
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
    assert_eq!(found.text("b"), Ok(None));
    assert!(found.text("c").is_err());
    assert!(found.text("d").unwrap_err().1.contains("longer than"));
    assert_eq!(found.text("e"), Ok(None), "blank is absent");
    assert_eq!(found.text("f"), Ok(Some("true".into())));
    assert_eq!(found.first(&["missing", "f"]), Ok(Some(("true".into(), 1))));
}
