//! A real Tillwatch window under Xvfb, driven through tauri-driver and WebKitWebDriver
//! over W3C WebDriver, with a private session bus whose Notify calls are recorded.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(30);

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: run scripts/setup.sh (the README's test command does) to install the desktop test tools"
    );
}

/// Children killed on drop, in reverse order of start.
#[derive(Default)]
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The display, the bus and its monitor: one per test, shared by app restarts.
pub struct Desktop {
    pub display: String,
    pub bus: String,
    notifications: Arc<Mutex<String>>,
    _children: Children,
}

impl Desktop {
    pub fn start() -> Desktop {
        for tool in [
            "Xvfb",
            "dbus-daemon",
            "dbus-monitor",
            "tauri-driver",
            "WebKitWebDriver",
        ] {
            require(tool);
        }
        let mut children = Children::default();
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        children.0.push(xvfb);

        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon starts");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let bus_address = address.trim().to_owned();
        children.0.push(bus);

        let mut monitor = Command::new("dbus-monitor")
            .args([
                "--address",
                &bus_address,
                "interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor starts");
        let notifications = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&notifications);
        let mut out = monitor.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        children.0.push(monitor);
        // The monitor must be subscribed before the app can raise anything.
        std::thread::sleep(Duration::from_millis(300));
        Desktop {
            display,
            bus: bus_address,
            notifications,
            _children: children,
        }
    }

    /// Notify calls seen on the bus whose text contains `needle`.
    pub fn notifications_mentioning(&self, needle: &str) -> usize {
        let log = self.notifications.lock().unwrap();
        log.split("method call")
            .filter(|call| call.contains("member=Notify") && call.contains(needle))
            .count()
    }
}

/// One running app window and the WebDriver session that drives it.
pub struct Window {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Children,
}

pub struct Launch<'a> {
    pub desktop: &'a Desktop,
    pub data_dir: &'a Path,
    pub env: Vec<(String, String)>,
}

/// Any Tauri binary to open under the driver (an installed copy of the app, the bare
/// window the benches compare with), with exactly these arguments and environment.
pub struct Program<'a> {
    pub desktop: &'a Desktop,
    pub path: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Window {
    /// The app built with this test, on its own data folder and WebKit data.
    pub async fn open(launch: Launch<'_>) -> Window {
        let mut env = launch.env;
        // Each app gets its own WebKit data, window state and caches: two windows sharing
        // them (tests run in parallel) lock each other out.
        let xdg = launch.data_dir.join("xdg");
        for (var, sub) in [
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            let dir = xdg.join(sub);
            std::fs::create_dir_all(&dir).unwrap();
            env.push((var.to_owned(), dir.to_str().unwrap().to_owned()));
        }
        Window::open_program(Program {
            desktop: launch.desktop,
            path: Path::new(env!("CARGO_BIN_EXE_tillwatch")),
            args: vec![
                "--data-dir".to_owned(),
                launch.data_dir.to_str().unwrap().to_owned(),
            ],
            env,
        })
        .await
    }

    pub async fn open_program(program: Program<'_>) -> Window {
        let port = free_port();
        let native = free_port();
        let mut cmd = Command::new("tauri-driver");
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("DISPLAY", &program.desktop.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &program.desktop.bus)
        .env("TILLWATCH_QUIT_ON_CLOSE", "1")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // Nothing of the caller's own setup leaks into the program: only what it is given.
        for var in [
            "TILLWATCH_GATEWAY",
            "TILLWATCH_CONFIGURATION_ID",
            "TILLWATCH_API_KEY",
            "TILLWATCH_DATA_DIR",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "XDG_CACHE_HOME",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &program.env {
            cmd.env(k, v);
        }
        let driver = Children(vec![cmd.spawn().expect("tauri-driver starts")]);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": program.path,
            "args": program.args,
        }}}});
        // The driver listens before its WebKit side does: retry until a session opens.
        let deadline = Instant::now() + WAIT;
        let session = loop {
            if let Ok(resp) = http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                if let Ok(v) = resp.json::<Value>().await {
                    if let Some(id) = v["value"]["sessionId"].as_str() {
                        break id.to_owned();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no WebDriver session could be opened"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Window {
            http,
            base,
            session,
            _driver: driver,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("webdriver answers");
        resp.json::<Value>().await.expect("webdriver speaks JSON")["value"].clone()
    }

    /// Elements matching a CSS selector (possibly none).
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_object()?.values().next()?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until at least one element matches, and returns the first.
    pub async fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            if Instant::now() > deadline {
                let body = self
                    .script("return document.body.innerText", json!([]))
                    .await;
                let shot = self.screenshot("failure").await;
                panic!(
                    "nothing matched {css} in time; the window ({}) shows:\n{body}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `body` in the page until `check` holds for what it returns (read as `T`), and
    /// returns that; fails naming `what` and the last answer when it never does.
    pub async fn wait_script<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        &self,
        body: &str,
        what: &str,
        check: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.script(body, json!([])).await;
            let value: T = serde_json::from_value(answer.clone())
                .unwrap_or_else(|e| panic!("{what}: the page answered {answer} ({e})"));
            if check(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened: {value:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` holds for the text of the first element matching `css`.
    pub async fn wait_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                let t = self.text(&e).await;
                if check(&t) {
                    return t;
                }
                assert!(
                    Instant::now() < deadline,
                    "{css} never became {what}; it says {t:?}"
                );
            } else {
                assert!(
                    Instant::now() < deadline,
                    "{css} never appeared (waiting for {what})"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, element: &str) -> String {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn attr(&self, element: &str, name: &str) -> Option<String> {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    pub async fn enabled(&self, element: &str) -> bool {
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{element}/enabled"),
            None,
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    pub async fn click(&self, element: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn script(&self, body: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": body, "args": args})),
        )
        .await
    }

    /// Saves a screenshot of the window for a person to look at.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // Let the last DOM change reach the screen.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = decode_base64(b64.as_str().unwrap_or_default());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub async fn close(self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let Some(v) = T.iter().position(|&t| t == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
