//! PDS search: the specification's semantics with tokens required (application-restricted), and every
//! documented request of NHS England's hosted sandbox with them off (`pds-published-scenarios.md` §3.2).

use axum::http::StatusCode;
use sandboxes::SandboxConfig;
use serde_json::Value;

use crate::common::*;

fn ids(answer: &Answer) -> Vec<&str> {
    answer.json["entry"].as_array().into_iter().flatten().filter_map(|e| e["resource"]["id"].as_str()).collect()
}

fn scores(answer: &Answer) -> Vec<f64> {
    answer.json["entry"].as_array().into_iter().flatten().filter_map(|e| e["search"]["score"].as_f64()).collect()
}

fn first_score(answer: &Answer) -> &Value {
    &answer.json["entry"][0]["search"]["score"]
}

#[tokio::test]
async fn application_restricted_search_follows_the_specification() {
    let app = app();
    let token = token(&app).await;
    let get = |query: &str| {
        let (app, token) = (&app, &token);
        let path = format!("/Patient?{query}");
        async move { pds_get(app, &path, token).await }
    };

    // Wildcards: Jane Smith and Jayne Smyth share a birth day, so `Sm*` finds both, which
    // application-restricted access answers as too many; her phone narrows it to her, scored below 1.
    let both = get("family=Sm*&gender=female&birthdate=eq2010-10-22").await;
    assert_eq!(both.code(), "TOO_MANY_MATCHES", "{}", both.json);
    let narrowed = get("family=Sm*&gender=female&birthdate=eq2010-10-22&phone=01632960587").await;
    assert_eq!(ids(&narrowed), ["9000000009"]);
    assert!(first_score(&narrowed).as_f64().unwrap() < 1.0);
    let exact_only = get("family=Sm*&gender=female&birthdate=eq2010-10-22&phone=01632960587&_exact-match=true").await;
    assert_eq!((exact_only.status, exact_only.json["total"].as_u64()), (StatusCode::OK, Some(0)));
    let exact = get("family=SMITH&gender=female&birthdate=eq2010-10-22&_exact-match=true").await;
    assert_eq!((ids(&exact), first_score(&exact)), (vec!["9000000009"], &Value::from(1)));

    // Fuzzy: Smith sounds like Smyth and Jane like Jayne, so both match; her e-mail (in any case)
    // leaves her alone with score 1.
    let fuzzy = get("family=Smith&given=Jane&gender=female&birthdate=eq2010-10-22&_fuzzy-match=true").await;
    assert_eq!(fuzzy.code(), "TOO_MANY_MATCHES", "{}", fuzzy.json);
    let fuzzy_email =
        get("family=Smith&given=Jane&birthdate=eq2010-10-22&_fuzzy-match=true&email=JANE.SMITH@example.com").await;
    assert_eq!((ids(&fuzzy_email), first_score(&fuzzy_email)), (vec!["9000000009"], &Value::from(1)));
    let transposed = get("family=Jayne&given=Smyth&birthdate=eq2010-10-22&_fuzzy-match=true&phone=07700900017").await;
    assert_eq!(ids(&transposed), ["9000000017"]);
    assert!(first_score(&transposed).as_f64().unwrap() < 1.0);
    let not_fuzzy = get("family=Smyth&given=Jane&birthdate=eq2010-10-22").await;
    assert_eq!(not_fuzzy.json["total"], 0, "a non-fuzzy search does not match Jayne: {}", not_fuzzy.json);

    // History (PDS's own integration example): MED, once HUME Casey (female); a birth date it never
    // had finds nothing, fuzzy or not.
    let historic = "family=HUME&birthdate=1999-09-09&gender=male";
    assert_eq!(get(historic).await.json["total"], 0);
    let with_history = get(&format!("{historic}&_history=true")).await;
    assert_eq!(ids(&with_history), ["9733162450"]);
    assert_eq!(with_history.json["entry"][0]["resource"]["name"][0]["family"], "MED");
    assert_eq!(with_history.json["entry"][0]["resource"]["name"].as_array().unwrap().len(), 1, "no previous names");
    assert!(first_score(&with_history).as_f64().unwrap() < 1.0);
    let old_gender = get("family=MED&given=Casey&birthdate=1999-09-09&gender=female&_fuzzy-match=true").await;
    assert_eq!(ids(&old_gender), ["9733162450"]);
    assert_eq!(old_gender.json["entry"][0]["resource"]["gender"], "male");
    let old_birth = get("family=MED&given=Casey&birthdate=2024-01-12&gender=male&_fuzzy-match=true").await;
    assert_eq!(old_birth.json["total"], 0);
    let old_email = "family=MED&birthdate=1999-09-09&email=casey.hume@example.com";
    assert_eq!(get(old_email).await.json["total"], 0);
    assert_eq!(ids(&get(&format!("{old_email}&_history=true")).await), ["9733162450"]);
    let old_address = "family=MED&birthdate=1999-09-09&address-postalcode=DN208AA";
    assert_eq!(get(old_address).await.json["total"], 0);
    assert_eq!(ids(&get(&format!("{old_address}&_history=true")).await), ["9733162450"]);

    // Restricted: found without location details, never by postcode or GP.
    let restricted = get("family=Smythe&given=Janet&gender=female&birthdate=eq2005-06-16").await;
    assert_eq!(ids(&restricted), ["9000000025"]);
    assert!(restricted.json["entry"][0]["resource"].get("address").is_none());
    let by_gp = get("family=Smythe&birthdate=eq2005-06-16&general-practitioner=Y12345").await;
    assert_eq!(by_gp.json["total"], 0);

    // Death date and GP filter a non-fuzzy search; the GP code in any case.
    assert_eq!(ids(&get("family=Smythe&birthdate=2005-06-16&death-date=le2005-06-16").await), ["9000000025"]);
    assert_eq!(get("family=Smythe&birthdate=2005-06-16&death-date=ge2006-01-01").await.json["total"], 0);
    let gp = get("family=Smith&birthdate=2010-10-22&general-practitioner=y12345&address-postalcode=ls16ae").await;
    assert_eq!(ids(&gp), ["9000000009"]);
}

#[tokio::test]
async fn search_rules_name_what_is_wrong() {
    let app = app();
    let token = token(&app).await;
    let long = "A".repeat(36);
    let many_given = format!("family=Smith&birthdate=2010-10-22{}", "&given=Jo".repeat(11));
    let cases = [
        ("family=S*&birthdate=2010-10-22", "INVALID_VALUE", "Invalid value - 'S*' in field 'family'"),
        ("family=Smith&given=*ane&birthdate=2010-10-22", "INVALID_VALUE", "Invalid value - '*ane' in field 'given'"),
        (&format!("family={long}&birthdate=2010-10-22"), "INVALID_VALUE", "in field 'family'"),
        (
            "family=Smith&birthdate=2010-10-22&_exact-match=yes",
            "INVALID_VALUE",
            "Invalid value - 'yes' in field '_exact-match'",
        ),
        ("family=Smith&birthdate=2010-10-22&email=j*@example.com", "INVALID_VALUE", "in field 'email'"),
        ("family=Smith&birthdate=2010-10-22&_fuzzy-match=true", "INVALID_SEARCH_DATA", "minimum requirements"),
        (
            "family=Sm*th&given=Jane&birthdate=2010-10-22&_fuzzy-match=true",
            "INVALID_SEARCH_DATA",
            "wildcards cannot be used in a fuzzy search (family)",
        ),
        ("family=++*&birthdate=2010-10-22", "INVALID_VALUE", "in field 'family'"),
        ("family=%20S*&birthdate=2010-10-22", "INVALID_VALUE", "in field 'family'"),
        ("family=%CC%81%CC%81*&birthdate=2010-10-22", "INVALID_VALUE", "in field 'family'"),
        ("family=Smith&birthdate=2010-10-22&address-postalcode=L+*", "INVALID_VALUE", "in field 'address-postalcode'"),
        (&many_given, "INVALID_VALUE", "11 given names (at most 10)"),
        (
            "family=Smith&birthdate=2010-10-22&address-postcode=LS1&address-postalcode=LS1",
            "INVALID_SEARCH_DATA",
            "cannot both be supplied",
        ),
    ];
    for (query, code, diagnostics) in cases {
        let answer = pds_get(&app, &format!("/Patient?{query}"), &token).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, code), "{query}: {}", answer.json);
        let text = answer.json["issue"][0]["diagnostics"].as_str().unwrap_or_default();
        assert!(text.contains(diagnostics), "{query}: {text}");
    }
    // A fuzzy search may leave out the family name when it has the other documented set.
    let no_family = pds_get(
        &app,
        "/Patient?given=Jane&gender=female&birthdate=2010-10-22&address-postalcode=LS1%206AE&_fuzzy-match=true",
        &token,
    )
    .await;
    assert_eq!(ids(&no_family), ["9000000009"], "{}", no_family.json);
}

/// What a documented request answers.
#[derive(Debug)]
enum Want {
    /// These patients, each with this score.
    Found(&'static [&'static str], f64),
    /// These patients with their own scores.
    Scores(&'static [(&'static str, f64)]),
    Total(u64, f64),
    Empty,
    TooMany,
    NotSupported,
    Error(u16, &'static str),
}

/// Every request the hosted sandbox documents (its OpenAPI "Sandbox testing" table, its Karate
/// cases and feature tests), sent to ours with tokens not required.
#[tokio::test]
async fn the_hosted_sandbox_documented_searches_answer_as_documented() {
    use Want::*;
    let app = app_with(SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    const JANE: &[&str] = &["9000000009"];
    let jane_contact = "email=jane.smith@example.com&phone=01632960587";
    let smith_cluster = "family=Smythe&given=Mat&birthdate=ge2000-05-03&gender=male&address-postalcode=DN17%204AA";
    let cases: Vec<(String, Want)> = vec![
        // The specification's table.
        (format!("family=Smith&gender=female&birthdate=eq2010-10-22&{jane_contact}"), Found(JANE, 1.0)),
        ("family=Smith&gender=female&birthdate=eq2010-10-22&email=deb.trotter@example.com&phone=0121111111".into(), Empty),
        ("family=Sm*&gender=female&birthdate=eq2010-10-22".into(), Found(&["9000000009", "9000000017"], 0.8343)),
        (format!("family=Sm*&gender=female&birthdate=eq2010-10-22&{jane_contact}"), Found(JANE, 1.0)),
        (format!("family=Sm*&gender=female&birthdate=eq2010-10-22&{jane_contact}&_max-results=1"), Found(JANE, 1.0)),
        (format!("family=Smith&gender=female&birthdate=ge2010-10-21&birthdate=le2010-10-23&{jane_contact}"), Found(JANE, 1.0)),
        (
            format!("family=Smith&given=Jane&gender=female&birthdate=eq2010-10-22&{jane_contact}&_fuzzy-match=true"),
            Found(JANE, 0.9542),
        ),
        ("family=Smith&given=Jane&gender=female&birthdate=eq2010-10-22&_fuzzy-match=true".into(), Found(&["9000000017"], 0.8976)),
        (
            "family=Smith&given=Jane&birthdate=eq2010-10-22&phone=01632960587&_fuzzy-match=true".into(),
            Found(JANE, 0.9124),
        ),
        (
            "family=Smythe&given=Janet&gender=female&birthdate=eq2005-06-16&email=janet.smythe@example.com&phone=01632960587".into(),
            Found(&["9000000025"], 1.0),
        ),
        (
            "family=Smith&given=John%20Paul&given=James&gender=male&birthdate=eq2010-10-22&email=johnp.smith@example.com&phone=01632960587".into(),
            Found(&["9000000015"], 0.75),
        ),
        ("family=Nobody&birthdate=eq1950-01-01".into(), NotSupported),
        ("family=Sm*&gender=female&invalidParam=123&birthdate=eq2010-10-22".into(), Error(400, "ADDITIONAL_PROPERTIES")),
        ("email=j.smith@example.com&phone=0163".into(), Error(400, "MISSING_VALUE")),
        ("family=Smith&birthdate=22-10-2010".into(), Error(400, "INVALID_VALUE")),
        ("family=Smith&birthdate=2010-10-22&death-date=2010".into(), Error(400, "INVALID_VALUE")),
        ("gender=female&birthdate=eq2010-10-22".into(), Error(400, "INVALID_SEARCH_DATA")),
        // The Karate sandbox's other cases, in its order.
        ("family=Blogs&given=Joe&birthdate=1955-11-05&_fuzzy-match=true".into(), Found(&["9693632109"], 1.0)),
        (
            "family=ATTS%C3%96N&given=P%C3%80ULIN%C3%89&birthdate=1960-07-14&_fuzzy-match=true".into(),
            Scores(&[("9693633148", 0.9317), ("9693633121", 0.9077)]),
        ),
        (
            format!("{smith_cluster}&email=test@test.com&phone=01222111111&_fuzzy-match=true"),
            Found(&["5900022366"], 0.8827),
        ),
        (format!("{smith_cluster}&email=rubbish@work.com&phone=01222111111&_fuzzy-match=true"), Empty),
        (format!("{smith_cluster}&_fuzzy-match=true"), Total(20, 0.8827)),
        ("family=MED&given=Casey&birthdate=1999-09-09&gender=female&_fuzzy-match=true".into(), Found(&["9733162450"], 0.6806)),
        ("family=MED&given=Casey&birthdate=2024-01-12&gender=male&_fuzzy-match=true".into(), Empty),
        ("family=LEEKE&given=Horace&birthdate=1956-05-02&address-postalcode=DN16&_fuzzy-match=true".into(), Empty),
        ("family=Smith&gender=male&birthdate=2000-05-05&email=Historic@historic.com&_history=true".into(), Found(&["5900020584"], 1.0)),
        ("family=Smith&gender=male&birthdate=2000-05-05&email=Historic@historic.com".into(), Empty),
        ("family=Sm*&gender=male&birthdate=2000-05-05&email=rubbish@test.com&phone=01234123123".into(), Empty),
        ("family=HUME&birthdate=1999-09-09&gender=male&_history=true".into(), Found(&["9733162450"], 0.6806)),
        ("family=MED&birthdate=2024-01-12&gender=male".into(), Empty),
        ("family=Sm*&gender=female&birthdate=eq2010-10-22&_max-results=1".into(), TooMany),
        ("family=Sm*&gender=female&birthdate=eq2010-10-22&phone=01632960587&_max-results=1".into(), Found(JANE, 1.0)),
        ("family=Sm*&birthdate=eq2010-10-22&email=janet.smythe@example.com".into(), Found(JANE, 1.0)),
        ("family=Sm*&birthdate=2000-05-05&email=test@test.com&phone=01234123123".into(), Total(11, 1.0)),
        ("family=Cuff&gender=female&birthdate=1926-01-07".into(), Found(&["9732019395"], 1.0)),
        ("family=Smith&gender=male&birthdate=2000-05-05&given=Sam&given=Bob".into(), Found(&["5900030741"], 1.0)),
        ("family=smith&gender=Male&birthdate=2000-05-05&phone=01234123123&email=test@test.com".into(), Total(11, 1.0)),
        ("family=Muir&gender=male&birthdate=2017-09-06&phone=00917855986859".into(), Found(&["9732019506"], 1.0)),
        ("family=Smith&gender=male&birthdate=eq2000-05-05&address-postalcode=DN17*".into(), Total(20, 0.965)),
        ("family=Me*&birthdate=eq2015-10-22&general-practitioner=A20047".into(), Found(&["9733162337"], 0.9259)),
        ("family=TUNNEY&birthdate=ge1980-01-01&death-date=le2019-02-28".into(), Found(&["9733163201"], 1.0)),
        ("family=McMatch-Single&gender=male&birthdate=1954-10-26&address-postalcode=BAP%204WG".into(), Found(&["5900054586"], 1.0)),
        ("family=McMatch-Multiple&birthdate=1997-08-20&address-postalcode=DN19%207UD".into(), Found(&["5900036502", "5900053679"], 1.0)),
        ("family=Jones&gender=male&birthdate=ge1992-01-01".into(), Found(&["5900035697"], 1.0)),
        ("family=Godsoe&gender=male&birthdate=1936-02-24".into(), Found(&["9693632125"], 1.0)),
        ("family=Massam&birthdate=le1920-08-11".into(), Found(&["9693632966"], 1.0)),
        ("family=YOUDS&birthdate=1940-01-01&_max-results=1".into(), TooMany),
        ("family=YOUDS&birthdate=1940-01-01".into(), Found(&["9693633679", "9693633687", "9693633695", "9693633709"], 1.0)),
        ("family=Spiderman&birthdate=1962-07-31".into(), Empty),
        ("family=KNAPP&gender=female&birthdate=1943-07-03&_exact-match=true".into(), Found(&["9736363120"], 1.0)),
        ("family=KNAPP&gender=female&birthdate=1943-07-03".into(), Empty),
    ];
    for (query, want) in cases {
        let answer = pds_get(&app, &format!("/Patient?{query}"), "sandbox0token").await;
        let context = format!("{query} ({want:?}): {}", answer.json);
        match want {
            Error(status, code) => {
                assert_eq!((answer.status.as_u16(), answer.code()), (status, code), "{context}");
                continue;
            }
            _ => assert_eq!(answer.status, StatusCode::OK, "{context}"),
        }
        match want {
            Found(expected, score) => {
                assert_eq!(ids(&answer), expected, "{context}");
                assert_eq!(answer.json["total"].as_u64(), Some(expected.len() as u64), "{context}");
                assert!(scores(&answer).iter().all(|s| *s == score), "{context}");
            }
            Scores(expected) => {
                let got: Vec<(&str, f64)> = ids(&answer).into_iter().zip(scores(&answer)).collect();
                assert_eq!(got, expected, "{context}");
            }
            Total(total, score) => {
                assert_eq!(answer.json["total"].as_u64(), Some(total), "{context}");
                assert_eq!(ids(&answer).len() as u64, total, "{context}");
                assert_eq!(first_score(&answer).as_f64(), Some(score), "{context}");
            }
            Empty => assert_eq!(
                (answer.json["type"].as_str(), answer.json["total"].as_u64()),
                (Some("searchset"), Some(0)),
                "{context}"
            ),
            TooMany => assert_eq!(answer.code(), "TOO_MANY_MATCHES", "{context}"),
            NotSupported => {
                assert_eq!(answer.json["issue"][0]["code"], "not-supported", "{context}");
                assert_eq!(answer.json["issue"][0]["severity"], "warning", "{context}");
            }
            Error(..) => unreachable!(),
        }
        for entry in answer.json["entry"].as_array().into_iter().flatten() {
            let resource = &entry["resource"];
            if resource["meta"]["security"][0]["code"] == "R" {
                assert!(resource.get("address").is_none() && resource.get("telecom").is_none(), "{context}");
            }
            let id = resource["id"].as_str().unwrap();
            assert!(entry["fullUrl"].as_str().unwrap().ends_with(&format!("/Patient/{id}")), "{context}");
        }
    }
}

#[tokio::test]
async fn without_tokens_other_searches_find_up_to_max_results_and_the_listed_patients_are_search_only() {
    let app = app_with(SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    let token = "sandbox0token";
    // Our population still answers searches the hosted sandbox has no example for, several at once.
    let population = sandboxes::patients::generate(test_config().seed, test_config().synthetic_patients);
    let current = |family: &str| population.iter().filter(|p| p.family == family && p.superseded_by.is_none()).count();
    // A family several current synthetic patients share, none of them a documented case's.
    let someone = population
        .iter()
        .find(|p| {
            p.superseded_by.is_none() && current(&p.family) >= 2 && !["Smith", "Jones"].contains(&p.family.as_str())
        })
        .expect("a shared family name in the synthetic population");
    let query = format!("/Patient?family={}&birthdate=le{}&_max-results=50", someone.family, day(0));
    let found = pds_get(&app, &query, token).await;
    let total = found.json["total"].as_u64().unwrap_or_default();
    assert!(total >= 2 && ids(&found).contains(&someone.nhs_number.as_str()), "{}", found.json);
    let limited = pds_get(&app, &query.replace("_max-results=50", "_max-results=1"), token).await;
    assert_eq!(limited.code(), "TOO_MANY_MATCHES", "{}", limited.json);
    // As in the hosted sandbox, a listed patient is found by search but not read.
    let read = pds_get(&app, "/Patient/9693632109", token).await;
    assert_eq!((read.status, read.code()), (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"));
}
