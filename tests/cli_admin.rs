//! The admin CLI against a real server: what an admin types, what a script reads.

mod common;

use std::process::{Command, Output};

use common::admin::{create_key, ndjson_positions};
use common::server::{device, enroll, Server};
use serde_json::Value;

fn annal(server: &Server, key: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .env("ANNAL_SERVER", &server.base)
        .env("ANNAL_API_KEY", key)
        .output()
        .expect("run annal")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_works_a_device_from_the_command_line() {
    let server = Server::start(&[]).await;
    let admin = create_key(&server, "alice", "admin");
    let operator = create_key(&server, "olaf", "operator");
    let d = device(&server, 7);
    enroll(&server.client(), &d).await;

    // devices list: a table for people, JSON for scripts.
    let table = stdout(&annal(&server, &admin, &["devices", "list"]));
    assert!(table.lines().next().unwrap().contains("SERIAL"));
    assert!(table.contains(&d.serial));
    let json: Value = serde_json::from_str(&stdout(&annal(&server, &admin, &["devices", "list", "--json"]))).unwrap();
    assert_eq!(json["devices"][0]["udid"], d.udid.as_str());

    // enqueue: the operator is refused a lock (exit 1, the API's reason), the admin is not.
    let args = [
        "enqueue",
        d.udid.as_str(),
        "-t",
        "DeviceLock",
        "-k",
        "Message=Call IT",
        "--reason",
        "lost",
    ];
    // A destructive command names its devices and waits for a person to type their number:
    // with no terminal to ask, nothing is sent; --dry-run shows the list and sends nothing.
    let unasked = annal(&server, &admin, &args);
    assert!(!unasked.status.success());
    assert!(
        String::from_utf8_lossy(&unasked.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&unasked.stderr)
    );
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let plan = annal(&server, &admin, &dry);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    assert!(stdout(&plan).contains(d.udid.as_str()));
    let mut typo = dry.clone();
    typo[1] = "NO-SUCH-UDID";
    let typo = annal(&server, &admin, &typo);
    assert!(!typo.status.success(), "an id that names nothing fails the dry run");
    assert!(String::from_utf8_lossy(&typo.stdout).contains("UNKNOWN"));
    let no_reason = annal(&server, &admin, &args[..args.len() - 2]);
    assert!(String::from_utf8_lossy(&no_reason.stderr).contains("give --reason"));
    let mut args = args.to_vec();
    args.push("--yes");
    let refused = annal(&server, &operator, &args);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let queued = stdout(&annal(&server, &admin, &args));
    assert!(queued.contains(&d.udid), "{queued}");
    let bad = annal(
        &server,
        &admin,
        &[
            "enqueue",
            &d.udid,
            "-t",
            "DeviceLock",
            "-k",
            "Bogus=1",
            "--reason",
            "x",
            "--yes",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Bogus"));

    // history and the queue show it, with who queued it.
    let history: Value =
        serde_json::from_str(&stdout(&annal(&server, &admin, &["history", &d.udid, "--json"]))).unwrap();
    let queued_events: Vec<&Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "CommandQueued")
        .collect();
    assert_eq!(queued_events.len(), 1);
    assert_eq!(queued_events[0]["actor"], "api-key:alice");
    let queue = stdout(&annal(&server, &admin, &["devices", "queue", &d.udid]));
    assert!(queue.contains("DeviceLock"), "{queue}");

    // audit export to a file, and events tail.
    let file = server.data_dir.join("audit.csv");
    stdout(&annal(
        &server,
        &admin,
        &["audit", "export", "--format", "csv", "-o", file.to_str().unwrap()],
    ));
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(
        csv.contains("\"DeviceLock\"") && csv.contains("\"api-key:alice\"") && csv.contains("\"lost\""),
        "{csv}"
    );
    let tail = stdout(&annal(&server, &admin, &["events", "tail", "--from", "1"]));
    let positions = ndjson_positions(&tail);
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    assert!(positions.len() >= 4);

    // A wrong key is a clear error and a non-zero exit.
    let wrong = annal(&server, "annal_0123456789abcdef_nope", &["devices", "list"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("403"));
}

/// Groups from the command line: tag devices, define a group on the tag, see whom it means,
/// and send a wipe to it: the devices are listed first (the dry run sends nothing) and the count
/// confirmed to the server is the group's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sends_a_command_to_a_group_from_the_command_line() {
    let server = Server::start(&[]).await;
    let admin = create_key(&server, "alice", "admin");
    let auditor = create_key(&server, "audrey", "auditor");
    let (a, b) = (device(&server, 1), device(&server, 2));
    enroll(&server.client(), &a).await;
    enroll(&server.client(), &b).await;

    stdout(&annal(
        &server,
        &admin,
        &["devices", "tag", &a.udid, "lab,site:b2", "--reason", "moved"],
    ));
    let tags = stdout(&annal(&server, &auditor, &["devices", "tags", &a.udid]));
    assert_eq!(tags.lines().collect::<Vec<_>>(), ["lab", "site:b2"]);
    let refused = annal(&server, &auditor, &["devices", "tag", &b.udid, "lab"]);
    assert!(!refused.status.success(), "an auditor tags nothing");
    let listed = stdout(&annal(&server, &admin, &["devices", "list", "--tag", "lab"]));
    assert!(listed.contains(&a.serial) && !listed.contains(&b.serial), "{listed}");

    let set = [
        "groups",
        "set",
        "lab",
        "--tag",
        "lab",
        "--last-seen-after",
        "1d",
        "--reason",
        "INC-7",
    ];
    stdout(&annal(&server, &admin, &set));
    let groups = stdout(&annal(&server, &auditor, &["groups", "list"]));
    assert!(groups.contains("lab") && groups.contains("tags=lab"), "{groups}");
    let show = stdout(&annal(&server, &auditor, &["groups", "show", "lab"]));
    assert!(show.contains(&a.udid) && !show.contains(&b.udid), "{show}");

    let wipe = [
        "enqueue",
        "--group",
        "lab",
        "-t",
        "EraseDevice",
        "--reason",
        "lab reset",
    ];
    let mut dry = wipe.to_vec();
    dry.push("--dry-run");
    let plan = annal(&server, &admin, &dry);
    let shown = stdout(&plan);
    assert!(shown.contains(&a.udid) && !shown.contains(&b.udid), "{shown}");
    let (_, queue) = common::admin::get(&server.client(), &format!("/v1/devices/{}/queue", a.udid), &admin).await;
    assert!(
        queue["commands"].as_array().unwrap().is_empty(),
        "a dry run sends nothing"
    );
    let unasked = annal(&server, &admin, &wipe);
    assert!(!unasked.status.success(), "nobody to ask and no --yes: nothing is sent");

    let mut yes = wipe.to_vec();
    yes.push("--yes");
    let sent = stdout(&annal(&server, &admin, &yes));
    assert!(sent.contains(&a.udid) && !sent.contains(&b.udid), "{sent}");
    let (_, queue) = common::admin::get(&server.client(), &format!("/v1/devices/{}/queue", a.udid), &admin).await;
    assert_eq!(queue["commands"][0]["request_type"], "EraseDevice");

    stdout(&annal(
        &server,
        &admin,
        &["groups", "delete", "lab", "--reason", "done"],
    ));
    let gone = annal(&server, &auditor, &["groups", "show", "lab"]);
    assert!(!gone.status.success());
}

/// Declarative Device Management from the command line: define a declaration from its file,
/// see it listed with its ServerToken, be refused an invalid one with the key path, check one
/// without recording it, assign it, see what the devices report, export, remove.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_declarations_from_the_command_line() {
    let server = Server::start(&[]).await;
    let admin = create_key(&server, "alice", "admin");
    let auditor = create_key(&server, "audrey", "auditor");
    let d = device(&server, 3);
    enroll(&server.client(), &d).await;
    let passcode = "com.apple.configuration.passcode.settings";
    let write = |name: &str, json: Value| {
        let path = server.data_dir.join(name);
        std::fs::write(&path, json.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good = write(
        "passcode.json",
        serde_json::json!({"Type": passcode, "Identifier": "com.example.passcode", "Payload": {"MinimumLength": 6}}),
    );
    let bad_payload = write("bad-payload.json", serde_json::json!({"MinimumLength": "six"}));
    let bad = write(
        "bad.json",
        serde_json::json!({"Type": passcode, "Identifier": "com.example.bad", "Payload": {"MinimumLength": "six"}}),
    );
    let other = write(
        "other.json",
        serde_json::json!({"Type": passcode, "Identifier": "com.example.other", "Payload": {"MinimumLength": 8}}),
    );

    // put from a declaration file as Apple writes it; list shows it with its ServerToken.
    let put: Value = serde_json::from_str(&stdout(&annal(
        &server,
        &admin,
        &[
            "declarations",
            "put",
            "com.example.passcode",
            "--file",
            &good,
            "--reason",
            "CIS",
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(put["changed"], true, "{put}");
    let token = put["server_token"].as_str().unwrap().to_string();
    let list = stdout(&annal(&server, &auditor, &["declarations", "list"]));
    assert!(list.lines().next().unwrap().contains("SERVER TOKEN"), "{list}");
    let row = list
        .lines()
        .find(|l| l.starts_with("com.example.passcode"))
        .expect("listed");
    assert!(row.contains(&token) && row.contains(passcode), "{list}");
    let again = stdout(&annal(
        &server,
        &admin,
        &["declarations", "put", "com.example.passcode", "--file", &good],
    ));
    assert!(again.contains(&token) && again.contains("unchanged"), "{again}");
    let refused = annal(
        &server,
        &auditor,
        &["declarations", "put", "com.example.other", "--file", &other],
    );
    assert!(!refused.status.success(), "an auditor changes nothing");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("403"), "{err}");
    let mismatch = annal(
        &server,
        &admin,
        &["declarations", "put", "com.example.x", "--file", &good],
    );
    let err = String::from_utf8_lossy(&mismatch.stderr);
    assert!(!mismatch.status.success() && err.contains("(at Identifier)"), "{err}");

    // An invalid payload: the server's reason and key path, a non-zero exit, nothing recorded.
    for args in [
        &[
            "declarations",
            "put",
            "com.example.bad",
            "--type",
            passcode,
            "--payload-file",
            &bad_payload,
        ][..],
        &["declarations", "validate", "--file", &bad][..],
    ] {
        let out = annal(&server, &admin, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains("Payload.MinimumLength") && err.contains("400"),
            "{args:?}: {err}"
        );
    }

    // validate: a dry run prints the token and appends nothing.
    let head = |server: &Server| {
        let out = stdout(&annal(server, &admin, &["declarations", "list", "--json"]));
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let before = head(&server);
    assert_eq!(before["declarations"].as_array().unwrap().len(), 1, "{before}");
    let valid = stdout(&annal(&server, &admin, &["declarations", "validate", "--file", &other]));
    assert!(
        valid.contains("com.example.other") && valid.contains("valid"),
        "{valid}"
    );
    assert_eq!(head(&server), before, "validate records nothing");

    // assign to an inventory filter, and to the enrolled device; show lists both.
    let assigned = stdout(&annal(
        &server,
        &admin,
        &[
            "declarations",
            "assign",
            "com.example.passcode",
            "--filter-model",
            "iPhone",
            "--reason",
            "fleet",
        ],
    ));
    let filter_id = assigned.split_whitespace().next().unwrap().to_string();
    assert!(filter_id.starts_with("com.example.passcode@filter:"), "{assigned}");
    stdout(&annal(
        &server,
        &admin,
        &[
            "declarations",
            "assign",
            "com.example.passcode",
            "--enrollment",
            &d.udid,
        ],
    ));
    let show = stdout(&annal(
        &server,
        &auditor,
        &["declarations", "show", "com.example.passcode"],
    ));
    assert!(
        show.contains(&filter_id) && show.contains("filter model=iPhone"),
        "{show}"
    );
    assert!(
        show.contains(&format!("enrollment {}", d.udid)) && show.contains(&token),
        "{show}"
    );

    // unassign takes the id as show lists it (with its `@` and `:`).
    stdout(&annal(
        &server,
        &admin,
        &[
            "declarations",
            "unassign",
            "com.example.passcode",
            &filter_id,
            "--reason",
            "narrower",
        ],
    ));
    let show = stdout(&annal(
        &server,
        &auditor,
        &["declarations", "show", "com.example.passcode"],
    ));
    assert!(!show.contains(&filter_id) && show.contains(&d.udid), "{show}");

    // status: the device's set holds the declaration; the fleet view counts it.
    let view: Value = serde_json::from_str(&stdout(&annal(
        &server,
        &auditor,
        &["declarations", "status", "--device", &d.udid, "--json"],
    )))
    .unwrap();
    assert_eq!(view["declarations"][0]["identifier"], "com.example.passcode", "{view}");
    let table = stdout(&annal(
        &server,
        &auditor,
        &["declarations", "status", "--device", &d.udid],
    ));
    assert!(
        table.contains("declarations_token") && table.contains("com.example.passcode"),
        "{table}"
    );
    let fleet = stdout(&annal(&server, &auditor, &["declarations", "status"]));
    let row = fleet
        .lines()
        .find(|l| l.starts_with("com.example.passcode"))
        .expect(&fleet);
    assert_eq!(row.split_whitespace().nth(2), Some("1"), "one device holds it: {fleet}");

    // export: CSV with its header, to stdout or a file.
    let csv = stdout(&annal(
        &server,
        &auditor,
        &["declarations", "export", "--format", "csv"],
    ));
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("enrollment,udid,serial_number,identifier"),
        "{csv}"
    );
    assert!(csv.contains("com.example.passcode") && csv.contains(&d.udid), "{csv}");
    let file = server.data_dir.join("ddm.ndjson");
    stdout(&annal(
        &server,
        &auditor,
        &[
            "declarations",
            "export",
            "--format",
            "ndjson",
            "--identifier",
            "com.example.passcode",
            "-o",
            file.to_str().unwrap(),
        ],
    ));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&file).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["identifier"], "com.example.passcode");

    // rm removes it and its assignments.
    stdout(&annal(
        &server,
        &admin,
        &["declarations", "rm", "com.example.passcode", "--reason", "retired"],
    ));
    let list = stdout(&annal(&server, &auditor, &["declarations", "list"]));
    assert!(!list.contains("com.example.passcode"), "{list}");
    let gone = annal(&server, &auditor, &["declarations", "show", "com.example.passcode"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("404"));
}
