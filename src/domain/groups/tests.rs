use annal_schemas::events::group::{GroupDefinition, TargetFilter};
use annal_schemas::Event;
use chrono::{TimeZone, Utc};

use super::tags::{TagBook, TagRefusal};
use super::*;

fn filter(tags: &[&str]) -> GroupDefinition {
    GroupDefinition::Filter(TargetFilter {
        model: Some("iPad".into()),
        last_seen_after: Some("30d".into()),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..TargetFilter::default()
    })
}

#[test]
fn a_group_is_defined_replaced_and_removed() {
    let mut book = GroupBook::default();
    let defined = book
        .decide_define("lab-ipads", &filter(&["lab"]), Some("INC-1"))
        .unwrap()
        .unwrap();
    book.evolve(&Event::from(defined));
    // The same definition again appends nothing; another replaces it.
    assert_eq!(book.decide_define("lab-ipads", &filter(&["lab"]), None), Ok(None));
    let replaced = book
        .decide_define("lab-ipads", &filter(&["lab", "b2"]), None)
        .unwrap()
        .unwrap();
    book.evolve(&Event::from(replaced));
    assert_eq!(book.get("lab-ipads"), Ok(&filter(&["lab", "b2"])));
    let removed = book.decide_remove("lab-ipads", None).unwrap();
    book.evolve(&Event::from(removed));
    assert_eq!(book.get("lab-ipads"), Err(GroupRefusal::Unknown("lab-ipads".into())));
    assert!(book.decide_remove("lab-ipads", None).is_err());
}

#[test]
fn hostile_names_members_and_filters_are_refused() {
    let book = GroupBook::default();
    for name in ["", "a b", "x\n", "../etc", &"g".repeat(65)] {
        let refused = book.decide_define(name, &filter(&[]), None).unwrap_err();
        assert_eq!(refused.field(), "name", "{name:?}");
    }
    let members = |ids: &[&str]| GroupDefinition::Members(ids.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        book.decide_define("g", &members(&[]), None),
        Err(GroupRefusal::MemberCount)
    );
    assert_eq!(
        book.decide_define("g", &members(&["A", "B\u{0}"]), None)
            .unwrap_err()
            .field(),
        "members"
    );
    assert!(book
        .decide_define("g", &members(&["UDID-1", "UDID-2:user"]), None)
        .is_ok());
    let bad_tag = filter(&["no spaces"]);
    assert_eq!(
        book.decide_define("g", &bad_tag, None).unwrap_err().field(),
        "filter.tags"
    );
    let bad_time = GroupDefinition::Filter(TargetFilter {
        last_seen_before: Some("yesterday".into()),
        ..TargetFilter::default()
    });
    assert_eq!(book.decide_define("g", &bad_time, None).unwrap_err().field(), "filter");
}

#[test]
fn relative_times_count_back_from_the_moment_of_resolution() {
    let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
    assert_eq!(
        parse_when("30d", now),
        Ok(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap())
    );
    assert_eq!(
        parse_when("2w", now),
        Ok(Utc.with_ymd_and_hms(2026, 3, 17, 12, 0, 0).unwrap())
    );
    assert_eq!(
        parse_when("90m", now),
        Ok(Utc.with_ymd_and_hms(2026, 3, 31, 10, 30, 0).unwrap())
    );
    assert_eq!(
        parse_when("2026-01-02T03:04:05Z", now),
        Ok(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
    );
    for bad in [
        "",
        "d",
        "30",
        "30y",
        "-3d",
        "99999999999999999999d",
        "9999999999999w",
        "3é",
    ] {
        assert!(parse_when(bad, now).is_err(), "{bad:?}");
    }
}

#[test]
fn tags_are_set_and_removed_per_device_and_matched_all_at_once() {
    let mut tags = TagBook::default();
    for (id, tag) in [("A", "lab"), ("A", "b2"), ("B", "lab")] {
        let e = tags.decide_tag(id, tag, None).unwrap().unwrap();
        tags.evolve(&Event::from(e));
    }
    assert_eq!(tags.decide_tag("A", "lab", None), Ok(None));
    assert_eq!(tags.carrying_all(&["lab".into()]).len(), 2);
    assert_eq!(
        tags.carrying_all(&["lab".into(), "b2".into()])
            .into_iter()
            .collect::<Vec<_>>(),
        ["A"]
    );
    let off = tags.decide_untag("A", "b2", None).unwrap();
    tags.evolve(&Event::from(off));
    assert_eq!(tags.tags_of("A"), ["lab"]);
    assert!(matches!(
        tags.decide_untag("A", "b2", None),
        Err(TagRefusal::NotTagged { .. })
    ));
    assert!(tags.decide_tag("A", "bad tag", None).is_err());
}
