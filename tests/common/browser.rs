//! Headless Chromium driven over WebDriver (chromedriver), with only the few commands the
//! dashboard tests need. `bash .ci/services` installs both programs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The key WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    endpoint: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub fn start() -> Browser {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is missing: install Debian's chromium and chromium-driver (bash .ci/services does)");
        let (tx, rx) = mpsc::channel();
        let stdout = driver.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) =
                    line.strip_prefix("ChromeDriver was started successfully on port ")
                {
                    let _ = tx.send(port.trim_end_matches('.').to_owned());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromedriver did not report its port within 30 s");
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                // Console messages, read back by `console_errors`.
                "goog:loggingPrefs": { "browser": "ALL" },
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-dev-shm-usage", "--no-first-run", "--window-size=1280,900",
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}
        });
        let base = format!("http://127.0.0.1:{port}");
        let session = call("POST", &format!("{base}/session"), Some(capabilities));
        let id = session["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_owned();
        Browser {
            driver,
            endpoint: format!("{base}/session/{id}"),
            _profile: profile,
        }
    }

    /// Opens `url` and returns once the page has loaded.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn title(&self) -> String {
        self.command("GET", "/title", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The visible text of the whole page.
    pub fn text(&self) -> String {
        let body = self.find("css selector", "body");
        self.command("GET", &format!("/element/{body}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Clicks the link with exactly this text; the click returns after the new page loads.
    pub fn click_link(&self, text: &str) {
        let link = self.find("link text", text);
        self.command("POST", &format!("/element/{link}/click"), Some(json!({})));
    }

    /// Clicks the first element matching a CSS selector (a link, a button, an option).
    pub fn click(&self, css: &str) {
        let element = self.find("css selector", css);
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// Goes back one page in the history, as the browser's back button does.
    pub fn back(&self) {
        self.command("POST", "/back", Some(json!({})));
    }

    /// Waits until the page shown is at an address containing `part` and has loaded: a form
    /// submitted by a click navigates after the click returns. Fails after 15 s.
    pub fn wait_for_page(&self, part: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ready = self.command(
                "POST",
                "/execute/sync",
                Some(json!({ "script": "return document.readyState", "args": [] })),
            );
            if self.url().contains(part) && ready == "complete" {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no page at an address containing {part:?} within 15 s (at {})",
                self.url()
            );
        }
    }

    /// The address of the page shown.
    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Console errors since the last call (failed loads, script errors, CSP refusals).
    pub fn console_errors(&self) -> Vec<String> {
        let entries = self.command("POST", "/se/log", Some(json!({ "type": "browser" })));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// How many elements match a CSS selector.
    pub fn count(&self, css: &str) -> usize {
        self.command(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// Every link's absolute address on the page shown.
    pub fn links(&self) -> Vec<String> {
        self.strings("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
    }

    /// The tables of the page shown that are wider than their scroll box (a person
    /// would have to scroll sideways to read them), each named by its first header.
    pub fn tables_wider_than_the_page(&self) -> Vec<String> {
        self.strings(
            "return [...document.querySelectorAll('.table-scroll')]\
            .filter(box => box.scrollWidth > box.clientWidth + 1)\
            .map(box => `${box.querySelector('th')?.textContent}: ${box.scrollWidth} px in ${box.clientWidth}`)",
        )
    }

    /// The strings a script run in the page returns.
    fn strings(&self, script: &str) -> Vec<String> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect()
    }

    /// Sets the window's size, as a person resizing it would.
    pub fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Saves what the window shows as a PNG file.
    pub fn screenshot(&self, path: &std::path::Path) {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64_decode(encoded.as_str().expect("a base64 screenshot"));
        std::fs::write(path, png).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
    }

    fn find(&self, using: &str, value: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({ "using": using, "value": value })),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {using} {value:?} on {}", self.title()))
            .to_owned()
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(method, &format!("{}{path}", self.endpoint), body)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = super::http().delete(&self.endpoint).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver call; returns its `value`, panicking with the driver's message on error.
fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent = super::http();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, body) => agent.post(url).send_json(body.unwrap_or_else(|| json!({}))),
    }
    .unwrap_or_else(|err| panic!("WebDriver {method} {url}: {err}"));
    let status = response.status().as_u16();
    let answer: Value = response.body_mut().read_json().unwrap();
    assert!(
        status < 300,
        "WebDriver {method} {url} answered {status}: {answer}"
    );
    answer["value"].clone()
}

/// Standard base64 (what WebDriver sends screenshots in) to bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes().filter(|b| !b"=\r\n".contains(b)) {
        let value = ALPHABET
            .iter()
            .position(|&c| c == byte)
            .unwrap_or_else(|| panic!("not base64: {:?}", byte as char)) as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
