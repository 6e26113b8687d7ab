//! Debian's headless Chromium over WebDriver (chromedriver), for the
//! browser tests (`portal_browser.rs`, `mcp_browser.rs`).
//!
//! Without chromedriver the tests say so and pass, unless
//! `SENTRYAGENT_REQUIRE_BROWSER=1` (as `.ci/run` sets), when they fail.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::support::{Scratch, free_port};

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process, shared by the tests of one binary that run at
/// the same time, stopped when the last one is done.
pub(crate) struct Driver {
    child: Mutex<Child>,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The shared chromedriver, or `None` (the test should return) when it is
/// not installed and not required.
pub(crate) fn driver() -> Option<Arc<Driver>> {
    static SHARED: Mutex<Weak<Driver>> = Mutex::new(Weak::new());
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {CHROMEDRIVER}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && Path::new(CHROMIUM).exists();
    if !found {
        assert!(
            std::env::var("SENTRYAGENT_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "SENTRYAGENT_REQUIRE_BROWSER=1 but {CHROMEDRIVER} or {CHROMIUM} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "SKIPPED: this browser test needs {CHROMEDRIVER} and {CHROMIUM} (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(driver) = shared.upgrade() {
        return Some(driver);
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let driver = Arc::new(Driver {
        child: Mutex::new(child),
        url: format!("http://127.0.0.1:{port}"),
    });
    *shared = Arc::downgrade(&driver);
    Some(driver)
}

/// A WebDriver session: a fresh headless Chromium with a profile of its
/// own, removed when the session is dropped.
pub(crate) struct Session {
    /// The WebDriver client.
    pub(crate) client: Client,
    _profile: Scratch,
    _driver: Arc<Driver>,
}

impl Session {
    /// A desktop window of `width` × `height`, or with `phone`, a phone's
    /// viewport of that size (Chromium's device emulation).
    pub(crate) async fn start(driver: Arc<Driver>, width: u32, height: u32, phone: bool) -> Self {
        let profile = Scratch::new("chromium-profile");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.0.display()),
        ];
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if phone {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true } });
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a chromedriver session");
        Self {
            client,
            _profile: profile,
            _driver: driver,
        }
    }
}
