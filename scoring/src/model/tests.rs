use super::*;

#[test]
fn the_shipped_model_is_valid() {
    let m = Model::default_model();
    assert_eq!(m.scores[0].name, "engagement");
    assert_eq!(m.qualification.threshold, 50.0);
    assert_eq!(m.qualification.min_grade, Some(Grade::D));
    assert!(m.candidates(EventKind::PageViewed, None).count() >= 2);
    assert_eq!(m.recycling, RecycleScores::Halve);
}

#[test]
fn errors_name_the_line() {
    let text = r#"
[[scores]]
name = "s"

[[rules]]
name = "ok"
kind = "page_viewed"
points = 1

[[rules]]
name = "typo"
kind = "pricing_viewed"
points = 1

[qualification]
threshold = 10
"#;
    let e = Model::parse(text).expect_err("unknown kind");
    assert_eq!(e.line, Some(10), "{e}");
    assert!(
        e.message
            .contains("rule \"typo\": unknown kind \"pricing_viewed\""),
        "{e}"
    );

    let e =
        Model::parse("[[scores]]\nname = \"s\"\nhalf_life = 3\n[qualification]\nthreshold = 1\n")
            .expect_err("unknown key");
    assert_eq!(e.line, Some(3), "{e}");

    let e = Model::parse(
        "[[scores]]\nname = \"s\"\n[[rules]]\nname = \"r\"\nkind = \"page_viewed\"\nscore = \"nope\"\npoints = 1\n[qualification]\nthreshold = 1\n",
    )
    .expect_err("unknown score");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(
        e.to_string()
            .starts_with("line 3: rule \"r\": unknown score \"nope\""),
        "{e}"
    );

    let e = Model::parse(
        "[[scores]]\nname = \"s\"\n[[rules]]\nname = \"r\"\nkind = \"page_viewed\"\npoints = 1\nwhen = [{ field = \"properties.x\", op = \"like\", value = \"y\" }]\n[qualification]\nthreshold = 1\n",
    )
    .expect_err("unknown op");
    assert!(e.message.contains("unknown op \"like\""), "{e}");
    assert!(Model::parse("[qualification]\nthreshold = 1\n").is_err());
}

#[test]
fn event_names_of_named_kinds_mean_the_kind_and_custom_names_match_without_case() {
    let m = Model::parse(
        r#"
[[scores]]
name = "s"
[[rules]]
name = "download by name"
event = "File Downloaded"
points = 2
[[rules]]
name = "calculator"
event = "Pricing Calculator Used"
points = 4
[qualification]
threshold = 10
"#,
    )
    .expect("valid");
    assert_eq!(m.rules[0].matcher, Matcher::Kind(EventKind::FileDownloaded));
    let hits: Vec<&str> = m
        .candidates(EventKind::Custom, Some("pricing calculator USED"))
        .map(|(_, r)| r.name.as_str())
        .collect();
    assert_eq!(hits, vec!["calculator"]);
    assert_eq!(m.candidates(EventKind::Custom, Some("other")).count(), 0);
}

#[test]
fn decay_by_half_life_and_by_fixed_loss() {
    let day = 86_400_000;
    let half = Decay::HalfLife { days: 10.0 };
    assert!((half.apply(80.0, 0, 10 * day) - 40.0).abs() < 1e-9);
    assert!((half.apply(80.0, 0, 20 * day) - 20.0).abs() < 1e-9);
    assert_eq!(
        half.apply(80.0, 5 * day, day),
        80.0,
        "no decay backwards in time"
    );
    let linear = Decay::Linear {
        points: 5.0,
        every_days: 7.0,
    };
    assert_eq!(
        linear.apply(30.0, 0, 6 * day),
        30.0,
        "a partial period costs nothing"
    );
    assert_eq!(linear.apply(30.0, 0, 14 * day), 20.0);
    assert_eq!(linear.apply(30.0, 0, 100 * day), 0.0, "stops at zero");
    assert_eq!(
        linear.apply(-12.0, 0, 14 * day),
        -2.0,
        "negative scores recover toward zero"
    );
}

#[test]
fn grades_come_from_fit_points() {
    let m = Model::default_model();
    let traits = |v: serde_json::Value| v.as_object().expect("object").clone();
    let (points, grade) = m.grade(&traits(serde_json::json!({
        "title": "VP", "company_size": 500, "industry": "Software", "country": "DE", "email": "a@b.de"
    })));
    assert_eq!(points, 90.0);
    assert_eq!(grade, Grade::A);
    let (_, grade) = m.grade(&traits(serde_json::json!({"email": "a@gmail.com"})));
    assert_eq!(grade, Grade::E);
    let (_, grade) = m.grade(&Map::new());
    assert_eq!(grade, Grade::F);
}
