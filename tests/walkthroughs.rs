//! The documents' walk-throughs, run as written: the shell blocks of the README and the runbooks
//! are extracted from the Markdown itself and run against the binary this build made, so a
//! document whose commands stop working fails CI instead of failing an admin.
//!
//! # The convention
//!
//! - `<!-- walkthrough: NAME -->` on the line before a ```` ```sh ```` block (blank lines may sit
//!   between them; the fence may be indented, as in a numbered list) makes the block part of the
//!   walk-through NAME. GitHub does not show the comment. Unmarked blocks never run.
//! - A walk-through's blocks run in document order as one bash script (`set -euo pipefail`), in
//!   a fresh temporary directory that is also the working directory (so `data/` is
//!   `./data/`, as for an admin who starts in an empty directory), with this build's `annal`
//!   first on PATH and no `ANNAL_*` variable of the caller's environment.
//! - A line whose command ends in `&` starts something long-running (`annal serve`; the documents
//!   say "or in another terminal"). Bash runs it in the background; the harness then waits until
//!   `/healthz` answers on the walk-through's port before the next line, and stops every
//!   background process when the script ends, whether it succeeded or not. A document stops one
//!   itself with `kill %N` (`%1`: its first); the harness then waits until it has exited, as an
//!   admin would before starting the next server on the same port.
//! - Every other line runs literally, except for the [`SUBSTITUTIONS`] and [`environment`], the
//!   one place that lists what the rehearsal changes (host names, ports, absolute paths, the
//!   PostgreSQL database), and each walk-through's [`StandIn`]s: what only Apple has (the vendor
//!   certificate, the push certificate the portal returns, APNs) or what happens between blocks
//!   (a server that has served devices, a machine that is lost). The documents say which steps
//!   their CI rehearsal stands in for.
//! - A failing command fails the test with the document, the line and the command, then the
//!   script's output.
//!
//! To add a walk-through: mark its blocks, add a [`Walkthrough`] to [`WALKTHROUGHS`] and a test
//! that runs it. `every_marked_walkthrough_runs` fails on a marker no test runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the rehearsal changes in the documents' lines, in this order. `{port}` is a free port
/// of this walk-through, `{dir}` its temporary directory, `{postgres}` the URL of a database
/// made for it (and dropped after).
const SUBSTITUTIONS: &[(&str, &str)] = &[
    // No DNS name points at the test machine; its own name does, on a port no other test uses.
    ("https://mdm.example.com", "https://localhost:{port}"),
    ("mdm.example.com", "localhost"),
    ("0.0.0.0:443", "127.0.0.1:{port}"),
    // The default address (`serve`'s `--listen`, the CLI's `--server`), as the README shows it.
    ("127.0.0.1:8443", "127.0.0.1:{port}"),
    ("localhost:8443", "localhost:{port}"),
    // Absolute paths of a real host, inside the walk-through's directory instead.
    ("/etc/annal", "{dir}/etc/annal"),
    ("/backup", "{dir}/backup"),
    // The backup to restore is today's (the backup block names it with `$(date +%F)`).
    ("YYYY-MM-DD", "$(date +%F)"),
    // The device a runbook pushes: the first of the simulated devices a stand-in enrolled.
    ("<UDID>", "0000SIM0-0000000000000000"),
    // A database of the test server instead of the documents' database host.
    ("postgres://annal@db.example.com/annal", "{postgres}"),
    // No systemd: ops/annal.service's ExecReload is SIGHUP to the server, the rehearsal's first.
    ("systemctl reload annal", "kill -HUP %1"),
];

/// The environment of every walk-through besides PATH: where the default server address
/// (`serve --listen`, the CLI's `--server`) points, and which database `psql` opens. (Logs
/// without colour codes only make the output shown on a failure easier to read.)
fn environment(port: u16, postgres: &Postgres) -> Vec<(String, String)> {
    vec![
        ("NO_COLOR".into(), "1".into()),
        ("ANNAL_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("ANNAL_SERVER".into(), format!("https://127.0.0.1:{port}")),
        ("PGHOST".into(), postgres.host.clone()),
        ("PGPORT".into(), postgres.port.to_string()),
        ("PGUSER".into(), postgres.user.clone()),
        ("PGDATABASE".into(), postgres.database.clone()),
    ]
    .into_iter()
    .chain(postgres.password.clone().map(|p| ("PGPASSWORD".into(), p)))
    .collect()
}

/// Shell run in place of what the document leaves to Apple or to time, `before` the first line
/// of the walk-through that starts with that text (`None`: after the last line, to check what
/// the walk-through should have achieved). Stand-ins run as written, without substitutions.
struct StandIn {
    before: Option<&'static str>,
    what: &'static str,
    script: &'static str,
}

struct Walkthrough {
    name: &'static str,
    document: &'static str,
    stand_ins: &'static [StandIn],
}

/// A vendor certificate and key, and two certificates in place of Apple's WWDR intermediate and
/// root, as `annal vendor sign` is given them (DER `.cer` files, as Apple hands them out).
const VENDOR_STAND_IN: &str = r#"
openssl req -x509 -newkey rsa:2048 -nodes -keyout vendor.key -subj '/CN=MDM Vendor stand-in' -days 30 -outform DER -out mdm.cer 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout wwdr.key -subj '/CN=WWDR stand-in' -days 30 -outform DER -out AppleWWDRCA.cer 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj '/CN=Apple Root stand-in' -days 30 -outform DER -out AppleIncRootCertificate.cer 2>/dev/null
"#;

/// The certificate Apple's portal returns for the CSR: the same key, the topic in its UID.
const PUSH_CERT_STAND_IN: &str = r#"
openssl req -x509 -key push.key -subj '/UID=com.apple.mgmt.External.walkthrough/CN=APSP:walkthrough' -days 365 -out MDM_Certificate.pem
"#;

/// Annal's mock APNs in place of Apple's, for every server the walk-through starts.
const MOCK_APNS_STAND_IN: &str = r#"
annal debug mock-apns --dir . > mock-apns.out &
walk_wait_for 'grep -q "^mock APNs at" mock-apns.out'
export ANNAL_APNS_URL=$(sed -n 's/^mock APNs at \([^ ]*\) .*/\1/p' mock-apns.out)
export ANNAL_APNS_CA_FILE=$PWD/mock-ca.pem
# Not one of the document's jobs: its `%1` is its own first server, as for an admin.
disown
"#;

/// A server on a fresh data directory that has enrolled and served simulated devices.
const SERVED_DEVICES_STAND_IN: &str = r#"
annal serve &
walk_ready
annal sim --server "$ANNAL_SERVER" --devices 5 --rounds 2
"#;

/// The same, then stopped: what a runbook that begins with "stop the server" starts from.
const SERVED_DEVICES_STOPPED_STAND_IN: &str = r#"
annal serve &
walk_ready
annal sim --server "$ANNAL_SERVER" --devices 5 --rounds 2
walk_stop
"#;

/// Last year's push certificate, 19 days before it expires, installed on a server that pushes
/// to the mock APNs and has enrolled three simulated devices with its topic.
const EXPIRING_PUSH_CERT_STAND_IN: &str = r#"
openssl req -x509 -newkey rsa:2048 -nodes -keyout push.key -subj '/UID=com.apple.mgmt.External.walkthrough/CN=APSP:last year' -days 19 -out MDM_old.pem 2>/dev/null
annal serve &
walk_ready
annal push-cert install MDM_old.pem --key push.key
walk_wait_for 'curl -fsS --cacert data/ca/ca.pem -H "Authorization: Bearer $(cat data/admin-api-key)" "$ANNAL_SERVER/v1/push-certificate" | jq -e .installed'
annal sim --server "$ANNAL_SERVER" --devices 3 --rounds 1 --topic com.apple.mgmt.External.walkthrough
"#;

const WALKTHROUGHS: &[Walkthrough] = &[
    Walkthrough {
        name: "enrollment",
        document: "README.md",
        stand_ins: &[
            StandIn {
                before: Some("annal serve"),
                what: "Apple's APNs: Annal's mock APNs (annal debug mock-apns)",
                script: MOCK_APNS_STAND_IN,
            },
            StandIn {
                before: Some("annal vendor sign"),
                what: "the vendor certificate and Apple's chain: self-signed stand-ins",
                script: VENDOR_STAND_IN,
            },
            StandIn {
                before: Some("annal push-cert inspect"),
                what: "Apple's portal: a self-signed push certificate with the CSR's key",
                script: PUSH_CERT_STAND_IN,
            },
        ],
    },
    Walkthrough {
        name: "push-certificate-renewal",
        document: "ops/runbooks/push-certificate-renewal.md",
        stand_ins: &[
            StandIn {
                before: Some("API="),
                what: "Apple's APNs: Annal's mock APNs (annal debug mock-apns)",
                script: MOCK_APNS_STAND_IN,
            },
            StandIn {
                before: Some("API="),
                what: "last year's certificate, expiring, and enrolled devices",
                script: EXPIRING_PUSH_CERT_STAND_IN,
            },
            StandIn {
                before: Some("annal vendor sign"),
                what: "the vendor certificate and Apple's chain: self-signed stand-ins",
                script: VENDOR_STAND_IN,
            },
            StandIn {
                before: Some("annal push-cert inspect"),
                what: "Apple's portal: a renewed certificate, same key, same topic",
                script: r#"
openssl req -x509 -key push.key -subj '/UID=com.apple.mgmt.External.walkthrough/CN=APSP:renewed' -days 365 -out MDM_new.pem
"#,
            },
            StandIn {
                before: None,
                what: "the renewal took, the push was accepted, another Apple ID's certificate is refused",
                script: r#"
curl -fsS --cacert data/ca/ca.pem -H "Authorization: Bearer $KEY" "$API/v1/push-certificate" | jq -e '.expiring_soon == false and .days_left > 300'
curl -fsS -X POST --cacert data/ca/ca.pem -H "Authorization: Bearer $KEY" "$API/v1/push/0000SIM0-0000000000000000" | jq -e '.status[].outcome == "accepted"'
openssl req -x509 -key push.key -subj '/UID=com.apple.mgmt.External.other-apple-id/CN=APSP:other' -days 365 -out MDM_other.pem
status=0
annal push-cert install MDM_other.pem --key push.key || status=$?
test "$status" = 3
"#,
            },
        ],
    },
    Walkthrough {
        name: "backup-and-restore",
        document: "ops/runbooks/backup-and-restore.md",
        stand_ins: &[
            StandIn {
                before: Some("mkdir -p -m 700 /backup"),
                what: "a server that has served devices",
                script: SERVED_DEVICES_STAND_IN,
            },
            StandIn {
                before: Some("mkdir -m 700 data"),
                what: "the machine is lost: the server stops, its data directory goes",
                script: "walk_stop\nmv data lost-data\n",
            },
            StandIn {
                before: None,
                what: "the restored server serves the devices of the backup, and new ones; \
                       a restore without the data key fails loudly (disaster-recovery.md)",
                script: r#"
test "$(annal devices list --json | jq '.devices | length')" = 5
annal sim --server "$ANNAL_SERVER" --devices 2 --rounds 1
walk_stop
mv data/secrets.key lost-secrets.key
status=0
timeout 60 annal serve > without-key.out 2>&1 || status=$?
cat without-key.out
test "$status" = 1
grep -q 'but the data key ./data/secrets.key is missing' without-key.out
"#,
            },
        ],
    },
    Walkthrough {
        name: "sqlite-to-postgresql",
        document: "ops/runbooks/sqlite-to-postgresql.md",
        stand_ins: &[
            StandIn {
                before: Some("annal migrate"),
                what: "a SQLite log that has served devices, its server stopped (step 2)",
                script: SERVED_DEVICES_STOPPED_STAND_IN,
            },
            StandIn {
                before: None,
                what: "the server on PostgreSQL serves the migrated devices, and new ones",
                script: r#"
test "$(annal devices list --json | jq '.devices | length')" = 5
annal sim --server "$ANNAL_SERVER" --devices 2 --rounds 1
"#,
            },
        ],
    },
    Walkthrough {
        name: "tls-certificate",
        document: "ops/runbooks/tls-certificate.md",
        stand_ins: &[
            StandIn {
                before: Some("annal ca init --json"),
                what: "a running server",
                script: "annal serve &\nwalk_ready\n",
            },
            StandIn {
                before: None,
                what: "the server serves the certificate step 3 issued, not the one set aside",
                script: r#"
served() { openssl s_client -connect "$ANNAL_LISTEN" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256; }
on_disk() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
walk_wait_for 'test "$(served)" = "$(on_disk data/tls/server.pem)"'
test "$(on_disk data/tls/server.pem)" != "$(on_disk data/tls-old/server.pem)"
openssl x509 -in data/tls/server.pem -noout -ext subjectAltName | grep -q 'DNS:localhost'
"#,
            },
        ],
    },
    Walkthrough {
        name: "ca-rotation",
        document: "ops/runbooks/ca-rotation.md",
        stand_ins: &[
            StandIn {
                before: Some("OLD_CA="),
                what: "a server that served devices, stopped (step 2)",
                script: SERVED_DEVICES_STOPPED_STAND_IN,
            },
            StandIn {
                before: Some("annal ca init"),
                what: "step 3's third choice: the old TLS certificate set aside",
                script: "mv data/tls data/tls-old\n",
            },
            StandIn {
                before: Some("annal devices list --state enrolled"),
                what: "step 5: the devices, all on the old CA, re-enroll under the new one",
                script: r#"
test "$(annal devices list --json --state enrolled --identity-issuer "$OLD_CA" | jq '.devices | length')" = 5
for udid in $(annal devices list --json | jq -r '.devices[].udid'); do
  annal devices forget "$udid" --reason "re-enrolls under the new CA" > /dev/null
done
annal sim --server "$ANNAL_SERVER" --devices 5 --rounds 1
"#,
            },
            StandIn {
                before: None,
                what: "no enrolled device is left on the old CA; the device shows the new one",
                script: r#"
test "$(annal devices list --json --state enrolled --identity-issuer "$OLD_CA" | jq '.devices | length')" = 0
NEW_CA=$(annal ca show --json | jq -r .subject)
test "$NEW_CA" != "$OLD_CA"
annal devices show 0000SIM0-0000000000000000 --json | jq -e --arg ca "$NEW_CA" '.identity_certificate.issuer == $ca'
"#,
            },
        ],
    },
];

#[test]
fn tls_certificate_names_and_renewal() {
    run("tls-certificate");
}

#[test]
fn ca_rotation() {
    run("ca-rotation");
}

#[test]
fn enrollment_from_nothing_to_an_enrollment_profile() {
    run("enrollment");
}

#[test]
fn push_certificate_renewal() {
    run("push-certificate-renewal");
}

#[test]
fn backup_and_restore() {
    run("backup-and-restore");
}

#[test]
fn sqlite_to_postgresql() {
    run("sqlite-to-postgresql");
}

/// A walk-through marked in a document but run by no test would look rehearsed and not be.
#[test]
fn every_marked_walkthrough_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = vec![root.join("README.md")];
    collect_markdown(&root.join("ops"), &mut documents);
    collect_markdown(&root.join("docs"), &mut documents);
    let mut marked = 0;
    for document in documents {
        let text = std::fs::read_to_string(&document).expect("read document");
        for block in blocks(&text) {
            marked += 1;
            let known = WALKTHROUGHS
                .iter()
                .any(|w| w.name == block.name && root.join(w.document) == document);
            assert!(
                known,
                "{}:{}: walk-through {:?} is marked but no test runs it (add it to WALKTHROUGHS)",
                document.display(),
                block.first_line,
                block.name
            );
        }
    }
    assert!(marked >= WALKTHROUGHS.len(), "{marked} marked blocks");
}

/// The marker parser: fences, indentation, blank lines after the marker, unmarked blocks.
#[test]
fn markers_select_the_blocks_that_follow_them() {
    let text = "intro\n<!-- walkthrough: a -->\n\n   ```sh\n   one \\\n     two\n   ```\n\
                ```sh\nnot marked\n```\n<!-- walkthrough: b -->\n```\nno language\n```\n\
                ````markdown\n<!-- walkthrough: example -->\n```sh\nshown\n```\n````\n";
    let found = blocks(text);
    assert_eq!(
        found.len(),
        2,
        "{:?}",
        found.iter().map(|b| &b.lines).collect::<Vec<_>>()
    );
    assert_eq!(found[0].name, "a");
    assert_eq!(found[0].first_line, 4);
    assert_eq!(
        found[0].lines,
        vec![(5, "one \\".to_string()), (6, "  two".to_string())]
    );
    assert_eq!(found[1].name, "b");
    assert_eq!(found[1].lines, vec![(13, "no language".to_string())]);
}

/// The harness itself: a server stopped with `kill %1` has exited before the next one starts on
/// its port; a failing command is named with its document line (the whole command,
/// continuation lines too), nothing after it runs, and a background process is stopped.
#[test]
fn a_failing_command_is_named_and_its_server_stopped() {
    let text = "# Doc\n\n<!-- walkthrough: self-test -->\n```sh\nannal serve &\nkill %1\n\
                annal serve --log-format json &\necho ran > before\nannal no-such-command \\\n  --flag\n\
                echo ran > after\n```\n";
    let walk = Walkthrough {
        name: "self-test",
        document: "self-test.md",
        stand_ins: &[
            StandIn {
                before: Some("kill %1"),
                what: "the first server's process id",
                script: "first=$!\n",
            },
            StandIn {
                before: Some("annal serve --log-format json"),
                what: "the first server has exited (and been reaped) when the next starts",
                script: "test ! -e /proc/$first\n",
            },
            StandIn {
                before: Some("echo ran > before"),
                what: "the second server runs; its process id, to see it stopped",
                script: "kill -0 $!\necho $! > serve.pid\n",
            },
        ],
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let failure = rehearse(&walk, text, dir.path()).expect_err("the unknown command fails");
    assert!(
        failure.contains("self-test.md:9: annal no-such-command --flag"),
        "{failure}"
    );
    assert!(dir.path().join("before").exists(), "the lines before it ran");
    assert!(!dir.path().join("after").exists(), "the lines after it did not");
    let pid = std::fs::read_to_string(dir.path().join("serve.pid")).expect("the stand-in ran");
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "annal serve (pid {pid}) was left running"
    );
}

/// The database URL of a walk-through keeps everything of the test server's URL but the name.
#[test]
fn a_walkthrough_database_is_on_the_test_server() {
    let url = "postgres://annal:secret@db:5433/test?sslmode=disable";
    assert_eq!(
        with_database(url, "walk_x"),
        "postgres://annal:secret@db:5433/walk_x?sslmode=disable"
    );
    assert_eq!(
        user_host_port(url),
        ("annal".into(), Some("secret".into()), "db".into(), 5433)
    );
    assert_eq!(
        user_host_port("postgres://postgres@127.0.0.1/test"),
        ("postgres".into(), None, "127.0.0.1".into(), 5432)
    );
}

/// Which lines start or stop a background server.
#[test]
fn background_lines_and_stops_are_recognised() {
    assert!(is_background("annal serve &"));
    assert!(is_background("  --scep-challenge-file f &   # or in another terminal"));
    assert!(!is_background("make && make install"));
    assert!(!is_background("echo '&' # &"));
    assert_eq!(stopped_jobs("kill %1"), vec!["%1"]);
    assert_eq!(stopped_jobs("kill -TERM %2 %% # both"), vec!["%2", "%%"]);
    assert!(stopped_jobs("kill -HUP %1").is_empty());
    assert!(stopped_jobs("skill %1").is_empty());
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// A marked block: its walk-through, the line of its opening fence, and its lines with their
/// line numbers in the document (1-based), the fence's indentation removed.
struct Block {
    name: String,
    first_line: usize,
    lines: Vec<(usize, String)>,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    // The backticks of the unmarked block we are in: a marker shown inside one (as the
    // runbooks' README shows the convention) is an example, not a marker.
    let mut inside: Option<usize> = None;
    while i < lines.len() {
        let trimmed = lines[i].trim();
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        if let Some(open) = inside {
            if ticks >= open && trimmed.len() == ticks {
                inside = None;
            }
            i += 1;
            continue;
        }
        if ticks >= 3 {
            inside = Some(ticks);
            i += 1;
            continue;
        }
        let Some(name) = trimmed
            .strip_prefix("<!-- walkthrough:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            i += 1;
            continue;
        };
        let mut fence = i + 1;
        while fence < lines.len() && lines[fence].trim().is_empty() {
            fence += 1;
        }
        let opening = lines.get(fence).copied().unwrap_or("");
        let indent = opening.len() - opening.trim_start().len();
        let language = opening.trim().strip_prefix("```");
        assert!(
            matches!(language, Some("" | "sh" | "bash" | "shell")),
            "line {}: the walk-through marker is not followed by a shell block",
            i + 1
        );
        let mut block = Block {
            name: name.trim().to_string(),
            first_line: fence + 1,
            lines: Vec::new(),
        };
        let mut j = fence + 1;
        while j < lines.len() && lines[j].trim() != "```" {
            // Lines of a block in a list are indented like its fence.
            let line = lines[j];
            let cut = line.len() - line.trim_start().len();
            block.lines.push((j + 1, line[cut.min(indent)..].to_string()));
            j += 1;
        }
        assert!(j < lines.len(), "line {}: the block never ends", fence + 1);
        found.push(block);
        i = j + 1;
    }
    found
}

/// Where a line of the script came from.
#[derive(Clone)]
enum Origin {
    Harness,
    Document { line: usize },
    StandIn { what: &'static str },
}

/// Helpers every script starts with. `walk_ready` follows every line that ends in `&`.
const PRELUDE: &str = r#"set -euo pipefail
trap 'echo "$LINENO" > "$WALK_FAILED_AT"' ERR
trap 'walk_stop' EXIT
# A signal (the harness's timeout) ends the script through the EXIT trap too.
trap 'exit 143' TERM INT
walk_wait_for() {  # a condition, polled for up to 60 s while the last background job runs
  local pid=$! deadline=$((SECONDS + 60))
  until eval "$1" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "walkthrough: the background command exited before: $1" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "walkthrough: not within 60 s: $1" >&2
      return 1
    fi
    sleep 0.1
  done
}
walk_ready() {  # the server started by the line before answers /healthz
  walk_wait_for 'curl -fsk --max-time 2 "https://127.0.0.1:$WALK_PORT/healthz"'
}
walk_stop() {  # every background process, stopped as an admin stops them (SIGTERM)
  local pids
  pids=$(jobs -p)
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    wait $pids 2>/dev/null || true
  fi
}
"#;

/// A database of its own on the test PostgreSQL server, dropped when dropped.
struct Postgres {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
    url: String,
    admin_url: String,
}

impl Postgres {
    fn create(name: &str) -> Postgres {
        let admin_url = std::env::var("ANNAL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let database = format!("walk_{}_{}", name.replace('-', "_"), std::process::id());
        let url = with_database(&admin_url, &database);
        let (user, password, host, port) = user_host_port(&admin_url);
        psql(&admin_url, &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        psql(&admin_url, &format!("CREATE DATABASE {database}"));
        Postgres {
            host,
            port,
            user,
            password,
            database,
            url,
            admin_url,
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            ])
            .output();
    }
}

fn psql(url: &str, statement: &str) {
    let out = Command::new("psql")
        .arg(url)
        .args(["-qc", statement])
        .output()
        .expect("psql runs (ops/install-test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "PostgreSQL is required at {url}: {statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `postgres://user@host:port/db?query` with another database.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{database}?{q}"),
        None => format!("{prefix}/{database}"),
    }
}

/// The user, password, host and port of a `postgres://user:password@host:port/…` URL, for
/// psql's variables.
fn user_host_port(url: &str) -> (String, Option<String>, String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("postgres", authority));
    let (user, password) = userinfo.split_once(':').map_or((userinfo, None), |(u, p)| (u, Some(p)));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (
        user.to_string(),
        password.map(str::to_string),
        host.to_string(),
        port.parse().expect("PostgreSQL port"),
    )
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The script of a walk-through and, for each of its lines, where it came from.
fn script(walk: &Walkthrough, blocks: &[Block], values: &[(&str, String)]) -> (String, Vec<Origin>) {
    let mut lines: Vec<(String, Origin)> = PRELUDE.lines().map(|l| (l.to_string(), Origin::Harness)).collect();
    let mut used = vec![0; walk.stand_ins.len()];
    let stand_in = |lines: &mut Vec<(String, Origin)>, s: &StandIn| {
        lines.push((format!("# stand-in: {}", s.what), Origin::StandIn { what: s.what }));
        for l in s.script.lines() {
            lines.push((l.to_string(), Origin::StandIn { what: s.what }));
        }
    };
    for block in blocks {
        for (number, text) in &block.lines {
            for (k, s) in walk.stand_ins.iter().enumerate() {
                if s.before.is_some_and(|b| text.trim_start().starts_with(b)) {
                    used[k] += 1;
                    if used[k] == 1 {
                        stand_in(&mut lines, s);
                    }
                }
            }
            let mut line = text.clone();
            for (from, to) in SUBSTITUTIONS {
                let mut to = (*to).to_string();
                for (name, value) in values {
                    to = to.replace(name, value);
                }
                line = line.replace(from, &to);
            }
            let origin = Origin::Document { line: *number };
            let background = is_background(&line);
            let stopped = stopped_jobs(&line);
            lines.push((line, origin.clone()));
            if background {
                lines.push(("walk_ready".into(), origin.clone()));
            }
            // An admin sees the server exit before starting the next one; a script must wait
            // for it, or the next `serve &` finds the port taken and the old server answering.
            for job in stopped {
                lines.push((format!("wait {job} 2>/dev/null || true"), origin.clone()));
            }
        }
    }
    for s in walk.stand_ins.iter().filter(|s| s.before.is_none()) {
        stand_in(&mut lines, s);
    }
    for (s, n) in walk.stand_ins.iter().zip(&used) {
        assert!(
            s.before.is_none() || *n > 0,
            "{}: no line of walk-through {:?} starts with {:?} (stand-in: {})",
            walk.document,
            walk.name,
            s.before.unwrap_or(""),
            s.what
        );
    }
    let text = lines.iter().fold(String::new(), |mut out, (l, _)| {
        let _ = writeln!(out, "{l}");
        out
    });
    (text, lines.into_iter().map(|(_, o)| o).collect())
}

/// A command that ends in `&` (before a comment): started in the background.
fn is_background(line: &str) -> bool {
    let code = code(line).trim_end();
    code.ends_with('&') && !code.ends_with("&&")
}

/// The jobs a `kill %N` line stops (`%%` too); none for a signal that does not stop them
/// (`kill -HUP %1` reloads the TLS certificate).
fn stopped_jobs(line: &str) -> Vec<String> {
    let words: Vec<&str> = code(line).split_whitespace().collect();
    let stops = words
        .iter()
        .skip(1)
        .all(|w| !w.starts_with('-') || matches!(*w, "-TERM" | "-INT" | "-15" | "-2" | "-KILL" | "-9"));
    if words.first() != Some(&"kill") || !stops {
        return Vec::new();
    }
    words
        .iter()
        .filter(|w| w.starts_with('%'))
        .map(|w| w.trim_end_matches(';').to_string())
        .collect()
}

/// A line without its comment.
fn code(line: &str) -> &str {
    match line.find(" #") {
        Some(comment) => &line[..comment],
        None => line,
    }
}

fn run(name: &str) {
    let walk = WALKTHROUGHS
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no walk-through {name}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(walk.document)).expect("read document");
    let dir = tempfile::tempdir().expect("temp dir");
    if let Err(failure) = rehearse(walk, &text, dir.path()) {
        panic!("{failure}\n(the script's output is above)");
    }
}

/// Runs the walk-through's blocks of `text` (the document's contents) in `dir`; prints the
/// script's output and returns where it failed, if it did.
fn rehearse(walk: &Walkthrough, text: &str, dir: &Path) -> Result<(), String> {
    let name = walk.name;
    let blocks: Vec<Block> = blocks(text).into_iter().filter(|b| b.name == name).collect();
    assert!(
        !blocks.is_empty(),
        "{}: no block is marked <!-- walkthrough: {name} -->",
        walk.document
    );

    let dir_path = dir.to_str().expect("UTF-8 temp dir").to_string();
    let port = free_port();
    let postgres = Postgres::create(name);
    let values = [
        ("{port}", port.to_string()),
        ("{dir}", dir_path.clone()),
        ("{postgres}", postgres.url.clone()),
    ];
    let (script, origins) = script(walk, &blocks, &values);
    let script_path = dir.join("walkthrough.sh");
    std::fs::write(&script_path, &script).expect("write script");
    let failed_at = dir.join("failed-at");
    // A file, not a pipe: a background process left running would hold a pipe open.
    let log_path = dir.join("walkthrough.log");
    let log = std::fs::File::create(&log_path).expect("log");

    let bin = Path::new(env!("CARGO_BIN_EXE_annal")).parent().expect("bin dir");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("bash");
    command
        .arg(&script_path)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    // A developer's own settings would make the rehearsal differ from CI's.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ANNAL_")) {
        command.env_remove(key);
    }
    command
        .envs(environment(port, &postgres))
        .env("PATH", path)
        .env("WALK_PORT", port.to_string())
        .env("WALK_FAILED_AT", &failed_at);
    // Its own process group, so that whatever the script leaves behind can be stopped at once.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let started = Instant::now();
    let mut child = command.spawn().expect("bash runs");
    let group = Group(child.id());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            group.signal("TERM");
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(group);
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!(
        "--- {} ({name}), {:.1} s:\n{output}",
        walk.document,
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => {
            let line: Option<usize> = std::fs::read_to_string(&failed_at)
                .ok()
                .and_then(|l| l.trim().parse().ok());
            let place = match line.and_then(|l| origins.get(l.wrapping_sub(1))) {
                Some(Origin::Document { line }) => {
                    format!("{}:{line}: {}", walk.document, command_at(text, *line))
                }
                Some(Origin::StandIn { what }) => format!("the harness's stand-in for {what}"),
                Some(Origin::Harness) | None => "the harness's own lines".to_string(),
            };
            Err(format!("walk-through {name} failed ({s}) at {place}"))
        }
        None => Err(format!("walk-through {name} did not finish within {TIMEOUT:?}")),
    }
}

/// Longer than any walk-through takes on a loaded CI machine, short enough to fail a hung one.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The command at a line of the document, with the lines it continues and that continue it.
fn command_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut first = line.saturating_sub(1);
    while first > 0 && lines.get(first - 1).is_some_and(|l| l.trim_end().ends_with('\\')) {
        first -= 1;
    }
    let mut last = first;
    while lines.get(last).is_some_and(|l| l.trim_end().ends_with('\\')) {
        last += 1;
    }
    lines
        .get(first..=last.min(lines.len().saturating_sub(1)))
        .map(|l| {
            l.iter()
                .map(|s| s.trim().trim_end_matches('\\').trim_end())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The process group of a walk-through's script: stopped when dropped, so no server outlives
/// its test, even when the test fails.
struct Group(u32);

impl Group {
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal("KILL");
    }
}
