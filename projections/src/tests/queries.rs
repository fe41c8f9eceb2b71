//! Inventory filters and cursor pagination.

use chrono::TimeDelta;
use plist::Value;

use super::support::{at, query_responses, Log};
use crate::devices::{DeviceFilter, DeviceState};
use crate::synthetic::FakeDevice;
use crate::Projections;

/// Five devices: n=0..5, OS 16.x for even n, 17.x for odd, an iPhone for n=4, n=3 checked out;
/// device n was last seen at about n minutes.
fn fleet() -> (Vec<FakeDevice>, Projections) {
    let devices: Vec<FakeDevice> = (0..5).map(FakeDevice::new).collect();
    let mut log = Log::new();
    for (n, d) in devices.iter().enumerate() {
        log.builder.advance(TimeDelta::minutes(1));
        log.enroll(d);
        let os = if n % 2 == 0 {
            format!("16.{n}")
        } else {
            format!("17.{n}")
        };
        let mut answers = vec![("OSVersion", Value::from(os))];
        if n == 4 {
            answers.push(("ProductName", Value::from("iPhone15,2")));
            answers.push(("ModelName", Value::from("iPhone")));
        }
        log.ack(d, "DI", "DeviceInformation", query_responses(&answers));
        if n == 3 {
            log.device(d, d.check_out(), None);
        }
    }
    (devices, log.fold())
}

fn keys(p: &Projections, filter: &DeviceFilter) -> Vec<String> {
    p.devices()
        .list(filter, None, 100)
        .items
        .into_iter()
        .map(|d| d.enrollment)
        .collect()
}

#[test]
fn filters_match_every_set_field() {
    let (devices, p) = fleet();
    let udid = |n: usize| devices[n].udid.clone();
    let all = DeviceFilter::default();
    assert_eq!(keys(&p, &all).len(), 5);

    let checked_out = DeviceFilter {
        state: Some(DeviceState::CheckedOut),
        ..all.clone()
    };
    assert_eq!(keys(&p, &checked_out), [udid(3)]);
    let iphones = DeviceFilter {
        model: Some("IPHONE".into()),
        ..all.clone()
    };
    assert_eq!(keys(&p, &iphones), [udid(4)]);
    let ios17 = DeviceFilter {
        os_version_prefix: Some("17.".into()),
        ..all.clone()
    };
    assert_eq!(keys(&p, &ios17), [udid(1), udid(3)]);
    let serial = DeviceFilter {
        serial_number: Some(devices[2].serial.clone()),
        ..all.clone()
    };
    assert_eq!(keys(&p, &serial), [udid(2)]);
    let topic = DeviceFilter {
        topic: Some("other.topic".into()),
        ..all.clone()
    };
    assert!(keys(&p, &topic).is_empty());
    // Device n enrolled after n+1 minutes and was last seen within seconds of that.
    let recent = DeviceFilter {
        last_seen_after: Some(at(3 * 60)),
        ..all.clone()
    };
    assert_eq!(keys(&p, &recent), [udid(2), udid(3), udid(4)]);
    let stale_enrolled = DeviceFilter {
        last_seen_before: Some(at(3 * 60)),
        state: Some(DeviceState::Enrolled),
        ..all
    };
    assert_eq!(keys(&p, &stale_enrolled), [udid(0), udid(1)]);
}

/// A join with another model's choice (the devices carrying a tag) keeps only those keys, still
/// with every other field applied, and pages through them in key order.
#[test]
fn a_key_set_narrows_the_filter_and_pages_in_order() {
    let (devices, p) = fleet();
    let udid = |n: usize| devices[n].udid.clone();
    let mut chosen: Vec<String> = vec![udid(0), udid(1), udid(3), "NOT-ENROLLED".into()];
    let only = DeviceFilter {
        keys: Some(chosen.iter().cloned().collect()),
        ..DeviceFilter::default()
    };
    chosen.retain(|k| k != "NOT-ENROLLED");
    chosen.sort();
    assert_eq!(keys(&p, &only), chosen);
    let enrolled = DeviceFilter {
        state: Some(DeviceState::Enrolled),
        ..only.clone()
    };
    assert_eq!(keys(&p, &enrolled), {
        let mut k = vec![udid(0), udid(1)];
        k.sort();
        k
    });
    let first = p.devices().list(&only, None, 2);
    assert_eq!(first.next.as_deref(), Some(chosen[1].as_str()));
    let rest = p.devices().list(&only, first.next.as_deref(), 2);
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].enrollment, chosen[2]);
    assert_eq!(rest.next, None);
    let none = DeviceFilter {
        keys: Some(Default::default()),
        ..DeviceFilter::default()
    };
    assert!(keys(&p, &none).is_empty());
}

#[test]
fn pages_follow_key_order_and_the_last_page_has_no_cursor() {
    let (devices, p) = fleet();
    let mut expected: Vec<String> = devices.iter().map(|d| d.udid.clone()).collect();
    expected.sort();
    let filter = DeviceFilter::default();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = p.devices().list(&filter, after.as_deref(), 2);
        pages += 1;
        seen.extend(page.items.iter().map(|d| d.enrollment.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    // Exactly one page's worth: no cursor to an empty page.
    let four = p.devices().list(&filter, Some(&expected[0]), 4);
    assert_eq!((four.items.len(), four.next), (4, None));
}
