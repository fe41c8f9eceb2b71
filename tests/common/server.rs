//! A real `annal serve` process on a free port, for end-to-end tests over real sockets.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use annal::pki::Ca;
use annal::testkit::sim::Client;

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub store_url: String,
    _dir: Option<tempfile::TempDir>,
    /// Where the server logs, when not to the test's output (`start_logged`).
    log: Option<PathBuf>,
}

impl Server {
    /// Starts a server with a fresh data directory on the embedded store.
    pub async fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        let store_url = format!("sqlite:{}", data_dir.join("annal.db").display());
        let mut server = Self::start_with(&data_dir, &store_url, extra).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on `data_dir` (CA, keys) and `store_url`.
    pub async fn start_with(data_dir: &Path, store_url: &str, extra: &[&str]) -> Server {
        Self::start_configured(data_dir, store_url, extra, |_| {}).await
    }

    /// Like `start_with`, with `configure` applied to the command last (environment, stderr).
    pub async fn start_configured(
        data_dir: &Path,
        store_url: &str,
        extra: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Server {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_annal"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store", store_url])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("ANNAL_LOG", "warn")
            .stdout(Stdio::null());
        configure(&mut command);
        let child = command.spawn().expect("spawn annal serve");
        let scheme = if extra.contains(&"--behind-proxy") {
            "http"
        } else {
            "https"
        };
        let server = Server {
            child,
            base: format!("{scheme}://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            store_url: store_url.to_string(),
            _dir: None,
            log: None,
        };
        server.wait_ready().await;
        server
    }

    /// Like `start_with`, with the server's log appended to `log` rather than mixed into the
    /// test's output (a fault test makes it log a warning per refused request).
    pub async fn start_logged(data_dir: &Path, store_url: &str, log: &Path) -> Server {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut server = Self::start_configured(data_dir, store_url, &[], |c| {
            c.stderr(file);
        })
        .await;
        server.log = Some(log.to_path_buf());
        server
    }

    /// SIGKILL, as a crash or the OOM killer ends a process: no shutdown, no saved state.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "HUP") to the server.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ca_dir = self.data_dir.join("ca");
            if ca_dir.join("ca.pem").exists() && ca_dir.join("ca.key").exists() {
                let client = self.client();
                if let Ok(answer) = client.get("/readyz").await {
                    if answer.status.is_success() {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "annal serve did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn ca(&self) -> Ca {
        Ca::load_or_init(&self.data_dir.join("ca")).unwrap()
    }

    pub fn api_key(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin-api-key"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// A client trusting the CA that issued the served certificate: Annal's CA, or the old
    /// one when a CA rotation kept the server certificate (`tls/server.pem` is leaf then CA).
    pub fn client(&self) -> Client {
        let served = self.data_dir.join("tls").join("server.pem");
        if let Ok(chain) = annal::server::tls::issuer_chain(&served) {
            if let Some(issuer) = chain.first() {
                return Client::new(&self.base, issuer.as_ref()).unwrap();
            }
        }
        Client::new(&self.base, self.ca().cert_der()).unwrap()
    }
}

impl Server {
    /// SIGTERM, as systemd stops a service; waits for the process and returns how long it took.
    pub fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "annal serve exited with {status}");
        started.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("annal serve had already exited: {status}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the server said last (its warnings and errors).
        if let Some(log) = self.log.as_ref().filter(|_| std::thread::panicking()) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("last lines of {}:", log.display());
            tail.iter().rev().for_each(|l| eprintln!("  {l}"));
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
pub const COMMAND: &str = "application/x-apple-aspen-mdm";

/// Sends `body` to `/mdm` signed by `device`; returns the status and the reply body.
pub async fn signed(
    client: &Client,
    device: &annal::testkit::sim::VirtualDevice,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let signature = device.sign(&body).unwrap();
    let a = client
        .put("/mdm", content_type, &[("Mdm-Signature", &signature)], body)
        .await
        .unwrap();
    (a.status.as_u16(), a.body.to_vec())
}

pub const TOPIC: &str = "com.apple.mgmt.test";

/// A simulated device whose identity Annal's CA issued (ECDSA P-256, signs with Mdm-Signature).
pub fn device(server: &Server, index: usize) -> annal::testkit::sim::VirtualDevice {
    let identity = server
        .ca()
        .issue_device_identity(&format!("dev-{index}"), annal::pki::KeyKind::EcdsaP256, 30)
        .unwrap();
    annal::testkit::sim::VirtualDevice::new(index, identity)
}

/// Authenticate + TokenUpdate, both answered 200.
pub async fn enroll(client: &Client, d: &annal::testkit::sim::VirtualDevice) {
    assert_eq!(signed(client, d, CHECKIN, d.authenticate(TOPIC)).await.0, 200);
    assert_eq!(signed(client, d, CHECKIN, d.token_update(TOPIC)).await.0, 200);
}

/// A small simulation against `server`: signatures, NotNow on 30% of first deliveries.
pub fn sim_config(server: &Server, devices: usize, rounds: usize) -> annal::testkit::sim::SimConfig {
    annal::testkit::sim::SimConfig {
        server: server.base.clone(),
        devices,
        concurrency: 4,
        rounds,
        not_now_percent: 30,
        api_key: server.api_key(),
        topic: TOPIC.into(),
        mtls: false,
        rate: None,
        enrollment: Default::default(),
        wire: Default::default(),
    }
}
