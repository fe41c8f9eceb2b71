//! `annal events export` and `annal events import` (issue 8, item 5): a log with real device
//! traffic goes SQLite → file → SQLite without losing a byte; a tampered file is refused,
//! naming the event, and writes nothing; a non-empty store is refused.

mod common;

use std::path::Path;

use annal::transfer::ndjson;
use common::transfer::{
    annal, assert_no_clear_push_magic, assert_verifies, audit_head, log_with_device_traffic, read_everything, stderr,
    store,
};

fn export(store_url: &str, out: &Path) -> String {
    let run = annal(&["events", "export", "--store", store_url, "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    stderr(&run)
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite:{}", dir.join(name).display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_through_a_file_is_lossless() {
    let server = log_with_device_traffic(4, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let source = read_everything(store(&server.store_url).await.as_ref()).await;
    assert!(source.len() > 40, "only {} events", source.len());
    assert_no_clear_push_magic(&source);
    let head = audit_head(&server.store_url);

    let file = dir.path().join("log.ndjson");
    let said = export(&server.store_url, &file);
    assert!(
        said.contains(&format!("exported {} events, head {head}", source.len())),
        "{said}"
    );
    assert!(said.contains("sealed"), "{said}");
    assert!(!dir.path().join("log.ndjson.partial").exists());
    let text = std::fs::read(&file).unwrap();
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), source.len());
    for (line, event) in lines.iter().zip(&source) {
        assert_eq!(&ndjson::decode(line).unwrap(), event);
    }

    let target = sqlite_url(dir.path(), "restored.db");
    let run = annal(&["events", "import", file.to_str().unwrap(), "--store", &target]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("folds them from the log"), "{}", stderr(&run));
    let restored = read_everything(store(&target).await.as_ref()).await;
    assert_eq!(restored, source, "an envelope changed on the way");
    assert_eq!(audit_head(&target), head);
    assert_verifies(&target);

    // A copy cut short at the end of a line verifies as a shorter log: the import says to
    // compare heads rather than claiming the export's, and --expect-head refuses it whole.
    let cut = dir.path().join("cut.ndjson");
    let keep: usize = lines[..lines.len() - 3].iter().map(|l| l.len() + 1).sum();
    std::fs::write(&cut, &text[..keep]).unwrap();
    let short = sqlite_url(dir.path(), "short.db");
    let run = annal(&[
        "events",
        "import",
        cut.to_str().unwrap(),
        "--store",
        &short,
        "--expect-head",
        &head,
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("not the whole export"), "{}", stderr(&run));
    assert!(
        !dir.path().join("short.db").exists(),
        "a refused import creates no store"
    );
    let run = annal(&["events", "import", cut.to_str().unwrap(), "--store", &short]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stderr(&run).contains("the head the export"), "{}", stderr(&run));
    assert!(stderr(&run).contains("Compare this head"), "{}", stderr(&run));
    let full = sqlite_url(dir.path(), "full.db");
    let run = annal(&[
        "events",
        "import",
        file.to_str().unwrap(),
        "--store",
        &full,
        "--expect-head",
        &head,
    ]);
    assert!(run.status.success(), "{}", stderr(&run));

    let again = dir.path().join("again.ndjson");
    export(&target, &again);
    assert_eq!(std::fs::read(&again).unwrap(), text, "the re-export differs");

    // Into a store that holds anything: refused, and nothing changes.
    let run = annal(&["events", "import", file.to_str().unwrap(), "--store", &target]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("not empty"), "{}", stderr(&run));
    assert_eq!(read_everything(store(&target).await.as_ref()).await.len(), source.len());
}

/// Imports `lines` into a fresh store; returns what the command said, having checked that it
/// failed and wrote nothing.
async fn refused(dir: &Path, name: &str, lines: &[Vec<u8>]) -> String {
    let file = dir.join(format!("{name}.ndjson"));
    std::fs::write(&file, lines.join(&b'\n')).unwrap();
    let target = sqlite_url(dir, &format!("{name}.db"));
    let run = annal(&["events", "import", file.to_str().unwrap(), "--store", &target]);
    assert!(!run.status.success(), "{name}: the import succeeded");
    assert_eq!(
        store(&target).await.head().await.unwrap().position,
        0,
        "{name}: something was written"
    );
    let said = stderr(&run);
    assert!(said.contains("nothing was imported"), "{name}: {said}");
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_file_is_refused_naming_the_event() {
    let server = log_with_device_traffic(2, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.ndjson");
    export(&server.store_url, &file);
    let text = std::fs::read(&file).unwrap();
    let lines: Vec<Vec<u8>> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let k = lines.len() / 2;
    let id = |i: usize| ndjson::decode(&lines[i]).unwrap().event_id.to_string();

    // One byte of one event's data: a letter of its body's first key.
    let mut modified = lines.clone();
    let at = find(&modified[k], br#""data":{""#) + br#""data":{""#.len();
    modified[k][at] = if modified[k][at] == b'z' { b'y' } else { b'z' };
    assert!(
        ndjson::decode(&modified[k]).is_ok(),
        "the tampered line must still parse"
    );
    let said = refused(dir.path(), "modified", &modified).await;
    assert!(said.contains(&format!("line {}, event {}", k + 1, id(k))), "{said}");
    assert!(said.contains("was modified"), "{said}");

    let mut removed = lines.clone();
    removed.remove(k);
    let said = refused(dir.path(), "removed", &removed).await;
    assert!(said.contains(&format!("line {}, event {}", k + 1, id(k + 1))), "{said}");
    assert!(said.contains(&format!("position {} was removed", k + 1)), "{said}");

    let mut swapped = lines.clone();
    swapped.swap(k, k + 1);
    let said = refused(dir.path(), "swapped", &swapped).await;
    assert!(said.contains(&format!("line {}, event {}", k + 1, id(k + 1))), "{said}");
    assert!(said.contains("reordered"), "{said}");

    // A part of a log (exported from a later position) is not a log to restore.
    let said = refused(dir.path(), "partial", &lines[k..]).await;
    assert!(said.contains("import needs a whole log"), "{said}");
    let mut garbled = lines.clone();
    garbled[k].truncate(20);
    let said = refused(dir.path(), "garbled", &garbled).await;
    assert!(
        said.contains(&format!("line {}: not an exported event", k + 1)),
        "{said}"
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in line")
}
